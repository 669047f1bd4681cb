#!/bin/sh
# Runs a libFuzzer target for a bounded time on seeds from a folder; used by CTest (`make test`)
# and by `make fuzz`. Crashing inputs are kept in ARTIFACTS for reproduction: BINARY <file>.
#   fuzz/run_fuzzer.sh BINARY SECONDS SEED_DIR ARTIFACTS_DIR   (every file in SEED_DIR is a seed)
set -eu
binary=$1 seconds=$2 seeds=$3 artifacts=$4
[ -x "$binary" ] || { echo "run_fuzzer: $binary is not built: run make test (or make fuzz)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/seeds" "$artifacts"
rm -f "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*  # last run's
find "$seeds" -maxdepth 1 -type f -exec cp {} "$work/seeds/" \;
# libFuzzer's exit status would be lost in the pipe: it goes through a file.
{ ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$binary" -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work/corpus" "$work/seeds" 2>&1 && code=0 || code=$?
  echo "$code" > "$work/status"; } | grep -v '^#[0-9]' || true
status=$(cat "$work/status")
# A failing input leaves an artifact behind. (Not `ls` of the four patterns: that fails unless all
# four kinds exist.) A crash outside any input (e.g. while starting) leaves none, only the status.
failed=$(find "$artifacts" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
if [ -n "$failed" ]; then
  echo "run_fuzzer: the fuzzer found failing inputs in $artifacts" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "run_fuzzer: $binary exited with status $status" >&2
  exit 1
fi
echo "run_fuzzer: no crash in $seconds s"
