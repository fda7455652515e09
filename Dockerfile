# uni-api: the native gateway as a small image. Runs as the original's image does:
#   docker run -p 8001:8000 -v ./api.yaml:/home/api.yaml -v ./uniapi_db:/home/data uni-api
# Config at /home/api.yaml (or CONFIG_URL), statistics in /home/data, the same environment
# variables (CONFIG_URL, DISABLE_DATABASE, DB_*, TIMEOUT, PORT). CI builds the binary with the
# very script used here and runs it from a folder laid out like /home (scripts/check-image.sh).

# Build: one fully static binary (musl).
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash scripts/build-static.sh \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/uni-api /out/usr/local/bin/uni-api \
 && install -d -m 0755 -o 65532 -g 65532 /out/home/data \
 && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt

# Run: the binary, CA certificates for HTTPS upstreams, and an empty /home/data. No shell.
FROM scratch
COPY --from=build /out/ /
WORKDIR /home
ENV PORT=8000 \
    HOST=0.0.0.0 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# A non-root user by default; the original's `docker run --user root` still works (and is
# needed when a host folder owned by root is mounted on /home/data).
USER 65532:65532
EXPOSE 8000
VOLUME ["/home/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/uni-api", "--healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/uni-api"]
