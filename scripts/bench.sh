#!/usr/bin/env bash
# Load benchmark: builds release binaries, then runs the mock upstream and load generator on
# core 1 and the gateway on core 0. Prints a Markdown report (see BENCHMARKS.md).
# Tunables: BENCH_REQUESTS (3000), BENCH_SECONDS (5), BENCH_GATEWAY_LOG (info), BENCH_ROUNDS (5,
# statistics off/on rounds), BENCH_ONLY=stats|doors|proxy|baseline (only the statistics
# comparison, the front doors, the proxy table, or this build against BENCH_BASELINE=an older
# uni-api binary), BENCH_WRITER_CORE (diagnostics: moves the statistics writer
# thread to that core).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v taskset >/dev/null || { echo "taskset is needed (Debian: util-linux)"; exit 1; }
cargo build --release --locked -p uni-api-native --bin uni-api -p uni-api-tests --bin uni-api-bench
exec taskset -c 1 target/release/uni-api-bench --gateway target/release/uni-api
