"""The views that decode (--view npy|netcdf|zarr-decoded), judged by real
readers.

Over the reference sets built by prepare_data.py (chl, groups, sst, fice,
plus the synthetic HDF5 set), mounted with --view npy and --view netcdf:
  * numpy (np.load, memory-mapped) reads every array of the npy view, and
    netCDF4-python every variable of the netcdf view, bit-identical to
    netCDF4/h5py reading the original files;
  * the netcdf view's dimensions come from _ARRAY_DIMENSIONS, its group and
    variable attributes equal .zattrs, _FillValue has the variable's type;
  * ncdump (netcdf-bin) and GDAL (gdalinfo, gdal_translate, python3-gdal)
    read the netcdf view and agree with the originals;
  * a reference set with chunk keys removed reads the fill value there, one
    with an unknown codec, a type NetCDF classic cannot hold and conflicting
    dimensions leaves those arrays out (one log line each), and a chunk that
    does not decode fails its reads with EIO and nothing else;
  * opening and stat-ing reads no chunk data; a small read fetches only the
    chunks it touches; a sequential read decodes each chunk once;
  * a Zarr v3 store written by hand from the SST files (v3_refs.py: zarr.json
    groups and arrays, transpose/bytes/gzip/zstd/crc32c, edge and missing
    chunks, both chunk key encodings) reads in the npy and netcdf views as
    the original values, with dimension_names and attributes, and in the
    zarr view byte for byte; its arrays with an unknown codec or chunk key
    encoding are left out, one log line each;
  * --view zarr-decoded: every reference set read by zarr-python and xarray
    as the originals, its metadata naming no codec and each chunk file the
    decoded chunk, the tree the zarr view's; missing chunks stay absent, an
    unknown codec's array is served as stored (one log line), sharded
    arrays by their inner chunks, a chunk that does not decode fails with
    EIO; the v3 store and the sharded store read by zarrita as written.
"""

import base64
import copy
import errno
import json
import os
import re
import subprocess

import netCDF4
import numpy as np
import pytest

import judges
import make_refs
import prepare_data
import v3_refs
import v3_sharded
import zmount

SETS = ["chl_v0_http", "groups_v1_abs", "sst_v0_rel", "fice_v1_http", "h5_v0_abs"]


def set_name(refs_path):
    """The root group's NetCDF file stem, as the daemon derives it."""
    name = os.path.basename(refs_path)
    changed = True
    while changed:
        changed = False
        for ext in (".gz", ".zst", ".zstd", ".json", ".parq", ".parquet"):
            if name.endswith(ext) and len(name) > len(ext):
                name = name[:-len(ext)]
                changed = True
    return name


def nc_file(mnt, refs_path, group):
    return os.path.join(mnt, group + ".nc" if group else set_name(refs_path) + ".nc")


def status(m):
    return json.loads(os.getxattr(m.mnt, "user.zarrmount.status"))


def native(a):
    return a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder not in "=|" else a


def zarr_docs(refs_path):
    """{key: parsed JSON} of every .zarray/.zattrs of a reference set."""
    ref = judges.FsspecRefs(refs_path)
    keys = [k for k in ref.keys() if k.rsplit("/", 1)[-1] in (".zarray", ".zattrs")]
    return {k: json.loads(v) for k, v in ref.cat(keys).items()}


@pytest.fixture(scope="module", params=SETS)
def npy_mount(request, zarrmount_bin, dataset, tmp_path_factory):
    entry = dataset[request.param]
    base = tmp_path_factory.mktemp("npy-" + request.param)
    m = zmount.Mount(entry["refs"], base / "mnt", base / "cache", base / "log", ["--view", "npy"])
    try:
        m.start()
        yield entry, m
    finally:
        m.cleanup()


@pytest.fixture(scope="module", params=SETS)
def nc_mount(request, zarrmount_bin, dataset, tmp_path_factory):
    entry = dataset[request.param]
    base = tmp_path_factory.mktemp("nc-" + request.param)
    m = zmount.Mount(entry["refs"], base / "mnt", base / "cache", base / "log",
                     ["--view", "netcdf"])
    try:
        m.start()
        yield entry, m
    finally:
        m.cleanup()


def test_npy_view_values(npy_mount):
    """Every array as <group>/<name>.npy, bit-identical to the originals (dtype
    and byte order included), read memory-mapped and read whole."""
    entry, m = npy_mount
    want = judges.expected_arrays(entry)
    files = set()
    for root, _dirs, names in os.walk(m.mnt):
        files.update(os.path.relpath(os.path.join(root, n), m.mnt) for n in names)
    assert files == {k + ".npy" for k in want}
    for name, arr in want.items():
        path = m.path(name + ".npy")
        got = np.load(path, mmap_mode="r")
        judges.assert_identical(f"npy {name}", np.asarray(got), arr)
        assert os.stat(path).st_size == got.offset + arr.nbytes
        assert got.offset % 64 == 0
        del got
        judges.assert_identical(f"npy {name}", np.load(path), arr)


def test_npy_partial_reads(npy_mount):
    """preads at odd offsets and lengths equal the same bytes of numpy's own
    .npy file of the original array."""
    import io
    import random
    entry, m = npy_mount
    rng = random.Random(7)
    for name, arr in sorted(judges.expected_arrays(entry).items(), key=lambda x: -x[1].nbytes)[:3]:
        buf = io.BytesIO()
        np.save(buf, arr)
        want = buf.getvalue()
        with open(m.path(name + ".npy"), "rb") as f:
            fd = f.fileno()
            for _ in range(20):
                off = rng.randrange(len(want) + 1)
                n = rng.randrange(1, 300000)
                assert os.pread(fd, n, off) == want[off:off + n], f"{name}: pread({n}, {off})"


def expected_groups(entry):
    want = judges.expected_arrays(entry)
    groups = {}
    for name, arr in want.items():
        g, _, v = name.rpartition("/")
        groups.setdefault(g, {})[v] = arr
    return groups


def check_attrs(where, got_obj, zattrs):
    """The NetCDF attributes of ``got_obj`` == the .zattrs document (less
    _ARRAY_DIMENSIONS; _FillValue is checked separately)."""
    want = {k: v for k, v in zattrs.items() if k not in ("_ARRAY_DIMENSIONS", "_FillValue")}
    got = {k: got_obj.getncattr(k) for k in got_obj.ncattrs() if k != "_FillValue"}
    assert set(got) == set(want), f"{where}: attributes {sorted(set(got) ^ set(want))} differ"
    for k, w in want.items():
        g = got[k]
        if isinstance(w, str):
            assert g == w, f"{where}: {k} = {g!r}, want {w!r}"
        elif isinstance(w, (int, float)) or (isinstance(w, list) and w
                                             and all(isinstance(x, (int, float)) for x in w)):
            gv = np.atleast_1d(np.asarray(g, dtype=np.float64))
            wv = np.atleast_1d(np.asarray(w, dtype=np.float64))
            assert np.array_equal(gv, wv, equal_nan=True), f"{where}: {k} = {g!r}, want {w!r}"
        else:  # other JSON values are carried as their JSON text
            assert json.loads(g) == w, f"{where}: {k} = {g!r}, want {w!r}"


def test_netcdf_view_values_and_metadata(nc_mount):
    """One NetCDF file per group with arrays; values bit-identical (as native
    values: NetCDF is big-endian), dimensions from _ARRAY_DIMENSIONS,
    attributes from .zattrs, _FillValue of the variable's type."""
    entry, m = nc_mount
    docs = zarr_docs(entry["refs"])
    groups = expected_groups(entry)
    files = set()
    for root, _dirs, names in os.walk(m.mnt):
        files.update(os.path.relpath(os.path.join(root, n), m.mnt) for n in names)
    assert files == {os.path.relpath(nc_file(m.mnt, entry["refs"], g), m.mnt) for g in groups}
    for g, arrays in groups.items():
        prefix = g + "/" if g else ""
        with netCDF4.Dataset(nc_file(m.mnt, entry["refs"], g)) as ds:
            assert ds.data_model in ("NETCDF3_64BIT_OFFSET", "NETCDF3_64BIT_DATA")
            ds.set_auto_maskandscale(False)
            ds.set_auto_chartostring(False)
            assert set(ds.variables) == set(arrays)
            check_attrs(f"{g or '/'}", ds, docs.get(prefix + ".zattrs", {}))
            for name, arr in arrays.items():
                var = ds.variables[name]
                got = np.asarray(var[...])
                w = arr
                if arr.dtype.kind == "S" and arr.dtype.itemsize > 1:
                    w = arr.view("S1").reshape(arr.shape + (arr.dtype.itemsize,))
                judges.assert_identical(f"netcdf {prefix}{name}", got, native(w))
                zattrs = docs.get(prefix + name + "/.zattrs", {})
                zarray = docs[prefix + name + "/.zarray"]
                dims = list(zattrs.get("_ARRAY_DIMENSIONS", []))
                if arr.dtype.kind == "S" and arr.dtype.itemsize > 1:
                    dims.append(f"string{arr.dtype.itemsize}")
                if dims:
                    assert list(var.dimensions) == dims
                for d, n in zip(var.dimensions, var.shape):
                    assert len(ds.dimensions[d]) == n
                check_attrs(f"{prefix}{name}", var, zattrs)
                fill = zarray.get("fill_value")
                if fill is not None and arr.dtype.kind in "iuf":
                    got_fill = var.getncattr("_FillValue")
                    assert np.asarray(got_fill).dtype == native(arr).dtype
                    want_fill = np.asarray(float(fill) if isinstance(fill, str) else fill,
                                           dtype=native(arr).dtype)
                    assert np.array_equal(got_fill, want_fill, equal_nan=True), \
                        f"{prefix}{name}: _FillValue {got_fill!r}, want {want_fill!r}"


def numeric_var(groups, max_elems=300000):
    """(group, name, array) of the largest numeric array under max_elems."""
    best = None
    for g, arrays in groups.items():
        for name, arr in arrays.items():
            if arr.dtype.kind in "iuf" and arr.ndim >= 1 and arr.size <= max_elems:
                if best is None or arr.size > best[2].size:
                    best = (g, name, arr)
    return best


def parse_ncdump_values(text, name):
    """The values of ``name`` in ``ncdump -v name`` output ('_' for fill)."""
    data = text.split("data:", 1)[1]
    m = re.search(r"(?:^|\n)\s*" + re.escape(name) + r"\s*=(.*?);", data, re.S)
    return [v.strip() for v in m.group(1).replace("\n", " ").split(",")]


def test_ncdump_reads_netcdf_view(nc_mount):
    """ncdump -h lists every variable; ncdump -v prints the same values as
    the originals (at round-trip precision)."""
    entry, m = nc_mount
    groups = expected_groups(entry)
    for g, arrays in groups.items():
        out = subprocess.run(["ncdump", "-h", nc_file(m.mnt, entry["refs"], g)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        for name in arrays:
            assert re.search(r"\b" + re.escape(name) + r"\(|\b" + re.escape(name) + r" ;",
                             out.stdout), f"{name} not in ncdump -h"
    g, name, arr = numeric_var(groups)
    path = nc_file(m.mnt, entry["refs"], g)
    out = subprocess.run(["ncdump", "-p", "9,17", "-v", name, path], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    with netCDF4.Dataset(path) as ds:
        fill = ds.variables[name].getncattr("_FillValue") \
            if "_FillValue" in ds.variables[name].ncattrs() else None
    vals = parse_ncdump_values(out.stdout, name)
    flat = native(arr).ravel()
    assert len(vals) == flat.size
    got = np.array([fill if v == "_" else float(v.rstrip("fFbsSLUu")) if arr.dtype.kind == "f"
                    else int(v.rstrip("bsSLUu")) if v != "_" else fill for v in vals],
                   dtype=flat.dtype)
    assert np.array_equal(got, flat, equal_nan=True), f"ncdump -v {name}: values differ"


def test_gdal_reads_netcdf_view(nc_mount, tmp_path):
    """gdalinfo describes a 2-D+ variable with the right size; gdal_translate
    copies it out and python3-gdal reads back the original values."""
    from osgeo import gdal
    entry, m = nc_mount
    groups = expected_groups(entry)
    cands = [(g, n, a) for g, arrs in groups.items() for n, a in arrs.items()
             if a.ndim >= 2 and a.dtype.kind in "iuf" and a.dtype.itemsize <= 8
             and a.dtype.kind + str(a.dtype.itemsize) not in ("u8", "i8")]
    if not cands:
        pytest.skip("no 2-D numeric variable")
    g, name, arr = max(cands, key=lambda x: x[2].size)
    path = nc_file(m.mnt, entry["refs"], g)
    with open(path, "rb") as f:
        if f.read(4) == b"CDF\x05":
            # GDAL 3.6 (Debian 12) does not recognise CDF-5 files at all.
            pytest.skip("CDF-5 file (an unsigned or 64-bit variable): GDAL 3.6 cannot open it")
    src = f'NETCDF:"{path}":{name}'
    info = subprocess.run(["gdalinfo", src], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr
    assert f"Size is {arr.shape[-1]}, {arr.shape[-2]}" in info.stdout
    out = str(tmp_path / "out.tif")
    tr = subprocess.run(["gdal_translate", "-q", "-of", "GTiff", src, out],
                        capture_output=True, text=True, timeout=300)
    assert tr.returncode == 0, tr.stderr
    ds = gdal.Open(out)
    got = ds.ReadAsArray()
    want = native(arr).reshape((-1,) + arr.shape[-2:])
    if want.shape[0] == 1:
        want = want[0]
    got = np.asarray(got)
    # GDAL shows north up: a variable stored south to north comes out flipped.
    assert got.shape == want.shape
    assert (np.array_equal(got, want, equal_nan=True)
            or np.array_equal(got, want[..., ::-1, :], equal_nan=True)), f"gdal {name}: values differ"


# --------------------------------------------------------------------------
# Awkward reference sets, derived from the SST aggregation (v0, relative urls)

def odd_refs(dataset, tmp_name):
    """A copy of sst_v0_rel next to it with: the chunks of time steps 2 and 5
    of sst removed;
    sst_raw under an unknown codec; sst_whole with its dimensions swapped
    (conflicting lengths); a complex array; an unsigned 16-bit array; and
    'bad', sst with chunk 4 pointing one byte off (does not decode)."""
    entry = dataset["sst_v0_rel"]
    refs = make_refs.load(entry["refs"])
    refs = copy.deepcopy(refs)
    for k in [k for k in refs if k.startswith(("sst/2.", "sst/5."))]:
        del refs[k]  # time steps 2 and 5 have no chunks
    z = json.loads(refs["sst_raw/.zarray"])
    z["compressor"] = {"id": "nosuchcodec"}
    refs["sst_raw/.zarray"] = make_refs.meta_text(z)
    a = json.loads(refs["sst_whole/.zattrs"])
    dims = a["_ARRAY_DIMENSIONS"]
    a["_ARRAY_DIMENSIONS"] = dims[:1] + dims[:0:-1]  # lat and lon swapped: 181 != 91
    refs["sst_whole/.zattrs"] = make_refs.meta_text(a)
    for name, dtype, data in (("cplx", "<c8", np.arange(3, dtype="<c8") * (1 + 2j)),
                              ("counts", "<u2", np.array([1, 65534, 7], "<u2"))):
        refs[f"{name}/.zarray"] = make_refs.meta_text({
            "zarr_format": 2, "shape": [3], "chunks": [3], "dtype": dtype, "order": "C",
            "fill_value": None, "compressor": None, "filters": None})
        refs[f"{name}/.zattrs"] = make_refs.meta_text({"_ARRAY_DIMENSIONS": ["three"],
                                                       "note": name})
        refs[f"{name}/0"] = make_refs.b64(data.tobytes())
    for k in [k for k in refs if k.startswith("sst/")]:
        refs["bad/" + k[4:]] = refs[k]
    url, off, length = refs["bad/4.0.0"]
    refs["bad/4.0.0"] = [url, off + 1, length]
    out = os.path.join(os.path.dirname(entry["refs"]), tmp_name)
    make_refs.write(refs, out)
    return out, entry


def sst_fill(entry):
    ref = judges.FsspecRefs(entry["refs"])
    z = json.loads(ref.cat(["sst/.zarray"])["sst/.zarray"])
    return z["fill_value"], np.dtype(z["dtype"])


def with_holes(entry, arr):
    fill, dtype = sst_fill(entry)
    want = arr.copy()
    want[[2, 5]] = np.asarray(float(fill) if isinstance(fill, str) else fill, dtype=dtype)
    return want


@pytest.mark.parametrize("view", ["npy", "netcdf"])
def test_missing_chunks_unknown_codec_bad_types(view, dataset, mount):
    refs, entry = odd_refs(dataset, f"sst_odd_{view}.json")
    m = mount(refs, extra=["--view", view])
    want = judges.expected_arrays(entry)
    log = open(m.log).read()
    assert "nosuchcodec" in log and "sst_raw" in log
    if view == "npy":
        names = set(os.listdir(m.mnt))
        assert "sst_raw.npy" not in names  # unknown codec: left out
        assert {"sst.npy", "sst_whole.npy", "cplx.npy", "counts.npy", "bad.npy"} <= names
        judges.assert_identical("holes", np.load(m.path("sst.npy")), with_holes(entry, want["sst"]))
        judges.assert_identical("cplx", np.load(m.path("cplx.npy")),
                                np.arange(3, dtype="<c8") * (1 + 2j))
        path = m.path("bad.npy")
        arr = np.load(path, mmap_mode="r")
        offset, step = arr.offset, arr[0].nbytes
        del arr
    else:
        path = nc_file(m.mnt, refs, "")
        with netCDF4.Dataset(path) as ds:
            ds.set_auto_maskandscale(False)
            assert ds.data_model == "NETCDF3_64BIT_DATA"  # the u2 array needs CDF-5
            assert "sst_raw" not in ds.variables
            assert "cplx" not in ds.variables  # no complex type in NetCDF
            assert "sst_whole" not in ds.variables  # lon/lat lengths conflict
            got = np.asarray(ds.variables["sst"][...])
            judges.assert_identical("holes", got, native(with_holes(entry, want["sst"])))
            judges.assert_identical("counts", np.asarray(ds.variables["counts"][...]),
                                    np.array([1, 65534, 7], "u2"))
            assert ds.variables["counts"].dtype == np.dtype("u2")
            # Variables lie after the header in name order ('bad' first),
            # each padded to 4 bytes: the data of 'bad' starts here.
            assert list(ds.variables)[0] == "bad"
            data = sum(-(-v.size * v.dtype.itemsize // 4) * 4 for v in ds.variables.values())
            offset = os.stat(path).st_size - data
            step = int(np.prod(ds.variables["bad"].shape[1:])) * 4
        lines = [ln for ln in log.splitlines() if "left out" in ln]
        for name in ("sst_raw", "cplx", "sst_whole"):
            assert sum(f"'{name}'" in ln for ln in lines) == 1, f"one log line for {name}"
        # ncdump reads CDF-5 too and prints the fill value's "_" for the holes.
        out = subprocess.run(["ncdump", "-v", "counts", path], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert parse_ncdump_values(out.stdout, "counts") == ["1", "65534", "7"]
    # A chunk that does not decode: EIO for reads of it, the rest is fine.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        with pytest.raises(OSError) as e:
            os.pread(fd, 4096, offset + 4 * step + 100)
        assert e.value.errno == errno.EIO
        # The bytes of other chunks still read, and right.
        row = want["sst"][3].astype(">f4" if view == "netcdf" else "<f4").tobytes()
        assert os.pread(fd, 4096, offset + 3 * step) == row[:4096]
    finally:
        os.close(fd)
    if view == "netcdf":
        with netCDF4.Dataset(path) as ds:
            with pytest.raises((RuntimeError, OSError)):
                np.asarray(ds.variables["bad"][4])
    assert re.search(r"bad/4\.0\.0", open(m.log).read()), "the log names the chunk"


def test_open_and_small_read_touch_only_their_chunks(dataset, mount):
    """stat, open and the header read no chunk data; a 4 KiB read in the middle
    of the chlorophyll grid (2312 chunks) fetches only the chunks it touches;
    reading the whole file in 1 MiB reads decodes each chunk once."""
    entry = dataset["chl_v0_http"]
    m = mount(entry["refs"], extra=["--view", "npy", "--no-disk-cache"])
    names = os.listdir(m.mnt)
    path = m.path("chlor_a.npy")
    before = status(m)
    st = os.stat(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        s = status(m)
        assert s["origin_bytes"] == before["origin_bytes"], "stat/open fetched data"
        assert s["view"]["chunk_loads"] == 0
        # The first page is the header and 992 floats of row 0: 16 chunks.
        assert os.pread(fd, 128, 0).startswith(b"\x93NUMPY")
        assert status(m)["view"]["chunk_loads"] == 16
        before = status(m)
        os.pread(fd, 4096, st.st_size // 2 // 4096 * 4096)
        s = status(m)
        # 1024 floats along one row of a 64x64-chunked grid: at most 17 chunks.
        assert 1 <= s["view"]["chunk_loads"] - before["view"]["chunk_loads"] <= 17
        assert 0 < s["origin_bytes"] - before["origin_bytes"] < 17 * 64 * 64 * 4
    finally:
        os.close(fd)
    arr = np.load(path, mmap_mode="r")
    nchunks = int(np.prod([-(-n // 64) for n in arr.shape]))
    del arr
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass
    s = status(m)
    assert s["view"]["chunk_loads"] == nchunks, "a chunk was decoded twice (or never)"
    assert s["view"]["load_errors"] == 0
    assert "chlor_a.npy" in names


# --------------------------------------------------------------------------
# A Zarr v3 store, written by hand from the monthly SST files (v3_refs.py)

@pytest.fixture(scope="module")
def v3_store(dataset, tmp_path_factory):
    entry = dataset["sst_v0_rel"]
    out = str(tmp_path_factory.mktemp("v3") / "sst_v3.json")
    refs, want, docs = v3_refs.build(entry["files"], out)
    # The chunks left out hold data, so reading their fill value is a finding.
    orig = judges.expected_arrays(entry)["sst"]
    for index in v3_refs.MISSING["sst"]:
        sel = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, (5, 40, 50)))
        assert (orig[sel] != -999).any() and (want["sst"][sel] == -999).all()
    mask = want["sst"] != orig
    assert mask.any() and (want["sst"][mask] == -999).all()
    return out, refs, want, docs


def view_files(m):
    files = set()
    for root, _dirs, names in os.walk(m.mnt):
        files.update(os.path.relpath(os.path.join(root, n), m.mnt) for n in names)
    return files


def assert_left_out_once(log, name, reason):
    lines = [ln for ln in log.splitlines() if "left out" in ln and f"'{name}'" in ln]
    assert len(lines) == 1 and reason in lines[0], f"log lines for {name}: {lines}"


def test_v3_store_npy_view(v3_store, mount):
    """Every array of the v3 store as .npy (little-endian, as Zarr v3 data
    types are), equal to the original values with -999 where chunks are not
    stored; the arrays with an unknown codec or chunk key encoding are left
    out, logged once each."""
    out, refs, want, _docs = v3_store
    m = mount(out, extra=["--view", "npy"])
    assert view_files(m) == {k + ".npy" for k in want}
    for name, arr in want.items():
        path = m.path(name + ".npy")
        got = np.load(path, mmap_mode="r")
        assert got.dtype == arr.dtype and got.dtype.byteorder in "<="
        judges.assert_identical(f"npy v3 {name}", np.asarray(got), arr)
        assert os.stat(path).st_size == got.offset + arr.nbytes
        del got
    log = open(m.log).read()
    assert_left_out_once(log, "odd", v3_refs.UNKNOWN_CODEC)
    assert_left_out_once(log, "odd_keys", v3_refs.UNKNOWN_KEY_ENCODING)


def test_v3_store_netcdf_view(v3_store, mount):
    """The root group's arrays in sst_v3.nc, clim's in clim.nc: values as the
    originals, dimensions from dimension_names (a null name becomes
    NAME_dimI), group and variable attributes from zarr.json, _FillValue
    from fill_value in the variable's type."""
    out, refs, want, docs = v3_store
    m = mount(out, extra=["--view", "netcdf"])
    assert view_files(m) == {"sst_v3.nc", "clim.nc"}
    groups = {"": "sst_v3.nc", "clim": "clim.nc"}
    for g, fname in groups.items():
        gdoc = json.loads(refs[f"{g}/zarr.json" if g else "zarr.json"])
        with netCDF4.Dataset(m.path(fname)) as ds:
            ds.set_auto_maskandscale(False)
            assert ds.data_model == "NETCDF3_64BIT_OFFSET"
            check_attrs(g or "/", ds, gdoc["attributes"])
            arrays = {k: v for k, v in want.items() if k.rpartition("/")[0] == g}
            assert set(ds.variables) == {k.rpartition("/")[2] for k in arrays}
            for path, arr in arrays.items():
                var = ds.variables[path.rpartition("/")[2]]
                judges.assert_identical(f"netcdf v3 {path}", np.asarray(var[...]), native(arr))
                doc = docs[path]
                dims = [d if d is not None else f"{path.rpartition('/')[2]}_dim{i}"
                        for i, d in enumerate(doc["dimension_names"])]
                assert list(var.dimensions) == dims, path
                for d, n in zip(var.dimensions, var.shape):
                    assert len(ds.dimensions[d]) == n
                check_attrs(path, var, doc["attributes"])
                fill = doc["fill_value"]
                got_fill = var.getncattr("_FillValue")
                assert np.asarray(got_fill).dtype == native(arr).dtype, path
                want_fill = np.asarray(float(fill) if isinstance(fill, str) else fill,
                                       dtype=native(arr).dtype)
                assert np.array_equal(got_fill, want_fill, equal_nan=True), path
    log = open(m.log).read()
    assert_left_out_once(log, "odd", v3_refs.UNKNOWN_CODEC)
    assert_left_out_once(log, "odd_keys", v3_refs.UNKNOWN_KEY_ENCODING)
    # ncdump agrees on the values of the variable with missing chunks.
    res = subprocess.run(["ncdump", "-p", "9", "-v", "sst", m.path("sst_v3.nc")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    vals = parse_ncdump_values(res.stdout, "sst")
    got = np.array([-999.0 if v == "_" else float(v) for v in vals], dtype="f4")
    assert np.array_equal(got, want["sst"].ravel())


def test_v3_store_zarr_view(v3_store, mount):
    """The default view shows the store's keys (zarr.json documents, chunk
    keys of both encodings, the inline chunk) byte for byte."""
    out, refs, _want, _docs = v3_store
    m = mount(out)
    assert view_files(m) == set(refs)
    for key in refs:
        with open(m.path(key), "rb") as f:
            assert f.read() == v3_refs.key_bytes(refs, out, key), key
    assert {"sst/c/0/0/0", "sst/c/2/2/2", "time/2", "lat/c.1", "lon/c/0"} <= set(refs)
    assert "sst/c/1/1/2" not in refs and "sst/c/2/2/3" not in refs


# --------------------------------------------------------------------------
# Reference sets of NetCDF-4 files with nested groups, with dimension names
# as kerchunk writes them ("grp1/time": the HDF5 dimension scale's path)

def kerchunk_dir():
    """kerchunk 0.2.2 (the peer, see ../shared/peers/README.md) if found."""
    cands = [os.environ.get("ZM_KERCHUNK", "")]
    here = os.path.dirname(os.path.abspath(__file__))
    for up in range(2, 6):
        base = os.path.join(here, *[".."] * up)
        cands.append(os.path.join(base, "shared", "peers", "kerchunk-0.2.2"))
    return next((c for c in cands if c and os.path.isfile(os.path.join(c, "kerchunk", "hdf.py"))),
                None)


def write_nested_groups(path):
    """A NetCDF-4 file with groups two deep, whose variables use their own
    group's, their parent's and the root's dimensions."""
    rng = np.random.default_rng(5)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", 3)
        t = ds.createVariable("time", "i4", ("time",))
        t[:] = [1, 2, 3]
        obs = ds.createGroup("obs")
        obs.title = "observations"
        obs.createDimension("station", 4)
        v = obs.createVariable("temp", "f4", ("time", "station"), fill_value=-1.0)
        v[:] = rng.random((3, 4), dtype="f4")
        v.units = "K"
        deep = obs.createGroup("deep")
        deep.createDimension("level", 2)
        w = deep.createVariable("w", "i2", ("station", "level", "time"), zlib=True,
                                chunksizes=(2, 1, 3))
        w[:] = rng.integers(-100, 100, (4, 2, 3), dtype="i2")
        deep.createVariable("level", "f8", ("level",))[:] = [10.0, 20.0]


def kerchunk_style_refs(src, out):
    """The reference set of ``src`` as kerchunk's SingleHdf5ToZarr writes it:
    by the peer when it is there, else by make_refs with each variable's
    _ARRAY_DIMENSIONS rewritten to kerchunk's spelling (the dimension
    scale's HDF5 path without its leading '/')."""
    kc = kerchunk_dir()
    if kc:
        script = ("import json, sys\n"
                  "from kerchunk.hdf import SingleHdf5ToZarr\n"
                  "r = SingleHdf5ToZarr(sys.argv[1], sys.argv[1], inline_threshold=0).translate()\n"
                  "json.dump(r, open(sys.argv[2], 'w'))\n")
        env = dict(os.environ, PYTHONPATH=kc)
        subprocess.run(["/usr/bin/python3", "-c", script, src, out], env=env, check=True,
                       timeout=300)
        return json.load(open(out))["refs"]
    import h5py
    refs = make_refs.build([src], out)
    refs = refs.get("refs", refs)
    with h5py.File(src, "r") as f:
        for key in list(refs):
            if not key.endswith("/.zattrs"):
                continue
            dset = f.get(key[:-len("/.zattrs")])
            if not isinstance(dset, h5py.Dataset):
                continue
            zattrs = json.loads(refs[key])
            names = ([dset.name] if h5py.h5ds.is_scale(dset.id)
                     else [d[0].name for d in dset.dims])
            zattrs["_ARRAY_DIMENSIONS"] = [n[1:] for n in names]
            refs[key] = json.dumps(zattrs)
    make_refs.write({"version": 1, "refs": refs}, out)
    return refs


def nc_groups(grp, prefix=""):
    """{group path: netCDF4 group} of the groups holding variables."""
    out = {prefix.rstrip("/"): grp} if grp.variables else {}
    for name, sub in grp.groups.items():
        out.update(nc_groups(sub, f"{prefix}{name}/"))
    return out


@pytest.mark.parametrize("source", ["nc4uvt", "nested"])
def test_netcdf_view_of_kerchunk_group_dimensions(source, mount, tmp_path):
    """Dimension names with group paths ("grp1/time", as kerchunk writes
    them) are the group file's dimensions: every group with variables has
    its file holding every variable, with the original's dimension names,
    lengths and values (netCDF4-python and ncdump as judges)."""
    if source == "nc4uvt":
        src = str(tmp_path / "nc4uvt.nc")
        import shutil
        shutil.copyfile(prepare_data.GROUPS_SRC, src)
    else:
        src = str(tmp_path / "nested.nc")
        write_nested_groups(src)
    out = str(tmp_path / f"{source}.json")
    refs = kerchunk_style_refs(src, out)
    assert any("/" in d for k, v in refs.items() if k.endswith(".zattrs")
               for d in json.loads(v).get("_ARRAY_DIMENSIONS", [])), "no group paths to test"
    m = mount(out, extra=["--view", "netcdf"])
    with netCDF4.Dataset(src) as orig:
        groups = nc_groups(orig)
        assert len(groups) >= 2
        assert view_files(m) == {(g if g else source) + ".nc" for g in groups}
        for g, og in groups.items():
            with netCDF4.Dataset(m.path((g if g else source) + ".nc")) as ds:
                ds.set_auto_maskandscale(False)
                og.set_auto_maskandscale(False)
                assert set(ds.variables) == set(og.variables), g
                for name, ov in og.variables.items():
                    var = ds.variables[name]
                    assert var.dimensions == ov.dimensions, f"{g}/{name}"
                    assert var.shape == ov.shape, f"{g}/{name}"
                    judges.assert_identical(f"{g}/{name}", np.asarray(var[...]),
                                            native(np.asarray(ov[...])))
        res = subprocess.run(["ncdump", "-h", m.path((g if g else source) + ".nc")],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
    assert "left out" not in open(m.log).read()


# --------------------------------------------------------------------------
# Zarr v3 sharded arrays, written by hand per the specification (v3_sharded.py)

@pytest.fixture(scope="module")
def sharded_store(dataset, tmp_path_factory):
    entry = dataset["sst_v0_rel"]
    out = str(tmp_path_factory.mktemp("sharded") / "sharded.json")
    refs, want, docs, shards = v3_sharded.build(entry["files"], out)
    # The inner chunk left out and the missing shard hold data, so reading
    # the fill value there is a finding.
    orig = judges.expected_arrays(entry)["sst"]
    assert (orig[0:3, 60:80, 25:50] != -999).any()
    assert (orig[6:12, 80:91, 100:181] != -999).any()
    assert (want["sst"][0:3, 60:80, 25:50] == -999).all()
    # Some inner chunks are not stored (land, padding), edge shards exist.
    assert any(len(e) < 16 for _size, e in shards["sst"].values())
    return out, refs, want, docs, shards


def test_sharded_arrays_npy_and_netcdf_views(sharded_store, mount):
    """Every sharded array reads as the values written, in the npy view
    (numpy) and the netcdf view (netCDF4-python); the zarr view shows the
    shards as stored."""
    out, refs, want, docs, _shards = sharded_store
    m = mount(out, extra=["--view", "npy"])
    assert view_files(m) == {k + ".npy" for k in want}
    for name, arr in want.items():
        got = np.load(m.path(name + ".npy"), mmap_mode="r")
        judges.assert_identical(f"npy sharded {name}", np.asarray(got), arr)
        del got
    assert "left out" not in open(m.log).read()
    n = mount(out, extra=["--view", "netcdf"])
    with netCDF4.Dataset(n.path("sharded.nc")) as ds:
        ds.set_auto_maskandscale(False)
        assert set(ds.variables) == set(want)
        for name, arr in want.items():
            var = ds.variables[name]
            assert list(var.dimensions) == docs[name]["dimension_names"]
            judges.assert_identical(f"netcdf sharded {name}", np.asarray(var[...]), native(arr))
    z = mount(out)
    for key in [k for k in refs if "/c/" in k][:6]:
        with open(z.path(key), "rb") as f:
            assert f.read() == v3_refs.key_bytes(refs, out, key), key


def test_sharded_pixel_drill_reads_only_what_it_needs(sharded_store, mount):
    """A pixel drill along time through the npy view (one element per time
    step, no kernel readahead) fetches the shard indexes and the inner
    chunks the reads need, not the shards: the bytes fetched against the
    bytes the pixels need, and the 4 KiB pages the kernel reads for them
    (a page may straddle two inner chunks), are printed."""
    out, _refs, want, docs, shards = sharded_store
    m = mount(out, extra=["--view", "npy"])
    arr = want["drill"]
    y, x = 3, 5000
    path = m.path("drill.npy")

    def fetched_bytes():  # demand reads and prefetches (both counted in origin_bytes), once none is in flight
        import time
        for _ in range(100):
            st = status(m)
            if st["origin_in_flight"] == 0:
                break
            time.sleep(0.05)
        return st["origin_bytes"]
    # Counted from before the header is read: its page holds the first
    # elements, whose shard index the drill may need too.
    before = fetched_bytes()
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no kernel readahead
    with os.fdopen(fd, "rb", buffering=0) as f:
        np.lib.format.read_array_header_1_0(f) if np.lib.format.read_magic(f) == (1, 0) \
            else np.lib.format.read_array_header_2_0(f)
        offset = f.tell()
    got = []
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for t in range(arr.shape[0]):
            pos = offset + ((t * arr.shape[1] + y) * arr.shape[2] + x) * 4
            got.append(np.frombuffer(os.pread(fd, 4, pos), "<f4")[0])
    finally:
        os.close(fd)
    assert np.array_equal(np.array(got, "<f4"), arr[:, y, x])
    fetched = fetched_bytes() - before
    shard_shape = docs["drill"]["chunk_grid"]["configuration"]["chunk_shape"]
    inner = docs["drill"]["codecs"][0]["configuration"]["chunk_shape"]
    per_shard = [s // i for s, i in zip(shard_shape, inner)]
    index_len = v3_sharded.index_bytes(docs["drill"])

    def inner_of(t, yy, xx):
        sidx = (t // shard_shape[0], yy // shard_shape[1], xx // shard_shape[2])
        pos = int(np.ravel_multi_index(((t % shard_shape[0]) // inner[0], (yy % shard_shape[1]) // inner[1],
                                        (xx % shard_shape[2]) // inner[2]), per_shard))
        return sidx, pos

    def bytes_for(chunks):  # the indexes of their shards and the inner chunks
        return (len({s for s, _ in chunks}) * index_len +
                sum(shards["drill"][s][1][p][1] for s, p in chunks))
    pixel, paged = set(), set()
    for t in range(arr.shape[0]):
        pixel.add(inner_of(t, y, x))
        # The 4 KiB page the kernel reads for the pixel (readahead off).
        pos = offset + ((t * arr.shape[1] + y) * arr.shape[2] + x) * 4
        first = (pos // 4096 * 4096 - offset) // 4
        for e in (max(first, 0), (pos // 4096 * 4096 + 4095 - offset) // 4):
            tt, rest = divmod(e, arr.shape[1] * arr.shape[2])
            paged.add(inner_of(tt, *divmod(rest, arr.shape[2])))
    needed, needed_pages = bytes_for(pixel), bytes_for(paged)
    whole = sum(shards["drill"][s][0] for s in {s for s, _ in pixel})
    print(f"\npixel drill through a sharded array: {fetched} bytes fetched; the pixels need "
          f"{needed} (ratio {fetched / needed:.2f}), the pages the kernel reads {needed_pages} "
          f"(ratio {fetched / needed_pages:.2f}); the shards touched hold {whole}")
    assert fetched >= needed_pages
    # Decode-ahead along the walk may fetch a little more, never the shards.
    assert fetched <= 1.5 * needed_pages < whole


def test_sharded_bad_index_fails_only_its_reads(sharded_store, mount, tmp_path):
    """A shard whose index fails its crc32c, and one whose index points past
    the shard's end: reads needing them fail with EIO, naming the shard in
    the log; every other read of the same files succeeds."""
    out, refs, want, docs, shards = sharded_store
    blob = open(out + ".bin", "rb").read()
    bad = bytearray(blob)
    # sst shard (0, 0, 0): index at the end, crc32c: flip a bit of it.
    url, off, size = refs["sst/c/0/0/0"]
    bad[off + size - 10] ^= 1
    # land shard (0, 0): index at the start, big-endian: entry 0's offset
    # past the shard's end.
    url, off, size = refs["land/c/0/0"]
    bad[off:off + 16] = (size + 100).to_bytes(8, "big") + (8).to_bytes(8, "big")
    bad_out = str(tmp_path / "bad.json")
    with open(bad_out + ".bin", "wb") as f:
        f.write(bytes(bad))
    with open(bad_out, "w") as f:
        json.dump({k: ([os.path.basename(bad_out) + ".bin", v[1], v[2]] if isinstance(v, list) else v)
                   for k, v in refs.items()}, f)
    m = mount(bad_out, extra=["--view", "npy"])
    for name, bad_elem, good_elem, why in [("sst", (0, 0, 0), (6, 0, 0), "crc32c"),
                                           ("land", (0, 0), (70, 0), "past the shard")]:
        arr = want[name]
        path = m.path(name + ".npy")
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            offset = os.fstat(fd).st_size - arr.nbytes
            at = lambda idx: offset + int(np.ravel_multi_index(idx, arr.shape)) * arr.itemsize
            with pytest.raises(OSError) as e:
                os.pread(fd, arr.itemsize, at(bad_elem))
            assert e.value.errno == errno.EIO
            got = np.frombuffer(os.pread(fd, arr.itemsize, at(good_elem)), arr.dtype)[0]
            assert got == arr[good_elem], name
        finally:
            os.close(fd)
        log = open(m.log).read()
        assert f"shard '{name}/c/0/0" in log and why in log, log[-2000:]


# --------------------------------------------------------------------------
# --view zarr-decoded: the Zarr store with its chunks decoded by the daemon

def decoded_arrays_of(m):
    """{array path: .zarray document} of the v2 arrays a mount shows."""
    out = {}
    for key in view_files(m):
        if key == ".zarray" or key.endswith("/.zarray"):
            with open(m.path(key)) as f:
                out[key[:-len(".zarray")].rstrip("/")] = json.load(f)
    return out


@pytest.mark.parametrize("name", SETS)
def test_zarr_decoded_view_values(name, dataset, mount):
    """Every array of every reference set reads through zarr-python and
    xarray as the originals, from chunk files that hold the decoded chunk:
    the metadata names no codec (C order), each chunk file has the chunk's
    bytes, and the tree is the zarr view's, file for file."""
    entry = dataset[name]
    m = mount(entry["refs"], extra=["--view", "zarr-decoded"])
    assert judges.check_zarr_store(m.mnt, entry) > 0
    z = mount(entry["refs"])
    assert view_files(m) == view_files(z)
    stored = decoded_arrays_of(z)
    for path, meta in decoded_arrays_of(m).items():
        assert meta["compressor"] is None and meta["filters"] is None, path
        assert meta["order"] == "C", path
        for field in ("shape", "chunks", "dtype", "fill_value"):
            assert meta[field] == stored[path][field], (path, field)
        nbytes = int(np.prod(meta["chunks"])) * np.dtype(meta["dtype"]).itemsize
        prefix = path + "/" if path else ""
        chunk_files = [k for k in view_files(m) if k.startswith(prefix)
                       and not k.rpartition("/")[2].startswith(".")]
        for key in chunk_files:
            assert os.stat(m.path(key)).st_size == nbytes, key
    assert status(m)["view"]["chunk_loads"] > 0
    assert "shown as stored" not in open(m.log).read()


def test_zarr_decoded_view_missing_unknown_and_bad_chunks(dataset, mount):
    """Chunks without references stay absent (zarr-python reads the fill
    value), an array with an unknown codec is served as stored (logged
    once), and a chunk that does not decode fails its reads with EIO while
    the other chunks of its array read right."""
    refs, entry = odd_refs(dataset, "sst_odd_decoded.json")
    m = mount(refs, extra=["--view", "zarr-decoded"])
    z = mount(refs)
    want = judges.expected_arrays(entry)
    import zarr
    root = zarr.open_group(m.mnt, mode="r")
    judges.assert_identical("holes", root["sst"][...], with_holes(entry, want["sst"]))
    assert not os.path.exists(m.path("sst/2.0.0"))
    for key in ("sst_raw/.zarray", "sst_raw/0.0.0"):
        with open(m.path(key), "rb") as a, open(z.path(key), "rb") as b:
            assert a.read() == b.read(), key
    lines = [ln for ln in open(m.log).read().splitlines() if "shown as stored" in ln]
    assert len(lines) == 1 and "'sst_raw'" in lines[0] and "nosuchcodec" in lines[0], lines
    with pytest.raises(OSError) as e:
        with open(m.path("bad/4.0.0"), "rb") as f:
            f.read()
    assert e.value.errno == errno.EIO
    judges.assert_identical("bad[3]", root["bad"][3], want["sst"][3])
    assert re.search(r"bad/4\.0\.0", open(m.log).read()), "the log names the chunk"


def test_v3_store_zarr_decoded_view(v3_store, mount):
    """The v3 store's arrays (transpose, bytes big and little, gzip, zstd,
    crc32c, both key encodings, missing chunks) read through zarrita, an
    independent v3 reader, as the values written; their zarr.json names the
    bytes codec alone; the arrays the mount cannot decode are served as
    stored, one log line each."""
    out, refs, want, _docs = v3_store
    m = mount(out, extra=["--view", "zarr-decoded"])
    assert view_files(m) == set(refs)
    for path in want:
        with open(m.path(path + "/zarr.json")) as f:
            codecs = json.load(f)["codecs"]
        assert [c["name"] for c in codecs] == ["bytes"], (path, codecs)
    import zarrita_reader
    got = zarrita_reader.read_arrays(m.mnt, sorted(want))
    for name, arr in want.items():
        assert got[name].dtype == arr.dtype and np.array_equal(got[name], arr), name
    lines = [ln for ln in open(m.log).read().splitlines() if "shown as stored" in ln]
    assert len(lines) == 2 and any("'odd'" in ln for ln in lines) and \
        any("'odd_keys'" in ln for ln in lines), lines
    for key in refs:
        if key.startswith(("odd/", "odd_keys/")):
            with open(m.path(key), "rb") as f:
                assert f.read() == v3_refs.key_bytes(refs, out, key), key


def test_sharded_arrays_zarr_decoded_view(sharded_store, mount):
    """Sharded arrays are served unsharded: their zarr.json names the inner
    chunk shape and the bytes codec alone, each inner chunk of a stored
    shard is a file of its own holding the decoded chunk (the shards are
    not shown), and zarrita reads the values written."""
    out, _refs, want, docs, shards = sharded_store
    m = mount(out, extra=["--view", "zarr-decoded"])
    files = view_files(m)
    for name, doc in docs.items():
        with open(m.path(name + "/zarr.json")) as f:
            meta = json.load(f)
        inner = doc["codecs"][0]["configuration"]["chunk_shape"]
        assert meta["chunk_grid"]["configuration"]["chunk_shape"] == inner, name
        assert [c["name"] for c in meta["codecs"]] == ["bytes"], (name, meta["codecs"])
        arr = want[name]
        shard_shape = doc["chunk_grid"]["configuration"]["chunk_shape"]
        per_shard = [s // i for s, i in zip(shard_shape, inner)]
        grid = [-(-n // c) for n, c in zip(arr.shape, inner)]
        expected = {f"{name}/c/" + "/".join(map(str, idx)) for idx in np.ndindex(*grid)
                    if tuple(i // p for i, p in zip(idx, per_shard)) in shards[name]}
        assert {f for f in files if f.startswith(name + "/c/")} == expected, name
        # Each file the decoded inner chunk: C order, little-endian, the
        # values written where it lies in the array.
        little = arr.dtype.newbyteorder("<")
        for key in sorted(expected)[::max(1, len(expected) // 40)]:
            idx = [int(i) for i in key.split("/")[2:]]
            with open(m.path(key), "rb") as f:
                chunk = np.frombuffer(f.read(), dtype=little).reshape(inner)
            lo = [i * c for i, c in zip(idx, inner)]
            part = arr[tuple(slice(a, a + c) for a, c in zip(lo, inner))]
            judges.assert_identical(f"zarr-decoded {key}", chunk[tuple(slice(0, n) for n in part.shape)], part)
    import zarrita_reader
    got = zarrita_reader.read_arrays(m.mnt, sorted(want))
    for name, arr in want.items():
        assert np.array_equal(got[name], arr), name
    assert "shown as stored" not in open(m.log).read()
