#!/usr/bin/python3
"""Builds the integration-test data and reference sets in a work directory.

Real data comes from Debian packages:
  * r-cran-ncmeta: S2008001.L3m_DAY_CHL_chlor_a_9km.nc (SeaWiFS chlorophyll
    grid, 2312 deflated 64x64 chunks, contiguous coordinates, a uint8 palette,
    nested attribute-only groups);
  * libncarg-data: nc4uvt.nc (NCL sample, variables in the root and in group
    grp1, empty groups group2 and g3, shuffle+deflate, one-element chunks);
    sst30e_netcdf.nc (12-month SST climatology, split here into one NetCDF-4
    file per month) and fice.nc (120 months of sea-ice concentration, split into
    one file per year).

Layout of WORKDIR (served as the web root by the tests' nginx):
  chl/ groups/ sst/ fice/       data files
  refs/                          reference sets (see ``prepare``)
  manifest.json                  what each reference set holds

Usage: prepare_data.py WORKDIR [--http-base http://127.0.0.1:PORT]
       prepare_data.py --sample DIR   (the bundled sample, see sample/README)
"""

import argparse
import json
import os
import shutil
import sys

import netCDF4
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_refs  # noqa: E402

CHL_SRC = "/usr/lib/R/site-library/ncmeta/extdata/S2008001.L3m_DAY_CHL_chlor_a_9km.nc"
GROUPS_SRC = "/usr/share/ncarg/data/cdf/nc4uvt.nc"
SST_SRC = "/usr/share/ncarg/data/cdf/sst30e_netcdf.nc"
FICE_SRC = "/usr/share/ncarg/data/cdf/fice.nc"


def split_time(src, out_dir, stem, block, chunks, count=None, note=""):
    """Splits ``src`` along its ``time`` dimension into NetCDF-4 files of
    ``block`` steps each (the first ``count`` blocks if given).

    Variables with a time dimension are chunked (``chunks[name]``) with
    deflate+shuffle; the others are stored contiguous and uncompressed.
    Values are copied raw (no mask/scale). Returns the new paths in order.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    with netCDF4.Dataset(src) as ds:
        ds.set_auto_maskandscale(False)
        ntime = len(ds.dimensions["time"])
        nblocks = ntime // block if count is None else count
        for b in range(nblocks):
            path = os.path.join(out_dir, f"{stem}_{b + 1:02d}.nc")
            t0, t1 = b * block, (b + 1) * block
            with netCDF4.Dataset(path, "w", format="NETCDF4") as out:
                out.set_auto_maskandscale(False)
                for k in ds.ncattrs():
                    out.setncattr(k, ds.getncattr(k))
                out.setncattr("zarrmount_test_note",
                              f"split from {os.path.basename(src)}: {note}")
                for name, dim in ds.dimensions.items():
                    out.createDimension(name, None if name == "time" else len(dim))
                for name, var in ds.variables.items():
                    fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
                    has_time = "time" in var.dimensions
                    kwargs = {}
                    if has_time and name in chunks:
                        kwargs = dict(zlib=True, shuffle=True, complevel=4,
                                      chunksizes=chunks[name])
                    nv = out.createVariable(name, var.dtype, var.dimensions,
                                            fill_value=fill, **kwargs)
                    nv.set_auto_maskandscale(False)
                    for k in var.ncattrs():
                        if k != "_FillValue":
                            nv.setncattr(k, var.getncattr(k))
                    if has_time:
                        axis = var.dimensions.index("time")
                        sel = [slice(None)] * var.ndim
                        sel[axis] = slice(t0, t1)
                        nv[...] = var[tuple(sel)]
                    else:
                        nv[...] = var[...]
            paths.append(path)
    return paths


def concat_var(paths, name, axis=0):
    parts = []
    for p in paths:
        with netCDF4.Dataset(p) as ds:
            v = ds.variables[name]
            v.set_auto_maskandscale(False)
            parts.append(np.asarray(v[...]))
    return np.concatenate(parts, axis=axis)


def add_sidecar(refs, raw_path, raw_url, like, gen_name, whole_name):
    """Adds arrays backed by a raw little-endian sidecar file holding ``like``
    (already written to raw_path): ``gen_name`` with one chunk per time step
    at evenly spaced offsets (becomes a ``gen`` entry in v1) and, if
    ``whole_name``, the whole file as a single-chunk array ([url] reference)."""
    base = json.loads(refs["sst/.zarray"])
    attrs = json.loads(refs["sst/.zattrs"])
    shape = list(like.shape)
    step = int(np.prod(shape[1:])) * like.dtype.itemsize
    for name, chunks in ((gen_name, [1] + shape[1:]), (whole_name, shape)):
        if not name:
            continue
        zarray = dict(base, shape=shape, chunks=chunks, dtype=like.dtype.str,
                      compressor=None, filters=None)
        refs[f"{name}/.zarray"] = make_refs.meta_text(zarray)
        refs[f"{name}/.zattrs"] = make_refs.meta_text(
            dict(attrs, zarrmount_test_note=f"raw sidecar {os.path.basename(raw_path)}"))
    for i in range(shape[0]):
        refs[f"{gen_name}/{i}.0.0"] = [raw_url, i * step, step]
    if whole_name:
        refs[f"{whole_name}/0.0.0"] = [raw_url]
    return refs


def sst_refs(work, style, out_path, http_base=None, sidecar=True, whole_files=True):
    """The 12-month SST aggregation (plus sidecar arrays) as a v0 dict."""
    paths = sorted(os.path.join(work, "sst", f) for f in os.listdir(os.path.join(work, "sst"))
                   if f.endswith(".nc"))

    def url(p):
        return make_refs.make_url(p, style, out_path, http_base, work)
    refs = make_refs.aggregate([(p, make_refs.scan_file(p, url(p))) for p in paths], "time")
    raw = os.path.join(work, "sst", "sst_raw.f4")
    if sidecar:
        add_sidecar(refs, raw, url(raw), concat_var(paths, "sst").astype("<f4"),
                    "sst_raw", "sst_whole" if whole_files else None)
    if whole_files:
        for p in paths[:3]:
            refs["files/" + os.path.basename(p)] = [url(p)]
    return refs, paths


def make_synthetic_h5(path):
    """A plain HDF5 file (h5py, no netCDF conventions) with what the real files
    lack: a scalar, a compact dataset (inlined as base64), fixed-length strings,
    a variable-length string dataset (skipped), a big-endian shuffle+gzip
    dataset in nested groups, and a chunked dataset with unwritten chunks
    (left to fill_value)."""
    import h5py
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["title"] = "zarrmount synthetic HDF5"
        f["scalar"] = 3.25
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I16LE, h5py.h5s.create_simple((5,)),
                        dcpl=dcpl)
        f["compact"][...] = np.arange(5, dtype="<i2") * 7
        f.create_dataset("strings", data=np.array([b"alpha", b"beta", b"gamma", b"d"], "S8"))
        f.create_dataset("vlen", data=["x", "yy"], dtype=h5py.string_dtype())
        sub = f.create_group("g/sub")
        sub.attrs["levels"] = np.array([1.5, 2.5])
        sub.create_dataset("data", data=np.arange(600, dtype=">i4").reshape(20, 30),
                           chunks=(7, 8), compression="gzip", shuffle=True)
        sparse = f.create_dataset("sparse", shape=(100,), dtype="f8", chunks=(10,),
                                  fillvalue=-1.5)
        sparse[0:10] = 1.0
        sparse[50:60] = np.linspace(0, 1, 10)


def edge_refs(work, http_base=None):
    """A v0 set of awkward but valid entries (no Zarr arrays): unusual names,
    empty values, zero-length and end-of-file ranges, repeated and overlapping
    ranges, deep nesting, large inline values, an empty whole object."""
    local = os.path.join(work, "sst", "sst_01.nc")
    size = os.path.getsize(local)
    empty = os.path.join(work, "edge", "empty.bin")
    os.makedirs(os.path.dirname(empty), exist_ok=True)
    open(empty, "wb").close()
    rng = np.random.default_rng(7)
    refs = {
        "edge/empty.txt": "",
        "edge/empty.b64": "base64:",
        "edge/zero_range": [local, 100, 0],
        "edge/eof_range": [local, size - 50, 50],
        "edge/first_byte": [local, 0, 1],
        "edge/whole_file_range": [local, 0, size],
        "edge/dup_a": [local, 1000, 5000],
        "edge/dup_b": [local, 1000, 5000],
        "edge/overlap": [local, 3000, 5000],
        "edge/empty_whole_object": [empty],
        "edge/nul.txt": "a\u0000b\n",
        "edge/escapes.txt": "quote\" backslash\\ tab\t newline\n \u00e9 \U0001F600 \u2028",
        "names/with space.txt": "space",
        "names/\u00fcn\u00efc\u00f6d\u00e9/\u30d5\u30a1\u30a4\u30eb.txt": "unicode \u2713",
        "names/.hidden": "dot",
        "names/semi;colon#hash?q=1&x%20.txt": "punctuation",
        "names/mixed/UPPER": "upper",
        "names/mixed/upper": "lower",
        "names/" + "n" * 255: "longest name",
        "deep/" + "/".join("abcdefghijklmnop") + "/leaf": "deep",
        "big/inline.txt": "0123456789abcdef" * 20000,
        "big/inline.b64": make_refs.b64(rng.integers(0, 256, 200000, dtype=np.uint8).tobytes()),
    }
    if http_base:
        url = make_refs.make_url(local, "http", None, http_base, work)
        refs["edge/http_eof_range"] = [url, size - 50, 50]
        refs["edge/http_whole_range"] = [url, 0, size]
    return refs


def prepare(work, http_base=None):
    """Copies/creates the data files and writes all reference sets.

    Returns the manifest (also written to WORKDIR/manifest.json): a list of
    entries {name, refs, kind: single|agg|h5|raw, files, concat_dim, aliases, http,
    http_base, http_root}.
    ``aliases`` maps extra arrays to the variable whose values they hold.
    Reference sets with http urls are only made when ``http_base`` is given.
    """
    work = os.path.abspath(work)
    for d in ("chl", "groups", "sst", "fice", "h5", "refs"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    chl = os.path.join(work, "chl", os.path.basename(CHL_SRC))
    groups = os.path.join(work, "groups", os.path.basename(GROUPS_SRC))
    shutil.copyfile(CHL_SRC, chl)
    shutil.copyfile(GROUPS_SRC, groups)
    sst = split_time(SST_SRC, os.path.join(work, "sst"), "sst", 1,
                     {"sst": (1, 46, 91)}, note="one file per month")
    fice = split_time(FICE_SRC, os.path.join(work, "fice"), "fice", 12,
                      {"fice": (4, 25, 50)}, note="one file per year")
    sst_all = concat_var(sst, "sst").astype("<f4")
    sst_all.tofile(os.path.join(work, "sst", "sst_raw.f4"))
    os.makedirs(os.path.join(work, "sst", "raw"), exist_ok=True)
    for i in range(sst_all.shape[0]):  # one raw file per month, for a url-templated gen
        sst_all[i].tofile(os.path.join(work, "sst", "raw", f"m{i}.f4"))
    refdir = os.path.join(work, "refs")
    sst_alias = {"sst_raw": "sst", "sst_whole": "sst"}
    manifest = []

    def entry(name, path, kind, files, http, aliases=None):
        manifest.append({"name": name, "refs": path, "kind": kind, "files": files,
                         "concat_dim": "time" if kind == "agg" else None,
                         "aliases": aliases or {}, "http": http,
                         "http_base": http_base, "http_root": work})

    # Nested groups: v1 + templates (+ gen where chunks happen to be evenly
    # spaced), absolute local paths, small chunks inline base64, gzip.
    out = os.path.join(refdir, "groups_v1_abs.json.gz")
    make_refs.build([groups], out, version=1, templates=True, gen=True, url_style="abs",
                    inline_threshold=16, compression="gzip")
    entry("groups_v1_abs", out, "single", [groups], False)

    # SST aggregation, v0, paths relative to refs/ ("../sst/..."), whole-object
    # references for a raw sidecar and for three of the .nc files themselves.
    out = os.path.join(refdir, "sst_v0_rel.json")
    refs, _ = sst_refs(work, "rel", out)
    make_refs.write(refs, out)
    entry("sst_v0_rel", out, "agg", sst, False, sst_alias)

    if http_base:
        out = os.path.join(refdir, "chl_v0_http.json")
        make_refs.build([chl], out, version=0, url_style="http", http_base=http_base,
                        http_root=work)
        entry("chl_v0_http", out, "single", [chl], True)

        # SST aggregation, v1 templates + gen (sidecar with arithmetic
        # offsets), zstd, no file name extension (magic bytes only).
        # sst_months: a hand-written gen whose url combines a template and the
        # generator variable ("{{r}}/m{{i}}.f4"), one raw file per month.
        out = os.path.join(refdir, "sst_v1_gen_http")
        refs, _ = sst_refs(work, "http", out, http_base)
        zarray = json.loads(refs["sst_raw/.zarray"])
        refs["sst_months/.zarray"] = refs["sst_raw/.zarray"]
        refs["sst_months/.zattrs"] = refs["sst_raw/.zattrs"]
        v1 = make_refs.to_v1(refs, templates=True, gen=True)
        v1["templates"]["r"] = http_base + "/sst/raw"
        step = int(np.prod(zarray["chunks"])) * 4
        months = list(range(zarray["shape"][0]))
        v1["gen"].append({"key": "sst_months/{{i}}.0.0", "url": "{{r}}/m{{i}}.f4",
                          "offset": "0", "length": str(step),
                          "dimensions": {"i": months[5:] + months[:5]}})
        # sst_arith: the raw sidecar again, offsets through //, %, + and -.
        refs_raw = [n for n, u in v1["templates"].items() if u.endswith("/sst_raw.f4")][0]
        v1["refs"]["sst_arith/.zarray"] = refs["sst_raw/.zarray"]
        v1["refs"]["sst_arith/.zattrs"] = refs["sst_raw/.zattrs"]
        v1["gen"].append({"key": "sst_arith/{{i}}.{{j}}.0", "url": "{{%s}}" % refs_raw,
                          "offset": "{{ ((i // 3) * 3 + i %% 3) * %d + 7 - 7 + j }}" % step,
                          "length": "{{ %d - j }}" % step,
                          "dimensions": {"i": {"stop": len(months)}, "j": [0]}})
        make_refs.write(v1, out, "zstd")
        entry("sst_v1_gen_http", out, "agg", sst, True,
              dict(sst_alias, sst_months="sst", sst_arith="sst"))

        # Yearly sea-ice files: several chunks per file along time, renumbered;
        # whole-object http references to two of the files; gzip.
        out = os.path.join(refdir, "fice_v1_http.json.gz")
        make_refs.build(fice, out, version=1, templates=True, gen=False, url_style="http",
                        http_base=http_base, http_root=work, concat_dim="time",
                        whole=[("files/" + os.path.basename(p), p) for p in fice[:2]],
                        compression="gzip")
        entry("fice_v1_http", out, "agg", fice, True)

    # Plain HDF5 (scalar, compact, strings, unwritten chunks), v0, absolute
    # paths; judged against h5py (kind "h5").
    synthetic = os.path.join(work, "h5", "synthetic.h5")
    make_synthetic_h5(synthetic)
    out = os.path.join(refdir, "h5_v0_abs.json")
    make_refs.build([synthetic], out, version=0, url_style="abs")
    entry("h5_v0_abs", out, "h5", [synthetic], False)

    # Awkward names and sizes, v0, judged by fsspec only (kind "raw").
    out = os.path.join(refdir, "edge_v0.json")
    make_refs.write(edge_refs(work, http_base), out)
    entry("edge_v0", out, "raw", [], bool(http_base))

    with open(os.path.join(work, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def make_sample(outdir, months=3):
    """The bundled sample: the first ``months`` monthly SST files and a v1
    reference set with templates whose urls are relative to refs.json."""
    outdir = os.path.abspath(outdir)
    paths = split_time(SST_SRC, outdir, "sst", 1, {"sst": (1, 46, 91)}, count=months,
                       note="zarrmount sample, made by sample/make_sample.sh")
    out = os.path.join(outdir, "refs.json")
    make_refs.build(paths, out, version=1, templates=True, gen=False, url_style="rel",
                    concat_dim="time", indent=1)
    return paths, out


def main():
    ap = argparse.ArgumentParser(description="Build zarrmount integration-test data.")
    ap.add_argument("workdir", nargs="?")
    ap.add_argument("--http-base", help="url at which WORKDIR is served, e.g. http://127.0.0.1:8080")
    ap.add_argument("--sample", metavar="DIR", help="write the bundled sample into DIR instead")
    args = ap.parse_args()
    if args.sample:
        paths, out = make_sample(args.sample)
        print("\n".join(paths + [out]))
    elif args.workdir:
        for e in prepare(args.workdir, args.http_base):
            print(e["name"], e["refs"])
    else:
        ap.error("give WORKDIR or --sample DIR")


if __name__ == "__main__":
    main()
