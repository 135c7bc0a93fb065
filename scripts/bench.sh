#!/usr/bin/env bash
# zarrmount benchmark: throughput and latency of the mount against the
# physical limit (curl straight from nginx) and against fsspec/xarray, with
# 0 ms and 20 ms of added per-request latency, measured side by side in one
# run. Needs root (FUSE, drop_caches). Prints a table, writes JSON and a PNG.
#
# Usage: scripts/bench.sh [--quick] [--workdir DIR] [--out FILE.json] [--png FILE.png]
#                         [--only WORKLOAD] [more: scripts/bench.sh --help]
#        scripts/bench.sh --only codecs [--quick] [--workdir DIR]: codec decode
#        throughput, library call vs ChunkDecoder (no mount, no root)
#        scripts/bench.sh --only drill [--quick]: one point through time read
#        the ways users read it (xarray with and without dask, the npy and
#        netcdf views, raw chunk files, 4 processes at once) and bulk raw
#        reads, on a kerchunk 0.2.2 aggregation of 64 NetCDF-4 files (~0.8 GB;
#        --kerchunk DIR: kerchunk's source tree), each against fsspec
# The data (~1.25 GB; ~0.25 GB with --quick) is built once in the work
# directory (default /var/tmp/zarrmount-bench) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

for a in "$@"; do
  if [[ $a == -h || $a == --help ]]; then exec /usr/bin/python3 scripts/bench/bench.py --help; fi
done

# --only codecs: decode throughput of every codec (scripts/bench/codec_bench.cc),
# no mount, no root. Prints the table; the figures go to WORKDIR/codecs.json.
if [[ " $* " == *" --only codecs "* || " $* " == *" --only=codecs "* ]]; then
  workdir=/var/tmp/zarrmount-bench
  mib=64
  prev=""
  for a in "$@"; do
    [[ $prev == --workdir ]] && workdir=$a
    [[ $a == --quick ]] && mib=16
    prev=$a
  done
  mkdir -p "$workdir"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j2 --target codec_bench >/dev/null
  exec build/codec_bench --mib "$mib" --json "$workdir/codecs.json"
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "bench.sh: needs root (FUSE mounts and /proc/sys/vm/drop_caches)" >&2
  exit 1
fi

bash scripts/install-deps.sh

bin=${ZARRMOUNT:-build/zarrmount}
if [[ ! -x $bin ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2
  bin=build/zarrmount
fi

exec /usr/bin/python3 scripts/bench/bench.py --zarrmount "$bin" "$@"
