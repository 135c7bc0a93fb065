"""Mounting for the benchmark: cold / memory / warm / hot states, memory sampling,
dropping the kernel's caches, and a watchdog for hung reads.

Built on the integration tests' ``zmount.Mount``.

  cold  a new cache directory, caches dropped, a new daemon;
  memory  again in the cold daemon after the kernel's page cache is dropped:
        every byte from the daemon's memory tier through FUSE, the floor of a
        cold read with every fetch done ahead (a workload larger than the
        memory tier reads the rest from the disk cache, whose pages were
        dropped too);
  warm  the same cache directory after unmount + drop_caches, a new daemon
        (its memory cache is empty; bytes come from LMDB on disk);
  hot   again in the same mount (kernel page cache + daemon memory cache).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import zmount  # noqa: E402

UNMOUNT_STATS = re.compile(r"unmounted .*?: (.*)$")
ISSUE = re.compile(r"\b(error|warn\w*|fail\w*|retry\w*|timeout|EIO)\b", re.I)


def drop_caches(page_cache_only=False):
    """sync, then drop the page cache, and unless ``page_cache_only`` the
    dentries and inodes too (needs root)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1\n" if page_cache_only else "3\n")


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile of ``pid`` in bytes (None if gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[name] = int(value.split()[0]) * 1024
    return out


def proc_cpu_seconds(pid):
    """utime + stime of ``pid`` in seconds (None if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Samples the daemons' memory every ``interval`` seconds while active,
    and the CPU time they use meanwhile (``cpu_seconds``). ``pids`` is a
    callable giving the pids to sample (mounts come and go)."""

    def __init__(self, pids, interval=0.05):
        self.pids = pids
        self.interval = interval
        self.peak = {}
        self._cpu = {}  # pid -> [first, last]
        self._stop = threading.Event()
        self._thread = None

    @property
    def cpu_seconds(self):
        return sum(last - first for first, last in self._cpu.values())

    def _sample(self):
        for pid in self.pids():
            st = proc_status(pid)
            if st:
                for k, v in st.items():
                    self.peak[k] = max(self.peak.get(k, 0), v)
            cpu = proc_cpu_seconds(pid)
            if cpu is not None:
                self._cpu.setdefault(pid, [cpu, cpu])[1] = cpu

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self.peak = {}
        self._cpu = {}
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._sample()
        self._stop.set()
        self._thread.join()


class Watchdog:
    """Kills the daemons if a measurement takes longer than ``seconds``, so a
    read blocked on a hung daemon fails instead of hanging the benchmark."""

    def __init__(self, ctl, seconds):
        self.ctl = ctl
        self.seconds = seconds
        self.fired = False
        self._timer = None

    def _fire(self):
        self.fired = True
        self.ctl.note(f"watchdog: a measurement exceeded {self.seconds:.0f} s; "
                      "killing the daemon")
        for m in list(self.ctl.active):
            m.abort()

    def __enter__(self):
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()


class MountCtl:
    """Starts and stops the benchmark's mounts; remembers what went wrong."""

    def __init__(self, run_dir, extra, log=print):
        self.run_dir = run_dir
        self.extra = list(extra)
        self.log = log
        self.count = 0
        self.active = []
        self.notes = []  # oddities seen (daemon log lines, unmount trouble)
        self.mounts = []  # one record per daemon: tag, mount/unmount times, stats

    def note(self, msg):
        self.notes.append(msg)
        self.log(f"  ! {msg}")

    def pids(self):
        out = []
        for m in self.active:
            out.extend(m.pids or [])
        return out

    def cold(self, refs_path, tag):
        """A new daemon on a new, empty cache directory, caches dropped."""
        self.count += 1
        cache = os.path.join(self.run_dir, f"cache-{self.count}")
        shutil.rmtree(cache, ignore_errors=True)
        mnt = os.path.join(self.run_dir, "mnt")
        log = os.path.join(self.run_dir, "logs", f"zarrmount-{self.count:02d}-{tag}.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        m = zmount.Mount(refs_path, mnt, cache, log, self.extra)
        m.bench_tag = tag
        m.bench_log_pos = 0
        drop_caches()
        self._start(m, "cold")
        return m

    def _start(self, m, state):
        if zmount.is_mounted(m.mnt):
            self.note(f"{m.mnt} was still mounted; unmounting it")
            zmount.fusermount_u(m.mnt, lazy=True)
        t0 = time.perf_counter()
        self.active.append(m)
        try:
            m.start()
        except BaseException:
            self.active.remove(m)
            m.cleanup()
            raise
        rec = {"tag": m.bench_tag, "state": state, "log": m.log,
               "mount_seconds": time.perf_counter() - t0, "pids": list(m.pids)}
        if len(m.pids) != 1:
            self.note(f"{m.bench_tag}: expected one daemon for {m.mnt}, found {m.pids}")
        self.mounts.append(rec)
        m.bench_record = rec
        return rec

    def warm(self, m, between=None):
        """Unmount, drop caches, mount again on the same cache directory.
        ``between`` runs while nothing is mounted (caches dropped again after)."""
        self.stop(m, keep_cache=True)
        drop_caches()
        if between:
            between(m.cache_dir)
            drop_caches()
        self._start(m, "warm")
        return m

    def stop(self, m, keep_cache=False, fast=False):
        """Unmounts (fusermount3 -u), checks the daemon exits, scans its log.
        ``fast`` (after an error or Ctrl-C, readers may still hold files
        open): lazy unmount, and SIGKILL if the daemon is not gone in 10 s."""
        if m not in self.active:
            return
        rec = m.bench_record
        t0 = time.perf_counter()
        if not fast:
            res, alive = m.unmount()
            if res.returncode != 0:
                self.note(f"{m.bench_tag}: fusermount3 -u failed: {res.stderr.strip()}")
            if alive:
                self.note(f"{m.bench_tag}: daemon {alive} still alive 30 s after unmount")
        m.cleanup()
        rec["unmount_seconds"] = time.perf_counter() - t0
        self.active.remove(m)
        self._scan_log(m, rec)
        if not keep_cache:
            shutil.rmtree(m.cache_dir, ignore_errors=True)

    def _scan_log(self, m, rec):
        try:
            with open(m.log, errors="replace") as f:
                f.seek(m.bench_log_pos)
                text = f.read()
                m.bench_log_pos = f.tell()
        except OSError:
            return
        issues = []
        for line in text.splitlines():
            s = UNMOUNT_STATS.search(line)
            if s:
                rec["daemon_stats"] = s.group(1)
                self.log(f"           daemon ({rec['state']}): {s.group(1)}")
            elif ISSUE.search(line):
                issues.append(line)
        if issues:
            rec["log_issues"] = len(issues)
            self.note(f"{m.bench_tag} ({rec['state']}): {len(issues)} log line(s) of concern, "
                      f"e.g. {issues[0][:240]}")

    def cleanup(self):
        """Teardown: nothing of ours stays mounted or running."""
        for m in list(self.active):
            try:
                self.stop(m, fast=True)
            except Exception as e:  # noqa: BLE001
                self.log(f"cleanup: {e}")
                m.cleanup()
                self.active.remove(m)
        mnt = os.path.join(self.run_dir, "mnt")
        if zmount.is_mounted(mnt):
            zmount.fusermount_u(mnt, lazy=True)
        for name in os.listdir(self.run_dir) if os.path.isdir(self.run_dir) else []:
            if name.startswith("cache-"):
                shutil.rmtree(os.path.join(self.run_dir, name), ignore_errors=True)


# Counters of `zarrmount status --json` whose change over a measurement is
# recorded (origin traffic, prefetches, cache hits: where the bytes came from).
STATUS_COUNTERS = ("origin_requests", "origin_bytes", "origin_errors", "prefetch_requests",
                   "prefetch_bytes", "prefetch_dropped", "memory_hits", "memory_hit_bytes",
                   "disk_hits", "disk_hit_bytes", "misses", "object_checks")


def daemon_status(mnt):
    """The daemon's status object (`zarrmount status MNT --json`, which reads
    the mount root's status xattr), or None if it cannot be read."""
    try:
        out = subprocess.run([zmount.ZARRMOUNT, "status", mnt, "--json"], capture_output=True,
                             text=True, timeout=10)
        return json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def settle(mnt, timeout=10.0):
    """Waits (at most ``timeout`` s) until the daemon has no origin request in
    flight, so that prefetches a measurement started are counted with it;
    returns the final status (or None)."""
    deadline = time.monotonic() + timeout
    while True:
        st = daemon_status(mnt)
        if st is None or not st.get("origin_in_flight") or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


def status_delta(before, after):
    """Per counter of STATUS_COUNTERS: after - before (None if either is)."""
    if not before or not after:
        return None
    return {k: after.get(k, 0) - before.get(k, 0) for k in STATUS_COUNTERS}


def binary_info(path):
    """Version string and mtime of the zarrmount binary."""
    try:
        v = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
        version = (v.stdout or v.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        version = "?"
    st = os.stat(path)
    return {"path": path, "version": version, "mtime": time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.localtime(st.st_mtime)), "size": st.st_size}
