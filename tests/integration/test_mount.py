"""Data correctness through the mount, judged by netCDF4, fsspec, zarr, xarray.

Each reference set built by prepare_data.py (plus the bundled sample) is
mounted once per module; on it:
  (a) zarr-python and xarray read every array bit-identical (values, dtype,
      shape, NaN-aware) to netCDF4-python reading the original files;
  (b) every key's size (os.stat) and bytes, and sub-range preads, equal what
      fsspec's ReferenceFileSystem returns for that key;
  (c) every directory lists exactly the children implied by the keys, and
      files/dirs have the right types; missing names give ENOENT.
Also: mmap and small sequential reads, netCDF4/ncdump opening whole-object
.nc files inside the mount, and many threads reading a cold mount at once.
The generator itself is validated the same way over fsspec (no mount).
"""

import concurrent.futures
import errno
import json
import mmap
import os
import random
import stat
import subprocess
import time

import netCDF4
import numpy as np

import pytest

import judges
import zmount

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(REPO, "sample")
SETS = ["chl_v0_http", "groups_v1_abs", "sst_v0_rel", "sst_v1_gen_http", "fice_v1_http",
        "h5_v0_abs", "edge_v0", "sample"]


def sample_entry():
    files = sorted(os.path.join(SAMPLE, f) for f in os.listdir(SAMPLE) if f.endswith(".nc"))
    return {"name": "sample", "refs": os.path.join(SAMPLE, "refs.json"), "kind": "agg",
            "files": files, "concat_dim": "time", "aliases": {}, "http": False}


def entry_for(name, dataset):
    return sample_entry() if name == "sample" else dataset[name]


@pytest.fixture(scope="module", params=SETS)
def mounted(request, zarrmount_bin, dataset, tmp_path_factory):
    entry = entry_for(request.param, dataset)
    base = tmp_path_factory.mktemp("m-" + request.param)
    m = zmount.Mount(entry["refs"], base / "mnt", base / "cache", base / "zarrmount.log")
    try:
        m.start()
        yield entry, m
    finally:
        m.cleanup()


@pytest.fixture(scope="module")
def fsspec_bytes(mounted):
    entry, _ = mounted
    ref = judges.FsspecRefs(entry["refs"])
    return ref.cat(ref.keys())


@pytest.mark.parametrize("name", SETS)
def test_generator_matches_netcdf(name, dataset):
    """The judges agree with each other: xarray/zarr over fsspec's
    reference:// read the reference set identical to netCDF4."""
    entry = entry_for(name, dataset)
    ref = judges.FsspecRefs(entry["refs"])
    if entry["kind"] == "raw":
        direct = judges.direct_bytes(entry["refs"], entry["http_base"], entry["http_root"])
        assert ref.cat(ref.keys()) == direct
        return
    with ref.mapper() as m:
        assert judges.check_zarr_store(m, entry) > 0


def test_arrays_match_netcdf(mounted):
    """(a) every array through the mount == netCDF4 on the original files."""
    entry, m = mounted
    if entry["kind"] == "raw":
        pytest.skip("no arrays in this reference set")
    assert judges.check_zarr_store(m.mnt, entry) > 0


def test_keys_match_fsspec(mounted, fsspec_bytes):
    """(b) every key's size and bytes == fsspec's ReferenceFileSystem."""
    _, m = mounted
    bad = []
    for key, want in fsspec_bytes.items():
        st = os.stat(m.path(key))
        if not stat.S_ISREG(st.st_mode):
            bad.append(f"{key}: not a regular file (mode {oct(st.st_mode)})")
            continue
        if st.st_size != len(want):
            bad.append(f"{key}: st_size {st.st_size} != {len(want)}")
        with open(m.path(key), "rb") as f:
            got = f.read()
        if got != want:
            bad.append(f"{key}: content differs ({len(got)} vs {len(want)} bytes)")
    assert not bad, f"{len(bad)} of {len(fsspec_bytes)} keys wrong:\n" + "\n".join(bad[:20])


def test_partial_reads(mounted, fsspec_bytes):
    """(b) preads at odd offsets/lengths, across the end of file, match."""
    _, m = mounted
    rng = random.Random(1234)
    keys = sorted(fsspec_bytes, key=lambda k: -len(fsspec_bytes[k]))[:12]
    keys += rng.sample(sorted(fsspec_bytes), min(12, len(fsspec_bytes)))
    bad = []
    for key in keys:
        want = fsspec_bytes[key]
        size = len(want)
        probes = [(0, 1), (size // 2, 4096), (max(size - 1, 0), 10), (size, 10),
                  (size + 100, 10), (0, size + 4096)]
        probes += [(rng.randrange(size + 1), rng.randrange(1, 200000)) for _ in range(4)]
        fd = os.open(m.path(key), os.O_RDONLY)
        try:
            for off, n in probes:
                got = os.pread(fd, n, off)
                if got != want[off:off + n]:
                    bad.append(f"{key}: pread({n}, {off}) gave {len(got)} bytes, "
                               f"want {len(want[off:off + n])}")
        finally:
            os.close(fd)
    assert not bad, "\n".join(bad[:20])


def test_tree_matches_keys(mounted, fsspec_bytes):
    """(c) directory listings == the tree implied by the keys."""
    _, m = mounted
    tree = judges.implied_tree(fsspec_bytes)
    bad = []
    for d, children in sorted(tree.items()):
        st = os.stat(m.path(d))
        if not stat.S_ISDIR(st.st_mode):
            bad.append(f"{d or '/'}: not a directory")
            continue
        listed = os.listdir(m.path(d))
        if len(listed) != len(set(listed)):
            bad.append(f"{d or '/'}: duplicate entries in listing")
        if set(listed) != children:
            bad.append(f"{d or '/'}: extra {sorted(set(listed) - children)[:5]} "
                       f"missing {sorted(children - set(listed))[:5]}")
        for entry in os.scandir(m.path(d)):
            child = f"{d}/{entry.name}" if d else entry.name
            if entry.is_dir(follow_symlinks=False) != (child in tree):
                bad.append(f"{child}: wrong type in readdir")
    assert not bad, "\n".join(bad[:20])


def test_missing_names(mounted, fsspec_bytes):
    """(c) lookups of names not in the reference set fail with ENOENT/ENOTDIR;
    listing a file gives ENOTDIR, reading a directory EISDIR."""
    _, m = mounted
    a_file = sorted(fsspec_bytes)[-1]
    for name, codes in (("no_such_key", {errno.ENOENT}), (".zarray", {errno.ENOENT}),
                        (a_file + "/below", {errno.ENOTDIR, errno.ENOENT})):
        if name in fsspec_bytes:
            continue
        with pytest.raises(OSError) as exc:
            os.stat(m.path(name))
        assert exc.value.errno in codes, f"{name}: {exc.value}"
    with pytest.raises(OSError) as exc:
        os.listdir(m.path(a_file))
    assert exc.value.errno == errno.ENOTDIR, f"listdir of a file: {exc.value}"
    a_dir = a_file.rpartition("/")[0]
    if a_dir:
        with pytest.raises(OSError) as exc:
            with open(m.path(a_dir), "rb") as f:
                f.read()
        assert exc.value.errno == errno.EISDIR, f"read of a directory: {exc.value}"


def test_check_option_accepts(mounted):
    """--check on a valid reference set exits 0, prints a summary, mounts nothing."""
    entry, m = mounted
    # The data lies beside the reference files' directory, not under it.
    root = entry.get("http_root") or os.path.dirname(entry["refs"])
    proc = subprocess.run([zmount.ZARRMOUNT, "--check", "--local-root", root,
                           entry["refs"]], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout + proc.stderr).strip(), "--check printed no summary"


def test_mmap_and_small_sequential_reads(mounted, fsspec_bytes):
    """(b) the largest files read the same through mmap and in 4 KiB reads."""
    _, m = mounted
    for key in sorted(fsspec_bytes, key=lambda k: -len(fsspec_bytes[k]))[:3]:
        want = fsspec_bytes[key]
        if not want:
            continue
        with open(m.path(key), "rb") as f, \
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert mm[:] == want, f"{key}: mmap differs"
        parts = []
        with open(m.path(key), "rb", buffering=0) as f:
            while True:
                b = f.read(4096)
                if not b:
                    break
                parts.append(b)
        assert b"".join(parts) == want, f"{key}: 4 KiB reads differ"


def test_whole_object_netcdf_files(mounted, fsspec_bytes):
    """Whole-object [url] keys that are .nc files open with netCDF4 and print
    with ncdump exactly like the originals (random access through the mount)."""
    entry, m = mounted
    keys = [k for k in fsspec_bytes if k.startswith("files/") and k.endswith(".nc")]
    if not keys:
        pytest.skip("no whole-object .nc files in this reference set")
    originals = {os.path.basename(p): p for p in entry["files"]}
    for key in keys:
        orig = originals[os.path.basename(key)]
        with netCDF4.Dataset(m.path(key)) as got, netCDF4.Dataset(orig) as want:
            assert list(got.variables) == list(want.variables)
            for name in want.variables:
                a, b = got.variables[name], want.variables[name]
                a.set_auto_maskandscale(False)
                b.set_auto_maskandscale(False)
                judges.assert_identical(f"{key}:{name}", a[...], b[...])
        dumps = [subprocess.run(["ncdump", p], capture_output=True, timeout=60, check=True).stdout
                 for p in (m.path(key), orig)]
        assert dumps[0] == dumps[1], f"ncdump of {key} differs from the original"


@pytest.mark.parametrize("name", ["chl_v0_http", "sst_v1_gen_http"])
def test_concurrent_cold_reads(name, dataset, mount):
    """Four threads read every key of a fresh mount (cold caches) in different
    orders, plus random preads of the largest file, all at once."""
    entry = dataset[name]
    ref = judges.FsspecRefs(entry["refs"])
    want = ref.cat(ref.keys())
    m = mount(entry["refs"])
    big = max(want, key=lambda k: len(want[k]))

    def read_keys(seed):
        keys = sorted(want)
        random.Random(seed).shuffle(keys)
        bad = []
        for key in keys:
            with open(m.path(key), "rb") as f:
                if f.read() != want[key]:
                    bad.append(key)
        return bad

    def pread_big(seed):
        rng = random.Random(seed)
        size = len(want[big])
        bad = []
        fd = os.open(m.path(big), os.O_RDONLY)
        try:
            for _ in range(300):
                off, n = rng.randrange(size), rng.randrange(1, 70000)
                if os.pread(fd, n, off) != want[big][off:off + n]:
                    bad.append((off, n))
        finally:
            os.close(fd)
        return bad

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        jobs = [pool.submit(read_keys, s) for s in range(4)]
        jobs += [pool.submit(pread_big, s) for s in range(2)]
        bad = [b for j in jobs for b in j.result()]
    assert not bad, f"{len(bad)} wrong reads, e.g. {bad[:10]}"


def test_large_generated_set(mount, tmp_path):
    """A v1 gen of 100,000 keys in one directory: mounts in bounded time, lists
    every name, and sampled keys have the right sizes and bytes."""
    n = 100_000
    raw = tmp_path / "big.bin"
    data = np.arange(n, dtype="<u8").tobytes()
    raw.write_bytes(data)
    refs = {"version": 1, "templates": {"f": str(raw)},
            "refs": {".zgroup": json.dumps({"zarr_format": 2})},
            "gen": [{"key": "big/k{{i}}", "url": "{{f}}", "offset": "{{i * 8}}", "length": "8",
                     "dimensions": {"i": {"stop": n}}}]}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(refs))
    start = time.monotonic()
    m = mount(str(path))
    took = time.monotonic() - start
    assert took < 30, f"mounting 100k generated keys took {took:.1f} s"
    names = os.listdir(m.path("big"))
    assert len(names) == n and set(names) == {f"k{i}" for i in range(n)}
    for i in random.Random(5).sample(range(n), 2000):
        p = m.path(f"big/k{i}")
        assert os.stat(p).st_size == 8
        with open(p, "rb") as f:
            assert f.read() == data[i * 8:(i + 1) * 8], i
