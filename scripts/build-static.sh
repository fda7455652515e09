#!/usr/bin/env bash
# Builds the fully static Linux binary (musl): the file the Docker image runs and the one a VPS
# user copies. Output: target/x86_64-unknown-linux-musl/release/uni-api (also printed).
# Needs the musl target (rustup target add x86_64-unknown-linux-musl) and musl-gcc (Debian:
# musl-tools) for the C parts (ring, SQLite, mimalloc).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target" >&2
command -v musl-gcc >/dev/null || { echo "musl-gcc not found: apt-get install musl-tools" >&2; exit 1; }
CC_x86_64_unknown_linux_musl=musl-gcc CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --release --locked -p uni-api-native --bin uni-api --target "$target" >&2
binary="target/$target/release/uni-api"
file "$binary" 2>/dev/null | grep -q "static" || ! ldd "$binary" >/dev/null 2>&1 || { echo "$binary is not static" >&2; exit 1; }
echo "$binary"
