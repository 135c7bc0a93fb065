#!/usr/bin/env bash
# Installs everything zarrmount needs to build and to run its tests on Debian 12.
# Usage: scripts/install-deps.sh [--build-only]
set -euo pipefail

build_pkgs=(
  cmake g++ make pkg-config
  libfuse3-dev fuse3
  libcurl4-openssl-dev
  libsimdjson-dev
  liblmdb-dev
  libzstd-dev zlib1g-dev libdeflate-dev liblz4-dev libbz2-dev
  libblosc-dev
  libxxhash-dev
  libzip-dev
  libyaml-cpp-dev
  libsystemd-dev
  libgtest-dev libgmock-dev
  libmicrohttpd-dev  # --metrics: the /metrics HTTP server
  libhdf5-dev  # refs/scan_hdf5.cc: scanning NetCDF-4/HDF5
  libmemcached-dev libssl-dev  # the shared tier (cache/memcached_block_store.cc)
  libsnappy-dev  # Parquet pages (parquet/)
)
test_pkgs=(
  nginx-light libnginx-mod-http-echo curl
  memcached iproute2  # the shared tier's tests: memcached nodes, network namespaces
  python3-xarray python3-zarr python3-fsspec python3-h5py python3-netcdf4
  python3-numcodecs python3-numpy python3-aiohttp python3-requests
  python3-pytest python3-pytest-timeout python3-zstandard zstd python3-matplotlib python3-yaml python3-intake
  python3-dask python3-ujson python3-scipy  # (scripts/bench.sh: xarray with dask; the peer kerchunk)
  r-cran-ncmeta libncarg-data netcdf-bin gdal-bin python3-gdal
  dpkg-dev lintian man-db  # (scripts/package.sh and test_packaging.py)
  # Sanitizer builds and scripts/fuzz.sh: clang, its sanitizer runtimes and
  # libFuzzer, and llvm-symbolizer for readable reports.
  clang-14 libclang-rt-14-dev llvm-14
  prometheus  # promtool checks the metrics exposition (test_metrics)
  # tests/integration/test_scan.py: h5py writes blosc, lz4 and bz2 through these.
  hdf5-filter-plugin hdf5-filter-plugin-blosc-serial
  strace  # test_scan.py: which program the scan's workers run
)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" != "--build-only" ]]; then
  pkgs+=("${test_pkgs[@]}")
  # Node.js runs the S3-compatible test server (tests/integration/s3_server.py
  # installs it with npm into a cache). A Node.js from elsewhere (NodeSource)
  # brings its own npm, and Debian's npm package would conflict with it.
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
