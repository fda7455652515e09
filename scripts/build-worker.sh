#!/usr/bin/env bash
# Builds the Cloudflare Worker (build/index.js + build/index_bg.wasm) with worker-build, offline:
# worker-build would download wasm-bindgen, wasm-opt and esbuild from the internet unless told
# where they are, so this script points it at the installed wasm-bindgen CLI (the exact version
# in Cargo.lock) and at the npm packages binaryen and esbuild (`npm ci`).
# Size settings (opt-level z, fat LTO, one codegen unit, panic=abort) apply to this build only;
# the native binary keeps its speed-oriented release profile.
# Usage: bash scripts/build-worker.sh [--release | --release --no-opt | --dev]
set -euo pipefail
cd "$(dirname "$0")/.."
lock_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
cli=${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || true)}
if [ -z "$cli" ] || [ "$("$cli" --version | awk '{print $2}')" != "$lock_version" ]; then
  echo "wasm-bindgen CLI $lock_version is needed: cargo install wasm-bindgen-cli --version $lock_version" >&2
  exit 1
fi
command -v worker-build >/dev/null || { echo "worker-build is needed: cargo install worker-build --version 0.8.7 --locked" >&2; exit 1; }
[ -x node_modules/.bin/esbuild ] || { echo "npm packages are missing: run npm ci" >&2; exit 1; }
export WASM_BINDGEN_BIN="$cli"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
  CARGO_PROFILE_RELEASE_PANIC=abort CARGO_PROFILE_RELEASE_STRIP=debuginfo
[ $# -eq 0 ] && set -- --release
exec worker-build "$@"
