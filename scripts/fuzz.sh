#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan (in
# build-fuzz) and runs each for a bounded time from its seed corpus in
# tests/fuzz/corpus/<target>/, as many at once as there are cores.
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]
# Prints per target the executions run and whether it found anything; exits
# 1 if any target crashed, leaked, timed out or ran out of memory. The input
# is saved as build-fuzz/artifacts/<target>/crash-* (or leak-, timeout-,
# oom-); replay it with build-fuzz/fuzz/fuzz_<target> FILE. Inputs found to
# add coverage go to build-fuzz/corpus/<target>/, not to the seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(references decompress template zarray base64 zlib gzip zstd blosc codec_any pipeline)
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}

command -v clang++-14 >/dev/null ||
  { echo "fuzz.sh: clang++-14 missing; run scripts/install-deps.sh" >&2; exit 2; }
cmake -S . -B "$build" -DZM_SANITIZE=fuzzer -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_all >/dev/null

export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
mkdir -p "$build/logs"

run() {
  local t=$1 work="$build/corpus/$1" art="$build/artifacts/$1"
  mkdir -p "$work" "$art"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$art/")
  [[ -f tests/fuzz/$t.dict ]] && args+=(-dict="tests/fuzz/$t.dict")
  local rc=0
  "$build/fuzz/fuzz_$t" "${args[@]}" "$work" "tests/fuzz/corpus/$t" >"$build/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$build/logs/$t.rc"
}

for t in "${targets[@]}"; do
  [[ -x "$build/fuzz/fuzz_$t" ]] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
  rm -f "$build/logs/$t.rc"
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  run "$t" &
done
wait

failed=0
for t in "${targets[@]}"; do
  log="$build/logs/$t.log"
  rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo "?")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [[ $rc == 0 ]]; then
    printf '%-11s %10s execs in %s s  nothing found\n' "$t" "${execs:-?}" "$seconds"
  else
    failed=1
    found=$(grep -m1 -oE '(crash|leak|timeout|oom|slow-unit)-[0-9a-f]+' "$log" || true)
    what=$(grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" || true)
    printf '%-11s %10s execs  FOUND (exit %s): %s\n' "$t" "${execs:-?}" "$rc" "${what:-see log}"
    printf '%-11s input %s, log %s\n' "" "${found:+$build/artifacts/$t/$found}" "$log"
  fi
done
exit "$failed"
