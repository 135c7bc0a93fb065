"""Many readers at once through one mount, for a bounded time.

Threads of this process and of several child processes read random ranges
(a byte to a few MiB; buffered, buffered after dropping the file's pages,
O_DIRECT, whole keys) of many keys over many files served by nginx, for
$ZARRMOUNT_STRESS_SECONDS (default 120). Every byte is checked against the
source files. Meanwhile the daemon's memory (/proc/PID/status) and open
descriptors (/proc/PID/fd) are sampled; both must stay under bounds derived
from the mount's options (see ``rss_bound`` and ``fd_bound``).

Run as a script, this file is one of the child readers:
  test_stress.py --worker MANIFEST SECONDS THREADS SEED
"""

import json
import os
import random
import subprocess
import sys
import threading
import time

import zmount

MiB = 1 << 20
SECONDS = float(os.environ.get("ZARRMOUNT_STRESS_SECONDS", "120"))
FILES = 24
FILE_SIZE = 4 * MiB
THREADS = 8          # readers in this process
PROCESSES = 3        # child processes ...
PROCESS_THREADS = 4  # ... with this many readers each
MAX_REGION = 3 * MiB  # the largest byte range a key refers to

# The mount: caches far smaller than the data (96 MiB), so blocks are
# evicted and fetched again all the time.
MEMORY_CACHE = 32 * MiB
PREFETCH_MEMORY = 32 * MiB
CACHE_SIZE = 64 * MiB
FUSE_THREADS = 16
MAX_CONNECTIONS = 16
BLOCK_SIZE = 1 * MiB
WHOLE_FETCH_LIMIT = 8 * MiB  # ReadThroughOptions: a region up to this is fetched whole
OPTIONS = ["--memory-cache", "32M", "--prefetch-memory", "32M", "--cache-size", "64M",
           "--threads", str(FUSE_THREADS), "--max-connections", str(MAX_CONNECTIONS),
           "--block-size", "1M"]


def rss_bound(baseline_anon):
    """Anonymous memory the daemon may hold: what it had once mounted (the
    index, libraries' heaps); its memory cache and prefetches at their
    limits; blocks on their way to the disk cache (the writer's queue, a
    quarter of --cache-size, and the batch it is writing, as much again);
    per FUSE worker thread one request buffer (max_read, 1 MiB) and the one
    origin body it may be waiting for (a whole region, at most MAX_REGION
    here, rounded up to blocks); and 64 MiB for the allocator's
    fragmentation over its 4 arenas and thread stacks."""
    per_thread = 1 * MiB + min(MAX_REGION + BLOCK_SIZE, WHOLE_FETCH_LIMIT)
    disk_writes = 2 * min(128 * MiB, CACHE_SIZE // 4)
    return (baseline_anon + MEMORY_CACHE + PREFETCH_MEMORY + disk_writes +
            FUSE_THREADS * per_thread + 64 * MiB)


def fd_bound(baseline_fds):
    """Descriptors the daemon may have open: those it had once mounted
    (stdio, /dev/fuse, the log, LMDB's files), plus per connection slot one
    libcurl handle with its wakeup socketpair (2) and its kept-alive
    connection (1), and one more for a connection being replaced, plus 8."""
    return baseline_fds + MAX_CONNECTIONS * 4 + 8


# --------------------------------------------------------------------------
# Readers (shared by the test's threads and the child processes)
# --------------------------------------------------------------------------

def read_once(mnt, key, region, sources, rnd):
    """One random read of ``key``; returns (bytes read, error or None)."""
    local, offset, length = region
    src = sources[local]
    mode = rnd.random()
    path = os.path.join(mnt, key)
    if mode < 0.1:  # the whole key, as cat would
        with open(path, "rb") as f:
            got = f.read()
        start, want = 0, src[offset:offset + length]
    else:
        # Lengths spread from a byte to 4 MiB (log-uniform).
        n = min(length, int(2 ** rnd.uniform(0, 22)))
        start = rnd.randrange(length - n + 1)
        want = src[offset + start:offset + start + n]
        direct = mode < 0.3
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
        try:
            if not direct and mode < 0.6:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            got = b""
            while len(got) < n:
                part = os.pread(fd, n - len(got), start + len(got))
                if not part:
                    break
                got += part
        finally:
            os.close(fd)
    if got != want:
        return len(got), (f"{key} [{start}+{len(want)}]: {len(got)} bytes, "
                          f"first difference at {first_difference(got, want)}")
    return len(got), None


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def load_sources(manifest):
    sources = {}
    for local in {r[0] for r in manifest["keys"].values()}:
        with open(local, "rb") as f:
            sources[local] = f.read()
    return sources


def run_readers(manifest, sources, seconds, threads, seed):
    """``threads`` readers for ``seconds``; returns {"reads", "bytes", "errors"}."""
    keys = sorted(manifest["keys"])
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    total = {"reads": 0, "bytes": 0, "errors": []}

    def reader(n):
        rnd = random.Random(seed * 1000 + n)
        reads = nbytes = 0
        errors = []
        while time.monotonic() < stop_at and len(errors) < 10:
            key = rnd.choice(keys)
            try:
                got, err = read_once(manifest["mnt"], key, manifest["keys"][key], sources, rnd)
            except OSError as e:
                got, err = 0, f"{key}: {e}"
            reads += 1
            nbytes += got
            if err:
                errors.append(err)
        with lock:
            total["reads"] += reads
            total["bytes"] += nbytes
            total["errors"] += errors

    pool = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return total


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------

def make_stress_data(datadir, base_url, out):
    """FILES random files under datadir/stress and a reference set with keys
    of many sizes over them (chunks, multi-block ranges, whole objects)."""
    rnd = random.Random(20240611)
    os.makedirs(os.path.join(datadir, "stress"), exist_ok=True)
    refs = {".zgroup": json.dumps({"zarr_format": 2})}
    keys = {}
    for i in range(FILES):
        local = os.path.join(datadir, "stress", f"s{i:02d}.bin")
        with open(local, "wb") as f:
            f.write(rnd.randbytes(FILE_SIZE))
        url = f"{base_url}/stress/s{i:02d}.bin"
        for j in range(40):
            if j < 30:
                length = rnd.randint(1, 256 << 10)
            else:
                length = rnd.randint(MiB, MAX_REGION)
            offset = rnd.randrange(FILE_SIZE - length + 1)
            refs[f"s{i:02d}/c{j}"] = [url, offset, length]
            keys[f"s{i:02d}/c{j}"] = [local, offset, length]
        if i % 8 == 0:  # a few whole objects: sized by HEAD at mount, up to 4 MiB
            refs[f"s{i:02d}/whole"] = [url]
            keys[f"s{i:02d}/whole"] = [local, 0, FILE_SIZE]
    with open(out, "w") as f:
        json.dump(refs, f)
    return keys


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                v = value.split()
                out[name] = int(v[0]) * (1024 if len(v) > 1 else 1)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def test_many_readers_correct_bytes_bounded_memory_and_fds(mount, nginx, datadir, tmp_path):
    """Threads and processes read random ranges through one mount for
    ZARRMOUNT_STRESS_SECONDS: every byte is right, no read fails, and the
    daemon's anonymous memory and descriptors stay under their bounds."""
    refs = str(tmp_path / "stress.json")
    keys = make_stress_data(datadir, nginx.url, refs)
    m = mount(refs, extra=OPTIONS)
    assert len(m.pids) == 1, m.pids
    pid = m.pids[0]
    baseline = proc_status(pid)
    manifest = {"mnt": m.mnt, "keys": keys}
    manifest_path = str(tmp_path / "manifest.json")
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)

    samples = []
    sampling = threading.Event()

    def sample():
        while not sampling.wait(0.25):
            try:
                samples.append(proc_status(pid))
            except OSError:
                samples.append({"gone": True})
                return
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    children = [subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker", manifest_path, str(SECONDS),
         str(PROCESS_THREADS), str(p + 1)], stdout=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL) for p in range(PROCESSES)]
    try:
        mine = run_readers(manifest, load_sources(manifest), SECONDS, THREADS, 0)
        results = [mine]
        for c in children:
            out, _ = c.communicate(timeout=SECONDS + 120)
            assert c.returncode == 0, f"reader process exited {c.returncode}"
            results.append(json.loads(out))
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
        sampling.set()
        sampler.join(5)
    end = proc_status(pid)

    reads = sum(r["reads"] for r in results)
    nbytes = sum(r["bytes"] for r in results)
    errors = [e for r in results for e in r["errors"]]
    assert samples and not any(s.get("gone") for s in samples), "the daemon died"
    peak = {k: max(s[k] for s in samples) for k in ("VmRSS", "RssAnon", "RssFile", "fds",
                                                    "Threads")}
    anon_limit = rss_bound(baseline["RssAnon"])
    quarters = [samples[min(len(samples) - 1, len(samples) * q // 4)]["RssAnon"] / MiB
                for q in (1, 2, 3, 4)]
    # File-backed pages: the binary and libraries (as at mount) and LMDB's
    # map, which holds at most the cache's size.
    rss_limit = anon_limit + baseline["RssFile"] + CACHE_SIZE
    fd_limit = fd_bound(baseline["fds"])
    summary = (f"{reads} reads, {nbytes / MiB:.0f} MiB in {SECONDS:.0f}s by "
               f"{THREADS + PROCESSES * PROCESS_THREADS} readers; daemon at mount: "
               f"RSS {baseline['VmRSS'] / MiB:.1f} MiB, {baseline['fds']} fds, "
               f"{baseline['Threads']} threads; peak RSS {peak['VmRSS'] / MiB:.1f} MiB "
               f"(anon {peak['RssAnon'] / MiB:.1f}, limit {anon_limit / MiB:.0f}, by quarter "
               f"{'/'.join(f'{q:.0f}' for q in quarters)}; file "
               f"{peak['RssFile'] / MiB:.1f}), VmHWM {end['VmHWM'] / MiB:.1f} MiB, "
               f"fds {peak['fds']} (limit {fd_limit}), threads {peak['Threads']}; "
               f"at the end RSS {end['VmRSS'] / MiB:.1f} MiB, {end['fds']} fds")
    print(summary)
    assert not errors, f"{len(errors)} bad reads, e.g. {errors[:10]}\n{summary}"
    assert reads >= 10 * SECONDS, f"too few reads\n{summary}"
    assert peak["RssAnon"] <= anon_limit, summary
    assert peak["VmRSS"] <= rss_limit and end["VmHWM"] <= rss_limit, summary
    assert peak["fds"] <= fd_limit, summary
    assert zmount.is_mounted(m.mnt) and os.path.exists(f"/proc/{pid}"), m.log_tail()


def worker_main(argv):
    manifest_path, seconds, threads, seed = argv
    with open(manifest_path) as f:
        manifest = json.load(f)
    result = run_readers(manifest, load_sources(manifest), float(seconds), int(threads),
                         int(seed))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
    else:
        sys.exit(__doc__)
