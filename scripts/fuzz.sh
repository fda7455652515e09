#!/usr/bin/env bash
# Fuzzes the core's parsers and stream translators with cargo-fuzz (libFuzzer, AddressSanitizer)
# on the stable toolchain (RUSTC_BOOTSTRAP lets it take cargo-fuzz's -Z flags).
# Each target first replays its committed corpus and crash regressions (fuzz/corpus, fuzz/seeds,
# fuzz/regressions), then explores for FUZZ_SECONDS (default 60). A crash fails the run and
# leaves its input in fuzz/artifacts/TARGET/: commit it under fuzz/regressions/TARGET/ with the fix.
# Usage: scripts/fuzz.sh [TARGET...]   (default: every target)
#   FUZZ_SECONDS=N   exploration time per target (0: replay only)
#   FUZZ_MINIMIZE=1  afterwards, shrink each corpus to the inputs that add coverage (to commit)
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$version"; then
  cargo install cargo-fuzz --locked --version "$version" >&2
fi
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sse_decoder raw_object config multipart stream)
cd fuzz
cargo fuzz build -O
for target in "${targets[@]}"; do
  corpus=corpus/$target
  mkdir -p "$corpus" "seeds/$target" "regressions/$target"
  echo "== $target: replaying $(find "$corpus" "seeds/$target" "regressions/$target" -type f | wc -l) inputs, then ${seconds} s of fuzzing"
  # Regressions and seeds are read, new finds go to the corpus.
  cargo fuzz run -O "$target" "$corpus" "seeds/$target" "regressions/$target" -- \
    -runs=0 -timeout=10 -rss_limit_mb=2048 2>&1 | grep -E "Done|ERROR|panicked" || true
  if [ "$seconds" -gt 0 ]; then
    cargo fuzz run -O "$target" "$corpus" "seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 2>&1 |
      grep -E "^Done|ERROR|panicked|SUMMARY|artifact" || true
  fi
  if compgen -G "artifacts/$target/*" >/dev/null; then
    echo "fuzz target $target found crashes: see fuzz/artifacts/$target/" >&2
    exit 1
  fi
  if [ "${FUZZ_MINIMIZE:-0}" = 1 ]; then
    cargo fuzz cmin -O "$target" "$corpus" -- -rss_limit_mb=2048 >/dev/null 2>&1
  fi
done
echo "fuzzing: no crash in ${targets[*]}"
