"""Daemon lifecycle, the persistent cache and read-only semantics.

  (d) a second mount with the same --cache-dir reads everything again with
      nginx stopped, and (other set) with nginx up but no new requests; a
      corrupted cached block is never served; two live mounts share a cache;
  (e) writes, creates, mkdir, rename, chmod, ... fail with EROFS;
  (f) fusermount3 -u makes the daemon exit 0; SIGTERM unmounts cleanly and
      the daemon exits 0; -f stays in the foreground and exits 0 on unmount.
Also: reads stay correct with caches far smaller than the data,
--no-disk-cache writes nothing to the cache directory, -o allow_other is passed on.
"""

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

import judges
import make_refs
import nginx_server
import prepare_data
import zmount

HERE = os.path.dirname(os.path.abspath(__file__))


def read_all(mnt, keys):
    out = {}
    for key in keys:
        with open(os.path.join(mnt, key), "rb") as f:
            out[key] = f.read()
    return out


def diff_bytes(got, want):
    bad = [k for k in want if got.get(k) != want[k]]
    return f"{len(bad)} keys differ, e.g. {bad[:10]}" if bad else ""


@pytest.fixture
def own_nginx(datadir, dataset, tmp_path):
    """A second nginx over the same data, which a test may stop."""
    server = nginx_server.Nginx(datadir, tmp_path / "nginx").start()
    yield server
    server.stop()


def test_disk_cache_serves_with_origin_stopped(mount, own_nginx, datadir, tmp_path):
    """(d) mount, read everything, unmount; stop nginx; mount again with the
    same cache dir: every key and every array still reads identical."""
    refs_path = str(tmp_path / "sst_cache.json")
    refs, _ = prepare_data.sst_refs(datadir, "http", refs_path, own_nginx.url,
                                    sidecar=True, whole_files=False)
    make_refs.write(make_refs.to_v1(refs, templates=True, gen=True), refs_path)
    entry = {"name": "sst_cache", "refs": refs_path, "kind": "agg", "concat_dim": "time",
             "files": [os.path.join(datadir, "sst", f"sst_{i:02d}.nc") for i in range(1, 13)],
             "aliases": {"sst_raw": "sst"}}
    ref = judges.FsspecRefs(refs_path)
    want = ref.cat(ref.keys())

    cache = str(tmp_path / "shared-cache")
    first = mount(refs_path, cache_dir=cache)
    assert diff_bytes(read_all(first.mnt, want), want) == ""
    judges.check_zarr_store(first.mnt, entry)
    fm, alive = first.unmount()
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)
    before = len(own_nginx.requests())
    assert before > 0, "the first mount made no requests to nginx"

    own_nginx.stop()
    assert not nginx_server.port_open(own_nginx.port)
    second = mount(refs_path, cache_dir=cache)
    got = read_all(second.mnt, want)
    assert diff_bytes(got, want) == "", "second mount with origin stopped: " + diff_bytes(got, want)
    judges.check_zarr_store(second.mnt, entry)


def test_disk_cache_makes_no_new_requests(mount, own_nginx, datadir, dataset, tmp_path):
    """(d) same with nginx up, on a set with whole-object [url] references:
    after the second mount is up, reading everything fetches no data: the
    only requests are one HEAD per object, checking it has not changed."""
    src = dataset["fice_v1_http"]
    refs_path = str(tmp_path / "fice_cache.json")
    make_refs.build(src["files"], refs_path, version=1, templates=True, url_style="http",
                    http_base=own_nginx.url, http_root=datadir, concat_dim="time",
                    whole=[("files/" + os.path.basename(p), p) for p in src["files"][:2]])
    ref = judges.FsspecRefs(refs_path)
    want = ref.cat(ref.keys())
    cache = str(tmp_path / "shared-cache")
    first = mount(refs_path, cache_dir=cache)
    assert diff_bytes(read_all(first.mnt, want), want) == ""
    fm, alive = first.unmount()
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)

    second = mount(refs_path, cache_dir=cache)
    after_mount = len(own_nginx.requests())
    got = read_all(second.mnt, want)
    assert diff_bytes(got, want) == ""
    judges.check_zarr_store(second.mnt, dict(src, refs=refs_path))
    new = own_nginx.requests()[after_mount:]
    gets = [r for r in new if r[0] != "HEAD"]
    assert not gets, f"{len(gets)} data requests reached nginx from a warm cache, e.g. {gets[:5]}"
    heads = [r[1] for r in new if r[0] == "HEAD"]
    assert len(heads) == len(set(heads)), f"an object was checked twice: {sorted(heads)}"


def test_writes_fail_with_erofs(mount, dataset):
    """(e) every kind of modification fails with EROFS; nothing changes."""
    m = mount(dataset["sst_v0_rel"]["refs"])
    f = m.path("sst/.zarray")
    d = m.path("sst")
    with open(f, "rb") as fh:
        before = fh.read()
    listing = sorted(os.listdir(m.mnt))
    ops = {
        "create": lambda: os.open(m.path("new_file"), os.O_CREAT | os.O_WRONLY, 0o644),
        "create in subdir": lambda: os.open(m.path("sst/9.9.9"), os.O_CREAT | os.O_WRONLY),
        "open O_WRONLY": lambda: os.open(f, os.O_WRONLY),
        "open O_RDWR": lambda: os.open(f, os.O_RDWR),
        "open O_TRUNC": lambda: os.open(f, os.O_WRONLY | os.O_TRUNC),
        "open O_APPEND": lambda: os.open(f, os.O_WRONLY | os.O_APPEND),
        "truncate": lambda: os.truncate(f, 0),
        "mkdir": lambda: os.mkdir(m.path("new_dir")),
        "rmdir": lambda: os.rmdir(d),
        "unlink": lambda: os.unlink(f),
        "rename file": lambda: os.rename(f, m.path("sst/renamed")),
        "rename dir": lambda: os.rename(d, m.path("sst2")),
        "chmod": lambda: os.chmod(f, 0o777),
        "chmod dir": lambda: os.chmod(d, 0o777),
        "chown": lambda: os.chown(f, 1, 1),
        "utime": lambda: os.utime(f, (0, 0)),
        "symlink": lambda: os.symlink("sst/.zarray", m.path("link")),
        "link": lambda: os.link(f, m.path("hardlink")),
        "mkfifo": lambda: os.mkfifo(m.path("fifo")),
    }
    wrong = []
    for name, op in ops.items():
        try:
            fd = op()
            if isinstance(fd, int):
                os.close(fd)
            wrong.append(f"{name}: succeeded")
        except OSError as e:
            if e.errno != errno.EROFS:
                wrong.append(f"{name}: {errno.errorcode.get(e.errno, e.errno)} ({e})")
    try:
        os.setxattr(f, "user.zarrmount_test", b"1")
        wrong.append("setxattr: succeeded")
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.ENOTSUP):
            wrong.append(f"setxattr: {errno.errorcode.get(e.errno, e.errno)}")
    with open(f, "rb") as fh:
        assert fh.read() == before
    assert sorted(os.listdir(m.mnt)) == listing
    assert not wrong, "not EROFS:\n" + "\n".join(wrong)


def start_reaped(m):
    """Runs the mount command under reaper.py; returns (Popen, first report)."""
    zmount.ACTIVE.add(m)
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "reaper.py"), *m.command()],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line, f"reaper printed nothing; log: {m.log_tail()}"
    report = json.loads(line)
    assert report["mount_rc"] == 0, f"mount failed: {report['stderr']}\n{m.log_tail()}"
    m.pids = report["daemons"]
    assert m.pids, "the mount command left no daemon process behind"
    return proc, report


def reaped_status(proc, pids, timeout=30):
    out, _ = proc.communicate(timeout=timeout)
    statuses = {}
    for line in out.splitlines():
        r = json.loads(line)
        if "pid" in r:
            statuses[r["pid"]] = r["status"]
    return {pid: statuses.get(pid) for pid in pids}


def test_fusermount_makes_daemon_exit_zero(mount, dataset):
    """(f) the mount is live when the command returns; fusermount3 -u makes the
    daemon exit with status 0 and nothing stays mounted."""
    m = mount(dataset["sst_v0_rel"]["refs"], start=False)
    proc, _ = start_reaped(m)
    try:
        assert zmount.is_mounted(m.mnt)
        assert ".zgroup" in os.listdir(m.mnt)
        with open(m.path("sst/.zarray")) as f:
            json.load(f)
        res = zmount.fusermount_u(m.mnt)
        assert res.returncode == 0, res.stderr
        status = reaped_status(proc, m.pids)
        assert all(s == 0 for s in status.values()), f"daemon exit status {status}; {m.log_tail()}"
        assert not zmount.is_mounted(m.mnt)
    finally:
        m.cleanup()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_unmounts_cleanly(mount, dataset):
    """(f) SIGTERM to the daemon unmounts and the daemon exits 0."""
    m = mount(dataset["sst_v0_rel"]["refs"], start=False)
    proc, _ = start_reaped(m)
    try:
        with open(m.path(".zgroup")) as f:
            json.load(f)
        for pid in m.pids:
            os.kill(pid, signal.SIGTERM)
        status = reaped_status(proc, m.pids)
        assert zmount.wait_mounted(m.mnt, want=False, timeout=10), "still mounted after SIGTERM"
        assert all(s == 0 for s in status.values()), f"daemon exit status {status}; {m.log_tail()}"
    finally:
        m.cleanup()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_foreground_mode(mount, dataset):
    """(f) -f serves in the foreground; fusermount3 -u ends it with status 0."""
    m = mount(dataset["sst_v0_rel"]["refs"], start=False)
    zmount.ACTIVE.add(m)
    proc = subprocess.Popen(m.command("-f"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert zmount.wait_mounted(m.mnt, timeout=30), "-f never mounted"
        assert proc.poll() is None, "-f process exited while mounted"
        m.pids = [proc.pid]
        with open(m.path("sst/.zattrs")) as f:
            json.load(f)
        assert zmount.fusermount_u(m.mnt).returncode == 0
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, f"exit {proc.returncode}: {err}"
    finally:
        m.cleanup()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_small_caches_stay_correct(mount, dataset):
    """--cache-size/--memory-cache far below the 2.4 MB referenced: two full
    passes over every key still read identical bytes."""
    entry = dataset["groups_v1_abs"]
    ref = judges.FsspecRefs(entry["refs"])
    want = ref.cat(ref.keys())
    m = mount(entry["refs"], extra=["--cache-size", "1M", "--memory-cache", "1M"])
    for _ in range(2):
        got = read_all(m.mnt, want)
        assert diff_bytes(got, want) == ""
    judges.check_zarr_store(m.mnt, entry)


def test_no_disk_cache(mount, dataset, tmp_path):
    """--no-disk-cache serves correct data and writes no cache files."""
    entry = dataset["sst_v1_gen_http"]
    ref = judges.FsspecRefs(entry["refs"])
    want = ref.cat(ref.keys())
    cache = tmp_path / "unused-cache"
    m = mount(entry["refs"], cache_dir=str(cache), extra=["--no-disk-cache"])
    assert diff_bytes(read_all(m.mnt, want), want) == ""
    m.unmount()
    files = [os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs]
    assert not files, f"--no-disk-cache wrote {files}"


def sst_http_refs(datadir, nginx, path):
    refs, _ = prepare_data.sst_refs(datadir, "http", path, nginx.url, sidecar=False,
                                    whole_files=False)
    make_refs.write(refs, path)
    ref = judges.FsspecRefs(path)
    return ref.cat(ref.keys())


def test_corrupted_cache_block_is_never_served(mount, own_nginx, datadir, tmp_path):
    """(d) flip a byte of a chunk inside the LMDB file: the next mount must
    give the right bytes (refetched) or EIO, never the corrupted bytes; with
    the origin stopped it must give EIO."""
    refs_path = str(tmp_path / "sst_corrupt.json")
    want = sst_http_refs(datadir, own_nginx, refs_path)
    key = "sst/6.1.1"
    cache = tmp_path / "cache"
    first = mount(refs_path, cache_dir=str(cache))
    read_all(first.mnt, want)
    first.unmount()

    def corrupt():
        mdb = [os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs
               if f.endswith(".mdb") and f != "lock.mdb"]
        needle = want[key][:256]
        hits = 0
        for path in mdb:
            with open(path, "r+b") as f:
                data = f.read()
                at = data.find(needle)
                while at >= 0:
                    f.seek(at + 100)
                    f.write(bytes([data[at + 100] ^ 0xFF]))
                    hits += 1
                    at = data.find(needle, at + 1)
        return hits

    if not corrupt():
        pytest.skip("chunk bytes not found verbatim in the cache files")
    second = mount(refs_path, cache_dir=str(cache))
    try:
        with open(second.path(key), "rb") as f:
            got = f.read()
        assert got == want[key], "corrupted cached bytes were served"
    except OSError as e:
        assert e.errno == errno.EIO, e
    second.unmount()

    own_nginx.stop()
    corrupt()
    third = mount(refs_path, cache_dir=str(cache))
    with pytest.raises(OSError) as exc:
        with open(third.path(key), "rb") as f:
            got = f.read()
            assert got == want[key], "corrupted cached bytes were served"
    assert exc.value.errno == errno.EIO


def test_two_mounts_share_one_cache_dir(mount, nginx, datadir, tmp_path):
    """(d) two daemons on the same --cache-dir at once, read concurrently."""
    import concurrent.futures
    refs_path = str(tmp_path / "sst_shared.json")
    want = sst_http_refs(datadir, nginx, refs_path)
    cache = str(tmp_path / "cache")
    a = mount(refs_path, cache_dir=cache)
    b = mount(refs_path, cache_dir=cache)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda mnt: read_all(mnt, want), [a.mnt, b.mnt] * 2))
    for got in results:
        assert diff_bytes(got, want) == ""
    for m in (a, b):
        fm, alive = m.unmount()
        assert fm.returncode == 0 and not alive


def test_fuse_option_allow_other(mount, dataset):
    """-o allow_other reaches the kernel mount (and the mount is read-only)."""
    m = mount(dataset["sst_v0_rel"]["refs"], extra=["-o", "allow_other"])
    with open("/proc/mounts") as f:
        opts = [line.split()[3].split(",") for line in f
                if zmount._unescape(line.split()[1]) == os.path.realpath(m.mnt)]
    assert opts, "not in /proc/mounts"
    assert "allow_other" in opts[-1], opts[-1]
    assert "ro" in opts[-1], opts[-1]
