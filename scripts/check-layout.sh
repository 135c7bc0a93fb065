#!/usr/bin/env bash
# Checks that the modules' includes point one way, as the README's Layout
# says: each folder may include only the folders listed for it here. Prints
# every include that breaks the rule (file:line) and exits 1 if there is one.
# Third-party headers are checked too: each stays in the module that owns it.
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
  [base]="base"
  [codecs]="base codecs"
  [zarr]="base codecs zarr"
  [parquet]="base codecs parquet"
  [refs]="base codecs zarr parquet refs"
  [io]="base io"
  [cache]="base io cache"
  [fs]="base codecs zarr parquet refs io cache fs"
  [views]="base codecs zarr parquet refs io cache fs views"
  [fuse]="base fuse fs/tree.h"
  [app]="base codecs zarr parquet refs io cache fs views fuse app"
)
# Third-party header -> the only module that may include it.
declare -A owner=(
  [lmdb.h]=cache [simdjson.h]="zarr refs" [fuse_lowlevel.h]=fuse [curl/curl.h]=io
  [yaml-cpp/yaml.h]=refs [zip.h]=app [xxhash.h]=cache [libdeflate.h]=codecs [snappy.h]=parquet
  [systemd/sd-daemon.h]=app
  [microhttpd.h]=app
  [hdf5.h]=refs [hdf5_hl.h]=refs
  [libmemcached/memcached.h]=cache [libmemcachedutil-1.0/pool.h]=cache [openssl/evp.h]=cache
  [openssl/crypto.h]=cache [openssl/core_names.h]=cache [openssl/params.h]=cache
)

bad=0
for dir in "${!allowed[@]}"; do
  [[ -d $dir ]] || continue
  while IFS=: read -r file line inc; do
    target=${inc#*\"}; target=${target%\"*}
    mod=${target%%/*}
    ok=0
    for a in ${allowed[$dir]}; do
      [[ $a == "$mod" || $a == "$target" ]] && ok=1
    done
    ((ok)) || { echo "$file:$line: $dir/ may not include \"$target\""; bad=1; }
  done < <(grep -Hn '^#include "' "$dir"/*.h "$dir"/*.cc 2>/dev/null)
  while IFS=: read -r file line inc; do
    target=${inc#*<}; target=${target%>*}
    owners=${owner[$target]:-}
    [[ -z $owners ]] && continue
    [[ " $owners " == *" $dir "* ]] || { echo "$file:$line: <$target> belongs to ${owners// / or }/, not $dir/"; bad=1; }
  done < <(grep -Hn '^#include <' "$dir"/*.h "$dir"/*.cc 2>/dev/null)
done
((bad)) && exit 1
echo "layout: every include points one way"
