#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for the statistics tests and prints the
# TEST_DATABASE_URL to use. Installs Debian's `postgresql` package when it is missing.
# Usage: export TEST_DATABASE_URL=$(bash scripts/start-postgres.sh [PORT])
set -euo pipefail
port=${1:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "installing PostgreSQL (Debian package)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq postgresql; } >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
dir=$(mktemp -d /tmp/uni-api-pg.XXXXXX)
# PostgreSQL refuses to run as root: run it as the package's `postgres` user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_pg "'$bin/initdb' -D '$dir/data' -U postgres -A trust --no-sync" >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
# TLS with a throwaway CA, so the tests can check verified TLS connections (the CA is the
# server's ssl_ca_file: `SHOW ssl_ca_file` tells a test where to find it).
if command -v openssl >/dev/null; then
  tls="$dir/tls"
  mkdir "$tls"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=uni-api-test-ca -keyout "$tls/ca.key" -out "$tls/ca.crt"
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$tls/server.key" -out "$tls/server.csr"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$tls/ext"
    openssl x509 -req -days 2 -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
      -extfile "$tls/ext" -out "$tls/server.crt"
  } >"$dir/tls.log" 2>&1 || { cat "$dir/tls.log" >&2; exit 1; }
  chmod 600 "$tls/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres "$tls"
  ssl="-c ssl=on -c ssl_cert_file='$tls/server.crt' -c ssl_key_file='$tls/server.key' -c ssl_ca_file='$tls/ca.crt'"
else
  echo "openssl not found: the server runs without TLS" >&2
  ssl=""
fi
# A throwaway server an earlier run left on this port (.ci/run twice on one machine) goes first.
for old in /tmp/uni-api-pg.*/data; do
  [ -f "$old/postmaster.pid" ] && [ "$(sed -n 4p "$old/postmaster.pid")" = "$port" ] || continue
  as_pg "'$bin/pg_ctl' -D '$old' -m fast -w stop" >&2 || true
done
as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off $ssl\" start" >&2 ||
  { cat "$dir/server.log" >&2; exit 1; }
echo "postgres://postgres@127.0.0.1:$port/postgres"
