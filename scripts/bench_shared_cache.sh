#!/usr/bin/env bash
# The shared (memcached) tier across hosts in network namespaces: a second
# host's throughput against the origin (20 ms per request), throughput and
# p99 latency with one of three nodes down, and the tier's CPU overhead
# against reads from LMDB (scripts/bench/shared_cache.py says more).
# Needs root, memcached, nginx with the echo module, and a built zarrmount.
#
# Usage: scripts/bench_shared_cache.sh [--size-mb N] [--latency-ms N] [--readers N,N]
#                                      [--profile]
#        (default: 256 MiB, 20 ms, 1 then 8 readers; the README's table reads
#        1024 MiB; --profile splits the CPU passes by where the time went,
#        with perf)
set -euo pipefail
cd "$(dirname "$0")/.."
export ZARRMOUNT=${ZARRMOUNT:-$PWD/build/zarrmount}
exec /usr/bin/python3 scripts/bench/shared_cache.py "$@"
