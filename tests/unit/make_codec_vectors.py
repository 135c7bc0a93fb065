#!/usr/bin/python3
"""Writes the codec test vectors of tests/unit (codecs/codec_test.cc, zarr/metadata_test.cc).

Run with /usr/bin/python3 (Debian's numpy, numcodecs and zarr); the output is
deterministic and committed under tests/data/:

  codecs/<id>__<what>.bin     bytes encoded by numcodecs' codec <id>
  codecs/<id>__<what>.expect  what they decode to
  zarr/<case>.zarray          a Zarr v2 array as zarr-python writes it ...
  zarr/<case>.zarr.json       ... or a Zarr v3 array (crafted here: Debian has
                              no v3 writer)
  zarr/<case>.bin             one stored chunk of it
  zarr/<case>.expect          the chunk decoded: C order, the dtype's byte order
  zarr/<case>.fill            (optional) a missing chunk: the fill value repeated
  zarr/<case>.error           (optional) decoding must fail: "<code> <substring>"

and, from those, the seed corpora of the fuzz targets codec_any and pipeline
(tests/fuzz/corpus/).

numcodecs 0.11 has no fletcher32 and no crc32c codec: their vectors use the
checksums as numcodecs >= 0.12 and the Zarr v3 spec define them, computed
here, and checked against known values.
"""
import gzip
import json
import os
import shutil
import struct
import zlib

import numcodecs
import numpy as np
import zarr

# numcodecs' GZip stamps the current time into the gzip header; a fixed one
# keeps the output deterministic.
gzip.time.time = lambda: 1700000000.0

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data")


def write(sub, name, data):
    d = os.path.join(OUT, sub)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# ---- checksums numcodecs 0.11 lacks ------------------------------------------------

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def fletcher32(data):
    # HDF5's Fletcher-32: 16-bit words, first byte high, odd byte padded.
    s1 = s2 = 0
    for i in range(0, len(data) - 1, 2):
        s1 = (s1 + (data[i] << 8 | data[i + 1])) % 0xFFFF
        s2 = (s2 + s1) % 0xFFFF
    if len(data) % 2:
        s1 = (s1 + (data[-1] << 8)) % 0xFFFF
        s2 = (s2 + s1) % 0xFFFF
    return (s2 << 16) | s1


assert crc32c(b"123456789") == 0xE3069283


def fletcher32_ref(data):
    # The folding form numcodecs uses; equal to the modular one except that it
    # may leave 0xFFFF where the modular form has 0.
    s1 = s2 = 0
    n = len(data) // 2
    i = 0
    while n:
        t = min(n, 360)
        n -= t
        for _ in range(t):
            s1 += data[i] << 8 | data[i + 1]
            s2 += s1
            i += 2
        s1 = (s1 & 0xFFFF) + (s1 >> 16)
        s2 = (s2 & 0xFFFF) + (s2 >> 16)
    if len(data) % 2:
        s1 += data[i] << 8
        s2 += s1
        s1 = (s1 & 0xFFFF) + (s1 >> 16)
        s2 = (s2 & 0xFFFF) + (s2 >> 16)
    s1 = (s1 & 0xFFFF) + (s1 >> 16)
    s2 = (s2 & 0xFFFF) + (s2 >> 16)
    return (s2 << 16) | s1


# ---- data ---------------------------------------------------------------------------

rng = np.random.default_rng(12345)


def field(shape, dtype="<f4"):
    """A smooth field with noise, like a temperature grid."""
    n = int(np.prod(shape))
    x = np.linspace(0, 6 * np.pi, n)
    v = np.round(280 + 15 * np.sin(x) + rng.normal(0, 0.3, n), 2)
    return v.reshape(shape).astype(dtype)


def ints(shape, dtype, lo=-1000, hi=1000):
    return rng.integers(lo, hi, size=shape).astype(dtype)


# ---- bytes-to-bytes codecs by id -------------------------------------------------------

def codec_vectors():
    raw = field((1024,)).tobytes()
    text = b"".join(b"sea surface temperature %d\n" % i for i in range(300))
    for what, data in (("floats", raw), ("text", text), ("empty", b""), ("one", b"x")):
        encs = {
            "zlib": numcodecs.Zlib(level=5),
            "gzip": numcodecs.GZip(level=5),
            "bz2": numcodecs.BZ2(level=9),
            "zstd": numcodecs.Zstd(level=3),
            "lz4": numcodecs.LZ4(acceleration=1),
            "crc32": numcodecs.CRC32(),
            "adler32": numcodecs.Adler32(),
        }
        for cid, codec in encs.items():
            if cid in ("bz2", "gzip", "zlib", "zstd") and what == "empty":
                pass
            write("codecs", "%s__%s.bin" % (cid, what), codec.encode(data))
            write("codecs", "%s__%s.expect" % (cid, what), data)
        write("codecs", "crc32c__%s.bin" % what, data + struct.pack("<I", crc32c(data)))
        write("codecs", "crc32c__%s.expect" % what, data)
        assert fletcher32(data) == fletcher32_ref(data) or fletcher32_ref(data) >> 16 == 0xFFFF or fletcher32_ref(data) & 0xFFFF == 0xFFFF
        write("codecs", "fletcher32__%s.bin" % what, data + struct.pack("<I", fletcher32_ref(data)))
        write("codecs", "fletcher32__%s.expect" % what, data)
    # blosc: every internal compressor this numcodecs has, every shuffle.
    for cname in numcodecs.blosc.list_compressors():
        for shuffle, sname in ((0, "noshuffle"), (1, "shuffle"), (2, "bitshuffle")):
            c = numcodecs.Blosc(cname=cname, clevel=5, shuffle=shuffle)
            write("codecs", "blosc__%s_%s.bin" % (cname, sname), c.encode(raw))
            write("codecs", "blosc__%s_%s.expect" % (cname, sname), raw)
    # Several blocks, typesize 2.
    big = np.cumsum(ints((20000,), "<i2", -3, 4)).astype("<i2").tobytes()
    c = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1, blocksize=4096)
    write("codecs", "blosc__lz4_blocks.bin", c.encode(np.frombuffer(big, "<i2")))
    write("codecs", "blosc__lz4_blocks.expect", big)
    # Fletcher-32 of an odd length and a long input (the folding).
    for what, data in (("odd", b"abcde"), ("long", bytes(range(256)) * 12)):
        write("codecs", "fletcher32__%s.bin" % what, data + struct.pack("<I", fletcher32_ref(data)))
        write("codecs", "fletcher32__%s.expect" % what, data)


# ---- Zarr v2 arrays as zarr-python writes them ------------------------------------------

def v2(name, data, chunks, chunk_index=None, fill=False, **kw):
    store = {}
    a = zarr.array(data, chunks=chunks, store=store, **kw)
    write("zarr", name + ".zarray", store[".zarray"])
    idx = chunk_index or (0,) * data.ndim
    key = ".".join(str(i) for i in idx) if data.ndim else "0"
    cdata = store[key]
    write("zarr", name + ".bin", cdata)
    chunk = a._decode_chunk(cdata)
    write("zarr", name + ".expect", np.ascontiguousarray(chunk).tobytes())
    if fill:
        write("zarr", name + ".fill", np.full(a.chunks, a.fill_value, dtype=a.dtype).tobytes())
    return store, a


def v2_hand(name, meta, stored, expect, error=None):
    doc = {"chunks": None, "compressor": None, "dtype": None, "fill_value": None, "filters": None,
           "order": "C", "shape": None, "zarr_format": 2}
    doc.update(meta)
    write("zarr", name + ".zarray", json.dumps(doc, indent=4, sort_keys=True))
    write("zarr", name + ".bin", stored)
    write("zarr", name + ".expect", expect)
    if error:
        write("zarr", name + ".error", error)


def zarr_v2_vectors():
    f3 = field((4, 30, 40))
    # netCDF-4 through kerchunk: shuffle + zlib.
    v2("netcdf_shuffle_zlib", f3, (2, 30, 40), filters=[numcodecs.Shuffle(elementsize=4)],
       compressor=numcodecs.Zlib(level=4), fill_value=np.float32("nan"), fill=True)
    v2("gzip_be_i2", ints((50, 60), ">i2"), (25, 60), compressor=numcodecs.GZip(5), fill_value=-9999, fill=True)
    v2("bz2_f8", field((1000,), "<f8"), (500,), compressor=numcodecs.BZ2(9), fill_value=np.inf, fill=True)
    v2("zstd_u1", ints((64, 64), "|u1", 0, 255), (32, 64), compressor=numcodecs.Zstd(5), fill_value=7, fill=True)
    v2("lz4_f4", field((2000,)), (1000,), compressor=numcodecs.LZ4(), fill_value=-np.inf, fill=True)
    # (Every blosc compressor and shuffle is in codecs/; here the array path.)
    for cname, shuffle in (("lz4", 1), ("zstd", 2), ("blosclz", 0)):
        v2("blosc_%s_%d" % (cname, shuffle), f3, (2, 30, 40),
           compressor=numcodecs.Blosc(cname=cname, clevel=5, shuffle=shuffle))
    v2("delta_i4_as_i2", np.cumsum(ints((3000,), "<i4", -5, 6)).astype("<i4"), (1000,),
       filters=[numcodecs.Delta(dtype="<i4", astype="<i2")], compressor=numcodecs.Zlib(1))
    v2("delta_u8", np.arange(100, 1100, dtype="<u8"), (1000,), filters=[numcodecs.Delta(dtype="<u8")],
       compressor=None)
    v2("fixedscaleoffset_f8_u2", field((1000,), "<f8"), (500,),
       filters=[numcodecs.FixedScaleOffset(offset=270, scale=100, dtype="<f8", astype="<u2")],
       compressor=numcodecs.Zstd(3))
    v2("fixedscaleoffset_f4_i1", (field((800,)) - 280) / 20, (400,),
       filters=[numcodecs.FixedScaleOffset(offset=0, scale=10, dtype="<f4", astype="|i1")],
       compressor=None)
    v2("quantize_f8", field((600,), "<f8"), (600,), filters=[numcodecs.Quantize(digits=2, dtype="<f8")],
       compressor=numcodecs.Zlib(5))
    v2("astype_f8_as_f4", field((600,), "<f8"), (600,),
       filters=[numcodecs.AsType(encode_dtype="<f4", decode_dtype="<f8")], compressor=None)
    v2("crc32_adler32", ints((500,), "<i8"), (500,), filters=[numcodecs.CRC32(), numcodecs.Adler32()],
       compressor=numcodecs.Zlib(3))
    # Order F, edge chunk (padded), strings, big-endian, datetimes, bools.
    v2("order_f_3d", f3, (3, 7, 11), order="F", compressor=numcodecs.Zlib(4))
    v2("order_f_edge", f3, (3, 7, 11), chunk_index=(1, 4, 3), order="F", compressor=numcodecs.Zstd(1),
       fill_value=0.5, fill=True)
    v2("order_f_be_f8_nocomp", field((5, 6), ">f8"), (5, 6), order="F", compressor=None)
    s = np.array([b"ab", b"hello", b"", b"12345678", b"zarr"] * 6, dtype="|S8").reshape(5, 6)
    v2("strings_s8_order_f", s, (5, 6), order="F", compressor=numcodecs.Zlib(1), fill_value=b"ab", fill=True)
    u = np.array(["a", "\u00e9t\u00e9", "\U0001f600x", ""] * 5, dtype="<U3").reshape(4, 5)
    v2("unicode_u3", u, (4, 5), compressor=None, fill_value="\u00e9", fill=True)
    t = (np.datetime64("2000-01-01T00:00", "ns") + np.arange(100) * np.timedelta64(6, "h")).astype("<M8[ns]")
    t[3] = np.datetime64("NaT")
    v2("datetime_ns", t, (100,), compressor=numcodecs.Zlib(5), fill_value=np.datetime64("NaT"), fill=True)
    v2("bool", rng.integers(0, 2, 300).astype("|b1"), (300,), compressor=numcodecs.Zstd(1),
       fill_value=True, fill=True)
    v2("complex", (field((50,), "<f8") + 1j * field((50,), "<f8")).astype("<c16"), (50,),
       compressor=None, fill_value=complex(1.5, -2), fill=True)
    v2("f2_shuffle_lz4", field((300,), "<f2"), (300,), filters=[numcodecs.Shuffle(elementsize=2)],
       compressor=numcodecs.LZ4(), fill_value=1.5, fill=True)
    v2("scalar_0d", np.array(3.25, dtype="<f8"), (), compressor=numcodecs.Zlib(1))

    # fletcher32 (hand-written metadata: numcodecs 0.11 has no encoder).
    raw = field((6, 50), "<f4")
    data = raw.tobytes()
    good = data + struct.pack("<I", fletcher32_ref(data))
    meta = {"chunks": [6, 50], "shape": [6, 50], "dtype": "<f4", "filters": [{"id": "fletcher32"}]}
    v2_hand("fletcher32", meta, good, data)
    bad = bytearray(good)
    bad[100] ^= 0x01
    v2_hand("fletcher32_corrupt", meta, bytes(bad), data, "corruption fletcher32")
    # HDF5 order: shuffle, then fletcher32 over the shuffled bytes, then zlib.
    sh = numcodecs.Shuffle(elementsize=4).encode(raw)
    sh = bytes(sh)
    meta2 = dict(meta, filters=[{"id": "shuffle", "elementsize": 4}, {"id": "fletcher32"}],
                 compressor={"id": "zlib", "level": 1})
    v2_hand("shuffle_fletcher32_zlib", meta2, zlib.compress(sh + struct.pack("<I", fletcher32_ref(sh)), 1), data)
    # Corrupt and lying compressed chunks.
    z = zlib.compress(data, 5)
    v2_hand("zlib_truncated", dict(meta, filters=None, compressor={"id": "zlib", "level": 5}), z[:-7], data,
            "corruption zlib")
    v2_hand("zlib_short_chunk", dict(meta, filters=None, compressor={"id": "zlib", "level": 5}),
            zlib.compress(data[:-4], 5), data, "corruption zlib")
    v2_hand("zlib_long_chunk", dict(meta, filters=None, compressor={"id": "zlib", "level": 5}),
            zlib.compress(data + b"1234", 5), data, "corruption zlib")
    lz = numcodecs.LZ4().encode(data)
    lie = struct.pack("<I", 1 << 30) + lz[4:]
    v2_hand("lz4_size_lie", dict(meta, filters=None, compressor={"id": "lz4", "acceleration": 1}), lie, data,
            "corruption lz4")
    v2_hand("unknown_codec", dict(meta, filters=None, compressor={"id": "zfpy", "mode": 4}), b"", data,
            "unsupported zfpy")


# ---- Zarr v3 arrays, crafted ----------------------------------------------------------------

def v3(name, arr, chunk_shape, codecs, fill, stored, error=None, key_encoding=None, data_type=None):
    doc = {
        "zarr_format": 3, "node_type": "array", "shape": list(arr.shape),
        "data_type": data_type or {"f4": "float32", "f8": "float64", "i2": "int16", "u2": "uint16",
                                   "i4": "int32", "u1": "uint8"}[arr.dtype.str[1:]],
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunk_shape)}},
        "chunk_key_encoding": key_encoding or {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill, "codecs": codecs, "attributes": {"units": "K", "scale": [1, 2.5]},
        "dimension_names": ["d%d" % i for i in range(arr.ndim)],
    }
    write("zarr", name + ".zarr.json", json.dumps(doc, indent=2))
    write("zarr", name + ".bin", stored)
    write("zarr", name + ".expect", np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
    if error:
        write("zarr", name + ".error", error)


def with_crc(b):
    return b + struct.pack("<I", crc32c(b))


def zarr_v3_vectors():
    a = field((3, 4, 5))
    v3("v3_bytes_le", a, a.shape, [{"name": "bytes", "configuration": {"endian": "little"}}], "NaN",
       a.astype("<f4").tobytes())
    b = ints((10, 20), "<i2")
    v3("v3_bytes_be_gzip", b, b.shape, [{"name": "bytes", "configuration": {"endian": "big"}},
                                        {"name": "gzip", "configuration": {"level": 5}}], -1,
       zlib.compress(b.astype(">i2").tobytes(), 5, wbits=31))
    order = [2, 0, 1]
    t = np.transpose(a, order)  # the array as the transpose codec hands it on
    v3("v3_transpose_zstd", a, a.shape, [{"name": "transpose", "configuration": {"order": order}},
                                         {"name": "bytes", "configuration": {"endian": "little"}},
                                         {"name": "zstd", "configuration": {"level": 3, "checksum": False}}],
       "0x7fc00000", numcodecs.Zstd(3).encode(np.ascontiguousarray(t).astype("<f4").tobytes()))
    c = field((6, 7), "<f8")
    tc = np.ascontiguousarray(np.transpose(c, [1, 0])).astype(">f8").tobytes()
    blosc = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=1).encode(np.frombuffer(tc, ">f8"))
    codecs = [{"name": "transpose", "configuration": {"order": [1, 0]}},
              {"name": "bytes", "configuration": {"endian": "big"}},
              {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 5, "shuffle": "shuffle",
                                                  "typesize": 8, "blocksize": 0}},
              {"name": "crc32c"}]
    v3("v3_transpose_be_blosc_crc32c", c, c.shape, codecs, "Infinity", with_crc(blosc))
    bad = bytearray(with_crc(blosc))
    bad[-1] ^= 0x80
    v3("v3_crc32c_corrupt", c, c.shape, codecs, "Infinity", bytes(bad), error="corruption crc32c")
    u = ints((16,), "|u1", 0, 255)
    v3("v3_key_v2_u1", u, u.shape, [{"name": "bytes", "configuration": {}}], 3, u.tobytes(),
       key_encoding={"name": "v2", "configuration": {"separator": "."}})
    v3("v3_sharding", u, u.shape, [{"name": "sharding_indexed", "configuration": {}}], 0, b"",
       error="unsupported sharding_indexed")


# ---- seed corpora of the fuzz targets codec_any and pipeline -------------------------

CODEC_IDS = ["zlib", "gzip", "bz2", "zstd", "lz4", "blosc", "crc32c", "fletcher32", "crc32", "adler32"]


def fuzz_corpora():
    fuzz = os.path.join(HERE, "..", "fuzz", "corpus")
    for t in ("codec_any", "pipeline"):
        shutil.rmtree(os.path.join(fuzz, t), ignore_errors=True)
        os.makedirs(os.path.join(fuzz, t))
    codecs = os.path.join(OUT, "codecs")
    for name in sorted(os.listdir(codecs)):
        if not name.endswith(".bin") or "__" not in name:
            continue
        cid, what = name[:-4].split("__")
        if what not in ("text", "one", "floats", "odd", "zstd_shuffle", "lz4_bitshuffle", "blosclz_noshuffle"):
            continue
        with open(os.path.join(codecs, name), "rb") as f:
            data = f.read()
        with open(os.path.join(fuzz, "codec_any", name), "wb") as f:
            f.write(bytes([CODEC_IDS.index(cid)]) + data[:4096])
    zdir = os.path.join(OUT, "zarr")
    for name in sorted(os.listdir(zdir)):
        for suffix in (".zarray", ".zarr.json"):
            if name.endswith(suffix) and not (suffix == ".zarray" and name.endswith(".zarr.json")):
                case = name[: -len(suffix)]
                meta = json.dumps(json.load(open(os.path.join(zdir, name))), separators=(",", ":")).encode()
                stored = open(os.path.join(zdir, case + ".bin"), "rb").read()
                if len(stored) > 8192:
                    continue
                with open(os.path.join(fuzz, "pipeline", case), "wb") as f:
                    f.write(struct.pack("<H", len(meta)) + meta + stored)


if __name__ == "__main__":
    for sub in ("codecs", "zarr"):
        shutil.rmtree(os.path.join(OUT, sub), ignore_errors=True)
    codec_vectors()
    zarr_v2_vectors()
    zarr_v3_vectors()
    fuzz_corpora()
    n = sum(len(os.listdir(os.path.join(OUT, s))) for s in ("codecs", "zarr"))
    size = sum(os.path.getsize(os.path.join(OUT, s, f)) for s in ("codecs", "zarr") for f in os.listdir(os.path.join(OUT, s)))
    print("wrote %d files, %d bytes, under %s" % (n, size, os.path.normpath(OUT)))
