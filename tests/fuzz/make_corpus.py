#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into corpus/<target>/.

Small, real-looking inputs: kerchunk v0/v1 reference sets, .zarray documents,
gen templates, and chunks compressed by zlib, gzip, zstd and blosc (through
numcodecs, as zarr-python writes them). Run it again after changing it; the
output is deterministic.
"""
import base64
import gzip
import json
import os
import shutil
import struct
import zlib

import numcodecs
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def zarray(shape, chunks, sep=None, dtype="<f4", compressor=None):
    doc = {"chunks": chunks, "compressor": compressor, "dtype": dtype, "fill_value": None,
           "filters": None, "order": "C", "shape": shape, "zarr_format": 2}
    if sep:
        doc["dimension_separator"] = sep
    return json.dumps(doc, sort_keys=True)


def floats(n, start=280.0):
    return struct.pack("<%df" % n, *[start + (i % 17) * 0.25 for i in range(n)])


def zstd_frame(data, content_size=True, level=3):
    return zstandard.ZstdCompressor(level=level, write_content_size=content_size).compress(data)


# ---- reference sets ---------------------------------------------------------------

V0 = {
    ".zgroup": json.dumps({"zarr_format": 2}),
    ".zattrs": json.dumps({"Conventions": "CF-1.6", "title": "tas daily"}),
    "tas/.zarray": zarray([365, 90, 180], [1, 90, 180], compressor={"id": "zlib", "level": 4}),
    "tas/.zattrs": json.dumps({"_ARRAY_DIMENSIONS": ["time", "lat", "lon"], "units": "K"}),
    "tas/0.0.0": ["s3://bucket/tas_1998.nc", 81920, 8192],
    "tas/1.0.0": ["s3://bucket/tas_1998.nc", 90112, 8192],
    "lat/.zarray": zarray([90], [90], dtype="<f8"),
    "lat/0": "base64:" + base64.b64encode(struct.pack("<4d", -89.0, -87.0, -85.0, -83.0)).decode(),
    "time/0": ["data/time.bin"],
}

V1_GEN = {
    "version": 1,
    "templates": {"u": "https://data.example.org/cmip6", "f": "tas_day"},
    "refs": {
        ".zgroup": "{\"zarr_format\":2}",
        "tas/.zarray": zarray([4, 2, 2], [1, 2, 2]),
        "tas/.zattrs": "{\"_ARRAY_DIMENSIONS\":[\"time\",\"lat\",\"lon\"]}",
        "tas/0.0.0": ["{{u}}/{{f}}_1998.nc", 20480, 16],
    },
    "gen": [
        {"key": "tas/{{i}}.0.0", "url": "{{u}}/{{f}}_{{1998 + i}}.nc",
         "offset": "{{20480 + i * 16}}", "length": "16",
         "dimensions": {"i": {"start": 1, "stop": 4}}},
        {"key": "pr/{{y}}/{{m}}", "url": "./pr_{{y}}.nc",
         "dimensions": {"y": [1998, 1999], "m": {"stop": 12, "step": 4}}},
    ],
}

V1_NESTED = {
    "version": 1,
    "refs": {
        "g/.zgroup": "{\"zarr_format\":2}",
        "g/sst/.zarray": zarray([2, 4], [1, 4], sep="/"),
        "g/sst/0/0": ["sst.nc", 0, 16],
        "g/sst/1/0": ["sst.nc", 16, 16],
        "g/sst/.zattrs": {"scale_factor": 0.01, "add_offset": 273.15},
    },
}

write("references", "v0.json", json.dumps(V0, indent=1))
write("references", "v1_gen.json", json.dumps(V1_GEN))
write("references", "v1_nested.json", json.dumps(V1_NESTED))
write("references", "v1_lists.json", json.dumps({
    "version": 1, "templates": {"a": "http://h/{{b}}", "b": "x"},
    "gen": [{"key": "v/{{c}}/{{i // 2}}.{{i % 2}}", "url": "{{a}}/{{c}}.nc",
             "offset": "{{i * 100}}", "length": "{{100 - i}}",
             "dimensions": {"c": ["r", "g", "b"], "i": [0, 1, 2, 3]}}]}))
write("references", "bad_keys.json",
      '{"ok": "1", "a//b": "x", "/abs": ["u", 0, 1], "a/../b": "y", "a/": "z"}')
write("references", "big_range.json",
      '{"r": ["u", 1125899906842600, 24], "w": ["u", 9223372036854775807, 1]}')
write("references", "unicode.json", '{"caf\\u00e9/\\u00e9t\\u00e9": "\\u2603", "k": "a\\"b\\\\c"}')

# ---- compressed reference files ---------------------------------------------------------

small = json.dumps(V1_GEN).encode()
write("decompress", "plain.json", json.dumps(V0))
write("decompress", "refs.json.gz", gzip.compress(small, 9, mtime=0))
write("decompress", "two_members.gz", gzip.compress(b'{"a": ', mtime=0) + gzip.compress(b'"x"}', mtime=0))
write("decompress", "refs.json.zst", zstd_frame(small))
write("decompress", "streamed.zst", zstd_frame(small, content_size=False))
write("decompress", "two_frames.zst", zstd_frame(b'{"a": ') + zstd_frame(b'"x"}'))
write("decompress", "zeros.zst", zstd_frame(bytes(256 * 1024), level=19))
write("decompress", "zeros.gz", gzip.compress(bytes(64 * 1024), 9, mtime=0))

# ---- templates, .zarray, base64 -----------------------------------------------------

for i, t in enumerate([
        "{{u}}/{{f}}", "{{ i * 8000 + 40 }}", "tas/{{i // 2}}.{{i % 2}}.0", "{{(i + 1) * (j - 2)}}",
        "{{'s3://' + 'bucket/' + f}}", "{{-j // 2}}", "{{big - 1}}", "{{small // -1}}",
        "i * 8192 + 512", "(((i)))", "'a' + u", "j % -3", "12 / 4"]):
    write("template", "t%02d" % i, t)

write("zarray", "f4_3d.json", zarray([365, 90, 180], [1, 90, 180],
                                     compressor={"id": "blosc", "cname": "lz4", "clevel": 5,
                                                 "shuffle": 1, "blocksize": 0}))
write("zarray", "nested.json", zarray([2, 4], [1, 3], sep="/", dtype="<i8"))
write("zarray", "scalar.json", zarray([], []))
write("zarray", "huge.json", zarray([18446744073709551615, 10], [3, 0]))

for i, raw in enumerate([b"", b"f", b"fo", b"foo", b"\x00\xff\xfe", floats(4)]):
    write("base64", "b%d" % i, base64.b64encode(raw))
write("base64", "unpadded", b"Zm9vYmE")
write("base64", "bad", b"Zm9v!YmE=")

# ---- chunks ------------------------------------------------------------------------

chunk = floats(512)
text = json.dumps(V0).encode()
write("zlib", "floats.zlib", zlib.compress(chunk, 4))
write("zlib", "text.zlib", zlib.compress(text, 9))
write("zlib", "stored.zlib", zlib.compress(b"abc" * 10, 0))
write("gzip", "floats.gz", gzip.compress(chunk, 4, mtime=0))
write("gzip", "text.gz", gzip.compress(text, 9, mtime=0))
write("gzip", "two_members.gz", gzip.compress(b"abc", mtime=0) + gzip.compress(b"def", mtime=0))
write("zstd", "floats.zst", zstd_frame(chunk))
write("zstd", "text.zst", zstd_frame(text, level=19))
write("zstd", "streamed.zst", zstd_frame(chunk, content_size=False))
write("zstd", "checksum.zst", zstandard.ZstdCompressor(write_checksum=True).compress(chunk))
write("zstd", "two_frames.zst", zstd_frame(b"abc") + zstd_frame(b"def"))
for cname in ("lz4", "zstd", "zlib", "blosclz"):
    for shuffle in (numcodecs.Blosc.NOSHUFFLE, numcodecs.Blosc.SHUFFLE, numcodecs.Blosc.BITSHUFFLE):
        write("blosc", "%s_%d.blosc" % (cname, shuffle),
              numcodecs.Blosc(cname=cname, clevel=5, shuffle=shuffle).encode(chunk))
write("blosc", "memcpy.blosc", numcodecs.Blosc(cname="lz4", clevel=0).encode(chunk[:256]))

# ---- NetCDF-3 headers ----------------------------------------------------------------
# The first 4 KiB of Debian's classic files and of files ncgen writes in the
# three formats (CDF-1, CDF-2, CDF-5), record variables included.

NC3_CDL = """netcdf seed {
dimensions:
  time = UNLIMITED ; x = 3 ; n = 5 ;
variables:
  short a(time, x) ; a:_FillValue = -1s ; a:units = "m" ;
  double t(time) ;
  char name(time, n) ;
  float fixed(x) ; fixed:scale = 0.5f, 2.f ;
  :title = "seed" ;
data:
  a = 1, 2, 3, 4, 5, 6 ; t = 0.5, 1.5 ; name = "alpha", "beta" ; fixed = 1, 2, 3 ;
}
"""


def netcdf3_seeds():
    import subprocess
    import tempfile
    for src in ("/usr/share/ncarg/data/cdf/fice.nc", "/usr/share/ncarg/data/cdf/941110_P.cdf",
                "/usr/share/ncarg/data/nug/uv300.nc"):
        if os.path.exists(src):
            with open(src, "rb") as f:
                write("netcdf3", os.path.basename(src), f.read(4096))
    with tempfile.TemporaryDirectory() as tmp:
        cdl = os.path.join(tmp, "seed.cdl")
        with open(cdl, "w") as f:
            f.write(NC3_CDL)
        for kind, name in (("classic", "cdf1.nc"), ("64-bit offset", "cdf2.nc"), ("cdf5", "cdf5.nc")):
            out = os.path.join(tmp, name)
            subprocess.run(["ncgen", "-k", kind, "-o", out, cdl], check=True)
            with open(out, "rb") as f:
                write("netcdf3", name, f.read(4096))


netcdf3_seeds()
