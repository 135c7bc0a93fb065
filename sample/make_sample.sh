#!/usr/bin/env bash
# Regenerates the bundled sample (sst_01..03.nc and refs.json) in this folder
# from the Debian package libncarg-data; see README.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
/usr/bin/python3 "$here/../tests/integration/prepare_data.py" --sample "$here"
