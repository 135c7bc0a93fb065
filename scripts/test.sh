#!/usr/bin/env bash
# Builds zarrmount and runs every test, installing missing Debian packages
# first:
#   1. the build in build/ and all its tests: unit tests, each fuzz target
#      replaying its seed corpus, and the mounted integration tests (which
#      need root for FUSE);
#   2. the unit tests and the fuzz replays under AddressSanitizer + UBSan
#      (build-asan);
#   3. the unit tests under ThreadSanitizer (build-tsan).
# All of it is deterministic: a test that fails, fails for a reason in the
# code. Open-ended fuzzing is not part of it (scripts/fuzz.sh; what it finds
# goes into tests/fuzz/corpus/ and so into every later run).
# Every step runs even if an earlier one failed; the summary names the
# failures with each step's time, and the exit status is 1 if there were any.
# Usage: scripts/test.sh [ctest args for step 1...]
# ZM_SANITIZERS=0 skips steps 2 and 3; ZM_FUZZ_SECONDS=N adds a step 4 that
# fuzzes each target for N seconds (scripts/fuzz.sh, build-fuzz).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1
jobs=$(nproc)

# A finding is fatal in every sanitizer build; these make the report useful.
export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14 TSAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1 suppressions=$PWD/tests/unit/tsan.supp}

main() {
  local build=${BUILD_DIR:-build}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build "$build" -j"$jobs" &&
    (cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 900 "$@")
}

# sanitized DIR MODE "TARGETS" CTEST-ARGS...: a sanitizer build at -O1
# (quick to build and run) of just the unit test binaries named, not
# zarrmount nor the integration tests, then those tests. Built with clang,
# which builds these faster than g++ and is a second compiler's view.
sanitized() {
  local dir=$1 mode=$2 targets=$3
  shift 3
  cmake -S . -B "$dir" -DZM_SANITIZE="$mode" -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null &&
    cmake --build "$dir" -j"$jobs" --target $targets &&
    ctest --test-dir "$dir" --output-on-failure -j"$jobs" --no-tests=error "$@"
}

asan() {
  sanitized build-asan address "unit_tests fuzz_replay_all" -L '(_test|fuzz_replay)$'
}

tsan() {
  sanitized build-tsan thread unit_tests -L '_test$'
}

fuzz() { bash scripts/fuzz.sh "$ZM_FUZZ_SECONDS"; }

summary=()
failed=0
step() {
  local name=$1 t0=$SECONDS
  shift
  echo "==== $name"
  if "$@"; then
    summary+=("$(printf '%-40s ok      %4d s' "$name" $((SECONDS - t0)))")
  else
    summary+=("$(printf '%-40s FAILED  %4d s' "$name" $((SECONDS - t0)))")
    failed=1
  fi
}

step "build and all tests (build/)" main "$@"
if [[ ${ZM_SANITIZERS:-1} != 0 ]]; then
  step "unit tests, ASan + UBSan (build-asan)" asan
  step "threaded unit tests, TSan (build-tsan)" tsan
fi
if [[ ${ZM_FUZZ_SECONDS:-0} != 0 ]]; then
  step "fuzzing, $ZM_FUZZ_SECONDS s per target (build-fuzz)" fuzz
fi
echo "==== summary"
summary+=("$(printf "%-40s         %4d s" "total" "$SECONDS")")
printf '%s\n' "${summary[@]}"
exit "$failed"
