#!/usr/bin/python3
"""Writes N synthetic per-file reference sets for measuring aggregation.

Each input i is a Zarr v2 store with a time coordinate holding one value (i,
inline, shuffled input order does not matter) and an array v(time, y, x) of
shape (1, Y, X) in chunks of (1, 10, 10), whose chunks are byte ranges of a
per-input file that need not exist (loading never reads them).

Usage: gen_many_refs.py N OUTDIR [--y 100 --x 100]
Then: zarrmount --check --concat time OUTDIR
"""
import argparse
import base64
import json
import os
import struct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("outdir")
    ap.add_argument("--y", type=int, default=100)
    ap.add_argument("--x", type=int, default=100)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    zarray = lambda shape, chunks, dt: json.dumps(
        {"zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": dt, "compressor": None,
         "filters": None, "fill_value": None, "order": "C"})
    for i in range(a.n):
        refs = {
            ".zgroup": json.dumps({"zarr_format": 2}),
            ".zattrs": json.dumps({"title": "synthetic"}),
            "time/.zarray": zarray([1], [1], "<i8"),
            "time/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["time"], "units": "days since 2000-01-01"}),
            "time/0": "base64:" + base64.b64encode(struct.pack("<q", i)).decode(),
            "v/.zarray": zarray([1, a.y, a.x], [1, 10, 10], "<f4"),
            "v/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["time", "y", "x"]}),
        }
        url = f"data/file_{i:06d}.nc"
        for y in range(a.y // 10):
            for x in range(a.x // 10):
                refs[f"v/0.{y}.{x}"] = [url, 400 * (y * (a.x // 10) + x), 400]
        with open(os.path.join(a.outdir, f"in_{i:06d}.json"), "w") as f:
            json.dump(refs, f)


if __name__ == "__main__":
    main()
