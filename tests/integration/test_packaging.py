"""The Debian package and what administrators run zarrmount with: mount(8),
fstab and systemd's notifications.

(p1) scripts/package.sh builds a .deb from the built binary that lintian
     passes without errors; `dpkg -i` installs it, `mount -t fuse.zarrmount`
     with -o options and a temporary fstab (`mount -T`) mount the bundled
     sample through the installed helper, reads give fsspec's bytes,
     `umount` ends each daemon, the man page renders, `scan` runs the
     installed scan program and `dpkg -r` removes it all again.
(p2) mount(8)'s errors: a bad -o value fails with one line naming it, and
     nothing is mounted.
(p3) sd_notify: with $NOTIFY_SOCKET, READY=1 arrives only once the mount
     serves, STOPPING=1 once it is unmounted; a foreground daemon whose
     stderr is not a terminal logs to syslog, not to stderr.

Needs root, dpkg-dev, lintian and man-db (scripts/install-deps.sh). The
package is installed into this machine for the length of (p1) and removed
after it, whatever happens; a lock keeps concurrent runs of this suite (in
other build trees) from installing at the same time.
"""

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import judges
import prepare_data
import zmount

SAMPLE = os.path.join(zmount.REPO, "sample", "refs.json")
PACKAGE_LOCK = "/run/lock/zarrmount-package-test.lock"
INSTALLED_BIN = "/usr/bin/zarrmount"
INSTALLED_SCAN = "/usr/libexec/zarrmount/zarrmount-scan"
HELPER = "/sbin/mount.fuse.zarrmount"


def run(cmd, timeout=120, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def installed_daemons(mnt):
    """Pids of processes running the installed zarrmount for ``mnt``: the
    helper's daemon keeps mount(8)'s argv, argv[0] /sbin/mount.fuse.zarrmount."""
    mnt = os.path.realpath(mnt)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if exe.startswith(INSTALLED_BIN) and mnt.encode() in argv:
            pids.append(int(entry))
    return pids


def mount_options(mnt):
    mnt = os.path.realpath(mnt)
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if zmount._unescape(fields[1]) == mnt:
                return fields[2], fields[3].split(",")
    return None, []


def check_sample_bytes(mnt):
    """Every key of the sample reads as fsspec reads it."""
    refs = judges.FsspecRefs(SAMPLE)
    want = refs.cat(refs.keys())
    assert len(want) > 10
    for key, data in want.items():
        with open(os.path.join(mnt, key), "rb") as f:
            assert f.read() == data, key


def unmount_and_check_gone(mnt):
    pids = installed_daemons(mnt)
    assert pids, f"no daemon of the installed zarrmount serves {mnt}"
    r = run(["umount", mnt], timeout=60)
    assert r.returncode == 0, r.stderr
    assert not zmount.is_mounted(mnt)
    assert zmount.wait_gone(pids, 30) == [], "umount left the daemon running"


@contextlib.contextmanager
def installed_package(deb):
    """`dpkg -i deb` for the block's length; always `dpkg -r` after, and no
    mount or daemon of the installed binary left behind."""
    with open(PACKAGE_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mounts = []
        try:
            r = run(["dpkg", "-i", deb], timeout=300)
            assert r.returncode == 0, r.stdout + r.stderr
            yield mounts
        finally:
            for mnt in mounts:
                if zmount.is_mounted(mnt):
                    run(["umount", "-l", mnt])
                for pid in installed_daemons(mnt):
                    zmount.kill(pid, signal.SIGKILL)
            r = run(["dpkg", "-r", "zarrmount"], timeout=300)
            assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def deb(zarrmount_bin):
    """The package of the binary under test, built (and passed through
    lintian) by scripts/package.sh."""
    build = os.path.dirname(os.path.abspath(zarrmount_bin))
    r = run(["bash", os.path.join(zmount.REPO, "scripts", "package.sh"), "--lintian"],
            timeout=600, env=dict(os.environ, BUILD_DIR=build))
    assert r.returncode == 0, f"package.sh failed:\n{r.stdout}\n{r.stderr}"
    path = r.stdout.strip().splitlines()[-1]
    assert path.endswith(".deb") and os.path.isfile(path), r.stdout
    assert "E: " not in r.stderr, r.stderr  # lintian's warnings, if any, are printed
    return path


def test_package_mount_fstab_umount_remove(deb, tmp_path):
    """(p1)"""
    cache = tmp_path / "cache"
    by_type, by_fstab = tmp_path / "by-type", tmp_path / "by-fstab"
    for d in (cache, by_type, by_fstab):
        d.mkdir()
    with installed_package(deb) as mounts:
        mounts += [str(by_type), str(by_fstab)]
        assert os.path.realpath(HELPER) == INSTALLED_BIN
        version = run([INSTALLED_BIN, "--version"])
        assert version.returncode == 0 and "libfuse" in version.stdout, version
        # Every kind of -o option: zarrmount's (both spellings), FUSE's, and
        # mount(8)'s and systemd's, which are ignored; mount(8) adds rw.
        r = run(["mount", "-t", "fuse.zarrmount", SAMPLE, by_type, "-o",
                 f"cache_dir={cache},memory-cache=64M,no_prefetch,allow_other,nosuid,noatime,"
                 "_netdev,nofail,x-systemd.requires=network-online.target"])
        assert r.returncode == 0, r.stderr
        fstype, options = mount_options(by_type)
        assert fstype == "fuse.zarrmount" and "ro" in options and "nosuid" in options, options
        check_sample_bytes(by_type)
        with pytest.raises(OSError):
            open(os.path.join(by_type, "sst", "new"), "wb")
        unmount_and_check_gone(by_type)

        fstab = tmp_path / "fstab"
        fstab.write_text(f"# a test's fstab\n{SAMPLE} {by_fstab} fuse.zarrmount "
                         f"cache_dir={cache},block_size=64K,noauto,_netdev,"
                         "comment=zarrmount-test 0 0\n")
        r = run(["mount", "-T", fstab, by_fstab])
        assert r.returncode == 0, r.stderr
        check_sample_bytes(by_fstab)
        unmount_and_check_gone(by_fstab)

        man = run(["man", "--warnings", "-E", "UTF-8", "-l",
                   "/usr/share/man/man1/zarrmount.1.gz"], env=dict(os.environ, MANWIDTH="80"))
        assert man.returncode == 0 and man.stderr == "", man.stderr
        for heading in ("SYNOPSIS", "OPTIONS", "COMMANDS", "FSTAB AND SYSTEMD", "SEMANTICS"):
            assert heading in man.stdout, heading
        assert "--cache-dir" in man.stdout.replace("\u2010", "-")
        # `scan` of several files runs in the installed scan program.
        files = prepare_data.split_time(prepare_data.FICE_SRC, str(tmp_path / "fice"), "fice", 12,
                                        {"fice": (4, 25, 50)}, count=3, note="fice for test_packaging")
        trace = tmp_path / "execve.log"
        r = run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace, INSTALLED_BIN, "scan",
                 "--jobs", "2", "--concat", "time", *files, "-o", tmp_path / "fice.json"])
        assert r.returncode == 0, r.stderr
        workers = [line for line in trace.read_text().splitlines() if '"--worker"' in line and "= 0" in line]
        assert len(workers) == 2 and all(f'execve("{INSTALLED_SCAN}"' in w for w in workers), workers
        completion = run(["bash", "-n", "/usr/share/bash-completion/completions/zarrmount"])
        assert completion.returncode == 0, completion.stderr
        if shutil.which("systemd-analyze"):
            unit = tmp_path / "zarrmount@test.service"
            shutil.copy("/lib/systemd/system/zarrmount@.service", unit)
            verify = run(["systemd-analyze", "verify", "--man=no", unit])
            assert verify.returncode == 0, verify.stdout + verify.stderr
    for path in (INSTALLED_BIN, INSTALLED_SCAN, HELPER, "/lib/systemd/system/zarrmount@.service"):
        assert not os.path.lexists(path), f"dpkg -r left {path}"


def test_mount_errors_name_the_option(deb, tmp_path):
    """(p2)"""
    mnt = tmp_path / "m"
    mnt.mkdir()
    with installed_package(deb) as mounts:
        mounts.append(str(mnt))
        for options, named in (("threads=0", "'-o threads'"), ("cache_dir", "'-o cache_dir'"),
                               ("bogus_option=1", "FUSE")):
            r = run(["mount", "-t", "fuse.zarrmount", SAMPLE, mnt, "-o", options])
            assert r.returncode != 0, options
            assert named in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
            assert not zmount.is_mounted(mnt)


def test_sd_notify_ready_once_serving_and_stopping_at_unmount(zarrmount_bin, tmp_path):
    """(p3)"""
    mnt = tmp_path / "m"
    mnt.mkdir()
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path)
    proc = subprocess.Popen([zarrmount_bin, "-f", "--cache-dir", str(tmp_path / "cache"),
                             SAMPLE, str(mnt)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        sock.settimeout(60)
        ready = sock.recv(4096).decode()
        # At the moment READY=1 arrives, the mount must already serve.
        serving = os.path.isfile(mnt / "sst" / ".zarray")
        assert "READY=1" in ready.split("\n"), ready
        assert f"MAINPID={proc.pid}" in ready.split("\n"), ready
        assert serving and zmount.is_mounted(mnt), "READY=1 before the mount served"
        check_sample_bytes(str(mnt))
        assert zmount.fusermount_u(str(mnt)).returncode == 0
        stopping = sock.recv(4096).decode()
        assert "STOPPING=1" in stopping.split("\n"), stopping
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        # Not on a terminal and no --log: the log went to syslog.
        assert err == "", err
    finally:
        sock.close()
        if zmount.is_mounted(mnt):
            zmount.fusermount_u(str(mnt), lazy=True)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
