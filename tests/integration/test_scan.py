"""`zarrmount scan`: references for NetCDF-3, NetCDF-4 and HDF5 files.

For real files from Debian packages (libncarg-data, r-cran-ncmeta, and the
classic file rewritten by netcdf-bin's nccopy as 64-bit offset and CDF-5)
and for an h5py-written file with every layout and filter h5py can write
here (chunked, contiguous, compact; gzip+shuffle, fletcher32, and blosc,
lz4 and bz2 through Debian's hdf5-filter-plugin), the scanned references
are mounted and every array zarr-python reads on the mount equals what
netCDF4 or h5py read from the file. What cannot be said (variable-length
strings, HDF5's lz4 framing) is left out with one line each. kerchunk
0.2.2 (the peer) scanning the same files gives the same arrays and the same
chunk byte ranges. `--concat time` over per-year files mounts equal to the
original. Bad input: one line naming the file, a failure status, no crash.
"""

import base64
import errno
import json
import os
import subprocess

import h5py
import netCDF4
import numpy as np
import pytest
import xarray as xr
import zarr

import prepare_data
import zmount

PLUGINS = "/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins"
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/peers/kerchunk-0.2.2")
PEERS = os.environ.get("ZM_KERCHUNK", "/work/shared/peers/kerchunk-0.2.2") \
    if not os.path.isdir(PEERS) else PEERS
DEBIAN_FILES = [
    prepare_data.SST_SRC, prepare_data.GROUPS_SRC, prepare_data.FICE_SRC, prepare_data.CHL_SRC,
    "/usr/share/ncarg/data/cdf/941110_P.cdf", "/usr/share/ncarg/data/nug/uv300.nc",
]


def scan(*args, check=True):
    proc = subprocess.run([zmount.ZARRMOUNT, "scan", *map(str, args)], capture_output=True,
                          text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def is_classic(path):
    with open(path, "rb") as f:
        return f.read(3) == b"CDF"


def file_arrays(path):
    """{zarr path: numpy array} as netCDF4 (classic) or h5py reads the file."""
    out = {}
    if is_classic(path):
        with netCDF4.Dataset(path) as ds:
            ds.set_auto_maskandscale(False)
            for name, var in ds.variables.items():
                out[name] = np.asarray(var[...])
        return out
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                try:
                    out[name] = obj[()]
                except OSError:
                    out[name] = None  # a filter h5py cannot decode here
        f.visititems(visit)
    return out


def mount_arrays(root):
    out = {}

    def walk(g, prefix):
        for name, a in g.arrays():
            out[prefix + name] = a
        for name, sub in g.groups():
            walk(sub, prefix + name + "/")
    walk(zarr.open_group(root, mode="r"), "")
    return out


def assert_mount_equals_file(mnt_root, path, left_out=()):
    want = file_arrays(path)
    got = mount_arrays(mnt_root)
    scales_only = {k for k in want if k not in got and k not in left_out}
    # netCDF-4 dimensions without a coordinate variable are empty
    # dimension scales: no array (as kerchunk).
    for k in scales_only:
        with h5py.File(path, "r") as f:
            assert f[k].attrs.get("CLASS") == b"DIMENSION_SCALE", f"{k} missing on the mount"
    for k in left_out:
        assert k not in got, f"{k} should have been left out"
    assert got, "no arrays"
    for name, a in got.items():
        w = want[name]
        g = a[...]
        assert g.shape == w.shape, name
        assert g.dtype == w.dtype or g.dtype.newbyteorder("=") == w.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(g, w, err_msg=name)


def scan_and_mount(mount, tmp_path, path, *extra):
    out = tmp_path / (os.path.basename(str(path)) + ".json")
    proc = scan(path, "-o", out, *extra)
    return mount(str(out)), out, proc


RECORDS_CDL = """netcdf records {
dimensions:
  time = UNLIMITED ; x = 3 ; n = 5 ;
variables:
  short a(time, x) ; a:_FillValue = -1s ; a:units = "m" ;
  double t(time) ; t:units = "days since 2000-01-01" ;
  char name(time, n) ;
  float fixed(x) ; fixed:scale = 0.5f, 2.f ;
  int one(time) ;
  :title = "record variables for test_scan" ;
data:
  a = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21 ;
  t = 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5 ;
  name = "alpha", "beta", "gamma", "delta", "eps", "zeta", "eta" ;
  fixed = 1.5, 2.5, 3.5 ;
  one = 1, 2, 3, 4, 5, 6, 7 ;
}
"""


@pytest.fixture(scope="module")
def classic_variants(tmp_path_factory):
    """fice.nc rewritten by nccopy as 64-bit offset (CDF-2) and CDF-5, and a
    file with several record variables (ncgen) in all three formats."""
    work = tmp_path_factory.mktemp("classic")
    out = []
    for kind, name in (("64-bit offset", "cdf2.nc"), ("cdf5", "cdf5.nc")):
        dst = str(work / name)
        subprocess.run(["nccopy", "-k", kind, prepare_data.FICE_SRC, dst], check=True)
        out.append(dst)
    cdl = work / "records.cdl"
    cdl.write_text(RECORDS_CDL)
    for kind, name in (("classic", "rec1.nc"), ("64-bit offset", "rec2.nc"), ("cdf5", "rec5.nc")):
        dst = str(work / name)
        subprocess.run(["ncgen", "-k", kind, "-o", dst, str(cdl)], check=True)
        out.append(dst)
    return out


@pytest.mark.parametrize("path", DEBIAN_FILES, ids=os.path.basename)
def test_debian_file_mounts_equal_to_file(mount, tmp_path, path):
    m, _, _ = scan_and_mount(mount, tmp_path, path)
    assert_mount_equals_file(m.path(), path)


@pytest.mark.parametrize("path", DEBIAN_FILES, ids=os.path.basename)
def test_xarray_on_mount_equals_xarray_on_file(mount, tmp_path, path):
    """Decoded (CF conventions: fill values, scale, times), the root group
    reads the same through the mount as from the file."""
    m, _, _ = scan_and_mount(mount, tmp_path, path)
    with xr.open_dataset(path) as want, xr.open_zarr(m.path(), consolidated=False) as got:
        xr.testing.assert_equal(got.load(), want.load())


def test_classic_64bit_and_cdf5(mount, tmp_path, classic_variants):
    for path in classic_variants:
        m, out, _ = scan_and_mount(mount, tmp_path, path)
        assert_mount_equals_file(m.path(), path)
        refs = json.load(open(out))["refs"]
        if "rec" in os.path.basename(path):
            # Record variables: one chunk per record.
            assert json.loads(refs["a/.zarray"])["chunks"] == [1, 3]
            assert json.loads(refs["a/.zarray"])["fill_value"] == -1
            assert "a/6.0" in refs and "a/7.0" not in refs
            assert json.loads(refs["fixed/.zattrs"])["scale"] == [0.5, 2.0]


def make_h5py_file(path):
    x = np.arange(24 * 30, dtype="<f4").reshape(24, 30)
    with h5py.File(path, "w") as f:
        f.create_dataset("contig", data=x)
        f.create_dataset("gzip_shuffle", data=x, chunks=(5, 7), compression="gzip", shuffle=True)
        f.create_dataset("fletcher", data=x.astype(">i4"), chunks=(8, 8), fletcher32=True,
                         compression="gzip")
        part = f.create_dataset("partial", shape=(20, 20), chunks=(10, 10), dtype="i2", fillvalue=-7)
        part[0:10, 0:10] = 3
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I16LE, h5py.h5s.create_simple((5,)),
                        dcpl=dcpl).write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(5, dtype="<i2"))
        f.create_dataset("scalar", data=np.float64(2.5))
        f.create_dataset("fixed_str", data=np.array([b"abc", b"de"], dtype="S4"))
        f.create_dataset("vlen_str", data=["a", "bcd"], dtype=h5py.string_dtype())
        f.create_dataset("compound", data=np.array([(1, 2.0), (3, 4.0)],
                                                   dtype=[("a", "<i4"), ("b", "<f8")]), chunks=(1,))
        g = f.create_group("g1/g2")
        g.attrs["title"] = "nested"
        g.attrs["nums"] = [1, 2, 3]
        g.create_dataset("deep", data=np.arange(10, dtype="f8"), chunks=(3,), compression="gzip")
        f.attrs["history"] = "made by test_scan"
        f.attrs["version"] = np.int32(3)
        for name, fid, opts in (("blosc", 32001, (0, 0, 0, 0, 5, 1, 1)), ("lz4", 32004, None),
                                ("bz2", 307, (9,))):
            f.create_dataset(name, data=x, chunks=(12, 15), compression=fid, compression_opts=opts)
        t = f.create_dataset("time", data=np.arange(24, dtype="f8"))
        t.make_scale("time")
        f["contig"].dims[0].attach_scale(t)


@pytest.fixture(scope="module")
def h5file(tmp_path_factory):
    os.environ["HDF5_PLUGIN_PATH"] = PLUGINS  # h5py writes and reads blosc, lz4, bz2
    path = str(tmp_path_factory.mktemp("h5") / "every_layout.h5")
    make_h5py_file(path)
    return path


def test_h5py_layouts_filters_and_types(mount, tmp_path, h5file):
    m, out, proc = scan_and_mount(mount, tmp_path, h5file)
    # One line per variable left out, naming it and why.
    lines = [ln for ln in proc.stderr.splitlines() if "left out" in ln]
    assert len(lines) == 2, proc.stderr
    assert any("vlen_str" in ln and "variable-length strings" in ln for ln in lines)
    assert any("lz4" in ln and "32004" in ln for ln in lines)
    assert_mount_equals_file(m.path(), h5file, left_out=("vlen_str", "lz4"))
    refs = json.load(open(out))["refs"]
    zarray = {k[:-len("/.zarray")]: json.loads(v) for k, v in refs.items() if k.endswith("/.zarray")}
    assert [f["id"] for f in zarray["gzip_shuffle"]["filters"]] == ["shuffle", "zlib"]
    assert zarray["partial"]["fill_value"] == -7
    assert "partial/1.1" not in refs  # never written: the fill value
    assert zarray["compound"]["dtype"] == [["a", "<i4"], ["b", "<f8"]]
    assert isinstance(refs["compact/0"], str)  # compact data inline
    attrs = json.loads(refs["contig/.zattrs"])
    assert attrs["_ARRAY_DIMENSIONS"] == ["time", "phony_dim_1"]
    assert json.loads(refs["g1/g2/.zattrs"]) == {"title": "nested", "nums": [1, 2, 3]}
    assert json.loads(refs[".zattrs"]) == {"history": "made by test_scan", "version": 3}


def test_inline_threshold(tmp_path, h5file):
    out = tmp_path / "none_inline.json"
    scan(h5file, "-o", out, "--inline-threshold", "0")
    refs = json.load(open(out))["refs"]
    assert isinstance(refs["g1/g2/deep/0"], list)
    out = tmp_path / "all_inline.json"
    scan(h5file, "-o", out, "--inline-threshold", "1M")
    refs = json.load(open(out))["refs"]
    assert not any(isinstance(v, list) for v in refs.values())


def kerchunk_refs(path):
    """kerchunk 0.2.2's references for `path` (run in a child: its Python
    imports stay out of ours)."""
    code = (
        "import json, sys\n"
        "p = sys.argv[1]\n"
        "if open(p, 'rb').read(3) == b'CDF':\n"
        "    from kerchunk.netCDF3 import NetCDF3ToZarr as T\n"
        "else:\n"
        "    from kerchunk.hdf import SingleHdf5ToZarr as T\n"
        "print(json.dumps(T(p, inline_threshold=500).translate()))\n")
    env = dict(os.environ, PYTHONPATH=PEERS, HDF5_PLUGIN_PATH=PLUGINS)
    proc = subprocess.run(["/usr/bin/python3", "-c", code, path], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)["refs"]


def chunk_bytes_or_range(v):
    if isinstance(v, list):
        return ("range", v[1], v[2])
    return ("inline", base64.b64decode(v[7:]) if v.startswith("base64:") else v.encode())


@pytest.mark.skipif(not os.path.isdir(PEERS), reason="kerchunk 0.2.2 peer not present")
@pytest.mark.parametrize("path", DEBIAN_FILES + ["h5py"], ids=os.path.basename)
def test_same_chunks_as_kerchunk(tmp_path, h5file, path):
    if path == "h5py":
        path = h5file
    out = tmp_path / "ours.json"
    scan(path, "-o", out)
    ours = json.load(open(out))["refs"]
    theirs = kerchunk_refs(path)
    arrays = lambda refs: {k[:-len("/.zarray")] for k in refs if k.endswith(".zarray")}
    common = arrays(ours) & arrays(theirs)
    # The README lists the differences: kerchunk also writes lz4, bitshuffle
    # and variable-length strings in forms Debian's zarr cannot read.
    assert arrays(theirs) - common <= {"vlen_str", "lz4"}, arrays(theirs) - common
    # kerchunk 0.2.2 leaves out fletcher32 after deflate and bz2 (it
    # raises on their filter ids); we read them.
    assert arrays(ours) - common <= {"fletcher", "bz2"}, arrays(ours) - common
    for name in common:
        mine = {k: v for k, v in ours.items() if k.startswith(name + "/") and "/." not in k[len(name):]}
        peer = {k: v for k, v in theirs.items() if k.startswith(name + "/") and "/." not in k[len(name):]}
        if name == "compound":
            # kerchunk 0.2.2 embeds compound data as JSON objects (an object
            # codec); we reference the stored bytes with a structured dtype.
            continue
        assert set(mine) == set(peer), name
        for k in mine:
            a, b = chunk_bytes_or_range(mine[k]), chunk_bytes_or_range(peer[k])
            if a[0] == b[0] == "range":
                assert a == b, k
        za, zb = json.loads(ours[name + "/.zarray"]), json.loads(theirs[name + "/.zarray"])
        assert za["shape"] == zb["shape"] and za["chunks"] == zb["chunks"], name
        assert np.dtype(_dt(za["dtype"])) == np.dtype(_dt(zb["dtype"])), name


def _dt(d):
    return [tuple(x) for x in d] if isinstance(d, list) else d


def test_concat_time(mount, tmp_path):
    files = prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                                    {"fice": (4, 25, 50)}, note="fice for test_scan")
    out = tmp_path / "fice_all.json"
    scan(str(tmp_path / "fice"), "--concat", "time", "-o", out)
    m = mount(str(out))
    got = zarr.open_group(m.path(), mode="r")
    with netCDF4.Dataset(prepare_data.FICE_SRC) as ds:
        ds.set_auto_maskandscale(False)
        for name in ("fice", "time"):
            np.testing.assert_array_equal(got[name][...], ds[name][...], err_msg=name)
    assert len(files) == 10


def test_scan_runs_in_the_small_program(tmp_path):
    """`zarrmount scan` and its workers run in zarrmount-scan, built beside
    zarrmount, which loads neither FUSE, LMDB, libmemcached nor the metrics
    server; the aggregation its workers make equals the one it scans in its
    own process (--jobs 1)."""
    program = os.path.join(os.path.dirname(os.path.realpath(zmount.ZARRMOUNT)), "zarrmount-scan")
    needed = subprocess.run(["readelf", "-d", program], capture_output=True, text=True, check=True).stdout
    assert "libhdf5" in needed and "libcurl" in needed, needed
    for lib in ("libfuse3", "liblmdb", "libmemcached", "libmicrohttpd", "libyaml-cpp"):
        assert lib not in needed, f"{program} links {lib}"
    prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                            {"fice": (4, 25, 50)}, note="fice for test_scan")
    trace = tmp_path / "execve.log"
    proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace),
                           zmount.ZARRMOUNT, "scan", "--jobs", "2", "--concat", "time",
                           str(tmp_path / "fice"), "-o", str(tmp_path / "workers.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    started = [line for line in trace.read_text().splitlines() if "execve(" in line and "= 0" in line]
    workers = [line for line in started if '"--worker"' in line]
    assert len(workers) == 2, started
    assert all(f'execve("{program}"' in line for line in workers), workers
    command = [line for line in started if '"--worker"' not in line and f'execve("{program}"' in line]
    assert len(command) == 1 and '"scan", "--jobs", "2"' in command[0], started
    scan("--jobs", "1", "--concat", "time", str(tmp_path / "fice"), "-o", tmp_path / "one.json")
    assert json.loads((tmp_path / "workers.json").read_text()) == json.loads((tmp_path / "one.json").read_text())


def test_bad_inputs(tmp_path, h5file):
    text = tmp_path / "notes.nc"
    text.write_text("not a NetCDF file, though named like one\n" * 40)
    empty = tmp_path / "empty.nc"
    empty.write_bytes(b"")
    classic = open(prepare_data.FICE_SRC, "rb").read()
    short_classic = tmp_path / "short_classic.nc"
    short_classic.write_bytes(classic[: len(classic) // 2])
    header_only = tmp_path / "header_only.nc"
    header_only.write_bytes(classic[:200])
    h5 = open(h5file, "rb").read()
    short_h5 = tmp_path / "short.h5"
    short_h5.write_bytes(h5[: len(h5) - 1000])
    garbage_h5 = tmp_path / "garbage.h5"
    garbage_h5.write_bytes(h5[:8] + os.urandom(4000))
    past_eof = tmp_path / "chunk_past_eof.h5"
    write_chunk_past_eof(past_eof)
    for bad in (text, empty, short_classic, header_only, short_h5, garbage_h5, past_eof):
        proc = scan(bad, "-o", tmp_path / "out.json", check=False)
        assert proc.returncode == 1, (bad, proc.returncode, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(bad) in lines[0], (bad, proc.stderr)
        assert not os.path.exists(tmp_path / "out.json")


def write_chunk_past_eof(path):
    """An HDF5 file whose chunk index (a version 1 B-tree, which has no
    checksum) points one chunk far past the end of the file."""
    with h5py.File(path, "w", libver="earliest") as f:
        d = f.create_dataset("v", data=np.arange(64, dtype="i4"), chunks=(16,))
        addr = d.id.get_chunk_info(2).byte_offset
    data = bytearray(open(path, "rb").read())
    needle = addr.to_bytes(8, "little")
    at = data.find(needle)
    assert at > 0 and data.find(needle, at + 1) < 0
    data[at:at + 8] = (len(data) + (1 << 30)).to_bytes(8, "little")
    open(path, "wb").write(bytes(data))


def test_cycle_of_links(mount, tmp_path):
    """A group linked into itself: every object is scanned once."""
    path = str(tmp_path / "cycle.h5")
    with h5py.File(path, "w") as f:
        g = f.create_group("g")
        g.create_dataset("v", data=np.arange(5.0))
        g["loop"] = g  # a hard link back to g
        g["up"] = f["/"]
    m, out, _ = scan_and_mount(mount, tmp_path, path)
    refs = json.load(open(out))["refs"]
    assert sum(k.endswith("/.zarray") for k in refs) == 1
    np.testing.assert_array_equal(zarr.open_group(m.path(), mode="r")["g/v"][...], np.arange(5.0))


@pytest.fixture(scope="module")
def served(datadir, nginx, h5file):
    """Files under the tests' nginx: {name: (local path, URL)}."""
    d = os.path.join(datadir, "scan")
    os.makedirs(d, exist_ok=True)
    out = {}
    for src in (prepare_data.CHL_SRC, prepare_data.GROUPS_SRC, "/usr/share/ncarg/data/cdf/941110_P.cdf",
                h5file):
        dst = os.path.join(d, os.path.basename(src))
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        out[os.path.basename(src)] = (dst, f"{nginx.url}/scan/{os.path.basename(src)}")
    return out


def test_remote_inputs_scan_as_local_files(mount, tmp_path, served, nginx):
    """An http:// input is read through libhdf5's driver of ours over the
    cache: the references equal those of the same file scanned locally,
    and the mount of them reads the file's arrays over HTTP."""
    for name, (local, url) in served.items():
        remote_out, local_out = tmp_path / f"{name}.remote.json", tmp_path / f"{name}.local.json"
        before = len(nginx.requests())
        scan(url, "-o", remote_out)
        # libhdf5's many small reads share the cache's 1 MiB blocks: at most
        # one request per block of the file, the first bringing the size
        # (no HEAD).
        sent = nginx.requests()[before:]
        blocks = -(-os.path.getsize(local) // (1 << 20))
        assert 1 <= len(sent) <= blocks and all(r[0] == "GET" for r in sent), (name, blocks, sent)
        scan(local, "-o", local_out)
        remote, here = json.load(open(remote_out)), json.load(open(local_out))
        assert remote["templates"] == {"u0": url} and here["templates"] == {"u0": local}
        assert remote["refs"] == here["refs"], name
        m = mount(str(remote_out))
        assert_mount_equals_file(m.path(), local, left_out=("vlen_str", "lz4"))


def test_remote_collection_scans_only_the_file_opened(mount, served, nginx):
    """URLs given without --concat are a collection too: the mount sends no
    request for them; opening one file's directory reads that file only,
    and its arrays equal the file's."""
    names = [os.path.basename(prepare_data.CHL_SRC), os.path.basename(prepare_data.GROUPS_SRC)]
    urls = [served[n][1] for n in names]
    before = len(nginx.requests())
    m = mount(urls[0], extra=urls[1:])
    assert sorted(os.listdir(m.path())) == sorted(names)
    assert len(nginx.requests()) == before
    local = served[names[1]][0]
    assert_mount_equals_file(m.path(names[1]), local)
    uris = [r[1] for r in nginx.requests()[before:]]
    assert uris and all(u.endswith("/" + names[1]) for u in uris), uris


def test_catalogs_naming_netcdf_files_scan_them(mount, tmp_path, served, nginx):
    """An Intake catalog whose sources use the netcdf driver, and a STAC
    item whose only data asset is a NetCDF file, mount like reference
    sets: each file is scanned when its dataset is first used (local or
    over HTTP), and reads as the file; a pattern is left out, with a line."""
    chl, groups = (os.path.basename(p) for p in (prepare_data.CHL_SRC, prepare_data.GROUPS_SRC))
    (tmp_path / "data").mkdir()
    write_h5(str(tmp_path / "data" / "p.h5"), np.arange(10.0) * 3)
    cat = tmp_path / "cat.yaml"
    cat.write_text(
        "sources:\n"
        "  local:\n"
        "    driver: netcdf\n"
        "    args: {urlpath: '{{ CATALOG_DIR }}/data/p.h5', chunks: {}}\n"
        "  remote:\n"
        "    driver: intake_xarray.netcdf.NetCDFSource\n"
        f"    args: {{urlpath: '{served[chl][1]}'}}\n"
        "  many:\n"
        "    driver: netcdf\n"
        "    args: {urlpath: 'data/*.h5'}\n")
    cache = str(tmp_path / "cache")
    before = len(nginx.requests())
    m = mount(str(cat), cache_dir=cache)
    assert sorted(os.listdir(m.path())) == ["local", "remote"]
    assert len(nginx.requests()) == before, "listing the catalog scanned a file"
    assert scan_records(cache) == {}
    np.testing.assert_array_equal(zarr.open_group(m.path("local"), mode="r")["v"][...], np.arange(10.0) * 3)
    assert_mount_equals_file(m.path("remote"), served[chl][0])
    assert len(scan_records(cache)) == 2
    assert "source 'many': urlpath 'data/*.h5' is a pattern" in open(m.log).read()
    m.unmount()

    item = tmp_path / "item.json"
    item.write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": "groups", "links": [],
        "geometry": None, "properties": {"datetime": None},
        "assets": {"data": {"href": served[groups][1], "type": "application/x-netcdf", "roles": ["data"]},
                   "thumb": {"href": "t.png", "type": "image/png"}}}))
    m = mount(str(item), cache_dir=cache, extra=["--view", "netcdf"])
    assert os.listdir(m.path()) == ["groups"]
    assert os.listdir(m.path("groups")), "the scanned file has no view files"
    with netCDF4.Dataset(served[groups][0]) as want:
        names = [v for v in want.variables if want.variables[v].ndim > 0]
        assert names
        view = os.path.join(m.path("groups"), os.listdir(m.path("groups"))[0])
        with netCDF4.Dataset(view) as got:
            for v in names:
                np.testing.assert_array_equal(got.variables[v][...], want.variables[v][...], err_msg=v)


def test_warm_scans_a_netcdf_source(mount, tmp_path, served, nginx):
    """`warm` of a NetCDF file (local, or over HTTP) scans it, keeps its scan
    record and fills the disk cache: a later mount of the URL sends only
    the version checks, no GET, and reads the file's arrays."""
    chl = os.path.basename(prepare_data.CHL_SRC)
    local, url = served[chl]
    cache = str(tmp_path / "cache")
    for source in (url, local):
        proc = subprocess.run([zmount.ZARRMOUNT, "warm", "--json", "--cache-dir", cache, source],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["keys"] > 0, proc.stdout
    assert len(scan_records(cache)) == 2
    before = len(nginx.requests())
    m = mount(url, cache_dir=cache)
    assert_mount_equals_file(m.path(), local)
    methods = [r[0] for r in nginx.requests()[before:]]
    assert "GET" not in methods, methods


def test_remote_concat_and_missing(tmp_path, datadir, nginx):
    files = prepare_data.split_time(prepare_data.FICE_SRC, os.path.join(datadir, "scan", "fice"), "fice",
                                    12, {"fice": (4, 25, 50)}, count=3, note="fice for test_scan")
    urls = [f"{nginx.url}/scan/fice/{os.path.basename(p)}" for p in files]
    out = tmp_path / "remote_fice.json"
    scan("--concat", "time", *reversed(urls), "-o", out)
    refs = json.load(open(out))
    assert sorted(refs["templates"].values()) == sorted(urls)
    assert json.loads(refs["refs"]["fice/.zarray"])["shape"][0] == 36
    missing = f"{nginx.url}/scan/no_such_file.nc"
    proc = scan(missing, "-o", tmp_path / "none.json", check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no_such_file.nc" in lines[0], proc.stderr


def resolved(refs):
    """The references with template names replaced by the file's basename:
    the same references whether the files were local paths or URLs."""
    names = {k: os.path.basename(v) for k, v in refs.get("templates", {}).items()}
    out = {}
    for key, v in refs["refs"].items():
        if isinstance(v, list) and v and isinstance(v[0], str):
            url = v[0]
            for name, base in names.items():
                url = url.replace("{{" + name + "}}", base)
            v = [os.path.basename(url)] + v[1:]
        out[key] = v
    return out


def test_bucket_glob_and_list_file_inputs(mount, tmp_path, tmp_path_factory, datadir):
    """`scan --concat time 's3://BUCKET/fice/*.nc'` lists the bucket under
    fice/ and scans the matching objects ('*' does not cross '/'; byte
    order): the references equal those of the same files scanned locally. A
    text file listing the files (paths or URLs) is an input too; a mount of
    the glob reads as the original; a glob matching nothing is one line."""
    import s3_server
    files = prepare_data.split_time(prepare_data.FICE_SRC, os.path.join(datadir, "scan", "fice"), "fice",
                                    12, {"fice": (4, 25, 50)}, count=3, note="fice for test_scan")
    key_id, secret = "AKIDZARRMOUNTSCAN001", "zmScanSecret/Known+Value0123456789ab"
    try:
        server = s3_server.S3rver(tmp_path_factory.mktemp("s3rver-scan"), [(key_id, secret)],
                                  ["scanb"]).start()
    except RuntimeError as e:
        pytest.fail(str(e))
    try:
        for p in reversed(files):
            with open(p, "rb") as f:
                server.put("scanb", "fice/" + os.path.basename(p), f.read())
        with open(files[0], "rb") as f:
            server.put("scanb", "fice/sub/fice_00.nc", f.read())  # below: not matched
        server.put("scanb", "fice/readme.txt", b"not NetCDF")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HOME=str(tmp_path), AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID=key_id,
                   AWS_SECRET_ACCESS_KEY=secret)

        def scan_env(*args, check=True):
            proc = subprocess.run([zmount.ZARRMOUNT, "scan", *map(str, args)], capture_output=True,
                                  text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
            assert proc.returncode == 0 or not check, proc.stderr
            return proc

        here_out, glob_out = tmp_path / "local.json", tmp_path / "glob.json"
        scan("--concat", "time", *files, "-o", here_out)
        scan_env("--concat", "time", "s3://scanb/fice/*.nc", "-o", glob_out)
        here, remote = json.load(open(here_out)), json.load(open(glob_out))
        assert list(remote["templates"].values()) == \
            [f"s3://scanb/fice/{os.path.basename(p)}" for p in files]
        assert resolved(remote) == resolved(here)

        listing = tmp_path / "files.txt"
        listing.write_text("# the files, in order\n\n" + "\n".join(files) + "\n")
        list_out = tmp_path / "list.json"
        scan("--concat", "time", listing, "-o", list_out)
        assert json.load(open(list_out)) == here
        url_listing = tmp_path / "urls.txt"
        url_listing.write_text("".join(f"s3://scanb/fice/{os.path.basename(p)}\n" for p in files))
        scan_env("--concat", "time", url_listing, "-o", list_out)
        assert json.load(open(list_out)) == remote

        m = mount("s3://scanb/fice/*.nc", extra=["--concat", "time"], env=env)
        got = zarr.open_group(m.path(), mode="r")
        with netCDF4.Dataset(prepare_data.FICE_SRC) as ds:
            ds.set_auto_maskandscale(False)
            np.testing.assert_array_equal(got["fice"][...], ds["fice"][:36])
        m.unmount()

        proc = scan_env("--concat", "time", "s3://scanb/fice/*.h5", "-o", tmp_path / "none.json",
                        check=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr
        assert "s3://scanb/fice/*.h5: no object matches" in lines[0], lines
    finally:
        server.stop()


# ---- mounting NetCDF/HDF5 files directly (no reference file) -----------------

def scan_log(m):
    """The daemon's line on its NetCDF/HDF5 inputs: (scanned, from records)."""
    with open(m.log) as f:
        lines = [ln for ln in f if "NetCDF/HDF5 inputs:" in ln]
    assert lines, m.log_tail()
    words = lines[-1].split("inputs:")[1].split()
    return int(words[0]), int(words[2])


def write_h5(path, values):
    with h5py.File(path, "w") as f:
        f.create_dataset("v", data=np.asarray(values, dtype="f8"), chunks=(4,), compression="gzip")
        f.create_dataset("w", data=np.arange(10, dtype="i2"))


@pytest.mark.parametrize("path", [prepare_data.GROUPS_SRC, prepare_data.CHL_SRC, prepare_data.FICE_SRC],
                         ids=os.path.basename)
def test_file_mounted_directly_equals_file(mount, path):
    m = mount(path)
    assert_mount_equals_file(m.path(), path)
    assert scan_log(m) == (1, 0)


def test_directory_mounted_with_concat(mount, tmp_path):
    """A directory of NetCDF-4 files, --concat time, read by zarr-python and
    xarray: equal to the original file."""
    prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                            {"fice": (4, 25, 50)}, count=4, note="fice for test_scan")
    m = mount(str(tmp_path / "fice"), extra=["--concat", "time"])
    assert scan_log(m) == (4, 0)
    got = zarr.open_group(m.path(), mode="r")
    with netCDF4.Dataset(prepare_data.FICE_SRC) as ds:
        ds.set_auto_maskandscale(False)
        for name in ("fice", "time"):
            np.testing.assert_array_equal(got[name][...], ds[name][:48], err_msg=name)
    with xr.open_zarr(m.path(), consolidated=False) as a, xr.open_dataset(prepare_data.FICE_SRC) as b:
        xr.testing.assert_equal(a["fice"], b["fice"].isel(time=slice(0, 48)))


def scan_records(cache):
    """The scan records under a cache directory: {name: inode}."""
    d = os.path.join(cache, "scans")
    if not os.path.isdir(d):
        return {}
    return {n: os.stat(os.path.join(d, n)).st_ino for n in os.listdir(d) if n.endswith(".refs")}


def test_collection_scans_each_file_when_first_used(mount, tmp_path):
    """A directory of NetCDF/HDF5 files without --concat: each file is a
    directory of its own, named by the file. Listing scans nothing; reading
    one file scans that file only, and its arrays equal the file's; a file
    that is not what its name says fails alone; a second mount reads the
    scan records it finds instead of scanning again."""
    d = tmp_path / "coll"
    d.mkdir()
    for i in range(5):
        write_h5(str(d / f"p{i}.h5"), np.arange(10.0) + i)
    (d / "bad.h5").write_bytes(b"not an HDF5 file" * 100)
    cache = str(tmp_path / "cache")
    m = mount(str(d), cache_dir=cache)
    assert sorted(os.listdir(m.path())) == ["bad.h5"] + [f"p{i}.h5" for i in range(5)]
    assert scan_records(cache) == {}
    np.testing.assert_array_equal(zarr.open_group(m.path("p3.h5"), mode="r")["v"][...], np.arange(10.0) + 3)
    assert len(scan_records(cache)) == 1
    assert_mount_equals_file(m.path("p1.h5"), str(d / "p1.h5"))
    records = scan_records(cache)
    assert len(records) == 2
    with pytest.raises(OSError) as bad:
        os.listdir(m.path("bad.h5"))
    assert bad.value.errno == errno.EIO
    np.testing.assert_array_equal(zarr.open_group(m.path("p4.h5"), mode="r")["w"][...], np.arange(10))
    m.unmount()
    # The records are read, not rewritten (a rescan replaces the file).
    m = mount(str(d), cache_dir=cache, extra=["--view", "npy"])
    assert sorted(os.listdir(m.path("p3.h5"))) == ["v.npy", "w.npy"]
    np.testing.assert_array_equal(np.load(m.path("p1.h5/v.npy")), np.arange(10.0) + 1)
    assert {n: records[n] for n in records} == {n: scan_records(cache)[n] for n in records}


def test_collection_of_files_named_one_by_one(mount, tmp_path):
    """Several NetCDF/HDF5 SOURCEs without --concat are a collection too;
    several SOURCEs that are not all such files need --concat, and two files
    of one name cannot share the mount's root: one line each, exit 2."""
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        write_h5(str(tmp_path / sub / "same.h5"), np.arange(10.0))
    write_h5(str(tmp_path / "a" / "other.h5"), np.arange(10.0) * 2)
    m = mount(str(tmp_path / "a" / "other.h5"), extra=[str(tmp_path / "b" / "same.h5")])
    assert sorted(os.listdir(m.path())) == ["other.h5", "same.h5"]
    np.testing.assert_array_equal(zarr.open_group(m.path("other.h5"), mode="r")["v"][...], np.arange(10.0) * 2)
    m.unmount()
    refs = tmp_path / "r.json"
    refs.write_text(json.dumps({"version": 1, "refs": {".zgroup": '{"zarr_format": 2}'}}))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for args, want in (([refs, tmp_path / "a" / "other.h5"], "several SOURCEs need --concat DIM"),
                       ([tmp_path / "a" / "same.h5", tmp_path / "b" / "same.h5"], "two files are named 'same.h5'")):
        proc = subprocess.run([zmount.ZARRMOUNT, *map(str, args), str(mnt)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2 and want in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not zmount.is_mounted(str(mnt))


def test_netcdf_view_of_a_scanned_file(mount, tmp_path):
    path = str(tmp_path / "small.h5")
    write_h5(path, np.arange(10.0) * 1.5)
    m = mount(path, extra=["--view", "netcdf"])
    assert os.listdir(m.path()) == ["small.nc"]
    with netCDF4.Dataset(m.path("small.nc")) as ds:
        np.testing.assert_array_equal(ds["v"][...], np.arange(10.0) * 1.5)
        np.testing.assert_array_equal(ds["w"][...], np.arange(10))


def test_changed_local_file_is_rescanned(mount, tmp_path):
    """The second mount takes the scan record; a rewritten file (new inode or
    modification time) is scanned again and its new values served; a
    damaged record is rescanned and rewritten."""
    path = str(tmp_path / "data.h5")
    cache = str(tmp_path / "shared-cache")
    write_h5(path, np.arange(10.0))
    m = mount(path, cache_dir=cache)
    np.testing.assert_array_equal(zarr.open_group(m.path(), mode="r")["v"][...], np.arange(10.0))
    m.unmount()
    m = mount(path, cache_dir=cache)
    assert scan_log(m) == (0, 1)
    m.unmount()
    write_h5(path + ".new", np.arange(10.0) + 100)
    os.replace(path + ".new", path)
    m = mount(path, cache_dir=cache)
    assert scan_log(m) == (1, 0)
    np.testing.assert_array_equal(zarr.open_group(m.path(), mode="r")["v"][...], np.arange(10.0) + 100)
    m.unmount()
    (record,) = [os.path.join(cache, "scans", n) for n in os.listdir(os.path.join(cache, "scans"))]
    data = bytearray(open(record, "rb").read())
    data[-20] ^= 0x55  # inside the references
    open(record, "wb").write(bytes(data))
    m = mount(path, cache_dir=cache)
    assert scan_log(m) == (1, 0)
    np.testing.assert_array_equal(zarr.open_group(m.path(), mode="r")["v"][...], np.arange(10.0) + 100)


def test_remote_concat_second_mount_reads_no_metadata(mount, tmp_path, datadir, nginx):
    """Over HTTP, --concat over URLs: the first mount scans; the second asks
    each file only for its version (HEAD) and reads no byte of the files
    until a chunk is read; a replaced file is scanned again (the others
    not) and its values served. A single URL mounts alike."""
    d = os.path.join(datadir, "scan", "direct")
    os.makedirs(d, exist_ok=True)
    paths, urls = [], []
    for i in range(3):
        paths.append(os.path.join(d, f"part{i}.nc"))
        write_nc_part(paths[-1], i, 10 * i)
        urls.append(f"{nginx.url}/scan/direct/part{i}.nc")
    cache = str(tmp_path / "remote-cache")
    concat = ["--concat", "time"]

    def values(m):
        return zarr.open_group(m.path(), mode="r")["v"][...]

    m = mount(urls[0], cache_dir=cache, start=False)
    m.command = lambda *more: [zmount.ZARRMOUNT, "--cache-dir", cache, "--log", m.log, *m.extra,
                               *more, *concat, *urls, m.mnt]
    m.start()
    assert scan_log(m) == (3, 0)
    np.testing.assert_array_equal(values(m), np.arange(30.0).reshape(3, 10).ravel()[:30])
    m.unmount()
    before = len(nginx.requests())
    m.start()
    sent = nginx.requests()[before:]
    assert scan_log(m) == (0, 3)
    assert all(r[0] == "HEAD" for r in sent) and len(sent) <= 3, sent
    m.unmount()
    write_nc_part(paths[1] + ".new", 1, -100)
    os.replace(paths[1] + ".new", paths[1])
    # nginx's ETag is the modification second and the size: both unchanged
    # within this test's second, so the file is dated later, as a rewrite
    # a second on would be.
    later = os.stat(paths[1]).st_mtime + 10
    os.utime(paths[1], (later, later))
    m.start()
    assert scan_log(m) == (1, 2)
    want = np.concatenate([np.arange(10.0), np.arange(10.0) - 100, np.arange(10.0) + 20])
    np.testing.assert_array_equal(values(m), want)
    m.unmount()
    single = mount(urls[2], cache_dir=str(tmp_path / "single-cache"))
    assert scan_log(single) == (1, 0)
    np.testing.assert_array_equal(values(single), np.arange(10.0) + 20)


def write_nc_part(path, index, offset):
    """A NetCDF-4 file of one block of 10 time steps: time and v(time)."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", 10)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01"
        t[:] = np.arange(10.0) + 10 * index
        v = ds.createVariable("v", "f8", ("time",), zlib=True, chunksizes=(5,))
        v[:] = np.arange(10.0) + offset


# ---- parallel scans (worker processes) ------------------------------------------

def test_parallel_scan_writes_what_a_serial_scan_writes(tmp_path, datadir, nginx):
    """--jobs N scans in N worker processes; the output is byte for byte the
    serial scan's, local and over HTTP."""
    files = prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                                    {"fice": (4, 25, 50)}, note="fice for test_scan")
    outs = {}
    for jobs in (1, 4, 3):
        outs[jobs] = tmp_path / f"jobs{jobs}.json"
        proc = scan("--jobs", jobs, "--concat", "time", *files, "-o", outs[jobs])
        assert f"scanned {len(files)} files" in proc.stdout
    assert open(outs[1], "rb").read() == open(outs[4], "rb").read() == open(outs[3], "rb").read()
    remote = prepare_data.split_time(prepare_data.FICE_SRC, os.path.join(datadir, "scan", "fice"), "fice",
                                     12, {"fice": (4, 25, 50)}, count=3, note="fice for test_scan")
    urls = [f"{nginx.url}/scan/fice/{os.path.basename(p)}" for p in remote]
    sent = {}
    for jobs in (1, 2):
        before = len(nginx.requests())
        # No inlining: the coordinates are chunk references the parent must read.
        scan("--jobs", jobs, "--inline-threshold", 0, "--concat", "time", *urls, "-o",
             tmp_path / f"remote{jobs}.json")
        sent[jobs] = len(nginx.requests()) - before
    assert open(tmp_path / "remote1.json", "rb").read() == open(tmp_path / "remote2.json", "rb").read()
    # The workers send the coordinates they read: the parent fetches none.
    # Each small file is one request, which brings its size too.
    assert sent[2] == sent[1] == len(urls), sent


def test_parallel_scan_of_a_bad_file_is_one_line_naming_it(tmp_path):
    files = prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                                    {"fice": (4, 25, 50)}, count=6, note="fice for test_scan")
    bad = tmp_path / "fice" / "notes.nc"
    bad.write_text("not a NetCDF file, though named like one\n" * 40)
    proc = scan("--jobs", 3, "--concat", "time", *files[:4], bad, *files[4:], "-o", tmp_path / "out.json",
                check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0], proc.stderr
    assert not os.path.exists(tmp_path / "out.json")


def test_parallel_mount_scans_in_workers_and_records(mount, tmp_path):
    """A mount of many files scans them in --jobs workers, keeps their scan
    records (the second mount scans none) and serves what --jobs 1 serves."""
    prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                            {"fice": (4, 25, 50)}, count=6, note="fice for test_scan")
    cache = str(tmp_path / "jobs-cache")
    m = mount(str(tmp_path / "fice"), cache_dir=cache, extra=["--concat", "time", "--jobs", "3"])
    assert scan_log(m) == (6, 0)
    assert "scanning 6 NetCDF/HDF5 files in 3 worker processes" in open(m.log).read(), m.log_tail()
    got = zarr.open_group(m.path(), mode="r")["fice"][...]
    m.unmount()
    assert len(os.listdir(os.path.join(cache, "scans"))) == 6
    m = mount(str(tmp_path / "fice"), cache_dir=cache, extra=["--concat", "time", "--jobs", "3"])
    assert scan_log(m) == (0, 6)
    np.testing.assert_array_equal(zarr.open_group(m.path(), mode="r")["fice"][...], got)
    m.unmount()
    serial = mount(str(tmp_path / "fice"), extra=["--concat", "time", "--jobs", "1", "--no-disk-cache"])
    np.testing.assert_array_equal(zarr.open_group(serial.path(), mode="r")["fice"][...], got)
    with netCDF4.Dataset(prepare_data.FICE_SRC) as ds:
        ds.set_auto_maskandscale(False)
        np.testing.assert_array_equal(got, ds["fice"][:72])


# ---- Parquet output -------------------------------------------------------------

def mounted_files(root):
    """{relative path: bytes} of every file under a mount."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def _compact_dcpl(data):
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    return dcpl


@pytest.mark.parametrize("what", ["h5py", "groups", "concat"])
def test_parquet_output_mounts_as_the_json_output(mount, tmp_path, h5file, what):
    """--format parquet writes kerchunk's Parquet layout; its mount reads
    every key byte for byte as the mount of the JSON output."""
    if what == "concat":
        args = ["--concat", "time", *prepare_data.split_time(
            prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12, {"fice": (4, 25, 50)}, count=5,
            note="fice for test_scan")]
    elif what == "h5py":
        # Layouts and filters; no compound type (the Parquet writer refuses
        # structured dtypes).
        path = str(tmp_path / "layouts.h5")
        with h5py.File(path, "w") as f:
            data = np.arange(600, dtype="f4").reshape(20, 30)
            f.create_dataset("chunked", data=data, chunks=(7, 11), compression="gzip", shuffle=True)
            f.create_dataset("fletcher", data=data, chunks=(10, 10), fletcher32=True)
            f.create_dataset("contiguous", data=np.arange(50, dtype="i8"))
            f.create_dataset("compact", data=np.arange(6, dtype="i2"),
                             dcpl=_compact_dcpl(np.arange(6, dtype="i2")))
            g = f.create_group("g/h")
            g.create_dataset("partial", shape=(40,), chunks=(8,), dtype="i4", fillvalue=-7)[:8] = 3
            g.attrs["title"] = "nested"
        args = [path]
    else:
        args = [prepare_data.GROUPS_SRC]
    scan(*args, "-o", tmp_path / "refs.json")
    proc = scan(*args, "--format", "parquet", "--record-size", 3, "-o", tmp_path / "refs.parq")
    assert "refs.parq" in proc.stdout
    assert os.path.isfile(tmp_path / "refs.parq" / ".zmetadata")
    from_json = mounted_files(mount(str(tmp_path / "refs.json")).path())
    from_parquet = mounted_files(mount(str(tmp_path / "refs.parq")).path())
    assert len(from_json) > 3
    assert sorted(from_parquet) == sorted(from_json)
    for key, data in from_json.items():
        assert from_parquet[key] == data, key
    proc = scan(*args, "--format", "parquet", "-o", "-", check=False)
    assert proc.returncode == 2 and "not '-'" in proc.stderr


# ---- `zarrmount cache` and the scan records ---------------------------------------

def cache_json(*args):
    proc = subprocess.run([zmount.ZARRMOUNT, "cache", *args, "--json"], capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def test_cache_commands_count_verify_and_clear_scan_records(mount, tmp_path):
    """`cache stats` counts the scan records and their bytes, `cache verify`
    deletes a damaged one (exit 1), `cache clear` deletes them all: the next
    mount scans every file again."""
    prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                            {"fice": (4, 25, 50)}, count=4, note="fice for test_scan")
    cache = str(tmp_path / "records-cache")
    m = mount(str(tmp_path / "fice"), cache_dir=cache, extra=["--concat", "time"])
    assert scan_log(m) == (4, 0)
    m.unmount()
    scans = os.path.join(cache, "scans")
    records = sorted(os.path.join(scans, n) for n in os.listdir(scans))
    assert len(records) == 4
    rc, stats = cache_json("stats", "--cache-dir", cache)
    assert rc == 0 and stats["scan_records"] == 4, stats
    assert stats["scan_record_bytes"] == sum(os.path.getsize(r) for r in records), stats
    text = subprocess.run([zmount.ZARRMOUNT, "cache", "stats", "--cache-dir", cache], capture_output=True,
                          text=True, timeout=60).stdout
    assert "scan records 4" in text, text

    rc, verified = cache_json("verify", "--cache-dir", cache)
    assert rc == 0 and verified["scan_records_checked"] == 4 and verified["scan_records_bad"] == 0
    data = bytearray(open(records[1], "rb").read())
    data[-10] ^= 0x55
    open(records[1], "wb").write(bytes(data))
    rc, verified = cache_json("verify", "--cache-dir", cache)
    assert rc == 1 and verified["scan_records_bad"] == 1, verified
    assert not os.path.exists(records[1])

    rc, cleared = cache_json("clear", "--cache-dir", cache)
    assert rc == 0 and cleared["deleted_scan_records"] == 3, cleared
    assert os.listdir(scans) == []
    assert cache_json("stats", "--cache-dir", cache)[1]["scan_records"] == 0
    m = mount(str(tmp_path / "fice"), cache_dir=cache, extra=["--concat", "time"])
    assert scan_log(m) == (4, 0)


def test_parallel_scan_logs_the_variables_left_out_as_a_serial_one(mount, tmp_path):
    """The workers' lines on variables left out reach stderr (scan) and the
    daemon's log (mount), one per variable and file, in input order."""
    files = prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                                    {"fice": (4, 25, 50)}, count=4, note="fice for test_scan")
    for p in files:
        with h5py.File(p, "a") as f:
            f.create_dataset("notes", data=["a", "bc"], dtype=h5py.string_dtype())
    lines = {}
    for jobs in (1, 3):
        proc = scan("--jobs", jobs, "--concat", "time", *files, "-o", tmp_path / f"out{jobs}.json")
        lines[jobs] = [ln.split(" warning: ", 1)[1] for ln in proc.stderr.splitlines() if " warning: " in ln]
    assert len(lines[1]) == 4 and all("notes" in ln for ln in lines[1]), lines
    assert lines[3] == lines[1]
    m = mount(str(tmp_path / "fice"), extra=["--concat", "time", "--jobs", "3", "--no-disk-cache"])
    logged = [ln for ln in open(m.log) if "notes" in ln and "left out" in ln]
    assert len(logged) == 4, m.log_tail()
