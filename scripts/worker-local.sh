#!/usr/bin/env bash
# Runs the Cloudflare Worker locally in workerd (through Miniflare) on 127.0.0.1:PORT with the
# given api.yaml as its API_YAML secret, a local Durable Object namespace and a local KV.
# Rebuilds the Worker only when its sources changed since the last build. Stops on SIGTERM.
# Usage: scripts/worker-local.sh (--config PATH | --config-url URL) --port N [--stateless] [--no-opt]
#          [--var NAME=VALUE]... [--persist DIR]   (see scripts/worker-local.mjs)
#   --no-opt   skip wasm-opt when a build is needed (faster, bigger; fine for local tests)
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_ERROR_REPORTS=false
pass=()
build=(--release)
while [ $# -gt 0 ]; do
  case "$1" in
    --no-opt) build=(--release --no-opt) ;;
    --config|--config-url|--port|--var|--persist) pass+=("$1" "$2"); shift ;;
    --stateless) pass+=("$1") ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -d node_modules/miniflare ] || npm ci --no-audit --no-fund >&2
# One build at a time when several runners start together (the tests do).
mkdir -p target && exec 9>target/.worker-build.lock && flock 9
if [ ! -f build/index.js ] || [ -n "$(find src shared/src Cargo.toml Cargo.lock -newer build/index.js -print -quit)" ]; then
  echo "building the Worker…" >&2
  bash scripts/build-worker.sh "${build[@]}" >&2
fi
exec 9>&-
exec node scripts/worker-local.mjs "${pass[@]}"
