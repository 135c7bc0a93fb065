#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan (in
# build-fuzz) and runs each for a bounded time from its seed corpus in
# tests/fuzz/corpus/<target>/, as many at once as there are cores.
# Usage: scripts/fuzz.sh [-h|--help] [--merge] [seconds-per-target] [target...]
#   seconds-per-target  default 20; 0 builds but fuzzes nothing (with
#                       --merge: merges what earlier runs found)
#   target...           default all: references decompress template zarray
#                       base64 zlib gzip zstd blosc codec_any pipeline
#   --merge             afterwards, for each target named, adds to its seed
#                       corpus tests/fuzz/corpus/<target>/ the fewest inputs
#                       of build-fuzz/corpus/<target>/ that cover what the
#                       seeds do not (libFuzzer -merge=1), so that the
#                       replay tests fuzz_replay_<target> cover it too
# Prints per target the executions run and whether it found anything; exits
# 1 if any target crashed, leaked, timed out or ran out of memory. The input
# is saved as build-fuzz/artifacts/<target>/crash-* (or leak-, timeout-,
# oom-); replay it with build-fuzz/fuzz/fuzz_<target> FILE, and once fixed
# keep it as tests/fuzz/corpus/<target>/regress_<what> (printed at the end).
# Inputs found to add coverage go to build-fuzz/corpus/<target>/, and into
# the seed corpus only with --merge.
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (default the
# number of cores); CMAKE_CXX_COMPILER_LAUNCHER=ccache is honoured by CMake
# when build-fuzz is first configured.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$self"; }
merge=0
case ${1:-} in
  -h | --help) usage; exit 0 ;;
  --merge) merge=1; shift ;;
esac
seconds=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(references decompress template zarray base64 zlib gzip zstd blosc codec_any pipeline parquet_file parquet_page)
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
[[ $seconds =~ ^[0-9]+$ ]] || { usage >&2; exit 2; }

command -v clang++-14 >/dev/null ||
  { echo "fuzz.sh: clang++-14 missing; run scripts/install-deps.sh" >&2; exit 2; }
cmake -S . -B "$build" -DZM_SANITIZE=fuzzer -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_all >/dev/null

export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
mkdir -p "$build/logs"

# Per-target libFuzzer flags shared by the runs and the merge.
flags_of() {
  local t=$1
  echo -timeout=10 -rss_limit_mb=2048
  [[ -f tests/fuzz/$t.dict ]] && echo "-dict=tests/fuzz/$t.dict"
  return 0
}

run() {
  local t=$1 work="$build/corpus/$1" art="$build/artifacts/$1"
  mkdir -p "$work" "$art"
  local args=($(flags_of "$t") -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$art/")
  local rc=0
  "$build/fuzz/fuzz_$t" "${args[@]}" "$work" "tests/fuzz/corpus/$t" >"$build/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$build/logs/$t.rc"
}

# Reports one target's run; returns 1 if it found something.
report() {
  local t=$1 log="$build/logs/$1.log" rc execs found what
  rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo "?")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [[ $rc == 0 ]]; then
    printf '%-11s %10s execs in %s s  nothing found\n' "$t" "${execs:-?}" "$seconds"
    return 0
  fi
  found=$(grep -m1 -oE '(crash|leak|timeout|oom|slow-unit)-[0-9a-f]+' "$log" || true)
  what=$(grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" || true)
  printf '%-11s %10s execs  FOUND (exit %s): %s\n' "$t" "${execs:-?}" "$rc" "${what:-see log}"
  printf '%-11s input %s, log %s\n' "" "${found:+$build/artifacts/$t/$found}" "$log"
  findings+=("$t ${found:+$build/artifacts/$t/$found}")
  return 1
}

bytes_in() { find "$1" -type f -printf '%s\n' | awk '{n += $1} END {print n + 0}'; }

# Adds to the seed corpus of target $1 what its run found that the seeds
# do not cover; prints how many inputs and bytes that added.
merge_into_seeds() {
  local t=$1 seeds="tests/fuzz/corpus/$1" work="$build/corpus/$1"
  [[ -d $work ]] || { printf '%-11s merge: nothing in %s\n' "$t" "$work"; return 0; }
  local before after bytes_before bytes_after
  before=$(find "$seeds" -type f | wc -l)
  bytes_before=$(bytes_in "$seeds")
  "$build/fuzz/fuzz_$t" $(flags_of "$t") -merge=1 "$seeds" "$work" >"$build/logs/$t.merge.log" 2>&1 ||
    { echo "fuzz.sh: merge of $t failed, see $build/logs/$t.merge.log" >&2; return 1; }
  after=$(find "$seeds" -type f | wc -l)
  bytes_after=$(bytes_in "$seeds")
  printf '%-11s merge: %d -> %d inputs, %d -> %d bytes in %s\n' \
    "$t" "$before" "$after" "$bytes_before" "$bytes_after" "$seeds"
}

for t in "${targets[@]}"; do
  [[ -x "$build/fuzz/fuzz_$t" ]] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
done
failed=0
findings=()  # "target artifact" of each run that found something
if ((seconds > 0)); then
  for t in "${targets[@]}"; do
    rm -f "$build/logs/$t.rc"
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
    run "$t" &
  done
  wait
  for t in "${targets[@]}"; do report "$t" || failed=1; done
fi
if ((merge)); then
  for t in "${targets[@]}"; do merge_into_seeds "$t" || failed=1; done
  echo "Merged inputs are replayed by 'ctest -L fuzz_replay'; check that each replay stays fast before committing them."
fi
if ((${#findings[@]})); then
  echo
  echo "To keep a finding: replay it ($build/fuzz/fuzz_TARGET FILE), fix the code it"
  echo "breaks, then copy it into the seed corpus under a name that says what it broke,"
  echo "where 'ctest -L fuzz_replay' (and scripts/test.sh) replays it on every run:"
  for f in "${findings[@]}"; do
    read -r t input <<<"$f"
    echo "  cp ${input:-$build/artifacts/$t/<input>} tests/fuzz/corpus/$t/regress_WHAT"
  done
fi
exit "$failed"
