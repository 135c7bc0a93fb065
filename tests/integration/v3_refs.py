"""A Zarr v3 store written by hand (numpy, zlib, zstandard and a CRC-32C in
pure Python) into a version-0 reference set, for the views tests.

The data are the 12 monthly SST files prepare_data.py makes. The store:

  zarr.json            root group, attributes = the files' global attributes
                       plus a number, a list of numbers and an object
  sst                  (12, 91, 181) float32 in (5, 40, 50) chunks: edge
                       chunks on every axis; codecs transpose [2, 0, 1],
                       bytes big-endian, gzip, crc32c; keys "sst/c/0/1/2";
                       two chunks not stored (one of them an edge chunk),
                       which read as fill_value -999
  time                 float32, chunk_key_encoding "v2" ("time/0"), bytes only
  lat                  float32, default encoding with "." ("lat/c.0"), zstd,
                       fill_value "NaN"
  lon                  float32, bytes big-endian, its one chunk inline base64
  land                 int16 mask, dimension_names ["lat", null]
  clim/zarr.json       a group with attributes
  clim/sst_mean        float64 (91, 181), bytes little-endian + zstd
  odd                  an array whose codec chain names an unknown codec
  odd_keys             an array with an unknown chunk_key_encoding

Chunk bytes go to one data file beside the reference set (relative url),
except lon's chunk, which is inline.
"""

import base64
import gzip
import json
import os
import struct

import numpy as np

import make_refs

UNKNOWN_CODEC = "nosuchv3codec"
UNKNOWN_KEY_ENCODING = "nosuchencoding"
MISSING = {"sst": [(1, 1, 2), (2, 2, 3)]}  # (2, 2, 3) is the last, edge, chunk


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as the Zarr v3 crc32c codec stores it."""
    crc = 0xFFFFFFFF
    t = _CRC32C
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


def encode_chunk(block, codecs):
    """Encodes one chunk (an array of the full chunk shape) through a v3
    codec chain, following the Zarr v3 specification."""
    a, data = block, None
    for c in codecs:
        name, conf = c["name"], c.get("configuration", {})
        if name == "transpose":
            a = np.ascontiguousarray(np.transpose(a, conf["order"]))
        elif name == "bytes":
            order = ">" if conf.get("endian") == "big" else "<"
            data = a.astype(a.dtype.newbyteorder(order)).tobytes()
        elif name == "gzip":
            data = gzip.compress(data, compresslevel=conf["level"], mtime=0)
        elif name == "zstd":
            import zstandard
            data = zstandard.ZstdCompressor(level=conf["level"]).compress(data)
        elif name == "crc32c":
            data += struct.pack("<I", crc32c(data))
        elif name == UNKNOWN_CODEC:
            pass  # stands for a codec no reader has: the bytes stay as they are
        else:
            raise ValueError(f"cannot encode with {name}")
    return data


def chunk_key(index, encoding):
    sep = encoding.get("configuration", {}).get("separator", "/" if encoding["name"] == "default" else ".")
    if encoding["name"] == "v2":
        return sep.join(str(i) for i in index) if index else "0"
    return sep.join(["c"] + [str(i) for i in index])


class StoreWriter:
    def __init__(self, blob_path, url):
        self.refs = {}
        self.blob = open(blob_path, "wb")
        self.url = url
        self.offset = 0
        self.want = {}  # array path -> expected values (fill where not stored)

    def group(self, path, attrs):
        key = f"{path}/zarr.json" if path else "zarr.json"
        self.refs[key] = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs})

    def array(self, path, data, chunks, codecs, fill, dims, attrs,
              encoding=None, missing=(), inline=False, fill_json=None):
        encoding = encoding or {"name": "default", "configuration": {"separator": "/"}}
        meta = {
            "zarr_format": 3, "node_type": "array", "shape": list(data.shape),
            "data_type": data.dtype.name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
            "chunk_key_encoding": encoding,
            "fill_value": fill if fill_json is None else fill_json,
            "codecs": codecs, "attributes": attrs, "dimension_names": dims,
        }
        self.refs[f"{path}/zarr.json"] = json.dumps(meta)
        want = data.copy()
        grid = [-(-n // c) for n, c in zip(data.shape, chunks)]
        for index in np.ndindex(*grid):
            sel = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, data.shape))
            if index in missing:
                want[sel] = fill
                continue
            block = np.full(chunks, fill, dtype=data.dtype)
            block[tuple(slice(0, s.stop - s.start) for s in sel)] = data[sel]
            stored = encode_chunk(block, codecs)
            key = f"{path}/{chunk_key(index, encoding)}"
            if inline:
                self.refs[key] = make_refs.b64(stored)
            else:
                self.refs[key] = [self.url, self.offset, len(stored)]
                self.blob.write(stored)
                self.offset += len(stored)
        self.want[path] = want
        return meta

    def close(self):
        self.blob.close()


def nc_attrs(var_or_ds):
    return {k: make_refs.jsonable(var_or_ds.getncattr(k)) for k in var_or_ds.ncattrs()
            if k != "_FillValue"}


def build(sst_files, out_path):
    """Writes the store as a v0 reference set at ``out_path`` (chunk data in
    ``out_path`` + ".bin"). Returns (refs, want, docs): the reference dict,
    {array path: expected values}, {array path: its zarr.json as a dict}."""
    import netCDF4
    parts, times = [], []
    for p in sst_files:
        with netCDF4.Dataset(p) as ds:
            ds.set_auto_maskandscale(False)
            parts.append(np.asarray(ds.variables["sst"][...]))
            times.append(np.asarray(ds.variables["time"][...]))
    with netCDF4.Dataset(sst_files[0]) as ds:  # the rest as in the first month
        ds.set_auto_maskandscale(False)
        gattrs = nc_attrs(ds)
        vattrs = {n: nc_attrs(ds.variables[n]) for n in ("sst", "time", "lat", "lon")}
        lat = np.asarray(ds.variables["lat"][...])
        lon = np.asarray(ds.variables["lon"][...])
    sst = np.concatenate(parts).astype("<f4")
    time = np.concatenate(times).astype("<f4")
    blob = out_path + ".bin"
    w = StoreWriter(blob, os.path.basename(blob))
    gattrs = dict(gattrs, zarrmount_test_note="Zarr v3 store written by v3_refs.py",
                  answer=42, levels=[1.5, 2.5, 10.0], nested={"a": [1, "b"]})
    w.group("", gattrs)
    docs = {}
    docs["sst"] = w.array(
        "sst", sst, (5, 40, 50),
        [{"name": "transpose", "configuration": {"order": [2, 0, 1]}},
         {"name": "bytes", "configuration": {"endian": "big"}},
         {"name": "gzip", "configuration": {"level": 5}},
         {"name": "crc32c"}],
        -999.0, ["time", "lat", "lon"], vattrs["sst"], missing=MISSING["sst"])
    docs["time"] = w.array(
        "time", time, (5,), [{"name": "bytes", "configuration": {"endian": "little"}}],
        0.0, ["time"], vattrs["time"],
        encoding={"name": "v2", "configuration": {"separator": "."}})
    docs["lat"] = w.array(
        "lat", lat.astype("<f4"), (50,),
        [{"name": "bytes", "configuration": {"endian": "little"}},
         {"name": "zstd", "configuration": {"level": 3, "checksum": False}}],
        np.float32("nan"), ["lat"], vattrs["lat"], fill_json="NaN",
        encoding={"name": "default", "configuration": {"separator": "."}})
    docs["lon"] = w.array(
        "lon", lon.astype("<f4"), (181,), [{"name": "bytes", "configuration": {"endian": "big"}}],
        -1.0, ["lon"], vattrs["lon"], inline=True)
    land = (sst[0] == -999).astype("<i2")
    docs["land"] = w.array(
        "land", land, (91, 100),
        [{"name": "bytes", "configuration": {"endian": "little"}},
         {"name": "gzip", "configuration": {"level": 1}}],
        0, ["lat", None], {"long_name": "land mask", "flag_values": [0, 1]})
    w.group("clim", {"title": "climatology", "months": len(sst_files)})
    mean = np.where((sst != -999).all(axis=0), sst.mean(axis=0, dtype="<f8"), -999.0)
    docs["clim/sst_mean"] = w.array(
        "clim/sst_mean", mean.astype("<f8"), (40, 100),
        [{"name": "bytes", "configuration": {"endian": "little"}},
         {"name": "zstd", "configuration": {"level": 1}}],
        -999.0, ["lat", "lon"], {"units": "deg_C", "cell_methods": "time: mean"})
    w.array("odd", lat.astype("<f4"), (91,),
            [{"name": "bytes", "configuration": {"endian": "little"}},
             {"name": UNKNOWN_CODEC, "configuration": {"level": 1}}],
            0.0, ["lat"], {})
    w.array("odd_keys", lat.astype("<f4"), (91,),
            [{"name": "bytes", "configuration": {"endian": "little"}}],
            0.0, ["lat"], {}, encoding={"name": UNKNOWN_KEY_ENCODING})
    w.close()
    want = dict(w.want)
    del want["odd"], want["odd_keys"]
    make_refs.write(w.refs, out_path)
    return w.refs, want, docs


def key_bytes(refs, out_path, key):
    """The bytes the zarr view must show for ``key``."""
    v = refs[key]
    if isinstance(v, str):
        return base64.b64decode(v[7:]) if v.startswith("base64:") else v.encode()
    with open(os.path.join(os.path.dirname(out_path), v[0]), "rb") as f:
        f.seek(v[1])
        return f.read(v[2])
