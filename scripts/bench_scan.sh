#!/usr/bin/env bash
# Scanning N NetCDF-4 files into one aggregated reference set: `zarrmount
# scan --concat time` against kerchunk 0.2.2 (SingleHdf5ToZarr per file,
# then MultiZarrToZarr), local files, the same files in the same run (read
# once first, so both find them in the page cache). Prints wall time and
# peak RSS (GNU time) of each and the ratios. Not a timed test.
#
# With --latency MS, both read the files over HTTP instead, from a private
# nginx on 127.0.0.1 that delays every request by MS (the echo module, as
# scripts/bench.sh), and the requests each sent are counted.
#
# Usage: scripts/bench_scan.sh [--files N] [--latency MS] [--jobs N] [--workdir DIR] [--kerchunk DIR]
#   --files N        how many files (default 100; each 4 variables of 1x90x180
#                    float32 in 4 deflated chunks, plus time/lat/lon)
#   --workdir DIR    where the files are made once and reused
#                    (default /var/tmp/zarrmount-bench-scan)
#   --kerchunk DIR   kerchunk 0.2.2's source tree (default ../shared/peers/kerchunk-0.2.2)
#   --jobs N         zarrmount's --jobs (default: its own, the online CPUs)
#   --mount          also mount the files directly (--concat time; needs FUSE)
#                    twice with one new cache directory: the first mount
#                    scans, the second uses the scan records
set -euo pipefail
cd "$(dirname "$0")/.."
files=100
latency=""
workdir=/var/tmp/zarrmount-bench-scan
kerchunk=$(realpath -m ../shared/peers/kerchunk-0.2.2)
mount=""
jobs=()
[[ -d $kerchunk ]] || kerchunk=/work/shared/peers/kerchunk-0.2.2
while (($#)); do
  case $1 in
    --files) files=$2; shift 2 ;;
    --latency) latency=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --kerchunk) kerchunk=$2; shift 2 ;;
    --mount) mount=1; shift ;;
    --jobs) jobs=(--jobs "$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench_scan.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -x build/zarrmount ]] || { echo "bench_scan.sh: build/zarrmount first" >&2; exit 2; }

data="$workdir/nc$files"
if [[ ! -f $data/.done ]]; then
  mkdir -p "$data"
  /usr/bin/python3 - "$data" "$files" <<'PY'
import sys, numpy as np, netCDF4
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
for i in range(n):
    with netCDF4.Dataset(f"{out}/f{i:05d}.nc", "w") as ds:
        ds.createDimension("time", None); ds.createDimension("lat", 90); ds.createDimension("lon", 180)
        t = ds.createVariable("time", "f8", ("time",)); t.units = "days since 2000-01-01"; t[:] = [i]
        ds.createVariable("lat", "f4", ("lat",))[:] = np.linspace(-89, 89, 90)
        ds.createVariable("lon", "f4", ("lon",))[:] = np.linspace(0, 358, 180)
        for v in ("tas", "pr", "ua", "va"):
            x = ds.createVariable(v, "f4", ("time", "lat", "lon"), zlib=True, chunksizes=(1, 45, 90))
            x.units = "1"; x[0] = rng.random((90, 180), dtype="f4")
PY
  touch "$data/.done"
fi

# Both tools read the files from the page cache: read once here, or the
# first tool measured would pay for a cold cache and the second would not.
cat "$data"/*.nc >/dev/null

out="$workdir/out"
mkdir -p "$out"
# measure NAME CMD...: runs CMD under GNU time; sets secs[NAME] (wall),
# cpu[NAME] (user + system: steadier than wall on a shared machine) and
# rss[NAME] (KiB).
declare -A secs cpu rss
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$out/$name.time" "$@" >"$out/$name.log" 2>&1 ||
    { echo "$name failed:"; tail -5 "$out/$name.log"; exit 1; }
  local wall
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$out/$name.time")
  secs[$name]=$(awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }' <<<"$wall")
  rss[$name]=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/$name.time")
  cpu[$name]=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$out/$name.time")
}

declare -A requests
if [[ -z $latency ]]; then
  measure zarrmount build/zarrmount scan "${jobs[@]}" --concat time "$data" -o "$out/zarrmount.json"
  inputs=("$data"/*.nc)
else
  # A private nginx with the delay, for the two runs; stopped on exit.
  port_file="$out/nginx.port"
  /usr/bin/python3 - "$data" "$out/nginx" "$latency" "$port_file" <<'PY' &
import os, signal, sys, time
sys.path.insert(0, "scripts/bench")
import servers
srv = servers.LatencyNginx(sys.argv[1], sys.argv[2], float(sys.argv[3])).start()
open(sys.argv[4], "w").write(srv.url)
signal.signal(signal.SIGTERM, lambda *a: (srv.stop(), sys.exit(0)))
while True:
    time.sleep(1)
PY
  server_pid=$!
  trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null' EXIT
  rm -f "$port_file"
  for _ in $(seq 100); do [[ -s $port_file ]] && break; sleep 0.1; done
  base=$(cat "$port_file")
  inputs=()
  for f in "$data"/*.nc; do inputs+=("$base/$(basename "$f")"); done
  log="$out/nginx/access.log"
  count() { [[ -f $log ]] && wc -l <"$log" || echo 0; }
  n0=$(count)
  measure zarrmount build/zarrmount scan "${jobs[@]}" --concat time "${inputs[@]}" -o "$out/zarrmount.json"
  n1=$(count)
  requests[zarrmount]=$((n1 - n0))
fi
n0=$( [[ -n $latency ]] && count || echo 0)
measure kerchunk env PYTHONPATH="$kerchunk" /usr/bin/python3 - "$out/kerchunk.json" "${inputs[@]}" <<'PY'
import json, sys
from kerchunk.hdf import SingleHdf5ToZarr
from kerchunk.combine import MultiZarrToZarr
paths = sys.argv[2:]
singles = [SingleHdf5ToZarr(p, inline_threshold=500).translate() for p in paths]
combined = MultiZarrToZarr(singles, concat_dims=["time"], identical_dims=["lat", "lon"]).translate()
json.dump(combined, open(sys.argv[1], "w"))
PY
[[ -n $latency ]] && requests[kerchunk]=$(($(count) - n0))

if [[ -n $latency ]]; then where="over HTTP, ${latency} ms per request"; else where="local"; fi
echo "${files} NetCDF-4 files, $where"
printf '%-10s %8s %8s %10s %9s\n' "" "wall s" "CPU s" "peak RSS" "requests"
for n in zarrmount kerchunk; do
  printf '%-10s %8.2f %8.2f %7d MiB %9s\n' "$n" "${secs[$n]}" "${cpu[$n]}" $((rss[$n] / 1024)) \
    "${requests[$n]:--}"
done
awk -v a="${secs[kerchunk]}" -v b="${secs[zarrmount]}" -v c="${rss[kerchunk]}" -v d="${rss[zarrmount]}" \
  -v e="${cpu[kerchunk]}" -v f="${cpu[zarrmount]}" -v n="$files" \
  'BEGIN { printf "%d files: zarrmount scan %.1fx faster (wall), %.1fx less CPU, %.1fx less peak memory\n",
           n, a / (b > 0.005 ? b : 0.005), e / (f > 0.005 ? f : 0.005), c / d }'

# Mounting the files themselves: the time until the mount serves, first
# (scanning) and second (scan records; only version checks reach the origin).
if [[ -n $mount ]]; then
  mnt="$out/mnt" cache="$out/mount-cache"
  rm -rf "$cache"; mkdir -p "$mnt" "$cache"
  for run in first second; do
    n0=$( [[ -n $latency ]] && count || echo 0)
    t0=$(date +%s.%N)
    build/zarrmount "${jobs[@]}" --cache-dir "$cache" --log "$out/mount-$run.log" --concat time "${inputs[@]}" "$mnt" ||
      { echo "mount failed:"; tail -5 "$out/mount-$run.log"; exit 1; }
    t1=$(date +%s.%N)
    fusermount3 -u "$mnt"
    sent=$( [[ -n $latency ]] && echo $(($(count) - n0)) || echo -)
    printf 'mount, %-6s %6.2f s until serving, origin requests %s\n' "$run" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$sent"
    sleep 0.5  # the daemon leaves after the unmount
  done
fi
