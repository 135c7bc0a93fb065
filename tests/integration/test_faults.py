"""Reads through a mount whose origin misbehaves (fault_server.py).

  * thousands of reads from many threads against a seeded random mix of
    every fault: each read gives exactly the file's bytes or EIO, never other
    bytes, within the read deadline (see below); every fetch the daemon gives up on gives up
    within --read-timeout; the daemon then still serves every key correctly;
  * one focused test per fault: a 5xx is retried (honouring Retry-After, but
    never past the deadline), a reset or truncated answer is retried, a 200
    for a range is sliced, a wrong Content-Range is never served, a stall or
    a too-slow body ends in EIO in bounded time, and waiting for a connection
    counts against the deadline.

The daemon runs with no memory or disk cache, so every read reaches the
origin. Reads use O_DIRECT (one FUSE read per call, no page cache) or
buffered I/O after dropping the file's pages.

A fetch from the origin ends within --read-timeout (checked in the daemon's
log). A read that finds its block being fetched by another read shares that
fetch's outcome (test_read_joining_a_failed_fetch_fails_within_one_deadline),
and the kernel's re-read of a page whose readahead failed fails at once, as
the daemon remembers a failed block for 2 s. A buffered read may still become
two FUSE reads one after the other; the mixed test bounds reads accordingly
and reports how many needed more than one deadline.
"""

import email.utils
import errno
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time

import pytest

import fault_server
import prepare_data
import zmount

SLACK = 2.0  # seconds on top of a deadline: scheduling on a busy 2-core CI host
FILE_SIZE = 2 << 20
MIX_FILES = 8
# Probabilities per request of the mixed test; the rest is served correctly.
MIX = {"reset": 0.04, "error500": 0.03, "error503": 0.03, "error500_retry": 0.015,
       "error503_retry": 0.015, "stall": 0.015, "drip": 0.04, "truncate": 0.04,
       "wrong_range": 0.02, "full_200": 0.04}
MIX_PARAMS = {"retry_after": 1, "stall_seconds": 20, "drip_seconds": 0.3, "drip_pieces": 6}
MIX_DEADLINE = 4  # --read-timeout of the mixed test
# Reads to make (at least 2000 must finish within MIX_SECONDS).
MIX_READS = int(os.environ.get("ZARRMOUNT_FAULT_READS", "4000"))
MIX_SECONDS = float(os.environ.get("ZARRMOUNT_FAULT_SECONDS", "90"))
MIX_THREADS = 16
# No caches in the daemon; short per-attempt deadlines so stalls end fast.
NO_CACHE = ["--no-disk-cache", "--memory-cache", "0"]


def write_random(path, size, seed):
    data = random.Random(seed).randbytes(size)
    with open(path, "wb") as f:
        f.write(data)
    return data


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault_root")
    srv = fault_server.FaultProcess(root).start()
    srv.root = str(root)
    yield srv
    srv.stop()


class Store:
    """Files on the fault server and a reference set of byte ranges of them."""

    def __init__(self, server, tmp, name, files=1, keys_per_file=8, min_len=8 << 10,
                 max_len=384 << 10, seed=0):
        rnd = random.Random(seed)
        self.name = name
        self.data = {}   # server path -> bytes
        self.want = {}   # key -> expected bytes
        self.path_of = {}  # key -> server path
        refs = {".zgroup": json.dumps({"zarr_format": 2})}
        for i in range(files):
            path = f"/{name}{i}.bin"
            data = write_random(os.path.join(server.root, path[1:]), FILE_SIZE,
                                f"{name}{i}:{seed}")
            self.data[path] = data
            for j in range(keys_per_file):
                length = rnd.randint(min_len, max_len)
                offset = rnd.randrange(1, FILE_SIZE - length)  # never 0: slicing shows
                key = f"{name}{i}/c{j}"
                refs[key] = [server.url + path, offset, length]
                self.want[key] = data[offset:offset + length]
                self.path_of[key] = path
        self.refs = str(tmp / f"{name}.json")
        with open(self.refs, "w") as f:
            json.dump(refs, f)

    def key(self, i=0, j=0):
        return f"{self.name}{i}/c{j}"


def timed_read(path, offset, length, direct):
    """One read of [offset, offset+length): (the bytes, or (errno, the bytes
    before the error), seconds). Buffered reads drop the file's cached pages
    first so they reach the daemon; a short read is continued, so the result
    is everything up to the end of the file, or an error."""
    start = time.monotonic()
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
    try:
        if not direct:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        out = b""
        while len(out) < length:
            try:
                got = os.pread(fd, length - len(out), offset + len(out))
            except OSError as e:
                return (e.errno, out), time.monotonic() - start
            if not got:
                break
            out += got
        return out, time.monotonic() - start
    finally:
        os.close(fd)


def read_key(m, key, direct=True, offset=0, length=None):
    size = os.stat(m.path(key)).st_size
    return timed_read(m.path(key), offset, size - offset if length is None else length, direct)


def gave_up_times(log):
    """Seconds each failed fetch took, from the daemon's log."""
    return [float(x) for x in re.findall(r"gave up after \d+ attempts? in ([0-9.]+) s", log)]


def daemon_alive(m):
    return m.pids and all(os.path.exists(f"/proc/{p}") for p in m.pids) and \
        zmount.is_mounted(m.mnt)


def mount_with(mount, store, *extra, deadline=10):
    return mount(store.refs, extra=NO_CACHE + ["--read-timeout", str(deadline), *extra])


def log_text(m):
    with open(m.log, errors="replace") as f:
        return f.read()


# --------------------------------------------------------------------------
# Thousands of reads against a mix of every fault
# --------------------------------------------------------------------------

def test_mixed_faults_never_wrong_bytes_and_bounded(server, mount, tmp_path):
    """Many threads, thousands of reads, every fault in a seeded mix: each
    read is the exact bytes or EIO (after a right prefix); no fetch takes
    longer than the deadline, no read longer than the bound in the module
    doc; afterwards the daemon serves every key correctly."""
    store = Store(server, tmp_path, "mix", files=MIX_FILES, keys_per_file=40,
                  min_len=4 << 10, max_len=600 << 10, seed=7)
    server.reset()
    server.configure({"seed": 12345, "mix": MIX, "rules": [], "params": MIX_PARAMS})
    m = mount(store.refs, extra=NO_CACHE + [
        "--read-timeout", str(MIX_DEADLINE), "--request-timeout", "2",
        "--connect-timeout", "1", "--low-speed-limit", "4K", "--low-speed-time", "1",
        "--retries", "4", "--block-size", "256K", "--threads", "16",
        "--max-connections", "32"])
    keys = sorted(store.want)
    lock = threading.Lock()
    outcomes = {"ok": 0, "eio": 0, "partial_eio": 0}
    problems = []  # wrong bytes, other errors, slow reads
    slowest = {True: 0.0, False: 0.0}
    # Reads that took longer than one deadline (plus slack): not errors, see
    # the module doc, but counted.
    over_one_deadline = {True: 0, False: 0}
    count = [0]
    stop_at = time.monotonic() + MIX_SECONDS

    def reader(seed):
        rnd = random.Random(seed)
        while True:
            with lock:
                if count[0] >= MIX_READS or time.monotonic() > stop_at:
                    return
                count[0] += 1
            key = rnd.choice(keys)
            want = store.want[key]
            offset = rnd.randrange(len(want))
            length = rnd.randint(1, min(len(want) - offset, 256 << 10))
            direct = rnd.random() < 0.5
            got, took = timed_read(m.path(key), offset, length, direct)
            # One deadline: a read that joins another's fetch shares its
            # outcome, and the kernel's retry of a failed page fails at once.
            # A buffered read may become two FUSE reads one after the other.
            bound = MIX_DEADLINE * (1 if direct else 2) + SLACK
            with lock:
                slowest[direct] = max(slowest[direct], took)
                if took > MIX_DEADLINE * (1 if direct else 2) + SLACK:
                    over_one_deadline[direct] += 1
                if took > bound:
                    problems.append(f"{key} [{offset}+{length}] direct={direct}: "
                                    f"{took:.1f}s > {bound}s")
                if isinstance(got, bytes):
                    if got == want[offset:offset + length]:
                        outcomes["ok"] += 1
                    else:
                        problems.append(f"{key} [{offset}+{length}] direct={direct}: WRONG "
                                        f"BYTES ({len(got)} bytes)")
                else:
                    code, prefix = got
                    if code != errno.EIO:
                        problems.append(f"{key}: {errno.errorcode.get(code, code)}, not EIO")
                    elif prefix != want[offset:offset + len(prefix)]:
                        problems.append(f"{key} [{offset}+{length}]: wrong bytes before EIO")
                    else:
                        outcomes["partial_eio" if prefix else "eio"] += 1

    threads = [threading.Thread(target=reader, args=(s,), daemon=True)
               for s in range(MIX_THREADS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(MIX_SECONDS + 4 * MIX_DEADLINE + 30)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "reader threads hung"
    stats = server.stats()
    server.no_faults()
    log = log_text(m)
    gave_up = gave_up_times(log)
    reads = sum(outcomes.values())
    summary = (f"{reads} reads in {elapsed:.0f}s: {outcomes}; slowest direct "
               f"{slowest[True]:.1f}s, buffered {slowest[False]:.1f}s; past one deadline "
               f"(two for buffered): {over_one_deadline[True]} direct, "
               f"{over_one_deadline[False]} buffered; origin "
               f"{stats['requests']} requests, faults {stats['faults']}; "
               f"{len(gave_up)} fetches gave up, slowest after {max(gave_up, default=0):.1f}s")
    print(summary)
    assert not problems, f"{len(problems)} bad reads, e.g. {problems[:10]}\n{summary}"
    assert reads >= 2000, summary
    assert outcomes["ok"] > reads // 2, summary
    assert outcomes["eio"] + outcomes["partial_eio"] > 0, summary
    missing = [f for f in MIX if not stats["faults"].get(f)]
    assert not missing, f"faults never injected: {missing}\n{summary}"
    assert max(gave_up, default=0) <= MIX_DEADLINE + 0.5, \
        f"a fetch gave up after {max(gave_up)}s (deadline {MIX_DEADLINE}s)\n{summary}"
    # Alive, and every key now reads exactly (a failure was never cached).
    # Fetches begun under the faults may still fail up to a deadline from
    # now, and a failed block fails again at once for 2 s: wait those out.
    assert daemon_alive(m), m.log_tail()
    time.sleep(MIX_DEADLINE + 2.5)
    for key in keys:
        got, _ = read_key(m, key, direct=False)
        assert got == store.want[key], f"{key}: wrong after the faults stopped"


# --------------------------------------------------------------------------
# One fault at a time
# --------------------------------------------------------------------------

def request_times(server, path):
    return [e[0] for e in server.stats()["log"] if e[2] == path and e[1] == "GET"]


@pytest.mark.parametrize("fault,form", [("error503_retry", "seconds"),
                                        ("error500_retry", "seconds"),
                                        ("error503_retry", "date")])
def test_retry_after_is_honoured(fault, form, server, mount, tmp_path):
    """A 5xx with Retry-After: 1, twice (or an HTTP date 2 s ahead, once):
    the read succeeds, and the retries wait at least the second the server
    asked for (plain backoff would be ~0.1 s)."""
    store = Store(server, tmp_path, f"ra{fault[5:8]}{form}", seed=1)
    key = store.key()
    m = mount_with(mount, store, deadline=10)
    if form == "seconds":
        retry_after, times = 1, 2
    else:  # a fixed date is in the past for a later answer: one fault only
        retry_after, times = email.utils.formatdate(time.time() + 2, usegmt=True), 1
    server.reset()
    server.configure({"rules": [{"method": "GET", "path": store.path_of[key], "fault": fault, "times": times,
                                 "params": {"retry_after": retry_after}}]})
    got, took = read_key(m, key)
    assert got == store.want[key], got
    sent = request_times(server, store.path_of[key])
    assert len(sent) == times + 1, sent
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert all(g >= 0.95 for g in gaps), f"Retry-After not honoured: gaps {gaps}"
    assert took < 10, took


@pytest.mark.parametrize("fault", ["error503", "error500"])
def test_5xx_is_retried_with_backoff(fault, server, mount, tmp_path):
    """A 5xx without Retry-After, three times: retried with short, growing,
    jittered pauses; the fourth attempt succeeds."""
    store = Store(server, tmp_path, "bo" + fault[5:8], seed=2)
    key = store.key()
    server.reset()
    server.configure({"rules": [{"method": "GET", "path": store.path_of[key], "fault": fault, "times": 3}]})
    m = mount_with(mount, store, "--retries", "3")
    got, took = read_key(m, key)
    assert got == store.want[key]
    times = request_times(server, store.path_of[key])
    assert len(times) == 4, times
    gaps = [b - a for a, b in zip(times, times[1:])]
    # Pauses are drawn from [b/2, b] with b = 100, 200, 400 ms.
    assert all(0.04 <= g <= 0.4 + 0.5 for g in gaps), gaps
    assert took < 3, took


def test_retry_after_past_the_deadline_fails_at_once(server, mount, tmp_path):
    """A 503 asking for 30 s when the deadline is 5 s: EIO at once, after one
    request, instead of sleeping into the deadline."""
    store = Store(server, tmp_path, "far", seed=3)
    key = store.key()
    server.reset()
    server.configure({"rules": [{"method": "GET", "path": store.path_of[key], "fault": "error503_retry",
                                 "params": {"retry_after": 30}}]})
    m = mount_with(mount, store, deadline=5)
    got, took = read_key(m, key)
    assert isinstance(got, tuple) and got[0] == errno.EIO, got
    assert took < 1.5, took
    assert len(request_times(server, store.path_of[key])) == 1
    assert "past the deadline" in log_text(m)


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_broken_connection_is_retried(fault, server, mount, tmp_path):
    """A reset connection or a body cut short, twice: retried, then the right
    bytes; when it never stops: EIO after the attempts, quickly."""
    store = Store(server, tmp_path, "br" + fault, seed=4)
    key, other = store.key(0, 0), store.key(0, 1)
    server.reset()
    server.configure({"rules": [{"method": "GET", "path": store.path_of[key], "fault": fault, "times": 2}]})
    m = mount_with(mount, store, "--retries", "3")
    got, _ = read_key(m, key)
    assert got == store.want[key]
    server.configure({"rules": [{"method": "GET", "path": store.path_of[key], "fault": fault}]})
    got, took = read_key(m, other)
    assert isinstance(got, tuple) and got[0] == errno.EIO, got
    assert took < 5, took
    assert "gave up after 4 attempts" in log_text(m)
    server.no_faults()
    assert isinstance(read_key(m, other)[0], tuple), "a failed block fails at once for 2 s"
    time.sleep(2.2)
    assert read_key(m, other)[0] == store.want[other]


@pytest.mark.parametrize("direct", [True, False])
def test_200_for_a_range_is_sliced(direct, server, mount, tmp_path):
    """A server that ignores Range (200, whole file): every read is the right
    slice, at any offset of any key."""
    store = Store(server, tmp_path, f"full{int(direct)}", keys_per_file=6, seed=5)
    path = next(iter(store.data))
    server.reset()
    server.configure({"rules": [{"method": "GET", "path": path, "fault": "full_200"}]})
    m = mount_with(mount, store)
    rnd = random.Random(5)
    for key, want in store.want.items():
        offset = rnd.randrange(len(want))
        got, _ = read_key(m, key, direct, offset, len(want) - offset)
        assert got == want[offset:], key
    assert server.stats()["faults"].get("full_200", 0) >= len(store.want)


@pytest.mark.parametrize("src", [prepare_data.CHL_SRC, prepare_data.FICE_SRC])
def test_scan_over_a_misbehaving_server(src, server, tmp_path):
    """`zarrmount scan URL` learns the file's size with its first block, in
    one ranged GET. Over a server that resets, truncates or answers 503 a
    few times, or that ignores ranges, the references equal those of the
    local file (a file smaller than a block, and one of three blocks). A
    server whose Content-Range names other bytes fails the scan with one
    line naming the URL, and nothing is written."""
    name = os.path.basename(src)
    local = os.path.join(server.root, name)
    shutil.copyfile(src, local)
    url = f"{server.url}/{name}"

    def scan(*args):
        return subprocess.run([zmount.ZARRMOUNT, "scan", *map(str, args)], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    assert scan(local, "-o", tmp_path / "here.json").returncode == 0
    here = json.load(open(tmp_path / "here.json"))
    for fault, times in (("reset", 2), ("truncate", 2), ("error503", 2), ("full_200", None)):
        server.reset()
        server.configure({"rules": [{"method": "GET", "path": "/" + name, "fault": fault, "times": times}]})
        out = tmp_path / f"{fault}.json"
        proc = scan(url, "-o", out)
        assert proc.returncode == 0, (fault, proc.stderr)
        assert json.load(open(out))["refs"] == here["refs"], fault
        assert server.stats()["faults"].get(fault, 0) >= (times or 1), fault
    server.reset()
    server.configure({"seed": 7, "rules": [{"method": "GET", "path": "/" + name, "fault": "wrong_range"}]})
    proc = scan(url, "-o", tmp_path / "wrong.json")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and url in lines[0], proc.stderr
    assert not os.path.exists(tmp_path / "wrong.json")
    server.no_faults()


def test_wrong_content_range_is_never_served(server, mount, tmp_path):
    """206 answers for another range (shifted, shorter, longer; the bytes
    match what they claim): always EIO, and once the server behaves the same
    keys read right (a failure is remembered for 2 s only)."""
    store = Store(server, tmp_path, "wrong", keys_per_file=24, seed=6)
    path = next(iter(store.data))
    server.reset()
    server.configure({"seed": 6, "rules": [{"method": "GET", "path": path, "fault": "wrong_range"}]})
    m = mount_with(mount, store)
    for key in store.want:
        for direct in (True, False):
            got, _ = read_key(m, key, direct)
            assert isinstance(got, tuple) and got[0] == errno.EIO and not got[1], \
                f"{key}: {'wrong bytes' if isinstance(got, bytes) else got}"
    log = log_text(m)
    assert "Content-Range" in log and "more bytes than the range" in log, m.log_tail()
    server.no_faults()
    time.sleep(2.2)
    for key, want in store.want.items():
        assert read_key(m, key)[0] == want, key


def test_stall_ends_in_eio_at_the_deadline(server, mount, tmp_path):
    """A server that sends nothing (or stops mid-body) for a minute, with
    per-attempt limits longer than the deadline: the read deadline alone
    cuts it, EIO at 3 s (O_DIRECT) or twice that (buffered: the kernel's
    retry); meanwhile other keys read at once."""
    store = Store(server, tmp_path, "stall", files=2, seed=8)
    stalled = store.path_of[store.key(0, 0)]
    server.reset()
    server.configure({"rules": [{"method": "GET", "path": stalled, "fault": "stall",
                                 "params": {"stall_seconds": 60}}]})
    m = mount_with(mount, store, "--request-timeout", "30", "--low-speed-time", "30",
                   deadline=3)
    results = {}

    def read(key, direct):
        results[(key, direct)] = read_key(m, key, direct)
    workers = [threading.Thread(target=read, args=(store.key(0, j), d), daemon=True)
               for j, d in ((0, True), (1, True), (2, False))]
    for w in workers:
        w.start()
    time.sleep(0.3)
    start = time.monotonic()
    good = store.key(1, 0)
    assert read_key(m, good)[0] == store.want[good]
    assert time.monotonic() - start < 1.5, "a stalled origin held up another file"
    for w in workers:
        w.join(20)
    assert not any(w.is_alive() for w in workers), "a stalled read did not end"
    for (key, direct), (got, took) in results.items():
        assert isinstance(got, tuple) and got[0] == errno.EIO, (key, got)
        bound = 3 * (1 if direct else 2) + SLACK
        assert 2.8 <= took <= bound, f"{key} direct={direct}: EIO after {took:.1f}s"
    assert max(gave_up_times(log_text(m))) <= 3.5


def test_read_joining_a_failed_fetch_fails_within_one_deadline(server, mount, tmp_path):
    """Two O_DIRECT reads of one stalled key, the second a second after the
    first: it joins the first one's fetch; both should fail with EIO within
    one 3 s deadline of their start."""
    store = Store(server, tmp_path, "join", seed=12)
    key = store.key()
    server.reset()
    server.configure({"rules": [{"method": "GET", "path": store.path_of[key], "fault": "stall",
                                 "params": {"stall_seconds": 60}}]})
    m = mount_with(mount, store, "--request-timeout", "30", "--low-speed-time", "30",
                   deadline=3)
    results = {}

    def read(name, delay):
        time.sleep(delay)
        results[name] = read_key(m, key, True, 0, 4096)
    workers = [threading.Thread(target=read, args=a, daemon=True)
               for a in (("first", 0), ("second", 1))]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    for name, (got, took) in sorted(results.items()):
        assert isinstance(got, tuple) and got[0] == errno.EIO, (name, got)
    assert results["first"][1] <= 3 + 1
    assert results["second"][1] <= 3 + 1, f"second read: EIO after {results['second'][1]:.1f}s"


def test_too_slow_body_is_aborted_and_a_slow_enough_one_is_not(server, mount, tmp_path):
    """A body dripping below --low-speed-limit is aborted by the low-speed
    deadline and retried until EIO; one dripping within it arrives whole."""
    store = Store(server, tmp_path, "drip", files=2, min_len=64 << 10, max_len=64 << 10,
                  seed=9)
    slow, fast = store.key(0, 0), store.key(1, 0)
    server.reset()
    server.configure({"rules": [
        # 64 KiB over 60 s: ~1 KiB/s, below the 8 KiB/s limit.
        {"path": store.path_of[slow], "fault": "drip",
         "params": {"drip_seconds": 60, "drip_pieces": 60}},
        # 64 KiB over 1 s: well above it.
        {"path": store.path_of[fast], "fault": "drip",
         "params": {"drip_seconds": 1, "drip_pieces": 8}}]})
    m = mount_with(mount, store, "--low-speed-limit", "8K", "--low-speed-time", "1",
                   "--retries", "1", deadline=20)
    got, took = read_key(m, fast)
    assert got == store.want[fast] and took < 5, took
    got, took = read_key(m, slow)
    assert isinstance(got, tuple) and got[0] == errno.EIO, got
    assert took < 10, f"low-speed limit did not cut the transfer: {took:.1f}s"
    assert "gave up after 2 attempts" in log_text(m)


def test_waiting_for_a_connection_counts_against_the_deadline(server, mount, tmp_path):
    """--max-connections 1, a stalled fetch holding the connection for its
    whole 5 s deadline: a read started 1 s later waits 4 s for it and then
    has 1 s left, not a fresh 5 s (EIO after 5 s, not 9 s)."""
    store = Store(server, tmp_path, "slot", seed=10)
    holder, waiter = store.key(0, 0), store.key(0, 1)
    path = store.path_of[holder]
    server.reset()
    server.configure({"rules": [{"method": "GET", "path": path, "fault": "stall",
                                 "params": {"stall_seconds": 60}}]})
    m = mount_with(mount, store, "--max-connections", "1", "--no-prefetch",
                   "--request-timeout", "30", "--low-speed-time", "30", deadline=5)
    first = threading.Thread(target=read_key, args=(m, holder), daemon=True)
    first.start()
    time.sleep(1)
    got, took = read_key(m, waiter)
    first.join(20)
    assert isinstance(got, tuple) and got[0] == errno.EIO, got
    assert 3.5 <= took <= 5 + SLACK, f"EIO after {took:.1f}s"
    assert len(request_times(server, path)) == 2, "one attempt each"
    server.no_faults()
    time.sleep(2.2)  # a failed block fails at once for 2 s
    assert read_key(m, waiter)[0] == store.want[waiter]


def test_whole_object_size_is_retried_at_mount(server, mount, tmp_path):
    """A [url] reference's size comes from a HEAD at mount: 503s and a reset
    on it are retried and the mount comes up with the right size."""
    name = "whole.bin"
    data = write_random(os.path.join(server.root, name), 300_000, 11)
    refs = str(tmp_path / "whole.json")
    with open(refs, "w") as f:
        json.dump({".zgroup": json.dumps({"zarr_format": 2}),
                   "w/obj": [f"{server.url}/{name}"]}, f)
    server.reset()
    server.configure({"rules": [
        {"path": "/" + name, "method": "HEAD", "fault": "error503", "times": 1},
        {"path": "/" + name, "method": "HEAD", "fault": "reset", "times": 1}]})
    m = mount(refs, extra=NO_CACHE + ["--read-timeout", "10"])
    assert os.stat(m.path("w/obj")).st_size == len(data)
    assert read_key(m, "w/obj")[0] == data
    assert server.stats()["paths"]["/" + name].get("error503") == 1
