#!/usr/bin/python3
"""A small kerchunk-style reference generator for zarrmount's integration tests.

Reads NetCDF-4/HDF5 files and writes a reference set (Zarr v2 store, kerchunk
spec version 0 or 1) whose chunk keys point at byte ranges of those files.

Storage layout comes from h5py's low-level API (chunk byte offsets via
``DatasetID.get_chunk_info``, contiguous data via ``get_offset`` /
``get_storage_size``, the filter pipeline mapped to numcodecs ids); dimension
names and attributes come from netCDF4-python, with a pure-h5py fallback for
HDF5 files that netCDF4 cannot open.

What is covered (and what is not):
  * chunked datasets with deflate (``zlib``), shuffle (``shuffle``),
    zstd (``zstd``) and fletcher32 (``fletcher32``; numcodecs 0.11 cannot decode
    it, but the reference is still the faithful one);
  * contiguous datasets (one chunk = the whole array), unallocated data left to
    ``fill_value``;
  * compact datasets, and chunks whose filter mask says a filter was skipped,
    are inlined as ``base64:`` of a re-encoded chunk;
  * variable-length strings, compound and other types without a plain Zarr v2
    dtype are skipped with a note on stderr;
  * netCDF dimension-only placeholder datasets are skipped (their dimensions
    stay in ``_ARRAY_DIMENSIONS``);
  * nested HDF5 groups become nested Zarr groups.

Output forms (see ``--help``): v0 flat object; v1 with ``templates`` and/or
``gen`` (evenly spaced chunks become generator entries with jinja arithmetic
offsets); small chunks inlined as base64; whole-object ``[url]`` entries;
urls that are http://, absolute local paths or paths relative to the reference
file; aggregation of several files along a dimension (like kerchunk's
MultiZarrToZarr: chunk keys renumbered, the coordinate concatenated inline);
gzip or zstd compressed output.
"""

import argparse
import base64
import gzip
import json
import math
import os
import sys

import h5py
import numpy as np

try:  # netCDF4 gives us dimension names and the user-visible attributes.
    import netCDF4
except ImportError:  # pragma: no cover - the tests always have it
    netCDF4 = None

ZARR_FORMAT = 2
PLACEHOLDER_PREFIX = b"This is a netCDF dimension but not a netCDF variable"
# HDF5/netCDF bookkeeping attributes that are not user metadata.
HIDDEN_ATTRS = {
    "DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid",
    "_Netcdf4Coordinates", "_NCProperties", "_nc3_strict", "_FillValue",
}


def note(msg):
    print(f"make_refs: {msg}", file=sys.stderr)


# --------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------

def jsonable(value):
    """Converts attribute values (numpy scalars/arrays, bytes) to JSON-safe data."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return jsonable(value[()])
        if value.size == 1:  # netCDF scalar attributes read as 1-element arrays
            return jsonable(value.reshape(-1)[0])
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def meta_text(obj):
    """Zarr metadata documents are stored inline as JSON text."""
    return json.dumps(obj, sort_keys=True, allow_nan=False)


def zarr_fill_value(fill, dtype):
    if fill is None:
        return None
    if dtype.kind == "f":
        f = float(fill)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    if dtype.kind in "iu":
        return int(fill)
    if dtype.kind == "b":
        return bool(fill)
    if dtype.kind == "S":  # Zarr v2: fixed-length bytes are base64 encoded
        return base64.b64encode(np.asarray(fill, dtype=dtype).tobytes()).decode()
    return None


def b64(data):
    return "base64:" + base64.b64encode(bytes(data)).decode("ascii")


# --------------------------------------------------------------------------
# Scanning one HDF5 file
# --------------------------------------------------------------------------

def _filters(dset):
    """Maps the HDF5 filter pipeline of ``dset`` to numcodecs configs (in order)."""
    plist = dset.id.get_create_plist()
    out = []
    for i in range(plist.get_nfilters()):
        code, _flags, values, name = plist.get_filter(i)
        if code == h5py.h5z.FILTER_DEFLATE:
            out.append({"id": "zlib", "level": int(values[0]) if values else 4})
        elif code == h5py.h5z.FILTER_SHUFFLE:
            out.append({"id": "shuffle", "elementsize": dset.dtype.itemsize})
        elif code == h5py.h5z.FILTER_FLETCHER32:
            out.append({"id": "fletcher32"})
        elif code == 32015:  # registered HDF5 zstd filter
            out.append({"id": "zstd", "level": int(values[0]) if values else 3})
        else:
            raise ValueError(f"unsupported HDF5 filter {code} ({name!r})")
    return out


def _encode_chunk(dset, index, chunks, filters, fill):
    """Reads one chunk's values through HDF5 and encodes them with ``filters``."""
    import numcodecs
    arr = np.full(chunks, fill if fill is not None else 0, dtype=dset.dtype)
    sel = tuple(slice(i * c, min((i + 1) * c, s))
                for i, c, s in zip(index, chunks, dset.shape))
    part = dset[sel]
    arr[tuple(slice(0, p) for p in part.shape)] = part
    data = arr.tobytes()
    for conf in filters:
        data = numcodecs.get_codec(dict(conf)).encode(data)
    return bytes(data)


def _read_range(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise IOError(f"{path}: short read at {offset}+{length}")
    return data


def _array_refs(dset, url, path, key, dims, attrs, inline_threshold):
    """Reference entries for one dataset, keyed relative to the store root."""
    dtype = dset.dtype
    if dtype.names is not None or dtype.kind not in "biufS":
        note(f"{path}: skipping {key} (dtype {dtype} has no plain Zarr v2 form)")
        return {}
    shape = dset.shape
    dsid = dset.id
    layout = dsid.get_create_plist().get_layout()
    fill = dset.fillvalue
    refs = {}
    zattrs = dict(attrs)
    zattrs["_ARRAY_DIMENSIONS"] = list(dims)
    zarray = {
        "zarr_format": ZARR_FORMAT,
        "shape": list(shape),
        "dtype": dtype.str,
        "order": "C",
        "fill_value": zarr_fill_value(fill, dtype),
        "compressor": None,
        "filters": None,
    }
    if layout == h5py.h5d.CHUNKED:
        chunks = tuple(dset.chunks)
        filters = _filters(dset)
        zarray["chunks"] = list(chunks)
        zarray["filters"] = filters or None
        grid = [math.ceil(s / c) if c else 0 for s, c in zip(shape, chunks)]
        for i in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(i)
            index = tuple(o // c for o, c in zip(info.chunk_offset, chunks))
            if any(ix >= g for ix, g in zip(index, grid)):
                continue  # left over beyond the current extent
            ckey = f"{key}/" + ".".join(str(ix) for ix in index)
            if info.filter_mask:
                # Some filter was skipped for this chunk: the common pipeline
                # cannot decode it, so store a re-encoded copy inline.
                refs[ckey] = b64(_encode_chunk(dset, index, chunks, filters, fill))
            elif info.size <= inline_threshold:
                refs[ckey] = b64(_read_range(path, info.byte_offset, info.size))
            else:
                refs[ckey] = [url, int(info.byte_offset), int(info.size)]
    elif layout == h5py.h5d.CONTIGUOUS:
        zarray["chunks"] = list(shape)
        offset = dsid.get_offset()
        size = dsid.get_storage_size()
        if offset is not None and size > 0 and all(shape):
            ckey = f"{key}/" + (".".join("0" for _ in shape) or "0")
            if size <= inline_threshold:
                refs[ckey] = b64(_read_range(path, offset, size))
            else:
                refs[ckey] = [url, int(offset), int(size)]
    elif layout == h5py.h5d.COMPACT:
        # Compact data lives in the object header: inline it uncompressed.
        zarray["chunks"] = list(shape)
        if all(shape):
            ckey = f"{key}/" + (".".join("0" for _ in shape) or "0")
            refs[ckey] = b64(np.ascontiguousarray(dset[()], dtype=dtype).tobytes())
    else:
        note(f"{path}: skipping {key} (layout {layout} not supported)")
        return {}
    refs[f"{key}/.zarray"] = meta_text(zarray)
    refs[f"{key}/.zattrs"] = meta_text(zattrs)
    return refs


def _nc_attrs(obj):
    return {k: jsonable(obj.getncattr(k)) for k in obj.ncattrs() if k not in HIDDEN_ATTRS}


def _h5_attrs(obj):
    return {k: jsonable(v) for k, v in obj.attrs.items() if k not in HIDDEN_ATTRS}


def _is_placeholder(dset):
    name = dset.attrs.get("NAME")
    return isinstance(name, (bytes, np.bytes_)) and bytes(name).startswith(PLACEHOLDER_PREFIX)


def _h5_dims(dset):
    """Dimension names from HDF5 dimension scales, else phony names (one per
    distinct length, so that equal names always mean equal lengths)."""
    dims = []
    for axis, dim in enumerate(dset.dims):
        name = None
        if len(dim):
            name = dim[0].name.rsplit("/", 1)[-1]
        dims.append(name or f"phony_dim_len{dset.shape[axis]}")
    return dims


def scan_file(path, url, inline_threshold=0):
    """Returns a v0 reference dict (key -> str | [url, offset, length]) for ``path``.

    ``url`` is what chunk references will name as their target.
    """
    refs = {}
    with h5py.File(path, "r") as h5:
        nc = None
        if netCDF4 is not None:
            try:
                nc = netCDF4.Dataset(path, "r")
            except OSError:
                nc = None
        try:
            if nc is not None:
                _scan_nc_group(nc, h5, path, url, "", refs, inline_threshold)
            else:
                _scan_h5_group(h5, path, url, "", refs, inline_threshold)
        finally:
            if nc is not None:
                nc.close()
    return refs


def _join(prefix, name):
    return f"{prefix}/{name}" if prefix else name


def _scan_nc_group(ncgrp, h5grp, path, url, prefix, refs, inline_threshold):
    refs[_join(prefix, ".zgroup")] = meta_text({"zarr_format": ZARR_FORMAT})
    refs[_join(prefix, ".zattrs")] = meta_text(_nc_attrs(ncgrp))
    for name, var in ncgrp.variables.items():
        h5name = name if name in h5grp else "_nc4_non_coord_" + name
        dset = h5grp[h5name]
        refs.update(_array_refs(dset, url, path, _join(prefix, name), var.dimensions,
                                _nc_attrs(var), inline_threshold))
    for name, sub in ncgrp.groups.items():
        _scan_nc_group(sub, h5grp[name], path, url, _join(prefix, name), refs,
                       inline_threshold)


def _scan_h5_group(h5grp, path, url, prefix, refs, inline_threshold):
    refs[_join(prefix, ".zgroup")] = meta_text({"zarr_format": ZARR_FORMAT})
    refs[_join(prefix, ".zattrs")] = meta_text(_h5_attrs(h5grp))
    for name, obj in h5grp.items():
        if isinstance(obj, h5py.Group):
            _scan_h5_group(obj, path, url, _join(prefix, name), refs, inline_threshold)
        elif isinstance(obj, h5py.Dataset) and not _is_placeholder(obj):
            refs.update(_array_refs(obj, url, path, _join(prefix, name), _h5_dims(obj),
                                    _h5_attrs(obj), inline_threshold))


# --------------------------------------------------------------------------
# Aggregation along one dimension (MultiZarrToZarr-like)
# --------------------------------------------------------------------------

def _arrays(refs):
    return sorted(k[: -len("/.zarray")] for k in refs if k.endswith("/.zarray"))


def _coord_values(path, group, name):
    with netCDF4.Dataset(path, "r") as ds:
        grp = ds[group] if group else ds
        var = grp.variables[name]
        var.set_auto_maskandscale(False)
        return np.asarray(var[...])


def aggregate(members, concat_dim):
    """Concatenates single-file reference dicts along ``concat_dim``.

    ``members`` is a list of (path, refs) in order. Arrays that have the
    dimension get their chunk keys renumbered along it (each member's length
    along it must be a multiple of the chunk size, except the last member's);
    the coordinate variable named like the dimension is rebuilt inline as one
    uncompressed base64 chunk; everything else comes from the first member.
    """
    first = members[0][1]
    arrays = _arrays(first)
    out = {k: v for k, v in first.items() if k.rpartition("/")[0] not in arrays}
    for arr in arrays:
        out[f"{arr}/.zattrs"] = first[f"{arr}/.zattrs"]
        zarray = json.loads(first[f"{arr}/.zarray"])
        dims = json.loads(first[f"{arr}/.zattrs"])["_ARRAY_DIMENSIONS"]
        group, _, name = arr.rpartition("/")
        if concat_dim not in dims:
            out.update({k: v for k, v in first.items() if k.startswith(arr + "/")})
            continue
        axis = dims.index(concat_dim)
        if name == concat_dim:
            values = np.concatenate([_coord_values(p, group, name) for p, _ in members])
            dtype = np.dtype(zarray["dtype"])
            values = values.astype(dtype)
            zarray.update(shape=[int(values.shape[0])], chunks=[int(values.shape[0])],
                          compressor=None, filters=None)
            out[f"{arr}/.zarray"] = meta_text(zarray)
            out[f"{arr}/0"] = b64(values.tobytes())
            continue
        step = zarray["chunks"][axis]
        total = 0
        for n, (path, refs) in enumerate(members):
            mz = json.loads(refs[f"{arr}/.zarray"])
            length = mz["shape"][axis]
            if total % step:
                raise ValueError(f"{path}: {arr} is not chunk-aligned along {concat_dim}")
            shift = total // step
            for k, v in refs.items():
                if not k.startswith(arr + "/") or k.rsplit("/", 1)[1].startswith("."):
                    continue
                idx = k.rsplit("/", 1)[1].split(".")
                idx[axis] = str(int(idx[axis]) + shift)
                out[f"{arr}/" + ".".join(idx)] = v
            total += length
        zarray["shape"][axis] = total
        out[f"{arr}/.zarray"] = meta_text(zarray)
    return out


# --------------------------------------------------------------------------
# Output forms
# --------------------------------------------------------------------------

def _template_names(urls):
    urls = sorted(set(urls))
    if len(urls) == 1:
        return {urls[0]: "u"}
    return {u: f"u{i}" for i, u in enumerate(urls)}


def _find_gens(refs):
    """Finds arrays whose chunks are a full grid, all in one url, equally long
    and equally spaced in C order. Returns [(array, gen_entries, keys_covered)]."""
    found = []
    for arr in _arrays(refs):
        zarray = json.loads(refs[f"{arr}/.zarray"])
        shape, chunks = zarray["shape"], zarray["chunks"]
        if not shape:
            continue
        grid = [math.ceil(s / c) for s, c in zip(shape, chunks)]
        count = math.prod(grid)
        keys = [k for k in refs if k.startswith(arr + "/") and not k.rsplit("/", 1)[1].startswith(".")]
        if count < 2 or len(keys) != count or not all(isinstance(refs[k], list) and len(refs[k]) == 3 for k in keys):
            continue
        items = sorted((tuple(int(x) for x in k.rsplit("/", 1)[1].split(".")), refs[k]) for k in keys)
        urls = {v[0] for _, v in items}
        lengths = {v[2] for _, v in items}
        if len(urls) != 1 or len(lengths) != 1:
            continue
        base, stride = items[0][1][1], items[1][1][1] - items[0][1][1]
        if stride <= 0 or any(v[1] != base + n * stride for n, (_, v) in enumerate(items)):
            continue
        found.append((arr, grid, base, stride, urls.pop(), lengths.pop(), keys))
    return found


def _gen_entries(arr, grid, base, stride, url, length):
    """Generator entries for one evenly spaced array.

    The flat chunk number is ``i0*(g1*g2...) + i1*(g2...) + ...``; the first
    axis is split into even and odd indices to exercise ``step``, single-chunk
    axes use the list form of a dimension.
    """
    names = [f"i{n}" for n in range(len(grid))]
    key = arr + "/" + ".".join("{{%s}}" % n for n in names)
    terms = []
    for n, name in enumerate(names):
        weight = math.prod(grid[n + 1:])
        terms.append(f"{name} * {weight}" if weight != 1 else name)
    offset = "{{%d + (%s) * %d}}" % (base, " + ".join(terms), stride)
    dims_rest = {name: ([0] if g == 1 else {"stop": g}) for name, g in zip(names[1:], grid[1:])}
    entries = []
    if grid[0] >= 4:
        starts = [(0, 2), (1, 2)]
    else:
        starts = [(0, 1)]
    for start, step in starts:
        dims = {names[0]: {"start": start, "stop": grid[0], "step": step}}
        dims.update(dims_rest)
        entries.append({"key": key, "url": url, "offset": offset,
                        "length": str(length), "dimensions": dims})
    return entries


def to_v1(refs, templates=True, gen=True):
    """Converts a v0 dict to a version-1 reference set."""
    refs = dict(refs)
    gens = []
    if gen:
        for arr, grid, base, stride, url, length, keys in _find_gens(refs):
            for k in keys:
                del refs[k]
            gens.extend(_gen_entries(arr, grid, base, stride, url, length))
    names = {}
    if templates:
        urls = [v[0] for v in refs.values() if isinstance(v, list)]
        urls += [g["url"] for g in gens]
        names = _template_names(urls)
    out_refs = {}
    for k, v in refs.items():
        if isinstance(v, list) and v[0] in names:
            v = ["{{%s}}" % names[v[0]]] + list(v[1:])
        out_refs[k] = v
    for g in gens:
        if g["url"] in names:
            g["url"] = "{{%s}}" % names[g["url"]]
    out = {"version": 1}
    if names:
        out["templates"] = {name: url for url, name in names.items()}
    if gens:
        out["gen"] = gens
    out["refs"] = out_refs
    return out


def encode(obj, compression="none", indent=None):
    separators = (",", ":") if indent is None else (",", ": ")
    data = json.dumps(obj, indent=indent, separators=separators, allow_nan=False).encode()
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        import zstandard
        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression != "none":
        raise ValueError(f"unknown compression {compression!r}")
    return data


def write(obj, out_path, compression="none", indent=None):
    data = encode(obj, compression, indent)
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out_path)


def load(path):
    """Reads a reference file, uncompressing gzip/zstd by magic bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return json.loads(data)


def make_url(path, style, out_path=None, http_base=None, http_root=None):
    """The url a reference names for local file ``path``.

    style: ``abs`` (absolute local path), ``rel`` (relative to the directory of
    the reference file ``out_path``) or ``http`` (``http_base`` + the path
    relative to ``http_root``, the directory the web server serves).
    """
    path = os.path.abspath(path)
    if style == "abs":
        return path
    if style == "rel":
        return os.path.relpath(path, os.path.dirname(os.path.abspath(out_path)))
    if style == "http":
        rel = os.path.relpath(path, os.path.abspath(http_root))
        if rel.startswith(".."):
            raise ValueError(f"{path} is outside the http root {http_root}")
        return http_base.rstrip("/") + "/" + rel
    raise ValueError(f"unknown url style {style!r}")


def build(files, out_path, version=0, templates=False, gen=False, url_style="abs",
          http_base=None, http_root=None, inline_threshold=0, concat_dim=None,
          whole=(), compression="none", indent=None):
    """Scans ``files`` and writes the reference set to ``out_path``; returns it."""
    def url(p):
        return make_url(p, url_style, out_path, http_base, http_root)
    members = [(p, scan_file(p, url(p), inline_threshold)) for p in files]
    if concat_dim:
        refs = aggregate(members, concat_dim)
    else:
        if len(members) != 1:
            raise ValueError("several files need --concat-dim")
        refs = members[0][1]
    for key, target in whole:
        refs[key] = [url(target)]
    obj = to_v1(refs, templates, gen) if version == 1 else refs
    write(obj, out_path, compression, indent)
    return obj


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="NetCDF-4/HDF5 input files (in concat order)")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--version", type=int, choices=(0, 1), default=0)
    ap.add_argument("--templates", action="store_true", help="v1: name urls in 'templates'")
    ap.add_argument("--gen", action="store_true", help="v1: evenly spaced chunks as 'gen'")
    ap.add_argument("--url-style", choices=("abs", "rel", "http"), default="abs")
    ap.add_argument("--http-base", help="e.g. http://127.0.0.1:8080")
    ap.add_argument("--http-root", help="directory served at --http-base")
    ap.add_argument("--inline-threshold", type=int, default=0,
                    help="inline chunks of at most this many bytes as base64")
    ap.add_argument("--concat-dim", help="aggregate the files along this dimension")
    ap.add_argument("--whole", action="append", default=[], metavar="KEY=PATH",
                    help="add a whole-object reference [url] for PATH under KEY")
    ap.add_argument("--compression", choices=("none", "gzip", "zstd"), default="none")
    ap.add_argument("--indent", type=int, help="pretty-print the JSON")
    args = ap.parse_args(argv)
    if (args.templates or args.gen) and args.version != 1:
        ap.error("--templates/--gen need --version 1")
    if args.url_style == "http" and not (args.http_base and args.http_root):
        ap.error("--url-style http needs --http-base and --http-root")
    whole = [tuple(w.split("=", 1)) for w in args.whole]
    build(args.files, args.output, args.version, args.templates, args.gen, args.url_style,
          args.http_base, args.http_root, args.inline_threshold, args.concat_dim, whole,
          args.compression, args.indent)


if __name__ == "__main__":
    main()
