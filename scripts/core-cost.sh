#!/usr/bin/env bash
# Deterministic CPU cost of the core's request path (callgrind instruction counts, see
# BENCHMARKS.md): runs `uni-api-core-cost` for two request counts, without and with SQLite
# statistics, and prints instructions per request for the request thread and the writer thread;
# then the same for each door scenario (see tests/src/bin/core_cost.rs).
# Needs valgrind (Debian: valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian: valgrind)"; exit 1; }
cargo build --release --locked -p uni-api-tests --bin uni-api-core-cost
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Instructions of thread $2 (1 = request thread, 2 = statistics writer) in callgrind output $1.
thread_total() {
  local file="$1-0$2"
  [ -f "$file" ] || { echo 0; return; }
  callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}
run() { # mode n
  local out="$work/cg.$1.$2" extra=()
  [ "$1" = sqlite ] && extra=(--sqlite "$work/stats.$2.db")
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
    target/release/uni-api-core-cost "$2" "${extra[@]}" >/dev/null 2>&1
  echo "$(thread_total "$out" 1) $(thread_total "$out" 2)"
}
low=1000 high=3000
echo "| statistics | request thread, instructions/request | writer thread, instructions/record |"
echo "|---|---:|---:|"
for mode in off sqlite; do
  read -r a1 a2 < <(run "$mode" "$low")
  read -r b1 b2 < <(run "$mode" "$high")
  echo "| $mode | $(( (b1 - a1) / (high - low) )) | $(( (b2 - a2) / (high - low) )) |"
done

# The doors (statistics off): instructions per request of each scenario of `uni-api-core-cost`.
echo
echo "| door scenario | core instructions/request |"
echo "|---|---:|"
door() { # scenario -> instructions per request (request thread)
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/d.$1.a" \
    target/release/uni-api-core-cost 300 --scenario "$1" >/dev/null 2>&1
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/d.$1.b" \
    target/release/uni-api-core-cost 900 --scenario "$1" >/dev/null 2>&1
  echo $(( ($(thread_total "$work/d.$1.b" 1) - $(thread_total "$work/d.$1.a" 1)) / 600 ))
}
for scenario in chat messages-native responses-native gemini-native messages-translated-small \
  chat-big messages-translated chat-stream-first messages-stream-first; do
  echo "| $scenario | $(door "$scenario") |"
done
