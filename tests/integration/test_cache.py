"""The persistent block cache under stress, and the commands that manage it.

  * crash safety: daemons sharing one cache directory are killed with
    SIGKILL at random moments while several readers fill it (with eviction
    churning); after the rounds a mount reads every key right and
    `cache verify` finds nothing bad;
  * corruption inside data.mdb: blocks found by their content and given a
    flipped byte are detected, dropped and fetched again by a daemon (its
    status counts them), and counted exactly and deleted by `cache verify`;
  * the size limit: the bytes the cache holds, data.mdb's size and its disk
    use stay within --cache-size while many times more is read;
  * two daemons on one cache directory reading at once: right bytes, and
    blocks one fetched are hits for the other, with no request to the origin;
  * --offline after `warm`: warmed arrays read right and nothing reaches the
    origin; anything else fails with EIO at once;
  * the commands: status (text and JSON) against what was read, cache
    stats/prune/clear/verify, --help, usage errors.

Data: random files under DATADIR/cachetest, served by the session's nginx,
and v0 reference sets of contiguous chunks of them, from a few hundred bytes
to 2 MiB: blocks of every size (in shared leaf pages, on overflow pages,
chunks of two blocks). --offline is tried on prepare_data's SST aggregation
(v1, templates and gen, whole-object references).
"""

import errno
import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest
import zarr

import judges
import make_refs
import zmount
from test_lifecycle import diff_bytes, read_all
from test_stress import first_difference

KiB = 1 << 10
MiB = 1 << 20
BLOCK = 1 * MiB  # the daemon's default --block-size
PIECE = 128 * KiB  # O_DIRECT reads: one FUSE read each, one block each
FILES = 16
FILE_SIZE = 3 * MiB
SEED = 20240917
HEADER = 40  # bytes of the record header before a block's data in data.mdb
SLACK = 2.0  # seconds: scheduling on a busy 2-core host

KILL_ROUNDS = int(os.environ.get("ZARRMOUNT_KILL_ROUNDS", "8"))
KILL_SECONDS = 100  # the kill rounds stop starting after this
CAP_SECONDS = 6  # reading under a small --cache-size


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

class Blobs:
    """FILES random files served by nginx and a v0 reference set of
    contiguous chunks of them (key 'fNN/J'), with the bytes each key must
    read (judges.direct_bytes, from the local files)."""

    def __init__(self, datadir, base_url, out):
        rnd = random.Random(SEED)
        os.makedirs(os.path.join(datadir, "cachetest"), exist_ok=True)
        self.ranges = {}  # key -> (url, offset, length)
        for i in range(FILES):
            name = f"cachetest/f{i:02d}.bin"
            with open(os.path.join(datadir, name), "wb") as f:
                f.write(rnd.randbytes(FILE_SIZE))
            pos, j = rnd.randrange(4096), 0
            while True:
                length = int(2 ** rnd.uniform(8, 21))  # 256 B .. 2 MiB, log-uniform
                if pos + length > FILE_SIZE:
                    break
                self.ranges[f"f{i:02d}/{j}"] = (f"{base_url}/{name}", pos, length)
                pos += length + rnd.randrange(4096)
                j += 1
        self.keys = sorted(self.ranges)
        self.refs_path = self.write_refs(out, self.keys)
        self.want = judges.direct_bytes(self.refs_path, base_url, datadir)
        del self.want[".zgroup"]

    def write_refs(self, path, keys, version=0):
        refs = {".zgroup": json.dumps({"zarr_format": 2})}
        refs.update({k: list(self.ranges[k]) for k in keys})
        if version == 1:
            refs = make_refs.to_v1(refs, templates=True, gen=False)
        make_refs.write(refs, str(path))
        return str(path)

    def of_files(self, files):
        return [k for k in self.keys if int(k[1:3]) in files]

    @staticmethod
    def block_ranges(length):
        """(start, length) of each block of a region of ``length`` bytes."""
        return [(s, min(BLOCK, length - s)) for s in range(0, length, BLOCK)]

    def nblocks(self, keys):
        return sum(len(self.block_ranges(self.ranges[k][2])) for k in keys)

    def nrecords(self, keys):
        """Records in a cache holding ``keys``: their blocks, and one record
        per object (its size and version)."""
        return self.nblocks(keys) + len({self.ranges[k][0] for k in keys})

    def nbytes(self, keys):
        return sum(self.ranges[k][2] for k in keys)


@pytest.fixture(scope="module")
def blobs(datadir, nginx, tmp_path_factory):
    return Blobs(datadir, nginx.url, tmp_path_factory.mktemp("blobs") / "blobs.json")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def zm(*args, timeout=120):
    return subprocess.run([zmount.ZARRMOUNT, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def zm_json(*args):
    """Runs a command with --json; asserts exit status 0 and one JSON line."""
    proc = zm(*args, "--json")
    where = f"zarrmount {' '.join(map(str, args))} --json: exit {proc.returncode}\n" \
            f"stdout: {proc.stdout!r}\nstderr: {proc.stderr!r}"
    assert proc.returncode == 0, where
    assert len(proc.stdout.splitlines()) == 1, where
    return json.loads(proc.stdout)


def stats(cache):
    return zm_json("cache", "stats", "--cache-dir", cache)


def verify(cache):
    """`cache verify --json`; its exit status must be 1 exactly when bad > 0."""
    proc = zm("cache", "verify", "--cache-dir", cache, "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == (1 if out["bad"] else 0), (proc.returncode, out, proc.stderr)
    return out


def status(m):
    return zm_json("status", m.mnt)


def read_direct(path, length, piece=PIECE):
    """Reads ``length`` bytes with O_DIRECT preads of ``piece`` bytes, in
    order: each is one FUSE read, and no page cache is involved."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        parts, pos = [], 0
        while pos < length:
            part = os.pread(fd, min(piece, length - pos), pos)
            if not part:
                break
            parts.append(part)
            pos += len(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def pieces(length, piece=PIECE):
    return (length + piece - 1) // piece


def check_direct(m, blobs, keys):
    """Reads ``keys`` one after another with read_direct; returns errors."""
    errors = []
    for key in keys:
        got = read_direct(m.path(key), blobs.ranges[key][2])
        if got != blobs.want[key]:
            errors.append(f"{key}: {len(got)} bytes, first difference at "
                          f"{first_difference(got, blobs.want[key])}")
    return errors


def read_key(path, length, rr):
    """A key's bytes, read whole: with read_direct or, as often, buffered
    after dropping the file's cached pages (so the daemon serves them)."""
    if rr.random() < 0.5:
        return read_direct(path, length)
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return f.read()


def read_keys(mnt, blobs, keys, seed, errors, passes=1, stop=None, dead=None):
    """Reads ``keys`` whole in random orders, ``passes`` times or until
    ``stop`` is set, checking every byte; the first wrong read or error is
    appended to ``errors`` and ends the loop. Once ``dead`` is set (the
    daemon was killed) errors and short reads end the loop quietly; other
    bytes never do. Returns the number of keys read right."""
    rr = random.Random(seed)
    n = 0
    for _ in range(passes):
        for key in rr.sample(keys, len(keys)):
            if stop is not None and stop.is_set():
                return n
            want = blobs.want[key]
            try:
                got = read_key(os.path.join(mnt, key), len(want), rr)
            except OSError as e:
                if dead is None or not dead.is_set():
                    errors.append(f"{mnt} {key}: {e}")
                return n
            if got != want:
                if dead is None or not dead.is_set() or not want.startswith(got):
                    errors.append(f"{mnt} {key}: {len(got)} bytes, first difference at "
                                  f"{first_difference(got, want)}")
                return n
            n += 1
    return n


def run_readers(plan):
    """Runs read_keys(*args) for each args of ``plan`` on its own thread;
    returns the threads (started) and their results (filled as they end)."""
    results = []
    threads = [threading.Thread(target=lambda a=args: results.append(read_keys(*a)),
                                daemon=True) for args in plan]
    for t in threads:
        t.start()
    return threads, results


def log_text(m):
    with open(m.log, errors="replace") as f:
        return f.read()


def wait_for_blocks(cache, n, timeout=20):
    """Waits until the cache holds ``n`` blocks (daemons write in the
    background); returns the last stats."""
    deadline = time.monotonic() + timeout
    while True:
        s = stats(cache)
        if s["blocks"] >= n or time.monotonic() > deadline:
            return s
        time.sleep(0.1)


def corrupt_blocks(cache, blobs, keys, count, rnd, in_header=0):
    """Flips one byte in ``count`` cached blocks of different keys inside
    data.mdb (no process may have it open). Blocks are found by their bytes
    (random, so a block's first 64 bytes occur once in the file unless a
    stale copy lies in a free page: such blocks are not chosen). The first
    ``in_header`` of them get the byte flipped in the stored key of their
    record header instead of in their data. Returns [(key, block start,
    block length, "header" or "data")]."""
    path = os.path.join(cache, "data.mdb")
    with open(path, "rb") as f:
        data = f.read()
    by_key = {}
    for key in keys:
        want = blobs.want[key]
        for start, length in blobs.block_ranges(len(want)):
            block = want[start:start + length]
            if length < 256:
                continue
            at = data.find(block[:64])
            if at < 0 or data.find(block[:64], at + 1) >= 0 or data[at:at + length] != block:
                continue
            by_key.setdefault(key, []).append((start, length, at))
    assert len(by_key) >= count, \
        f"only {len(by_key)} keys have a block found once, verbatim, in {path}"
    chosen = []
    with open(path, "r+b") as f:
        for n, key in enumerate(rnd.sample(sorted(by_key), count)):
            start, length, at = rnd.choice(by_key[key])
            part = "data"
            if n < in_header and data[at - HEADER:at - HEADER + 4] == b"ZBM1":
                pos, part = at - HEADER + 8 + rnd.randrange(16), "header"  # key_hi, key_lo
            else:
                pos = at + rnd.randrange(length)
            f.seek(pos)
            f.write(bytes([data[pos] ^ (1 << rnd.randrange(8))]))
            chosen.append((key, start, length, part))
    return chosen


def describe(chosen):
    """A summary of corrupt_blocks' result: where the flips went, block sizes."""
    parts = [p for *_, p in chosen]
    sizes = sorted(n for _, _, n, _ in chosen)
    return (f"{parts.count('header')} in the record header, {parts.count('data')} in the data; "
            f"blocks of {sizes[0]} to {sizes[-1]} bytes")


# --------------------------------------------------------------------------
# 1. Crash safety
# --------------------------------------------------------------------------

def test_killed_daemons_leave_a_sound_cache(mount, blobs, tmp_path):
    """Rounds of: mount on one cache directory (smaller than the data, so
    blocks are written and evicted all the time), four reader threads and
    a `cat` loop read every key over and over in their own orders; SIGKILL
    the daemon at a random moment; lazily unmount the dead mount; `cache
    verify` finds 0 bad. Every read that returned before the kill gave the
    right bytes, and none after it gave other bytes. Then a mount on the
    same directory reads every key right (partly from the disk cache) and a
    last verify finds nothing bad."""
    cache = str(tmp_path / "cache")
    opts = ["--cache-size", "24M", "--memory-cache", "8M"]
    rnd = random.Random(SEED)
    rounds = []
    started = time.monotonic()
    for r in range(KILL_ROUNDS):
        if time.monotonic() - started > KILL_SECONDS:
            break
        m = mount(blobs.refs_path, cache_dir=cache, extra=opts)
        pid = status(m)["pid"]
        assert m.pids == [pid], (m.pids, pid)
        killed = threading.Event()
        errors = []
        threads, done = run_readers([(m.mnt, blobs, blobs.keys, SEED + 10 * r + t, errors,
                                      1000, killed, killed) for t in range(4)])
        cat = subprocess.Popen("while cat */* > /dev/null; do :; done", shell=True, cwd=m.mnt,
                               stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.2, 1.5))
        busy = sum(t.is_alive() for t in threads) + (cat.poll() is None)
        fetched = status(m)["origin_requests"]
        killed.set()
        os.kill(pid, signal.SIGKILL)
        for t in threads:
            t.join(60)
        cat.wait(60)
        assert not any(t.is_alive() for t in threads), "a reader hangs on the dead mount"
        m.cleanup()  # fusermount3 -u -z, waits for the daemon to be gone
        assert not zmount.is_mounted(m.mnt) and not zmount.daemon_pids(m.mnt)
        assert not errors, f"round {r}: {errors[:10]}"
        v = verify(cache)
        assert v["bad"] == 0, f"round {r}: cache verify after the kill: {v}"
        rounds.append({"busy_readers": busy, "keys_read": sum(done), "fetched": fetched,
                       "blocks": v["checked"]})
    kills = len(rounds)
    assert kills >= min(KILL_ROUNDS, 3), f"only {kills} rounds in {KILL_SECONDS}s"
    assert all(x["busy_readers"] == 5 and x["fetched"] for x in rounds), \
        f"some kills found the readers done or nothing fetched: {rounds}"
    assert sum(x["blocks"] for x in rounds) > 0, "nothing was ever cached"

    final = mount(blobs.refs_path, cache_dir=cache, extra=opts)
    got = read_all(final.mnt, blobs.want)
    assert diff_bytes(got, blobs.want) == "", diff_bytes(got, blobs.want)
    s = status(final)
    fm, alive = final.unmount()
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)
    v = verify(cache)
    print(f"{kills} kills; origin requests before each kill {[x['fetched'] for x in rounds]}; "
          f"blocks after each round {[x['blocks'] for x in rounds]}; keys read per round "
          f"{[x['keys_read'] for x in rounds]}; final mount: {s['disk_hits']} disk hits, "
          f"{s['origin_requests']} origin requests; final verify {v}")
    assert s["disk_hits"] > 0, f"the final mount found nothing in the cache: {s}"
    assert v["bad"] == 0 and v["checked"] > 0, v


# --------------------------------------------------------------------------
# 2. Corruption inside data.mdb
# --------------------------------------------------------------------------

CORRUPT = 16


def test_corrupted_blocks_are_refetched(mount, blobs, tmp_path):
    """Fill a cache through a mount, unmount, flip a byte in 16 blocks (of
    16 keys; 3 in the stored key of the record header); a new mount reads
    every key right. Read in order with O_DIRECT and no prefetch, each
    corrupted block is found exactly once: the daemon counts 16 corrupt
    blocks and makes 16 origin requests, each for that block alone (the rest
    of its key's chunk is still in the cache), and logs it. Afterwards
    `cache verify` finds nothing bad."""
    keys = blobs.of_files(range(8))
    refs = blobs.write_refs(tmp_path / "corrupt.json", keys)
    cache = str(tmp_path / "cache")
    opts = ["--no-prefetch", "--cache-size", "64M"]
    first = mount(refs, cache_dir=cache, extra=opts)
    assert check_direct(first, blobs, keys) == []
    fm, alive = first.unmount()
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)
    assert stats(cache)["blocks"] == blobs.nrecords(keys)

    chosen = corrupt_blocks(cache, blobs, keys, CORRUPT, random.Random(SEED), in_header=3)
    second = mount(refs, cache_dir=cache, extra=opts)
    errors = check_direct(second, blobs, keys)
    assert not errors, f"{len(errors)} keys read wrong after corruption: {errors[:10]}"
    s = status(second)
    summary = f"corrupted {chosen}\nstatus {s}"
    assert s["disk_cache"]["corrupt_blocks"] == CORRUPT, summary
    assert s["origin_requests"] == CORRUPT, summary
    assert s["origin_bytes"] == sum(length for _, _, length, _ in chosen), summary
    assert s["misses"] == CORRUPT, summary
    assert "failed its integrity check" in log_text(second), second.log_tail()
    got = read_all(second.mnt, blobs.want.keys() & set(keys))
    assert diff_bytes(got, {k: blobs.want[k] for k in keys}) == ""
    fm, alive = second.unmount()
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)
    v = verify(cache)
    print(f"{CORRUPT} blocks corrupted ({describe(chosen)}), "
          f"{s['disk_cache']['corrupt_blocks']} detected by the daemon, "
          f"{s['origin_requests']} refetches; verify afterwards: {v}")
    assert v == dict(v, bad=0, checked=blobs.nrecords(keys)), v


def test_cache_verify_counts_and_deletes_corrupted_blocks(blobs, tmp_path):
    """Fill a cache with `warm`, flip a byte in 12 blocks (2 in the header):
    `cache verify` checks every block, reports exactly 12 bad and exits 1; a
    second verify reports 0 and exits 0; the stats lost exactly 12 blocks; a
    second warm fetches exactly those 12 blocks again."""
    keys = blobs.of_files(range(8, 16))
    refs = blobs.write_refs(tmp_path / "verify.json", keys)
    cache = str(tmp_path / "cache")
    w = zm_json("warm", "--cache-dir", cache, "--cache-size", "64M", refs)
    assert w["keys"] == len(keys) and w["bytes"] == blobs.nbytes(keys), w
    assert w["from_origin_bytes"] == w["bytes"] and w["failed_keys"] == 0, w
    total = blobs.nrecords(keys)
    assert stats(cache)["blocks"] == total

    count = 12
    chosen = corrupt_blocks(cache, blobs, keys, count, random.Random(SEED + 1), in_header=2)
    first = verify(cache)
    second = verify(cache)
    after = stats(cache)
    again = zm_json("warm", "--cache-dir", cache, "--cache-size", "64M", refs)
    last = verify(cache)
    print(f"{count} blocks corrupted ({describe(chosen)}); verify: {first}, then {second}; "
          f"warm again: {again}")
    assert first == dict(first, checked=total, bad=count), (first, chosen)
    assert second == dict(second, checked=total - count, bad=0), second
    assert after["blocks"] == total - count, after
    assert again["origin_requests"] == count, again
    assert again["from_origin_bytes"] == sum(n for _, _, n, _ in chosen), (again, chosen)
    assert last == dict(last, checked=total, bad=0), last


# --------------------------------------------------------------------------
# 3. The size limit
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cap", ["8M", "24M"])
def test_cache_stays_within_its_size(cap, mount, blobs, tmp_path):
    """--cache-size 8M / 24M while three readers read the 39 MiB set over
    and over, each in its own orders, for CAP_SECONDS (much more than the
    cache holds, so it evicts all the time): sampled throughout, the bytes the cache
    holds (`cache stats` and the daemon's status) stay within the limit, as
    do data.mdb's size and its disk use (plus 1%); every read is right."""
    limit = int(cap[:-1]) * MiB
    cache = str(tmp_path / "cache")
    m = mount(blobs.refs_path, cache_dir=cache,
              extra=["--cache-size", cap, "--memory-cache", "4M"])
    mdb = os.path.join(cache, "data.mdb")
    peak = {"size": 0, "disk": 0, "used": 0, "daemon_used": 0, "samples": 0, "over": 0}
    capacities = {"stats": set(), "daemon": set()}
    stop = threading.Event()

    def sample():
        n = 0
        while not stop.wait(0.03):
            st = os.stat(mdb)
            peak["size"] = max(peak["size"], st.st_size)
            peak["disk"] = max(peak["disk"], st.st_blocks * 512)
            if n % 3 == 0:
                s = stats(cache)
                peak["used"] = max(peak["used"], s["used_bytes"])
                capacities["stats"].add(s["capacity_bytes"])
                d = status(m)["disk_cache"]
                peak["daemon_used"] = max(peak["daemon_used"], d["used_bytes"])
                peak["over"] += max(s["used_bytes"], d["used_bytes"]) > limit
                capacities["daemon"].add(d["capacity_bytes"])
                peak["samples"] += 1
            n += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors = []
    enough = threading.Event()
    t0 = time.monotonic()
    readers, done = run_readers([(m.mnt, blobs, blobs.keys, SEED + t, errors, 1000, enough)
                                 for t in range(3)])
    time.sleep(CAP_SECONDS)
    enough.set()
    for t in readers:
        t.join(60)
    seconds = time.monotonic() - t0
    stop.set()
    sampler.join(30)
    s = status(m)
    fm, alive = m.unmount()
    st = os.stat(mdb)
    end = stats(cache)
    peak["size"] = max(peak["size"], st.st_size)
    peak["disk"] = max(peak["disk"], st.st_blocks * 512)
    peak["used"] = max(peak["used"], end["used_bytes"])
    nread = sum(done)
    summary = (f"--cache-size {cap} ({limit} bytes); {nread} keys read "
               f"({nread * blobs.nbytes(blobs.keys) / len(blobs.keys) / MiB:.0f} MiB) "
               f"in {seconds:.1f}s; {s['origin_requests']} origin requests, "
               f"{s['disk_hits']} disk hits; peaks over {peak['samples']} samples: "
               f"used {peak['used']} (daemon's view {peak['daemon_used']}; {peak['over']} samples "
               f"above the limit), "
               f"data.mdb size {peak['size']}, disk use {peak['disk']}; capacity_bytes reported: "
               f"{ {k: sorted(v) for k, v in capacities.items()} }; at the end "
               f"{end['blocks']} blocks")
    print(summary)
    assert not errors, f"{len(errors)} bad reads: {errors[:10]}\n{summary}"
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)
    assert peak["samples"] >= 10 and nread >= 3 * len(blobs.keys), summary
    assert s["disk_hits"] > 0 and "evicted" in log_text(m), \
        f"the cache was never used or never evicted\n{summary}"
    problems = []
    if peak["used"] > limit or peak["daemon_used"] > limit:
        problems.append("the cache held more than --cache-size")
    if peak["used"] > min(capacities["stats"]):
        problems.append("`cache stats` showed used_bytes above its capacity_bytes")
    if capacities["daemon"] != {limit}:
        problems.append("the daemon's status shows another capacity")
    if peak["size"] > limit:
        problems.append("data.mdb grew beyond --cache-size")
    if peak["disk"] > limit * 1.01:
        problems.append("data.mdb's disk use exceeded --cache-size + 1%")
    assert not problems, "; ".join(problems) + "\n" + summary


# --------------------------------------------------------------------------
# 4. Two daemons, one cache directory
# --------------------------------------------------------------------------

def test_two_daemons_share_blocks(mount, blobs, nginx, tmp_path):
    """Mount A (v0) and mount B (the same keys as a v1 set with templates)
    on one cache directory. Phase 1, at once: A reads the even files' keys,
    B the odd ones', and both read file 0's keys, two threads each. Phase 2,
    at once, once the cache holds every block: A reads the odd files', B the
    even ones'. Every byte is right; in phase 2 neither daemon makes an
    origin request (status) and nginx sees none, the blocks being disk hits."""
    v0 = blobs.refs_path
    v1 = blobs.write_refs(tmp_path / "blobs_v1.json", blobs.keys, version=1)
    cache = str(tmp_path / "cache")
    a = mount(v0, cache_dir=cache, extra=["--cache-size", "256M"])
    b = mount(v1, cache_dir=cache, extra=["--cache-size", "256M"])
    even = blobs.of_files(range(0, FILES, 2))
    odd = blobs.of_files(range(1, FILES, 2))
    common = blobs.of_files([0])

    def phase(plan):
        errors = []
        threads, _ = run_readers([(m.mnt, blobs, keys, SEED + n, errors)
                                  for n, (m, keys) in enumerate(plan)])
        for t in threads:
            t.join(120)
        return errors

    errors = phase([(a, even), (a, common), (b, odd), (b, common)])
    assert not errors, errors[:10]
    total = blobs.nrecords(blobs.keys)
    s = wait_for_blocks(cache, total)
    before = {"a": status(a), "b": status(b)}
    assert s["blocks"] == total, f"{s}; daemons: {before}"
    requests = len(nginx.requests())

    errors = phase([(a, odd), (a, odd), (b, even), (b, even)])
    after = {"a": status(a), "b": status(b)}
    # Each daemon checks each object once (HEAD); data comes from the cache.
    new_requests = [r for r in nginx.requests()[requests:] if r[0] != "HEAD"]
    print(f"phase 1: A {before['a']['origin_requests']} and B {before['b']['origin_requests']} "
          f"origin requests; phase 2: A +{after['a']['disk_hits'] - before['a']['disk_hits']} "
          f"and B +{after['b']['disk_hits'] - before['b']['disk_hits']} disk hits, "
          f"{len(new_requests)} requests to nginx")
    assert not errors, errors[:10]
    for name, fresh in (("a", odd), ("b", [k for k in even if k not in common])):
        d = {k: after[name][k] - before[name][k] for k in ("origin_requests", "disk_hits",
                                                           "misses")}
        assert d["origin_requests"] == 0 and d["misses"] == 0, (name, d)
        assert d["disk_hits"] >= blobs.nblocks(fresh), (name, d)  # in no memory cache
    assert not new_requests, new_requests[:10]
    for m in (a, b):
        fm, alive = m.unmount()
        assert fm.returncode == 0 and not alive, (fm.stderr, alive)
    assert verify(cache)["bad"] == 0


# --------------------------------------------------------------------------
# 5. warm, then --offline
# --------------------------------------------------------------------------

def under(key, prefix):
    return key == prefix or key.startswith(prefix + "/")


def test_offline_after_warm(mount, dataset, nginx, tmp_path):
    """`warm` the arrays sst and sst_raw of the SST aggregation (v1, over
    nginx) into a fresh cache: its --json summary counts their keys and
    bytes, all fetched; a second warm fetches nothing. An --offline mount
    on that cache reads both arrays (zarr, against netCDF4) and their keys
    (against fsspec) with no origin request; keys not warmed (a chunk of
    another array, a whole-object file) fail with EIO at once, well within
    --read-timeout; nginx sees no request while the offline mount lives."""
    entry = dataset["sst_v1_gen_http"]
    refs = entry["refs"]
    prefixes = ["sst", "sst_raw"]
    fss = judges.FsspecRefs(refs)
    table = fss.fs.references
    warmed = [k for k in fss.keys() if any(under(k, p) for p in prefixes)
              and isinstance(table[k], list) and len(table[k]) == 3 and table[k][2] > 0]
    assert warmed
    want = fss.cat(warmed)
    cache = str(tmp_path / "cache")

    first = zm_json("warm", "--cache-dir", cache, "--cache-size", "64M", refs, *prefixes)
    assert first["keys"] == len(warmed), (first, len(warmed))
    assert first["bytes"] == sum(table[k][2] for k in warmed), first
    assert first["from_origin_bytes"] == first["bytes"], first
    assert first["failed_keys"] == 0 and first["origin_requests"] >= len(warmed), first
    second = zm_json("warm", "--cache-dir", cache, refs, *prefixes)
    assert second == dict(second, keys=first["keys"], bytes=first["bytes"],
                          from_origin_bytes=0, origin_requests=0, failed_keys=0), second

    requests = len(nginx.requests())
    off = mount(refs, cache_dir=cache, extra=["--offline", "--read-timeout", "30"])
    got = read_all(off.mnt, want)
    assert diff_bytes(got, want) == ""
    arrays = judges.expected_arrays(entry)
    root = zarr.open_group(off.mnt, mode="r")
    for name in prefixes:
        judges.assert_identical(f"offline {name}", root[name][...], arrays[name])
    s = status(off)
    assert s["origin_requests"] == 0 and s["misses"] == 0 and s["disk_hits"] > 0, s

    missing = ["sst_months/3.0.0", "files/sst_01.nc", "lat/0"]
    slow = []
    for key in missing:
        for direct in (False, True):
            t0 = time.monotonic()
            with pytest.raises(OSError) as exc:
                if direct:
                    read_direct(off.path(key), 4096)
                else:
                    with open(off.path(key), "rb") as f:
                        f.read()
            took = time.monotonic() - t0
            assert exc.value.errno == errno.EIO, (key, exc.value)
            if took > SLACK:
                slow.append((key, direct, round(took, 2)))
    assert not slow, f"offline misses took long: {slow}"
    with pytest.raises(Exception):
        root["sst_months"][...]
    assert diff_bytes(read_all(off.mnt, want), want) == "", "warmed keys fail after misses"
    s = status(off)
    assert s["origin_errors"] >= len(missing), s
    fm, alive = off.unmount()
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)
    new = nginx.requests()[requests:]
    print(f"warm: {first}; again: {second}; offline: {s['disk_hits']} disk hits, "
          f"{s['origin_errors']} misses failed, {len(new)} requests reached nginx")
    assert not new, f"{len(new)} requests reached nginx while offline: {new[:10]}"


# --------------------------------------------------------------------------
# 6. The commands
# --------------------------------------------------------------------------

def test_status_matches_what_was_read(mount, blobs, tmp_path):
    """A mount without prefetch on a fresh cache; keys read in order with
    O_DIRECT in 128 KiB pieces: the status JSON counts one miss per block,
    one origin request and the bytes of each chunk, one memory hit per
    later piece; read again, every piece is a memory hit. The text form
    shows the same numbers. A second mount on the cache reads everything
    from disk: one disk hit per block, no miss."""
    keys = blobs.of_files(range(4))
    refs = blobs.write_refs(tmp_path / "status.json", keys)
    cache = str(tmp_path / "cache")
    opts = ["--no-prefetch", "--cache-size", "64M"]
    m = mount(refs, cache_dir=cache, extra=opts)
    s0 = status(m)
    assert s0["pid"] == m.pids[0] and s0["mountpoint"] == os.path.realpath(m.mnt), s0
    assert s0["source"] == os.path.realpath(refs) and s0["keys"] == len(keys) + 1, s0
    assert s0["misses"] == 0 and s0["origin_requests"] == 0 and s0["hit_ratio"] == 0, s0
    assert check_direct(m, blobs, keys) == []
    n_pieces = sum(pieces(blobs.ranges[k][2]) for k in keys)
    s1 = status(m)
    expect = {"misses": blobs.nblocks(keys), "origin_requests": len(keys),
              "origin_bytes": blobs.nbytes(keys), "memory_hits": n_pieces - len(keys),
              "disk_hits": 0, "origin_errors": 0, "origin_in_flight": 0}
    assert s1 == dict(s1, **expect), (s1, expect)
    assert check_direct(m, blobs, keys) == []
    s2 = status(m)
    expect.update(memory_hits=2 * n_pieces - len(keys))
    assert s2 == dict(s2, **expect), (s2, expect)
    hits = s2["memory_hits"] + s2["disk_hits"]
    assert s2["hit_ratio"] == round(hits / (hits + s2["misses"]), 4), s2
    assert s2["disk_cache"]["blocks"] == blobs.nrecords(keys), s2
    assert s2["disk_cache"]["capacity_bytes"] == 64 * MiB, s2

    text = zm("status", m.mnt)
    assert text.returncode == 0 and text.stderr == "", text
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"{m.mnt} (pid {s2['pid']},"), lines
    assert f"{len(keys) + 1} keys)" in lines[0], lines
    for label, value in (("hit ratio", f"{100 * s2['hit_ratio']:.1f}%"),
                         ("from memory", f"({s2['memory_hits']} blocks)"),
                         ("from disk cache", "(0 blocks)"),
                         ("from the origin", f"({len(keys)} requests, 0 in flight, 0 failed)"),
                         ("disk cache", "0 corrupt blocks dropped")):
        line = [x for x in lines if x.strip().startswith(label)]
        assert line and value in line[0], (label, value, lines)
    fm, alive = m.unmount()
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)

    again = mount(refs, cache_dir=cache, extra=opts)
    assert check_direct(again, blobs, keys) == []
    s3 = status(again)
    expect = {"misses": 0, "origin_requests": 0, "disk_hits": blobs.nblocks(keys),
              "memory_hits": n_pieces - blobs.nblocks(keys)}
    assert s3 == dict(s3, **expect), (s3, expect)
    assert s3["hit_ratio"] == 1, s3


def test_cache_stats_prune_clear(mount, blobs, tmp_path):
    """Mount and read files 0-5's keys into a fresh cache (stats count their
    blocks); a second mount reads files 3-5's keys (their blocks' last use
    is now later); `cache prune --to` half the bytes evicts only blocks of
    files 0-2, as its JSON and the stats agree, so an --offline mount reads
    every key of files 3-5 and fails on some of files 0-2. `prune
    --unused-for 1d` evicts nothing. `cache clear` under a live mount
    (memory cache off) deletes every block; the mount then reads right
    bytes from the origin."""
    keys = blobs.of_files(range(6))
    recent = blobs.of_files(range(3, 6))
    old = blobs.of_files(range(3))
    refs = blobs.write_refs(tmp_path / "prune.json", keys)
    cache = str(tmp_path / "cache")
    opts = ["--no-prefetch", "--cache-size", "64M"]
    t0 = time.time()
    m = mount(refs, cache_dir=cache, extra=opts)
    assert check_direct(m, blobs, keys) == []
    m.unmount()
    full = stats(cache)
    assert full["blocks"] == blobs.nrecords(keys), full
    assert blobs.nbytes(keys) <= full["used_bytes"] <= blobs.nbytes(keys) + 8 * KiB * full["blocks"]
    assert full["capacity_bytes"] == 64 * MiB and full["file_bytes"] >= full["used_bytes"], full
    assert int(t0) - 1 <= full["oldest_use"] <= full["newest_use"] <= time.time() + 1, full
    text = zm("cache", "stats", "--cache-dir", cache)
    assert text.returncode == 0 and f"blocks     {full['blocks']}" in text.stdout, text

    time.sleep(1.1)  # whole seconds in the stats: the recent uses are visibly newer
    m = mount(refs, cache_dir=cache, extra=opts)
    assert check_direct(m, blobs, recent) == []
    assert status(m)["disk_hits"] == blobs.nblocks(recent)
    m.unmount()  # records the uses
    touched = stats(cache)
    assert touched["newest_use"] > full["newest_use"], (full, touched)

    # Half the bytes: more than files 3-5 take, less than all.
    target = full["used_bytes"] * blobs.nbytes(recent) // blobs.nbytes(keys) // 2 + \
        full["used_bytes"] // 2
    pruned = zm_json("cache", "prune", "--cache-dir", cache, "--to", target)
    after = stats(cache)
    assert pruned["evicted_blocks"] == full["blocks"] - after["blocks"] > 0, (pruned, after)
    assert pruned["freed_bytes"] == full["used_bytes"] - after["used_bytes"], (pruned, after)
    assert pruned["used_bytes"] == after["used_bytes"] <= target, (pruned, after, target)

    off = mount(refs, cache_dir=cache, extra=opts + ["--offline"])
    assert check_direct(off, blobs, recent) == [], "recently used blocks were evicted"
    failed = 0
    for key in old:
        try:
            assert read_direct(off.path(key), blobs.ranges[key][2]) == blobs.want[key], key
        except OSError as e:
            assert e.errno == errno.EIO, (key, e)
            failed += 1
    assert failed > 0, "prune evicted none of the least recently used keys"
    off.unmount()

    kept = zm_json("cache", "prune", "--cache-dir", cache, "--unused-for", "1d")
    assert kept["evicted_blocks"] == 0 and kept["freed_bytes"] == 0, kept

    live = mount(refs, cache_dir=cache, extra=opts + ["--memory-cache", "0"])
    assert check_direct(live, blobs, recent[:3]) == []
    before = stats(cache)
    cleared = zm_json("cache", "clear", "--cache-dir", cache)
    empty = stats(cache)
    assert cleared["deleted_blocks"] == before["blocks"] > 0, (cleared, before)
    assert empty == dict(empty, blocks=0, used_bytes=0, oldest_use=0, newest_use=0), empty
    requests = status(live)["origin_requests"]
    assert check_direct(live, blobs, recent[:3]) == []
    assert status(live)["origin_requests"] >= requests + 3
    live.unmount()
    print(f"filled {full}; prune --to {target}: {pruned}; {failed} of {len(old)} old keys gone; "
          f"clear: {cleared}")


@pytest.mark.parametrize("args", [
    ["--help"], ["cache", "--help"], ["cache", "stats", "--help"], ["cache", "prune", "-h"],
    ["status", "--help"], ["warm", "--help"]], ids=" ".join)
def test_command_help(args):
    proc = zm(*args)
    assert proc.returncode == 0, proc
    assert proc.stdout.startswith("Usage: zarrmount") and proc.stderr == "", proc


@pytest.fixture
def usage_env(tmp_path):
    refs = tmp_path / "refs.json"
    refs.write_text(json.dumps({".zgroup": json.dumps({"zarr_format": 2})}))
    (tmp_path / "mnt").mkdir()
    return {"refs": str(refs), "mnt": str(tmp_path / "mnt"), "cache": str(tmp_path / "cache")}


USAGE_ERRORS = {
    "cache without action": ["cache"],
    "unknown cache action": ["cache", "bogus", "--cache-dir", "{cache}"],
    "two cache actions": ["cache", "stats", "verify", "--cache-dir", "{cache}"],
    "unknown cache option": ["cache", "stats", "--bogus"],
    "cache-dir without value": ["cache", "stats", "--cache-dir"],
    "prune without target": ["cache", "prune", "--cache-dir", "{cache}"],
    "prune bad size": ["cache", "prune", "--to", "12Q", "--cache-dir", "{cache}"],
    "prune bad age": ["cache", "prune", "--unused-for", "3w", "--cache-dir", "{cache}"],
    "status without mountpoint": ["status"],
    "status two mountpoints": ["status", "{mnt}", "{mnt}"],
    "status unknown option": ["status", "--bogus", "{mnt}"],
    "warm without source": ["warm", "--cache-dir", "{cache}"],
    "warm bad cache size": ["warm", "--cache-size", "lots", "{refs}"],
    "warm bad connections": ["warm", "--max-connections", "0", "{refs}"],
    "warm unknown option": ["warm", "--bogus", "{refs}"],
    "mount bad cache size": ["--cache-size", "lots", "{refs}", "{mnt}"],
}


def test_command_usage_errors(usage_env):
    """Bad usage of every command: exit status 2, one line on stderr
    ("zarrmount: ..."), nothing on stdout, nothing mounted."""
    wrong = []
    for case, template in USAGE_ERRORS.items():
        args = [a.format(**usage_env) for a in template]
        proc = zm(*args)
        lines = proc.stderr.splitlines()
        if (proc.returncode != 2 or len(lines) != 1 or not proc.stderr.startswith("zarrmount: ")
                or proc.stdout):
            wrong.append(f"{case}: zarrmount {' '.join(args)}: exit {proc.returncode}, "
                         f"{len(lines)} lines on stderr, first {lines[:1]}, stdout "
                         f"{proc.stdout[:80]!r}")
    assert not zmount.is_mounted(usage_env["mnt"])
    assert not wrong, f"{len(wrong)} of {len(USAGE_ERRORS)} cases:\n" + "\n".join(wrong)


def test_command_failures(usage_env, tmp_path):
    """Valid usage that cannot be served: exit status 1 and one line naming
    the problem: status of a directory that is no mount, cache commands on a
    directory without a cache, warm of a prefix the set lacks."""
    cases = [
        (["status", usage_env["mnt"]], usage_env["mnt"]),
        (["cache", "stats", "--cache-dir", tmp_path / "nothing"], str(tmp_path / "nothing")),
        (["cache", "verify", "--cache-dir", tmp_path / "nothing"], str(tmp_path / "nothing")),
        (["warm", "--cache-dir", usage_env["cache"], usage_env["refs"], "no_such_array"],
         "no_such_array"),
    ]
    wrong = []
    for args, named in cases:
        proc = zm(*args)
        if proc.returncode != 1 or len(proc.stderr.splitlines()) != 1 or named not in proc.stderr:
            wrong.append(f"{args}: exit {proc.returncode}, stderr {proc.stderr!r}")
    assert not wrong, "\n".join(wrong)
