"""What a mount refuses, so that sharing it exposes nothing else.

  (s1) local references read only files under the reference file's own
       directory or a --local-root, links resolved: refused at mount when the
       reference set names such a file, and with EACCES when a link changes
       under a mounted set; FIFOs are refused, never waited on;
  (s2) link-local addresses (cloud metadata) are refused, with EACCES;
  (s3) secrets in URLs (user:password@, query strings) never reach the log,
       stderr or `zarrmount status`;
  (s4) -o allow_other always comes with the kernel's permission checks: other
       users read, nobody writes; without it other users see nothing; -o rw
       is refused;
  (s5) `gen` entries may not make more keys than --max-generated-keys.
"""

import errno
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import zmount


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    return str(path)


def run(cmd, timeout=60, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def assert_one_line_failure(proc, *words):
    where = f"exit {proc.returncode}\nstderr: {proc.stderr!r}"
    assert proc.returncode != 0, where
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, "want exactly one stderr line\n" + where
    for w in words:
        assert w in lines[0], f"line does not say {w!r}\n" + where


@pytest.fixture
def refdir(tmp_path, dataset):
    """A directory with a reference set's data file copied into it, and the
    original data file outside it."""
    d = tmp_path / "refs"
    (d / "data").mkdir(parents=True)
    outside = dataset["sst_v0_rel"]["files"][0]
    inside = str(d / "data" / "in.nc")
    shutil.copy(outside, inside)
    return d, inside, outside


# ---- (s1) local files -------------------------------------------------------

@pytest.mark.parametrize("target", ["outside_abs", "dotdot", "etc_passwd", "link_out"])
def test_local_reference_outside_is_refused_at_mount(target, refdir, zarrmount_bin, tmp_path):
    d, inside, outside = refdir
    os.symlink("/etc/passwd", d / "data" / "link")
    url = {"outside_abs": outside, "dotdot": "../" + os.path.relpath(outside, tmp_path),
           "etc_passwd": "/etc/passwd", "link_out": "data/link"}[target]
    refs = write_json(d / "r.json", {".zgroup": '{"zarr_format": 2}',
                                     "ok/in": [inside, 0, 10], "bad/x": [url, 0, 10]})
    m = zmount.Mount(refs, tmp_path / "mnt", tmp_path / "cache", tmp_path / "log",
                     local_roots=())
    try:
        for cmd in (m.command(), [zarrmount_bin, "--check", refs]):
            proc = run(cmd)
            assert_one_line_failure(proc, refs, "bad/x", "outside the directories")
            assert not zmount.is_mounted(m.mnt)
    finally:
        m.cleanup()


def test_local_root_option_and_own_directory(refdir, mount, tmp_path):
    """Relative and absolute references under the reference file's directory
    need nothing; others need --local-root, and then read right."""
    d, inside, outside = refdir
    with open(outside, "rb") as f:
        want = f.read(5000)
    refs = write_json(d / "r.json", {"in_rel": ["data/in.nc", 0, 5000],
                                     "in_abs": [inside, 0, 5000]})
    m = mount(refs, local_roots=())
    for key in ("in_rel", "in_abs"):
        with open(m.path(key), "rb") as f:
            assert f.read() == want, key
    refs2 = write_json(d / "r2.json", {"out": [outside, 0, 5000]})
    m2 = mount(refs2, local_roots=(os.path.dirname(outside),))
    with open(m2.path("out"), "rb") as f:
        assert f.read() == want


def test_link_changed_after_mount_gives_eacces(refdir, mount):
    """The check is made on every open of the file actually opened: a file
    replaced by a link to /etc/passwd after mounting is refused."""
    d, inside, _ = refdir
    refs = write_json(d / "r.json", {"a": [inside, 0, 100], "b": [inside, 4096, 100]})
    m = mount(refs, local_roots=(), extra=["--no-prefetch", "--no-disk-cache",
                                           "--memory-cache", "0"])
    with open(m.path("a"), "rb") as f:
        assert len(f.read()) == 100
    os.rename(inside, inside + ".moved")
    os.symlink("/etc/passwd", inside)
    with pytest.raises(OSError) as exc:
        with open(m.path("b"), "rb") as f:
            f.read()
    assert exc.value.errno == errno.EACCES, exc.value
    assert "outside the directories" in open(m.log).read()


def test_fifo_is_refused_without_waiting(refdir, mount, zarrmount_bin, tmp_path):
    d, inside, _ = refdir
    fifo = str(d / "data" / "fifo")
    os.mkfifo(fifo)
    refs = write_json(d / "r.json", {"ranged": [fifo, 0, 10], "ok": [inside, 0, 10]})
    m = mount(refs, local_roots=())
    start = time.monotonic()
    with pytest.raises(OSError) as exc:
        with open(m.path("ranged"), "rb") as f:
            f.read()
    assert exc.value.errno == errno.EIO
    assert time.monotonic() - start < 10
    whole = write_json(d / "w.json", {"whole": [fifo]})
    proc = run([zarrmount_bin, "--check", whole], timeout=30)
    assert_one_line_failure(proc, whole, "whole", "not a regular file")


# ---- (s2) link-local addresses ----------------------------------------------

def test_link_local_reference_is_refused(mount, zarrmount_bin, tmp_path):
    url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/role"
    refs = write_json(tmp_path / "r.json", {"meta": [url, 0, 100]})
    m = mount(refs, extra=["--retries", "0"])
    start = time.monotonic()
    with pytest.raises(OSError) as exc:
        with open(m.path("meta"), "rb") as f:
            f.read()
    assert exc.value.errno == errno.EACCES, exc.value
    assert time.monotonic() - start < 5
    whole = write_json(tmp_path / "w.json", {"meta": [url]})
    proc = run([zarrmount_bin, "--check", whole], timeout=30)
    assert_one_line_failure(proc, whole, "meta", "link-local")


# ---- (s3) secrets -------------------------------------------------------------

SECRETS = ("PaSsW0rdSecret", "SiGnAtUrESecret", "ToKeNSecret")


def test_secrets_in_urls_never_reach_logs_or_status(mount, nginx, zarrmount_bin, tmp_path):
    host = nginx.url.split("://", 1)[1]
    query = f"?X-Amz-Signature={SECRETS[1]}&token={SECRETS[2]}"
    bad = f"http://user:{SECRETS[0]}@{host}/no/such/file.nc{query}"
    dead = f"http://user:{SECRETS[0]}@127.0.0.1:9/x.nc{query}"
    refs = write_json(tmp_path / "r.json", {"missing": [bad, 0, 100], "dead": [dead, 0, 100]})
    m = mount(refs, extra=["--retries", "0", "--read-timeout", "5"])
    for key in ("missing", "dead"):
        with pytest.raises(OSError):
            with open(m.path(key), "rb") as f:
                f.read()
    outputs = [run([zarrmount_bin, "status", m.mnt]).stdout,
               run([zarrmount_bin, "status", m.mnt, "--json"]).stdout]
    whole = write_json(tmp_path / "w.json", {"missing": [bad]})
    check = run([zarrmount_bin, "--check", whole], timeout=30)
    assert check.returncode != 0
    outputs += [check.stdout, check.stderr]
    m.unmount()
    log = open(m.log, errors="replace").read()
    assert "404" in log and "missing" in log, log  # the failure itself is told
    for text in [log] + outputs:
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked:\n{text}"


# ---- (s4) permissions -----------------------------------------------------------

def as_nobody(code):
    """Runs python `code` as user nobody; returns its stdout (one word)."""
    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    proc = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                          timeout=30, preexec_fn=drop)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


PROBE = """
import errno, os, sys
p = sys.argv[1] if len(sys.argv) > 1 else {path!r}
out = []
try:
    with open(p, 'rb') as f:
        out.append('read:%d' % len(f.read()))
except OSError as e:
    out.append('read:' + errno.errorcode[e.errno])
try:
    os.open(p, os.O_WRONLY)
    out.append('write:ok')
except OSError as e:
    out.append('write:' + errno.errorcode[e.errno])
print(' '.join(out))
"""


@pytest.mark.parametrize("allow_other", [True, False])
def test_other_users(allow_other, dataset, zarrmount_bin):
    base = tempfile.mkdtemp(prefix="zm-perm-")
    os.chmod(base, 0o755)  # nobody must reach the mountpoint
    m = zmount.Mount(dataset["sst_v0_rel"]["refs"], os.path.join(base, "mnt"),
                     os.path.join(base, "cache"),
                     extra=["-o", "allow_other"] if allow_other else [])
    try:
        m.start()
        with open("/proc/mounts") as f:
            opts = [line.split()[3].split(",") for line in f
                    if zmount._unescape(line.split()[1]) == os.path.realpath(m.mnt)][-1]
        assert "ro" in opts and "default_permissions" in opts, opts
        path = m.path(".zgroup")
        mode = os.stat(path).st_mode
        assert mode & 0o222 == 0, oct(mode)
        got = as_nobody(PROBE.format(path=path))
        if allow_other:
            assert got.startswith(f"read:{os.path.getsize(path)} "), got
            assert got.split()[1] in ("write:EACCES", "write:EROFS"), got
        else:
            assert got == "read:EACCES write:EACCES", got
    finally:
        m.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def test_rw_option_is_refused(dataset, zarrmount_bin, tmp_path):
    proc = run([zarrmount_bin, "-o", "allow_other,rw", dataset["sst_v0_rel"]["refs"],
                tmp_path])
    assert proc.returncode == 2
    assert_one_line_failure(proc, "rw", "read-only")


# ---- (s5) generated keys ----------------------------------------------------------

def test_generated_key_limit(zarrmount_bin, tmp_path):
    refs = write_json(tmp_path / "gen.json", {
        "version": 1, "refs": {".zgroup": '{"zarr_format": 2}'},
        "gen": [{"key": "a/{{i}}", "url": "http://127.0.0.1:9/{{i}}", "offset": "0",
                 "length": "10", "dimensions": {"i": {"stop": 1000}}}]})
    proc = run([zarrmount_bin, "--check", "--max-generated-keys", "999", refs])
    assert_one_line_failure(proc, refs, "gen entry 0", "more than 999 keys")
    proc = run([zarrmount_bin, "--check", "--max-generated-keys", "1000", refs])
    assert proc.returncode == 0, proc.stderr
    assert "1001 keys" in proc.stdout, proc.stdout
