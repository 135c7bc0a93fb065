#!/usr/bin/env python3
"""Writes a synthetic kerchunk reference set with N chunk keys, for scale tests.

Shape: like a long time aggregation: V variables, each with a .zarray and
.zattrs, and chunk keys "var/T.Y.X" pointing into one of F files.
Usage: gen_big_refs.py N OUT.json [--files F] [--vars V]
Only the standard library is used.
"""
import argparse
import json
import math


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--vars", type=int, default=4)
    a = ap.parse_args()
    per_var = math.ceil(a.n / a.vars)
    ny = nx = 10
    nt = math.ceil(per_var / (ny * nx))
    with open(a.out, "w") as f:
        f.write('{"version": 1, "templates": {"u": "http://127.0.0.1:9/data"}, "refs": {\n')
        f.write('".zgroup": "{\\"zarr_format\\": 2}"')
        written = 0
        for v in range(a.vars):
            name = f"var{v}"
            zarray = {"chunks": [1, 100, 100], "compressor": {"id": "zlib", "level": 4},
                      "dtype": "<f4", "fill_value": None, "filters": None, "order": "C",
                      "shape": [nt, ny * 100, nx * 100], "zarr_format": 2}
            f.write(f',\n"{name}/.zarray": {json.dumps(json.dumps(zarray))}')
            f.write(f',\n"{name}/.zattrs": {json.dumps(json.dumps({"_ARRAY_DIMENSIONS": ["time", "y", "x"]}))}')
            for t in range(nt):
                for y in range(ny):
                    for x in range(nx):
                        if written >= a.n:
                            break
                        fi = (t * a.files) // nt
                        off = 4096 + ((y * nx + x) * 37000)
                        f.write(f',\n"{name}/{t}.{y}.{x}": ["{{{{u}}}}/file{fi:05d}.nc", {off}, {30000 + (x * 7 + y) % 5000}]')
                        written += 1
        f.write("\n}}\n")


if __name__ == "__main__":
    main()
