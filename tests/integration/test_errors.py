"""Bad reference sets and failing origins.

  (g) a bad reference set makes the mount command (and --check) exit non-zero
      with exactly one stderr line naming the reference file, the key and the
      problem; nothing is mounted and no daemon is left;
  (h) an origin failing at read time (404, refused connection, 500, short or
      mismatched range responses, missing or short local file, a server too
      slow) gives EIO for that read only, within a bounded time; other files
      still read; a server ignoring Range never yields wrong bytes.
Also: a missing SOURCE or unusable MOUNTPOINT fails with one line.
"""

import base64
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

import zmount


def good_refs(datafile):
    """A small valid v0 store; each case adds one bad entry to it."""
    return {
        ".zgroup": json.dumps({"zarr_format": 2}),
        "data/inline.txt": "hello",
        "data/b64.bin": "base64:" + base64.b64encode(b"\x00\x01\x02zarr").decode(),
        "data/range.bin": [datafile, 100, 64],
    }


def v1(refs, **extra):
    return dict({"version": 1, "refs": refs}, **extra)


# name -> (function(datafile) -> reference-set text,
#          key that must be named (a tuple: any of them) or None,
#          regex for the problem, applied after removing the path and the key)
CASES = {
    "malformed_json": (lambda d: json.dumps(good_refs(d))[:-25], None,
                       r"json|pars|syntax|unexpected|malformed|invalid|unterminated|truncat|eof|end"),
    "negative_offset": (lambda d: dict(good_refs(d), **{"bad/0.0": [d, -5, 10]}), "bad/0.0",
                        r"offset"),
    "float_offset": (lambda d: dict(good_refs(d), **{"bad/1.5": [d, 1.5, 10]}), "bad/1.5",
                     r"offset"),
    "string_offset": (lambda d: dict(good_refs(d), **{"bad/abc": [d, "abc", 10]}), "bad/abc",
                      r"offset"),
    "length_overflow": (lambda d: dict(good_refs(d), **{"bad/big": [d, 2**62 + 7, 2**62]}),
                        "bad/big", r"overflow|too large|exceed|range|length|2\^63|end"),
    "offset_beyond_u64": (lambda d: dict(good_refs(d), **{"bad/huge": [d, 2**64 + 1, 1]}),
                          "bad/huge", r"offset|overflow|too large|range"),
    "negative_length": (lambda d: dict(good_refs(d), **{"bad/neg": [d, 0, -1]}), "bad/neg",
                        r"length|size"),
    "invalid_base64": (lambda d: dict(good_refs(d), **{"bad/b64": "base64:@@not*base64!"}),
                       "bad/b64", r"base64"),
    "unknown_template": (lambda d: v1(dict(good_refs(d), **{"bad/tmpl": ["{{nope}}", 0, 8]}),
                                      templates={"u": d}),
                         "bad/tmpl", r"template|undefined|unknown"),
    "absolute_key": (lambda d: dict(good_refs(d), **{"/etc/x": "evil"}), "/etc/x",
                     r"absolute|leading|start|invalid|relative|not allowed"),
    "dotdot_key": (lambda d: dict(good_refs(d), **{"data/../../escape": "evil"}),
                   "data/../../escape",
                   r"\.\.|parent|travers|escape|invalid|component|not allowed"),
    "whole_object_missing": (lambda d: dict(good_refs(d), **{
        "bad/whole": ["/nonexistent-zarrmount-test/whole.nc"]}), "bad/whole",
        r"no such|not found|missing|exist|size|stat|open"),
    "truncated_zstd": (lambda d: zstd_bytes(good_refs(d))[:-9], None,
                       r"zstd|decompress|compress|corrupt|truncat|invalid|json"),
    "file_dir_conflict": (lambda d: dict(good_refs(d), **{"data/inline.txt/below": "x"}),
                          ("data/inline.txt", "data/inline.txt/below"),
                          r"director|conflict|both|file|prefix|parent|clash|collide|exist"),
    "empty_key_component": (lambda d: dict(good_refs(d), **{"data//double": "x"}),
                            "data//double", r"empty|component|invalid|//|not allowed"),
    "gen_negative_offset": (lambda d: v1(good_refs(d), gen=[{
        "key": "gen/{{i}}", "url": d, "offset": "{{100 - i * 80}}", "length": "8",
        "dimensions": {"i": {"stop": 3}}}]), "gen/2", r"offset"),
}


def zstd_bytes(obj):
    import zstandard
    return zstandard.ZstdCompressor().compress(json.dumps(obj).encode())


def write_case(path, content):
    if isinstance(content, dict):
        content = json.dumps(content)
    if isinstance(content, str):
        content = content.encode()
    with open(path, "wb") as f:
        f.write(content)


@pytest.mark.parametrize("mode", ["mount", "bare", "check"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_reference_set_fails(case, mode, zarrmount_bin, dataset, tmp_path):
    """(g) the mount command (mode 'mount': with --cache-dir and --log as the
    tests use it; 'bare': just SOURCE MOUNTPOINT) and --check exit non-zero
    with one stderr line naming file, key and problem; nothing is mounted and
    no daemon is left."""
    make, key, problem = CASES[case]
    # Beside the reference file, where local references may read without
    # --local-root (the 'bare' and 'check' commands give none).
    datafile = str(tmp_path / "data.nc")
    shutil.copy(dataset["sst_v0_rel"]["files"][0], datafile)
    refs = str(tmp_path / f"{case}.json")
    write_case(refs, make(datafile))
    m = zmount.Mount(refs, tmp_path / "mnt", tmp_path / "cache", tmp_path / "zarrmount.log")
    cmd = {"mount": m.command(), "bare": [zarrmount_bin, refs, m.mnt],
           "check": [zarrmount_bin, "--check", refs]}[mode]
    try:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                                  stdin=subprocess.DEVNULL,
                                  env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg")))
        except subprocess.TimeoutExpired:
            pytest.fail(f"did not exit within 30 s: {' '.join(cmd)}")
        lines = proc.stderr.splitlines()
        where = f"{' '.join(cmd)}\nexit {proc.returncode}\nstderr: {proc.stderr!r}"
        assert proc.returncode != 0, where
        assert not zmount.is_mounted(m.mnt), "something is mounted\n" + where
        assert not zmount.daemon_pids(m.mnt), "a daemon was left running\n" + where
        assert len(lines) == 1, "want exactly one stderr line\n" + where
        line = lines[0]
        assert refs in line, "line does not name the reference file\n" + where
        rest = line.replace(refs, "")
        if key is not None:
            named = [k for k in (key if isinstance(key, tuple) else (key,)) if k in rest]
            assert named, f"line does not name the key {key!r}\n" + where
            for k in sorted(named, key=len, reverse=True):
                rest = rest.replace(k, "")
        assert re.search(problem, rest, re.I), f"no word about the problem ({problem})\n" + where
    finally:
        m.cleanup()


@pytest.mark.parametrize("what", ["missing_source", "missing_mountpoint", "file_mountpoint"])
def test_bad_arguments(what, zarrmount_bin, tmp_path):
    """A missing SOURCE or an unusable MOUNTPOINT: non-zero exit, one stderr
    line naming it, nothing mounted."""
    refs = tmp_path / "refs.json"
    refs.write_text(json.dumps({".zgroup": json.dumps({"zarr_format": 2})}))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if what == "missing_source":
        refs, named = tmp_path / "no_such_refs.json", tmp_path / "no_such_refs.json"
    elif what == "missing_mountpoint":
        mnt = named = tmp_path / "no_such_dir"
    else:
        mnt = named = tmp_path / "a_file"
        mnt.write_text("x")
    cmd = [zarrmount_bin, "--cache-dir", str(tmp_path / "cache"), str(refs), str(mnt)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    where = f"{' '.join(cmd)}\nexit {proc.returncode}\nstderr: {proc.stderr!r}"
    try:
        assert proc.returncode != 0, where
        assert len(proc.stderr.splitlines()) == 1, where
        assert str(named) in proc.stderr, where
        assert not zmount.is_mounted(mnt), where
    finally:
        zmount.Mount(refs, tmp_path / "mnt", tmp_path / "cache").cleanup()


# --------------------------------------------------------------------------
# (h) failures at read time
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def failing(zarrmount_bin, dataset, nginx, tmp_path_factory):
    """A mount whose 'bad/*' keys point at origins that fail when read."""
    base = tmp_path_factory.mktemp("failing")
    local = dataset["sst_v0_rel"]["files"][0]
    size = os.path.getsize(local)
    url = nginx.url + "/sst/" + os.path.basename(local)
    # A port bound but never listening: connections are refused, and nobody
    # else can take the port while the fixture holds it.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()[1]
    refs = {
        ".zgroup": json.dumps({"zarr_format": 2}),
        "ok/inline.txt": "still here",
        "ok/local.bin": [local, 100, 1000],
        "ok/http.bin": [url, 200, 3000],
        "bad/http_404": [nginx.url + "/no/such/file.nc", 0, 100],
        "bad/dead_port": [f"http://127.0.0.1:{dead}/sst/sst_01.nc", 0, 100],
        "bad/http_short_range": [url, size - 10, 100],
        "bad/http_past_eof": [url, size + 100, 50],
        "bad/local_missing": ["/nonexistent-zarrmount-test/x.nc", 0, 100],
        "bad/local_short": [local, size - 10, 100],
        "bad/http_500": [nginx.url + "/fault/500/x.nc", 0, 100],
        "bad/http_200_short_body": [nginx.url + "/fault/short/x.nc", 0, 100],
        "bad/http_206_wrong_range": [nginx.url + "/fault/wrong_range/x.nc", 0, 10],
        "maybe/http_ranges_ignored": [nginx.url + "/norange/sst/" + os.path.basename(local),
                                      300, 5000],
    }
    path = str(base / "failing.json")
    write_case(path, refs)
    with open(local, "rb") as f:
        data = f.read()
    want = {"ok/inline.txt": b"still here", "ok/local.bin": data[100:1100],
            "ok/http.bin": data[200:3200], "maybe/http_ranges_ignored": data[300:5300]}
    m = zmount.Mount(path, base / "mnt", base / "cache", base / "zarrmount.log")
    try:
        m.start()
        yield m, refs, want
    finally:
        m.cleanup()
        closed.close()


BAD_KEYS = ["bad/http_404", "bad/dead_port", "bad/http_short_range", "bad/http_past_eof",
            "bad/local_missing", "bad/local_short", "bad/http_500", "bad/http_200_short_body",
            "bad/http_206_wrong_range"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_failing_origin_gives_eio(failing, key):
    """(h) EIO for the failing read (twice: failures are not cached as data),
    within 60 s; sizes stay exact; the good keys still read."""
    m, refs, want = failing
    assert os.stat(m.path(key)).st_size == refs[key][2]
    for attempt in range(2):
        start = time.monotonic()
        with pytest.raises(OSError) as exc:
            with open(m.path(key), "rb") as f:
                f.read()
        took = time.monotonic() - start
        assert exc.value.errno == errno.EIO, f"{key}: {exc.value} (want EIO)"
        assert took < 60, f"{key}: EIO took {took:.1f}s"
    for k, v in want.items():
        if k.startswith("maybe/"):
            continue
        with open(m.path(k), "rb") as f:
            assert f.read() == v, k
    assert zmount.is_mounted(m.mnt)


def test_server_ignoring_range_never_gives_wrong_bytes(failing):
    """(h) a server that answers a ranged GET with 200 and the whole body: the
    read gives the right bytes (sliced) or EIO, never other bytes."""
    m, refs, want = failing
    key = "maybe/http_ranges_ignored"
    try:
        with open(m.path(key), "rb") as f:
            got = f.read()
    except OSError as e:
        assert e.errno == errno.EIO, e
        return
    assert got == want[key], f"{key}: wrong bytes from a 200 response to a Range request"


def test_slow_origin_times_out_with_eio(zarrmount_bin, nginx, tmp_path):
    """(h) a server that does not answer in time: EIO within a bounded time
    (--request-timeout 2 --retries 1), and other files keep reading meanwhile."""
    if not nginx.has_slow:
        pytest.skip("nginx echo module not installed")
    refs = {".zgroup": json.dumps({"zarr_format": 2}), "ok/inline.txt": "fast",
            "slow/x.bin": [nginx.url + "/fault/slow/x.bin", 0, 100]}
    path = str(tmp_path / "slow.json")
    write_case(path, refs)
    m = zmount.Mount(path, tmp_path / "mnt", tmp_path / "cache", tmp_path / "zarrmount.log",
                     extra=["--request-timeout", "2", "--retries", "1", "--connect-timeout", "2"])
    try:
        m.start()
        result = {}

        def slow_read():
            start = time.monotonic()
            try:
                with open(m.path("slow/x.bin"), "rb") as f:
                    result["data"] = f.read()
            except OSError as e:
                result["errno"] = e.errno
            result["took"] = time.monotonic() - start
        worker = threading.Thread(target=slow_read, daemon=True)
        worker.start()
        time.sleep(0.5)
        start = time.monotonic()
        with open(m.path("ok/inline.txt"), "rb") as f:
            assert f.read() == b"fast"
        assert os.listdir(m.path("ok")) == ["inline.txt"]
        assert time.monotonic() - start < 1.5, "a slow origin blocked other reads"
        worker.join(45)
        assert not worker.is_alive(), "the slow read did not end within 45 s"
        assert result.get("errno") == errno.EIO, result
        assert result["took"] < 30, f"EIO after {result['took']:.1f} s"
    finally:
        m.cleanup()
