"""Zarr v3 stores with sharding_indexed, written by hand following the
specification (numpy, gzip, and v3_refs' pure-Python CRC-32C), as
version-0 reference sets for the views tests.

A shard is the outer chunk's stored object: its inner chunks, each encoded
with the inner codecs, and an index of (offset, nbytes) uint64 pairs, one
per inner chunk in C order, offsets from the shard's first byte, both
2^64-1 for an inner chunk not stored; the index is encoded with "bytes"
(little- or big-endian) and optionally "crc32c", at the start or the end.

build() writes:

  sst      (12, 91, 181) float32 from the SST files, shards (6, 40, 100) of
           inner chunks (3, 20, 25): edge shards on every axis; index at the
           end with crc32c; inner codecs bytes + gzip; inner chunks all
           fill (land, padding) not stored, as zarr-python writes them, plus
           one inner chunk holding data left out (reads as the fill value)
           and one whole shard missing
  land     int16 (91, 181) mask, shards (64, 128) of inner (16, 32), index
           at the start, big-endian, no checksum; inner codecs bytes (big)
  drill    float32 (32, 8, 8192) random, shards (8, 8, 4096) of inner
           (1, 8, 1024), index at the end with crc32c: a pixel drill along
           time through it needs 1 inner chunk of 32 shards' 32 each
"""

import json
import os
import struct

import numpy as np

import make_refs
import v3_refs

EMPTY = 2 ** 64 - 1


def _cells(shape, block):
    return [-(-n // c) for n, c in zip(shape, block)]


def encode_shard(block, inner, codecs, at_end, crc, big_endian, skip):
    """The stored bytes of one shard (``block``, the full shard shape) and
    its entries {inner position: (offset, nbytes)}; inner chunks for which
    ``skip(inner_index, values)`` is true are not stored."""
    per_shard = _cells(block.shape, inner)
    count = int(np.prod(per_shard))
    index_len = 16 * count + (4 if crc else 0)
    pieces, entries = [], {}
    pos = 0 if at_end else index_len
    for k, idx in enumerate(np.ndindex(*per_shard)):
        sub = block[tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, inner))]
        if skip(idx, sub):
            continue
        data = v3_refs.encode_chunk(np.ascontiguousarray(sub), codecs)
        entries[k] = (pos, len(data))
        pieces.append(data)
        pos += len(data)
    flat = []
    for k in range(count):
        flat.extend(entries.get(k, (EMPTY, EMPTY)))
    index = struct.pack((">" if big_endian else "<") + "Q" * len(flat), *flat)
    if crc:
        index += struct.pack("<I", v3_refs.crc32c(index))
    body = b"".join(pieces)
    return (body + index if at_end else index + body), entries


class ShardedWriter(v3_refs.StoreWriter):
    def __init__(self, blob_path, url):
        super().__init__(blob_path, url)
        self.shards = {}  # array path -> {shard index: (size, entries)}

    def sharded_array(self, path, data, shard, inner, inner_codecs, fill, dims, attrs,
                      at_end=True, crc=True, big_endian=False, missing_shards=(),
                      missing_inner=()):
        """``missing_inner``: (shard index, inner position) pairs holding data
        that are not stored all the same."""
        index_codecs = [{"name": "bytes", "configuration": {"endian": "big" if big_endian else "little"}}]
        if crc:
            index_codecs.append({"name": "crc32c"})
        meta = {
            "zarr_format": 3, "node_type": "array", "shape": list(data.shape),
            "data_type": data.dtype.name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(shard)}},
            "chunk_key_encoding": {"name": "default"},
            "fill_value": fill,
            "codecs": [{"name": "sharding_indexed", "configuration": {
                "chunk_shape": list(inner), "codecs": inner_codecs,
                "index_codecs": index_codecs, "index_location": "end" if at_end else "start"}}],
            "attributes": attrs, "dimension_names": dims,
        }
        self.refs[f"{path}/zarr.json"] = json.dumps(meta)
        want = data.copy()
        per_shard = _cells(shard, inner)
        self.shards[path] = {}
        for sidx in np.ndindex(*_cells(data.shape, shard)):
            sel = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(sidx, shard, data.shape))
            if sidx in missing_shards:
                want[sel] = fill
                continue
            block = np.full(shard, fill, dtype=data.dtype)
            block[tuple(slice(0, s.stop - s.start) for s in sel)] = data[sel]

            def skip(idx, values, sidx=sidx):
                pos = int(np.ravel_multi_index(idx, per_shard))
                return (sidx, pos) in missing_inner or bool((values == fill).all())
            stored, entries = encode_shard(block, inner, inner_codecs, at_end, crc, big_endian, skip)
            for pos in range(int(np.prod(per_shard))):
                if (sidx, pos) in missing_inner:
                    idx = np.unravel_index(pos, per_shard)
                    lo = [s * b + i * c for s, b, i, c in zip(sidx, shard, idx, inner)]
                    want[tuple(slice(a, a + c) for a, c in zip(lo, inner))] = fill
            key = f"{path}/c/" + "/".join(str(i) for i in sidx)
            self.refs[key] = [self.url, self.offset, len(stored)]
            self.blob.write(stored)
            self.offset += len(stored)
            self.shards[path][sidx] = (len(stored), entries)
        self.want[path] = want
        return meta


def index_bytes(meta):
    conf = meta["codecs"][0]["configuration"]
    per_shard = _cells(meta["chunk_grid"]["configuration"]["chunk_shape"], conf["chunk_shape"])
    crc = any(c["name"] == "crc32c" for c in conf["index_codecs"])
    return 16 * int(np.prod(per_shard)) + (4 if crc else 0)


def build(sst_files, out_path):
    """Writes the stores as one v0 reference set at ``out_path`` (shards in
    ``out_path`` + ".bin"). Returns (refs, want, docs, shards): the
    reference dict, {array: expected values}, {array: zarr.json as a dict},
    {array: {shard index: (stored size, {inner position: (offset, nbytes)})}}."""
    import netCDF4
    parts = []
    for p in sst_files:
        with netCDF4.Dataset(p) as ds:
            ds.set_auto_maskandscale(False)
            parts.append(np.asarray(ds.variables["sst"][...]))
    sst = np.concatenate(parts).astype("<f4")
    blob = out_path + ".bin"
    w = ShardedWriter(blob, os.path.basename(blob))
    w.group("", {"title": "sharded arrays written by v3_sharded.py"})
    docs = {}
    # Shard (0, 1, 0) holds ocean; its inner chunk 5 too (checked by the test).
    docs["sst"] = w.sharded_array(
        "sst", sst, (6, 40, 100), (3, 20, 25),
        [{"name": "bytes", "configuration": {"endian": "little"}},
         {"name": "gzip", "configuration": {"level": 1}}],
        -999.0, ["time", "lat", "lon"], {"units": "deg_C"},
        missing_shards={(1, 2, 1)}, missing_inner={((0, 1, 0), 5)})
    land = (sst[0] == -999).astype("<i2")
    docs["land"] = w.sharded_array(
        "land", land, (64, 128), (16, 32), [{"name": "bytes", "configuration": {"endian": "big"}}],
        0, ["lat", "lon"], {"long_name": "land mask"}, at_end=False, crc=False, big_endian=True)
    rng = np.random.default_rng(11)
    drill = rng.random((32, 8, 8192), dtype="f4")
    docs["drill"] = w.sharded_array(
        "drill", drill, (8, 8, 4096), (1, 8, 1024),
        [{"name": "bytes", "configuration": {"endian": "little"}}],
        0.0, ["t", "y", "x"], {})
    w.close()
    make_refs.write(w.refs, out_path)
    return w.refs, dict(w.want), docs, w.shards
