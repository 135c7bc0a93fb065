"""The benchmark's aggregation: many NetCDF-4/HDF5 files and their reference set.

Layout (``FULL``): 144 files of one day each (8 three-hourly steps), three
variables whose chunks differ in size by two orders of magnitude:

  tas  (time, lat_c, lon_c) 180x360 grid, chunks (1, 180, 180)  ~60 KiB stored
  pr   (time, lat, lon)     360x720 grid, chunks (4, 360, 360)  ~0.95 MiB stored
  sst  (time, lat, lon)     360x720 grid, chunks (8, 360, 720)  ~3.8 MiB stored

Fields are smooth (latitude profile, travelling waves, a diurnal cycle) plus
Gaussian noise, rounded to a power-of-two step, float32, written with h5py
directly (deflate level 1 + shuffle), which compresses them about 2.2x:
~1.25 GB stored, ~2.7 GB decoded. ``QUICK`` is 100 smaller files (~0.25 GB).
Dimension scales make the files readable by netCDF-C, so the reference set
is built by the integration tests' ``make_refs`` (netCDF4 path) and
aggregated along ``time`` like kerchunk's MultiZarrToZarr.

The reference set is written once, with the placeholder base ``BASE``
(``http://127.0.0.1:0``); ``refs_for(base)`` substitutes a server's address.
``KERCHUNK`` is the aggregation users make with kerchunk itself: 64 files of
8 steps of one variable, sst (512 x 512 x 1024 in all, chunks 1 x 256 x 512,
~380 KiB stored: unrounded noise, so deflate+shuffle gains only ~1.35x),
scanned by the peer kerchunk 0.2.2 (``SingleHdf5ToZarr`` per file, then
``MultiZarrToZarr`` along ``time``, run by ``/usr/bin/python3`` with
``--kerchunk DIR`` on its path). ``KERCHUNK_QUICK`` is 16 such files.

Everything is cached under ``WORKDIR/<layout name>/`` and reused when the
layout is unchanged.
"""

import dataclasses
import json
import multiprocessing
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import make_refs  # noqa: E402

BASE = "http://127.0.0.1:0"
FORMAT_VERSION = 4  # bump when the generator changes, to rebuild cached data


@dataclasses.dataclass(frozen=True)
class Var:
    name: str
    grid: str  # "fine" or "coarse"
    chunks: tuple  # (time, y, x)
    units: str
    offset: float  # mean value
    amplitude: float  # size of the smooth signal
    noise: float  # standard deviation of the noise; values are then rounded
                  # to a power of two near noise/32 (like bit-grooming), which
                  # makes deflate+shuffle compress them ~2.2x
    quantum: float = None  # the rounding step instead (0: no rounding)


@dataclasses.dataclass(frozen=True)
class Layout:
    name: str
    files: int
    steps: int  # time steps per file
    grids: dict  # name -> (ny, nx)
    variables: tuple
    refs_by: str = "make_refs"  # or "kerchunk" (the peer kerchunk 0.2.2)

    def to_json(self):
        # Fields at their defaults are left out, so that fields added since
        # keep the cached data of older layouts valid.
        d = dataclasses.asdict(self)
        if d["refs_by"] == "make_refs":
            del d["refs_by"]
        for v in d["variables"]:
            if v["quantum"] is None:
                del v["quantum"]
        d["format_version"] = FORMAT_VERSION
        return d


_VARS_FULL = (
    Var("tas", "coarse", (1, 180, 180), "K", 285.0, 30.0, 0.01),
    Var("pr", "fine", (4, 360, 360), "mm day-1", 3.0, 2.5, 1e-4),
    Var("sst", "fine", (8, 360, 720), "degC", 15.0, 12.0, 5e-4),
)
FULL = Layout("full", files=144, steps=8,
              grids={"fine": (360, 720), "coarse": (180, 360)}, variables=_VARS_FULL)

_VARS_QUICK = (
    Var("tas", "coarse", (1, 90, 360), "K", 285.0, 30.0, 0.01),
    Var("pr", "fine", (4, 180, 360), "mm day-1", 3.0, 2.5, 1e-4),
    Var("sst", "fine", (8, 180, 360), "degC", 15.0, 12.0, 5e-4),
)
QUICK = Layout("quick", files=100, steps=8,
               grids={"fine": (180, 360), "coarse": (90, 360)}, variables=_VARS_QUICK)

# SST in degC from sea ice (-1.8) to the tropics, with unrounded noise.
_SST_KERCHUNK = (Var("sst", "fine", (1, 256, 512), "degC", -1.8, 28.0, 0.3, quantum=0.0),)
KERCHUNK = Layout("kerchunk", files=64, steps=8, grids={"fine": (512, 1024)},
                  variables=_SST_KERCHUNK, refs_by="kerchunk")
KERCHUNK_QUICK = Layout("kerchunk-quick", files=16, steps=8, grids={"fine": (512, 1024)},
                        variables=_SST_KERCHUNK, refs_by="kerchunk")

DIMS = {"fine": ("lat", "lon"), "coarse": ("lat_c", "lon_c")}


def _coords(ny, nx):
    lat = np.linspace(-90 + 90 / ny, 90 - 90 / ny, ny, dtype=np.float32)
    lon = np.linspace(180 / nx, 360 - 180 / nx, nx, dtype=np.float32)
    return lat, lon


def _field(var, ny, nx, tsteps, rng):
    """(len(tsteps), ny, nx) float32: smooth signal plus Gaussian noise."""
    lat, lon = _coords(ny, nx)
    rlat = np.deg2rad(lat)[None, :, None]
    rlon = np.deg2rad(lon)[None, None, :]
    t = np.asarray(tsteps, dtype=np.float32)[:, None, None] * np.float32(0.125)  # days
    f = np.float32(var.offset) + np.float32(var.amplitude) * np.cos(rlat) ** 2
    f = f + np.float32(0.2 * var.amplitude) * np.sin(3 * rlon - 0.3 * t) * np.cos(rlat)
    f = f + np.float32(0.1 * var.amplitude) * np.sin(2 * np.pi * t + rlon)  # diurnal
    f = f.astype(np.float32)
    f += rng.standard_normal(f.shape, dtype=np.float32) * np.float32(var.noise)
    if var.quantum == 0:
        return f
    step = np.float32(var.quantum or 2.0 ** np.round(np.log2(var.noise / 32)))
    np.round(f / step, out=f)
    f *= step
    return f


def _write_file(args):
    """Writes file number ``n`` of ``layout`` to ``path`` (run in a worker)."""
    import h5py
    layout, n, path = args
    rng = np.random.default_rng(1000 + n)
    tsteps = np.arange(n * layout.steps, (n + 1) * layout.steps)
    tmp = path + ".tmp"
    with h5py.File(tmp, "w", track_order=True) as f:
        f.attrs["title"] = np.bytes_("zarrmount benchmark aggregation")
        f.attrs["Conventions"] = np.bytes_("CF-1.8")
        # Coordinates get a NaN fill value: h5py's default (0) would make
        # xarray mask the first time step (0 days) and lat/lon 0.
        time_ds = f.create_dataset("time", data=tsteps * 0.125, dtype="f8", fillvalue=np.nan)
        time_ds.attrs["units"] = np.bytes_("days since 2000-01-01 00:00:00")
        time_ds.attrs["calendar"] = np.bytes_("standard")
        time_ds.attrs["axis"] = np.bytes_("T")
        time_ds.make_scale("time")
        scales = {"time": time_ds}
        for grid, (ny, nx) in layout.grids.items():
            lat, lon = _coords(ny, nx)
            yname, xname = DIMS[grid]
            for name, values, units in ((yname, lat, "degrees_north"),
                                        (xname, lon, "degrees_east")):
                ds = f.create_dataset(name, data=values, fillvalue=np.float32(np.nan))
                ds.attrs["units"] = np.bytes_(units)
                ds.make_scale(name)
                scales[name] = ds
        for var in layout.variables:
            ny, nx = layout.grids[var.grid]
            data = _field(var, ny, nx, tsteps, rng)
            ds = f.create_dataset(var.name, data=data, chunks=var.chunks,
                                  compression="gzip", compression_opts=1, shuffle=True,
                                  fillvalue=np.float32(9.969209968386869e36))
            ds.attrs["units"] = np.bytes_(var.units)
            ds.attrs["long_name"] = np.bytes_(f"synthetic {var.name}")
            for axis, dim in enumerate(("time",) + DIMS[var.grid]):
                ds.dims[axis].attach_scale(scales[dim])
    os.replace(tmp, path)
    return path


def file_name(n):
    day = np.datetime64("2000-01-01") + np.timedelta64(n, "D")
    return f"agg_{str(day).replace('-', '')}.nc"


def build(workdir, layout, log=print, kerchunk_dir=None):
    """Creates (or reuses) the files and the reference set of ``layout`` under
    ``workdir/<layout.name>``. Returns the dataset description (a dict).
    REQUIRES: ``kerchunk_dir`` (kerchunk's source tree) if the layout's
    references are made by kerchunk."""
    root = os.path.join(workdir, layout.name)
    data = os.path.join(root, "data")
    meta_path = os.path.join(root, "dataset.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        files = [os.path.join(data, p) for p in meta.get("files", [])]
        if (meta.get("layout") == json.loads(json.dumps(layout.to_json()))
                and files and all(os.path.exists(p) for p in files)
                and os.path.exists(meta["refs_template"])):
            log(f"dataset: reusing {root} ({len(files)} files, "
                f"{meta['stored_bytes'] / 1e9:.2f} GB stored)")
            return meta
    os.makedirs(data, exist_ok=True)
    names = [file_name(n) for n in range(layout.files)]
    paths = [os.path.join(data, p) for p in names]
    t0 = time.monotonic()
    log(f"dataset: writing {layout.files} NetCDF-4 files to {data} ...")
    todo = [(layout, n, p) for n, p in enumerate(paths)]
    with multiprocessing.get_context("fork").Pool(min(2, os.cpu_count() or 1)) as pool:
        for _ in pool.imap_unordered(_write_file, todo, chunksize=4):
            pass
    t1 = time.monotonic()
    log(f"dataset: files written in {t1 - t0:.1f} s; building the reference set ...")
    refs_template = os.path.join(root, "refs-template.json")
    if layout.refs_by == "kerchunk":
        refs = kerchunk_refs(paths, refs_template, data, kerchunk_dir)["refs"]
    else:
        refs = make_refs.build(paths, refs_template, version=0, url_style="http",
                               http_base=BASE, http_root=data, concat_dim="time")
    t2 = time.monotonic()
    meta = describe(refs, layout)
    meta.update(layout=layout.to_json(), files=names, data_dir=data, refs_by=layout.refs_by,
                refs_template=refs_template, file_bytes=sum(os.path.getsize(p) for p in paths),
                build_seconds={"files": round(t1 - t0, 1), "refs": round(t2 - t1, 1)})
    with open(meta_path + ".tmp", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(meta_path + ".tmp", meta_path)
    log(f"dataset: {len(meta['variables'])} variables, {meta['chunk_count']} chunks, "
        f"{meta['stored_bytes'] / 1e9:.2f} GB stored / {meta['decoded_bytes'] / 1e9:.2f} GB "
        f"decoded, refs in {t2 - t1:.1f} s")
    return meta


# Run by the peer's Python stack: one SingleHdf5ToZarr per file, as users
# scan them, then MultiZarrToZarr along time. Paths come on stdin (JSON).
_KERCHUNK_SCRIPT = """
import json, sys
from kerchunk.combine import MultiZarrToZarr
from kerchunk.hdf import SingleHdf5ToZarr
paths = json.load(sys.stdin)
singles = [SingleHdf5ToZarr(p).translate() for p in paths]
combined = MultiZarrToZarr(singles, remote_protocol="file", concat_dims=["time"],
                           identical_dims=["lat", "lon"]).translate()
json.dump(combined, sys.stdout)
"""


def kerchunk_refs(paths, out_path, data_dir, kerchunk_dir):
    """The reference set kerchunk makes of ``paths`` (aggregated along time),
    with urls under ``data_dir`` moved to ``BASE``; written to ``out_path``
    as kerchunk writes it (version 1). Returns it."""
    import subprocess
    if not kerchunk_dir or not os.path.isdir(os.path.join(kerchunk_dir, "kerchunk")):
        raise RuntimeError(f"no kerchunk package under {kerchunk_dir!r} (give --kerchunk DIR)")
    env = dict(os.environ, PYTHONPATH=kerchunk_dir)
    proc = subprocess.run(["/usr/bin/python3", "-c", _KERCHUNK_SCRIPT], env=env,
                          input=json.dumps([os.path.abspath(p) for p in paths]),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"kerchunk failed: {proc.stderr.strip()[-2000:]}")
    doc = json.loads(proc.stdout)
    root = os.path.abspath(data_dir) + "/"
    for k, v in doc["refs"].items():
        if isinstance(v, list) and v and isinstance(v[0], str):
            url = v[0][len("file://"):] if v[0].startswith("file://") else v[0]
            if not url.startswith(root):
                raise RuntimeError(f"kerchunk: {k} refers to {v[0]}, outside {data_dir}")
            doc["refs"][k] = [BASE + "/" + url[len(root):]] + v[1:]
    with open(out_path + ".tmp", "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(out_path + ".tmp", out_path)
    return doc


def describe(refs, layout):
    """Per variable: shape, chunks, chunk count, stored and decoded bytes, chunk
    size range."""
    out = {"variables": {}, "chunk_count": 0, "stored_bytes": 0, "decoded_bytes": 0}
    for var in layout.variables:
        z = json.loads(refs[f"{var.name}/.zarray"])
        sizes = [v[2] for k, v in refs.items()
                 if k.startswith(var.name + "/") and isinstance(v, list)]
        decoded = int(np.prod(z["shape"])) * np.dtype(z["dtype"]).itemsize
        out["variables"][var.name] = {
            "shape": z["shape"], "chunks": z["chunks"], "filters": z["filters"],
            "dtype": z["dtype"], "chunk_count": len(sizes), "stored_bytes": sum(sizes),
            "decoded_bytes": decoded, "chunk_bytes_min": min(sizes),
            "chunk_bytes_max": max(sizes), "chunk_bytes_mean": sum(sizes) // len(sizes),
        }
        out["chunk_count"] += len(sizes)
        out["stored_bytes"] += sum(sizes)
        out["decoded_bytes"] += decoded
    out["key_count"] = len(refs)
    return out


def refs_for(meta, base):
    """The reference set (a v0 dict) with chunk urls on server ``base``."""
    refs = make_refs.load(meta["refs_template"])
    if "refs" in refs and "version" in refs:
        refs = refs["refs"]  # (version 1 as kerchunk writes it: no templates, no gen)
    prefix = BASE + "/"
    out = {}
    for k, v in refs.items():
        if isinstance(v, list) and v[0].startswith(prefix):
            v = [base.rstrip("/") + "/" + v[0][len(prefix):]] + v[1:]
        out[k] = v
    return out


def refs_document(meta, refs):
    """What a reference file of ``refs`` (from refs_for) holds: version 1 if
    kerchunk made the set, as kerchunk writes it; else version 0."""
    return {"version": 1, "refs": refs} if meta.get("refs_by") == "kerchunk" else refs


def chunk_index(refs, variables):
    """{var: [(key, url, offset, length), ...] in key (C) order}."""
    out = {}
    for name in variables:
        items = []
        for k, v in refs.items():
            if k.startswith(name + "/") and isinstance(v, list):
                idx = tuple(int(x) for x in k.rsplit("/", 1)[1].split("."))
                items.append((idx, k, v[0], v[1], v[2]))
        items.sort()
        out[name] = [(k, u, o, n) for _, k, u, o, n in items]
    return out
