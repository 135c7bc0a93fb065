"""Starting, finding and stopping zarrmount daemons from the tests."""

import os
import signal
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZARRMOUNT = os.environ.get("ZARRMOUNT", os.path.join(REPO, "build", "zarrmount"))
FUSERMOUNT = "fusermount3"
MOUNT_TIMEOUT = 60  # seconds for the mount command to return

# Mounts started by the tests and not yet cleaned up (for the watchdog).
ACTIVE = set()


def _unescape(field):
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        return any(_unescape(line.split()[1]) == path for line in f if line.strip())


def daemon_pids(mnt):
    """Pids of zarrmount processes whose command line names ``mnt``."""
    mnt = os.path.realpath(mnt)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"zarrmount" and mnt.encode() in argv:
            pids.append(int(entry))
    return pids


def wait_gone(pids, timeout):
    """Waits until none of ``pids`` is alive (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    alive.append(pid)
            except OSError:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def wait_mounted(mnt, want=True, timeout=30):
    deadline = time.monotonic() + timeout
    while is_mounted(mnt) != want:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def fusermount_u(mnt, lazy=False):
    """Unmounts; an unmount refused as busy is tried again for up to 5 s.
    Under load, an unmount right after the test's last read was seen refused
    with EBUSY although nothing of the test held the mount any more; a moment
    later it succeeds. A mount really held open still fails after 5 s."""
    args = [FUSERMOUNT, "-uz" if lazy else "-u", mnt]
    deadline = time.monotonic() + 5
    while True:
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        if r.returncode == 0 or "busy" not in r.stderr or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


class Mount:
    """One zarrmount of a reference set, in the background (daemon) mode."""

    def __init__(self, refs, mnt, cache_dir, log=None, extra=(), local_roots=("/",),
                 env=None):
        """``local_roots``: the --local-root directories. The test data lives
        beside, not under, the reference files, so by default every local file
        may be read; tests of that confinement pass ``()``."""
        self.refs = str(refs)
        self.mnt = str(mnt)
        self.cache_dir = str(cache_dir)
        self.log = str(log) if log else os.path.join(os.path.dirname(self.cache_dir),
                                                     os.path.basename(self.mnt) + ".log")
        self.extra = list(extra)
        for root in local_roots:
            self.extra += ["--local-root", str(root)]
        self.env = env  # the daemon's environment (None: ours)
        self.pids = []
        os.makedirs(self.mnt, exist_ok=True)
        os.makedirs(self.cache_dir, exist_ok=True)

    def command(self, *more):
        return [ZARRMOUNT, "--cache-dir", self.cache_dir, "--log", self.log,
                *self.extra, *more, self.refs, self.mnt]

    def start(self):
        """Runs the mount command; asserts success and that the mount is live
        when the command returns. Returns the CompletedProcess."""
        ACTIVE.add(self)
        proc = subprocess.run(self.command(), capture_output=True, text=True,
                              timeout=MOUNT_TIMEOUT, stdin=subprocess.DEVNULL, env=self.env)
        assert proc.returncode == 0, (
            f"mount failed: {' '.join(self.command())}\nexit {proc.returncode}\n"
            f"stderr: {proc.stderr}\nlog: {self.log_tail()}")
        assert is_mounted(self.mnt), "mount command returned 0 but nothing is mounted"
        os.listdir(self.mnt)  # serving already, not just mounted
        self.pids = daemon_pids(self.mnt)
        return proc

    def log_tail(self, n=20):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def path(self, key=""):
        return os.path.join(self.mnt, key) if key else self.mnt

    def unmount(self, timeout=30):
        """fusermount3 -u; returns (fusermount result, pids still alive)."""
        pids = self.pids or daemon_pids(self.mnt)
        res = fusermount_u(self.mnt)
        alive = wait_gone(pids, timeout)
        if not is_mounted(self.mnt) and not alive:
            ACTIVE.discard(self)
        return res, alive

    def cleanup(self):
        """Teardown: always leaves nothing mounted and no daemon of ours."""
        pids = set(self.pids) | set(daemon_pids(self.mnt))
        if is_mounted(self.mnt):
            fusermount_u(self.mnt, lazy=True)
        alive = wait_gone(list(pids), 10)
        for pid in alive:
            kill(pid, signal.SIGKILL)
        wait_gone(alive, 10)
        ACTIVE.discard(self)

    def abort(self):
        """Watchdog: kill our daemon so blocked FUSE requests fail, unmount."""
        for pid in set(self.pids) | set(daemon_pids(self.mnt)):
            kill(pid, signal.SIGKILL)
        fusermount_u(self.mnt, lazy=True)


def kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
