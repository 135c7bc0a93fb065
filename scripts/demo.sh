#!/usr/bin/env bash
# Demo: mounts the bundled sample (sample/refs.json, a kerchunk v1 reference
# set over three small NetCDF-4 files) and reads it with ordinary tools and
# with xarray; then mounts it again as a NetCDF file (--view netcdf) and reads
# that with ncdump, which knows nothing of Zarr. Builds zarrmount first if
# build/zarrmount is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

bin=${ZARRMOUNT:-build/zarrmount}
if [[ ! -x $bin ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j2
  bin=build/zarrmount
fi

tmp=$(mktemp -d /tmp/zarrmount-demo.XXXXXX)
mnt=$tmp/mnt
nc=$tmp/nc
mkdir -p "$mnt" "$nc"
cleanup() {
  for m in "$mnt" "$nc"; do
    if grep -qs " $m fuse" /proc/mounts; then
      fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true
    fi
  done
  rm -rf "$tmp" || true
}
trap cleanup EXIT INT TERM

echo "+ $bin --cache-dir $tmp/cache --log $tmp/zarrmount.log sample/refs.json $mnt"
"$bin" --cache-dir "$tmp/cache" --log "$tmp/zarrmount.log" sample/refs.json "$mnt"

echo "+ ls -RA $mnt"
ls -RA "$mnt"
echo "+ cat $mnt/sst/.zarray"
cat "$mnt/sst/.zarray"; echo

echo "+ xarray.open_zarr($mnt)"
/usr/bin/python3 - "$mnt" <<'PY'
import sys
import xarray as xr
ds = xr.open_zarr(sys.argv[1], consolidated=False)
print(ds)
sst = ds["sst"]
print("sst at lat=%g lon=%g by month:" % (ds.lat[45], ds.lon[90]),
      sst.isel(latitude=45, longitude=90).values)
print("global mean sst (deg C, ocean only):", float(sst.mean()))
PY

echo "+ fusermount3 -u $mnt"
fusermount3 -u "$mnt"

echo "+ $bin --view netcdf --cache-dir $tmp/cache --log $tmp/zarrmount-nc.log sample/refs.json $nc"
"$bin" --view netcdf --cache-dir "$tmp/cache" --log "$tmp/zarrmount-nc.log" sample/refs.json "$nc"
echo "+ ls -l $nc"
ls -l "$nc"
echo "+ ncdump -h $nc/refs.nc"
ncdump -h "$nc/refs.nc"
echo "+ ncdump -v lat $nc/refs.nc | tail -n 4"
ncdump -v lat "$nc/refs.nc" | tail -n 4
echo "+ fusermount3 -u $nc"
fusermount3 -u "$nc"
