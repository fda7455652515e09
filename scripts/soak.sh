#!/usr/bin/env bash
# Soak: SOAK_SECONDS (default 600) of mixed traffic (streams, failovers, abandoned streams, bad
# requests, endless new model names, wrong keys, the Messages door) against the native binary,
# then against the Worker in local workerd. Reports the gateway process's RSS (at start, after
# warm-up, peak, end), its file descriptors and whether every request is in the statistics;
# fails on an unexpected answer, a request missing from the statistics, leaked descriptors or
# native memory that keeps growing. On the Worker an abandoned stream is recorded when workerd
# collects it, so those not collected yet are reported apart. Results: BENCHMARKS.md, "Soak".
# Usage: scripts/soak.sh [native|worker|both]   (SOAK_CONCURRENCY, default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
seconds=${SOAK_SECONDS:-600}
concurrency=${SOAK_CONCURRENCY:-8}
cargo build --release --locked -p uni-api-native --bin uni-api -p uni-api-tests --bin uni-api-soak >&2
echo "| gateway | duration | requests | RSS at start | after warm-up | peak | end | FDs after warm-up → end | recorded (expected / in stats) | unexpected answers |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
status=0
if [ "$which" = native ] || [ "$which" = both ]; then
  target/release/uni-api-soak native target/release/uni-api "$seconds" "$concurrency" || status=1
fi
if [ "$which" = worker ] || [ "$which" = both ]; then
  target/release/uni-api-soak worker "$seconds" "$concurrency" || status=1
fi
exit $status
