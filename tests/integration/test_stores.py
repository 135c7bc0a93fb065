"""Plain Zarr stores as SOURCE (--format zarr|references, detected from the
root metadata), judged by real writers and readers.

Stores written by Debian's zarr-python (v2 DirectoryStore and
NestedDirectoryStore, with and without consolidated metadata; blosc and
zlib; fill values; chunks never written and chunks left out as empty)
are mounted from a local directory and, with consolidated metadata, from
nginx:
  * zarr-python and xarray read every array through the mount equal to
    zarr-python reading the store itself; the zarr view shows every object
    of the store with its exact size;
  * the netcdf view, read by netCDF4-python, and the npy view equal them;
  * a Zarr v3 store with sharded arrays (v3_sharded.py) as a directory
    reads in the npy view as written, and zarrita (npm) reads the store and
    the mount's zarr view of it as written too;
  * a remote store without consolidated metadata, a directory without root
    metadata, and --format references on a store fail at mount with one
    line naming SOURCE.
"""

import json
import os
import subprocess

import netCDF4
import numcodecs
import numpy as np
import pytest
import zarr

import zmount

STORES = ["flat_consolidated", "nested", "nested_consolidated", "flat"]


def write_store(path, nested, consolidated):
    """A v2 store: group attributes; 'temp' (f4, blosc, fill NaN, 2-D with
    edge chunks, one chunk never written); 'sub/count' (i2, zlib, fill 9,
    write_empty_chunks off, so chunks equal to the fill are not stored);
    'sub/deep/flag' (u1, no compressor, no fill value)."""
    store = zarr.NestedDirectoryStore(path) if nested else zarr.DirectoryStore(path)
    g = zarr.group(store=store)
    g.attrs.update(title="zarr-python store", version=3)
    rng = np.random.default_rng(3)
    temp = g.create_dataset("temp", shape=(30, 41), chunks=(8, 10), dtype="<f4",
                            fill_value=np.nan, compressor=numcodecs.Blosc("zstd", 3))
    data = rng.random((30, 41), dtype="f4")
    temp[:] = data
    temp.attrs.update(_ARRAY_DIMENSIONS=["y", "x"], units="K")
    sub = g.create_group("sub")
    sub.attrs["note"] = "nested group"
    count = sub.create_dataset("count", shape=(25,), chunks=(4,), dtype="<i2", fill_value=9,
                               compressor=numcodecs.Zlib(5), write_empty_chunks=False)
    count[:] = np.where(np.arange(25) < 12, 9, np.arange(25)).astype("i2")
    count.attrs["_ARRAY_DIMENSIONS"] = ["n"]
    deep = sub.create_group("deep")
    flag = deep.create_dataset("flag", shape=(6, 5), chunks=(3, 5), dtype="|u1",
                               fill_value=None, compressor=None)
    flag[:] = np.arange(30, dtype="u1").reshape(6, 5)
    flag.attrs["_ARRAY_DIMENSIONS"] = ["a", "b"]
    if consolidated:
        zarr.consolidate_metadata(store)
    # A chunk of temp never written: it reads as the fill value.
    key = "temp/1/2" if nested else "temp/1.2"
    os.remove(os.path.join(path, key))


@pytest.fixture(scope="module")
def stores(datadir):
    base = os.path.join(datadir, "stores")
    os.makedirs(base, exist_ok=True)
    out = {}
    for name in STORES:
        path = os.path.join(base, name + ".zarr")
        if not os.path.exists(path):
            write_store(path, nested=name.startswith("nested"), consolidated="consolidated" in name)
        out[name] = path
    return out


def arrays_of(group, prefix=""):
    """{path: ndarray} of every array below a zarr-python group."""
    out = {}
    for name, arr in group.arrays():
        out[prefix + name] = arr[...]
    for name, sub in group.groups():
        out.update(arrays_of(sub, prefix + name + "/"))
    return out


def assert_same(where, got, want):
    assert got.dtype == want.dtype and got.shape == want.shape, where
    assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), where


def is_metadata(rel):
    return os.path.basename(rel) in (".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json")


def check_mount_equals_store(mnt, store_path, remote=False):
    """Remote stores serve metadata from the consolidated metadata: the same
    documents, not the same bytes, so only chunks are compared by size."""
    want = arrays_of(zarr.open_group(zarr.DirectoryStore(store_path) if "flat" in store_path
                                     else zarr.NestedDirectoryStore(store_path), mode="r"))
    assert set(want) == {"temp", "sub/count", "sub/deep/flag"}
    got = arrays_of(zarr.open_group(mnt, mode="r"))
    assert set(got) == set(want)
    for k in want:
        assert_same(f"zarr-python {k}", got[k], want[k])
    assert np.isnan(want["temp"][8:16, 20:30]).all()  # the chunk never written
    # The zarr view: every object of the store, with its exact size.
    for root, _dirs, files in os.walk(store_path):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), store_path)
            if remote and is_metadata(rel):
                continue
            assert os.stat(os.path.join(mnt, rel)).st_size == os.stat(os.path.join(root, f)).st_size, rel
    import xarray as xr
    for group, names in {None: ["temp"], "sub": ["count"]}.items():
        ds = xr.open_zarr(mnt, group=group, consolidated=False, mask_and_scale=False)
        for n in names:
            key = f"{group}/{n}" if group else n
            assert_same(f"xarray {key}", ds[n].values, want[key])
    return want


def start_s3rver(tmp_path_factory, name, key_id, secret, bucket):
    """An s3rver with one key pair and one bucket, started (the test fails
    with s3rver's message if it cannot start)."""
    import s3_server
    try:
        return s3_server.S3rver(tmp_path_factory.mktemp(name), [(key_id, secret)], [bucket]).start()
    except RuntimeError as e:
        pytest.fail(str(e))


def upload_store(server, bucket, src, prefix, direct=False):
    """Every file of the store directory ``src`` into ``bucket`` under
    ``prefix``/: by signed PUTs, or (``direct``) into s3rver's own files,
    which is much faster for many objects."""
    put = server.write_direct if direct else server.put
    for root, _dirs, files in os.walk(src):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), src)
            with open(os.path.join(root, f), "rb") as fh:
                put(bucket, prefix + "/" + rel, fh.read())


def s3rver_env(server, home, key_id, secret):
    """Our environment with no AWS_ variable but the endpoint and the keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID=key_id,
               AWS_SECRET_ACCESS_KEY=secret)
    return env


@pytest.mark.parametrize("name", STORES)
def test_local_store_read_by_zarr_python_and_xarray(name, stores, mount):
    m = mount(stores[name])
    check_mount_equals_store(m.mnt, stores[name])


@pytest.mark.parametrize("name", ["flat_consolidated", "nested_consolidated"])
def test_http_store_with_consolidated_metadata(name, stores, nginx, datadir, mount):
    url = nginx.url + "/" + os.path.relpath(stores[name], datadir)
    m = mount(url)
    want = check_mount_equals_store(m.mnt, stores[name], remote=True)
    # A chunk not stored is a missing chunk, not an error.
    assert not os.path.exists(m.path("temp/1/2" if name.startswith("nested") else "temp/1.2"))
    assert len(want) == 3
    # The npy view decodes chunks sized on first use; the missing one is
    # the fill value.
    p = mount(url, extra=["--view", "npy"])
    for key, arr in want.items():
        assert_same(f"npy {key}", np.load(p.path(key + ".npy")), arr)


@pytest.mark.parametrize("name", ["flat_consolidated", "nested"])
def test_netcdf_and_npy_views_of_a_store(name, stores, mount):
    want = arrays_of(zarr.open_group(stores[name], mode="r")) if name.startswith("flat") else \
        arrays_of(zarr.open_group(zarr.NestedDirectoryStore(stores[name]), mode="r"))
    n = mount(stores[name], extra=["--view", "netcdf"])
    set_name = name + ".zarr"
    files = {"": set_name + ".nc", "sub": "sub.nc", "sub/deep": "sub/deep.nc"}
    for group, fname in files.items():
        with netCDF4.Dataset(n.path(fname)) as ds:
            ds.set_auto_maskandscale(False)
            for var in ds.variables:
                key = f"{group}/{var}" if group else var
                got = np.asarray(ds.variables[var][...])
                assert_same(f"netcdf {key}", got.astype(got.dtype.newbyteorder("=")), want[key])
    p = mount(stores[name], extra=["--view", "npy"])
    for key, arr in want.items():
        assert_same(f"npy {key}", np.load(p.path(key + ".npy")), arr)


def run_fails(cmd, source):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = proc.stderr.splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and source in lines[0], proc.stderr
    return lines[0]


def test_stores_that_cannot_be_mounted(stores, nginx, datadir, zarrmount_bin, tmp_path):
    url = nginx.url + "/" + os.path.relpath(stores["nested"], datadir)
    line = run_fails([zarrmount_bin, "--check", url], url)
    assert "no consolidated metadata" in line
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    line = run_fails([zarrmount_bin, "--check", "--format", "zarr", str(empty)], str(empty))
    assert "not a Zarr store" in line
    run_fails([zarrmount_bin, "--check", "--format", "references", stores["flat"]], stores["flat"])
    proc = subprocess.run([zarrmount_bin, "--check", stores["flat"]], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "keys" in proc.stdout, proc.stderr


def test_v3_sharded_store_directory(dataset, mount, tmp_path):
    """A Zarr v3 store with sharded arrays (v3_sharded.py, written out as a
    directory: zarr.json documents and shard files) mounted as a plain
    store: the npy view equals the values written, the zarr view the files."""
    import v3_refs
    import v3_sharded
    refs_path = str(tmp_path / "sharded.json")
    refs, want, _docs, _shards = v3_sharded.build(dataset["sst_v0_rel"]["files"], refs_path)
    store = tmp_path / "sharded.zarr"
    for key in refs:
        path = store / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(v3_refs.key_bytes(refs, refs_path, key))
    m = mount(str(store), extra=["--view", "npy"])
    for name, arr in want.items():
        got = np.load(m.path(name + ".npy"))
        assert got.dtype == arr.dtype and np.array_equal(got, arr), name
    z = mount(str(store))
    for key in refs:
        with open(z.path(key), "rb") as f:
            assert f.read() == (store / key).read_bytes(), key
    # zarrita, an independent v3 reader, agrees on the store and on the
    # mount's zarr view of it.
    import zarrita_reader
    for where in (str(store), z.mnt):
        got = zarrita_reader.read_arrays(where, sorted(want))
        for name, arr in want.items():
            assert got[name].dtype == arr.dtype and np.array_equal(got[name], arr), (where, name)


def test_s3_store_with_consolidated_metadata(stores, mount, tmp_path_factory, tmp_path):
    """A store with consolidated metadata in a bucket of s3rver (requests
    signed), read as from the directory; the chunk never written is a
    missing chunk."""
    key_id, secret = "AKIDZARRMOUNTSTORE01", "zmStoreSecret/Known+Value0123456789ab"
    server = start_s3rver(tmp_path_factory, "s3rver-stores", key_id, secret, "stores")
    try:
        src = stores["flat_consolidated"]
        upload_store(server, "stores", src, "flat.zarr")
        env = s3rver_env(server, tmp_path, key_id, secret)
        m = mount("s3://stores/flat.zarr", env=env)
        check_mount_equals_store(m.mnt, src, remote=True)
        assert not os.path.exists(m.path("temp/1.2"))
        m.unmount()
    finally:
        server.stop()


def test_http_store_chunks_sized_on_first_use(stores, mount):
    """With consolidated metadata, mounting requests no chunk: a chunk is
    sized (one HEAD) when first looked up; one the origin does not have is
    no such file (the fill value to readers); one that fails (HTTP 500) is
    EIO for that file only."""
    import errno
    import fault_server
    src = stores["flat_consolidated"]
    bad = "/flat_consolidated.zarr/temp/0.1"
    server = fault_server.FaultServer(os.path.dirname(src), {
        "rules": [{"path": bad, "fault": "error500"}]}).start()
    try:
        m = mount(server.url + "/flat_consolidated.zarr", extra=["--retries", "0"])
        mounted = server.stats()["paths"]
        assert all(is_metadata(p) for p in mounted), sorted(mounted)
        listed = os.listdir(m.path("temp"))
        assert "0.1" in listed and "1.2" in listed and "0.0" in listed, listed
        assert server.stats()["paths"] == mounted, "readdir requested objects"
        with open(os.path.join(src, "temp/0.0"), "rb") as f:
            want = f.read()
        assert os.stat(m.path("temp/0.0")).st_size == len(want)
        with open(m.path("temp/0.0"), "rb") as f:
            assert f.read() == want
        assert not os.path.exists(m.path("temp/1.2"))
        with pytest.raises(OSError) as e:
            os.stat(m.path("temp/0.1"))
        assert e.value.errno == errno.EIO
        # Other chunks and arrays read as the store's.
        want_count = zarr.open_group(src, mode="r")["sub/count"][...]
        assert_same("sub/count", zarr.open_group(m.mnt, mode="r")["sub/count"][...], want_count)
        heads = [r for r in server.stats()["log"] if r[2] == "/flat_consolidated.zarr/temp/0.0"
                 and r[1] == "HEAD"]
        assert len(heads) == 1, heads
    finally:
        server.stop()


def test_s3_store_of_100000_chunks_mounts_without_probing(mount, tmp_path_factory, tmp_path):
    """100,000 chunk keys from consolidated metadata on s3rver: the mount
    returns without a request per chunk (target: serving in < 1 s); a
    stored chunk reads as written, the rest as the fill value."""
    import time
    key_id, secret = "AKIDZARRMOUNTSTORE02", "zmStoreSecret/Known+Value0123456789cd"
    src = str(tmp_path / "big.zarr")
    store = zarr.DirectoryStore(src)
    g = zarr.group(store=store)
    a = g.create_dataset("v", shape=(100_000,), chunks=(1,), dtype="<i4", fill_value=7,
                         compressor=None)
    a[:3] = [1, 2, 3]
    a[99_999] = 9
    zarr.consolidate_metadata(store)
    server = start_s3rver(tmp_path_factory, "s3rver-big", key_id, secret, "big")
    try:
        upload_store(server, "big", src, "big.zarr")
        env = s3rver_env(server, tmp_path, key_id, secret)
        t0 = time.monotonic()
        m = mount("s3://big/big.zarr", env=env)
        seconds = time.monotonic() - t0
        print(f"mount of 100,000 chunk keys on s3rver: {seconds:.3f} s (target < 1 s)")
        # Bounded loosely: the machine is shared; probing took 3+ s.
        assert seconds < 3, seconds
        def checks():
            proc = subprocess.run([zmount.ZARRMOUNT, "status", m.mnt, "--json"], capture_output=True,
                                  text=True, timeout=60, stdin=subprocess.DEVNULL)
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout)["object_checks"]
        assert checks() == 0  # no chunk asked about at mount
        names = os.listdir(m.path("v"))
        assert sum(n[0].isdigit() for n in names) == 100_000
        assert checks() == 0  # nor by a listing
        got = zarr.open_group(m.mnt, mode="r")["v"]
        assert list(got[[0, 1, 2, 5, 50_000, 99_999]]) == [1, 2, 3, 7, 7, 9]
        # One per chunk read, plus those a walk prefetched: reading chunks
        # 0, 1 and 2 is a walk, and its first window (16 chunks) is sized
        # ahead of the reader.
        assert 6 <= checks() <= 6 + 16, checks()
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["flat", "nested"])
def test_http_store_listed_by_its_directory_index(name, stores, nginx, datadir, mount, tmp_path):
    """Without consolidated metadata, a store on a web server with directory
    listings (nginx autoindex) is listed page by page and read as from the
    directory, metadata byte for byte; a listing that fails midway is one
    line at mount naming where."""
    import shutil
    url = nginx.url + "/listed/" + os.path.relpath(stores[name], datadir)
    before = len(nginx.requests())
    m = mount(url)
    at_mount = nginx.requests()[before:]
    # The mount reads root documents and directory pages, no chunk.
    assert all(r[1].endswith("/") or is_metadata(r[1]) for r in at_mount), at_mount
    check_mount_equals_store(m.mnt, stores[name])
    for doc in (".zgroup", "temp/.zarray", "sub/count/.zarray"):
        with open(m.path(doc), "rb") as got, open(os.path.join(stores[name], doc), "rb") as want:
            assert got.read() == want.read(), doc
    broken = os.path.join(datadir, "stores", name + "_broken.zarr")
    if not os.path.exists(broken):
        shutil.copytree(stores[name], broken)
        os.makedirs(os.path.join(broken, "sub", "unlisted"))
        with open(os.path.join(broken, "sub", "unlisted", "x"), "wb") as f:
            f.write(b"x")
    bad = nginx.url + "/listed/" + os.path.relpath(broken, datadir)
    line = run_fails([zmount.ZARRMOUNT, "--check", bad], bad)
    assert "listing the store failed" in line and "sub/unlisted/" in line and "500" in line, line


def test_s3_store_listed_by_list_objects(stores, mount, tmp_path_factory, tmp_path):
    """Without consolidated metadata, a store in a bucket of s3rver is listed
    by ListObjectsV2 (signed) and read as from the directory, sizes exact.
    (Paging: test_s3_store_listed_over_many_pages.)"""
    key_id, secret = "AKIDZARRMOUNTSTORE03", "zmStoreSecret/Known+Value0123456789ef"
    server = start_s3rver(tmp_path_factory, "s3rver-listed", key_id, secret, "listed")
    try:
        src = stores["nested"]
        upload_store(server, "listed", src, "nested.zarr")
        server.put("listed", "nested.zarr.other/x", b"not in the store")
        env = s3rver_env(server, tmp_path, key_id, secret)
        m = mount("s3://listed/nested.zarr", env=env)
        check_mount_equals_store(m.mnt, src)
        assert not os.path.exists(m.path("temp/1/2"))
        assert sorted(os.listdir(m.mnt)) == sorted(os.listdir(src))
        m.unmount()
    finally:
        server.stop()


def test_s3_store_listed_over_many_pages(mount, tmp_path_factory, tmp_path):
    """Without consolidated metadata, a store of 2,500 chunks on s3rver is
    listed over three ListObjectsV2 pages (1,000 keys each, continuation
    tokens), every chunk present with its size, values as written."""
    key_id, secret = "AKIDZARRMOUNTSTORE04", "zmStoreSecret/Known+Value0123456789gh"
    src = str(tmp_path / "paged.zarr")
    store = zarr.DirectoryStore(src)
    g = zarr.group(store=store)
    a = g.create_dataset("v", shape=(2_500,), chunks=(1,), dtype="<i4", fill_value=-1,
                         compressor=None)
    a[:] = np.arange(2_500, dtype="<i4") * 3
    server = start_s3rver(tmp_path_factory, "s3rver-paged", key_id, secret, "paged")
    try:
        upload_store(server, "paged", src, "paged.zarr", direct=True)
        env = s3rver_env(server, tmp_path, key_id, secret)
        m = mount("s3://paged/paged.zarr", env=env)
        names = os.listdir(m.path("v"))
        assert sum(n[0].isdigit() for n in names) == 2_500
        assert os.stat(m.path("v/2499")).st_size == 4
        got = zarr.open_group(m.mnt, mode="r")["v"][...]
        np.testing.assert_array_equal(got, np.arange(2_500, dtype="<i4") * 3)
        m.unmount()
    finally:
        server.stop()


@pytest.fixture
def gcs_bucket(stores, tmp_path):
    """The nested store in a bucket of the Cloud Storage stand-in, listed
    three keys a page."""
    import shutil
    import gcs_server
    root = tmp_path / "gcs"
    shutil.copytree(stores["nested"], root / "bkt" / "nested.zarr")
    (root / "bkt" / "nested.zarr.other").mkdir()
    (root / "bkt" / "nested.zarr.other" / "x").write_bytes(b"not in the store")
    server = gcs_server.GcsServer(str(root), page_size=3).start()
    yield server, root
    server.stop()


def test_gs_store_listed_by_the_xml_api(stores, gcs_bucket, mount):
    """Without consolidated metadata, a store at gs://BUCKET/PREFIX is listed
    by Cloud Storage's XML API (list-type=2, page after page) and read as
    from the directory; --map points gs://bkt/ at the stand-in."""
    server, _root = gcs_bucket
    m = mount("gs://bkt/nested.zarr", extra=["--map", f"gs://bkt/={server.url}/bkt/"])
    check_mount_equals_store(m.mnt, stores["nested"])
    assert sorted(os.listdir(m.mnt)) == sorted(os.listdir(stores["nested"]))
    assert os.stat(m.path("temp/0/0")).st_size == os.stat(
        os.path.join(stores["nested"], "temp/0/0")).st_size
    lists = [p for (_m, p) in server.requests if "list-type=2" in p]
    assert len(lists) > 3 and all("prefix=nested.zarr%2F" in p for p in lists), lists
    assert sum("continuation-token=" in p for p in lists) == len(lists) - 1, lists


def test_gs_listing_that_fails_midway_is_one_line(gcs_bucket):
    """A listing page that fails (HTTP 503 from the second page on) fails
    the mount with one line naming the store and the page."""
    server, _root = gcs_bucket
    server.fail_continued = True
    source = "gs://bkt/nested.zarr"
    line = run_fails([zmount.ZARRMOUNT, "--check", "--retries", "0", "--map",
                      f"gs://bkt/={server.url}/bkt/", source], source)
    assert "failed after 1 pages (3 objects), at page 2" in line and "503" in line, line
