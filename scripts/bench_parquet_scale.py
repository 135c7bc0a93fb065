#!/usr/bin/python3
"""A Parquet reference directory of many chunks, mounted lazily.

Writes (once, cached in --workdir) a kerchunk Parquet reference directory
with build/parquet_refs_gen: array "big" of --chunks chunks over --files
sparse local data files, array "small" (1 million chunks, every other one
missing). Then, for a mount (no disk cache, --memory-cache and
--refs-memory as given; the daemon's RSS includes both), measures:
  - seconds until the mount command returns serving, daemon RSS then;
  - the first stat + read of 100 random chunks of "big" (each mostly in a
    record not read yet): p50 and max;
  - the daemon's RSS, sampled while 16 readers stat and read random chunks
    for --seconds, against --refs-memory + 100 MiB;
  - `ls -f` of "small" (500,000 entries, records decoded as listed).
Needs root (FUSE). Usage:
  scripts/bench_parquet_scale.py [--chunks 10000000 | --full] [--files 10000]
                                 [--refs-memory 256MiB] [--memory-cache 32MiB] [--workdir DIR]
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def parse_size_mib(text):
    units = {"kib": 1 / 1024, "mib": 1, "gib": 1024, "k": 1 / 1024, "m": 1, "g": 1024}
    t = text.lower()
    for u in sorted(units, key=len, reverse=True):
        if t.endswith(u):
            return float(t[: -len(u)]) * units[u]
    return float(t) / (1 << 20)


def generate(a, chunks):
    out = os.path.join(a.workdir, f"pq-{chunks}-{a.files}")
    if os.path.exists(os.path.join(out, ".zmetadata")):
        return out
    gen = os.path.join(REPO, "build", "parquet_refs_gen")
    if not os.path.exists(gen):
        subprocess.run(["cmake", "--build", os.path.join(REPO, "build"), "--target", "parquet_refs_gen"],
                       check=True)
    print(f"writing {out} ...", flush=True)
    t0 = time.perf_counter()
    subprocess.run([gen, out + ".tmp", os.path.join(a.workdir, f"data-{chunks}-{a.files}"), str(chunks),
                    str(a.files)], check=True)
    os.rename(out + ".tmp", out)
    print(f"written in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def random_chunk(t_steps, rng):
    return f"{rng.randrange(t_steps)}.{rng.randrange(10)}.{rng.randrange(10)}"


def stat_and_read(path):
    os.stat(path)
    with open(path, "rb") as f:
        return len(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=10_000_000)
    ap.add_argument("--full", action="store_true", help="100 million chunks")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--refs-memory", default="256MiB")
    ap.add_argument("--memory-cache", default="32MiB")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workdir", default="/var/tmp/zarrmount-bench/parquet")
    ap.add_argument("--zarrmount", default=os.path.join(REPO, "build", "zarrmount"))
    a = ap.parse_args()
    chunks = 100_000_000 if a.full else a.chunks
    os.makedirs(a.workdir, exist_ok=True)
    src = generate(a, chunks)
    t_steps = (chunks + 99) // 100
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="zm-pq-") as mnt:
        cmd = [a.zarrmount, "--no-disk-cache", "--memory-cache", a.memory_cache, "--refs-memory", a.refs_memory,
               src, mnt]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        mount_s = time.perf_counter() - t0
        pid = int(subprocess.run(["pgrep", "-nf", " ".join(cmd)], capture_output=True, text=True).stdout.split()[0])
        try:
            rss_mount = rss_mib(pid)
            big = os.path.join(mnt, "big")
            lat = []
            for _ in range(100):
                p = os.path.join(big, random_chunk(t_steps, rng))
                t0 = time.perf_counter()
                stat_and_read(p)
                lat.append((time.perf_counter() - t0) * 1000)
            peak = [rss_mib(pid)]
            stop = time.monotonic() + a.seconds
            reads = [0]
            lock = threading.Lock()

            def reader(seed):
                r = random.Random(seed)
                n = 0
                while time.monotonic() < stop:
                    stat_and_read(os.path.join(big, random_chunk(t_steps, r)))
                    n += 1
                with lock:
                    reads[0] += n

            threads = [threading.Thread(target=reader, args=(i,)) for i in range(16)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                peak.append(rss_mib(pid))
                time.sleep(0.2)
            for t in threads:
                t.join()
            t0 = time.perf_counter()
            listed = subprocess.run(f"ls -f {mnt}/small | wc -l", shell=True, capture_output=True, text=True,
                                    check=True)
            ls_s = time.perf_counter() - t0
            entries = int(listed.stdout) - 2
        finally:
            subprocess.run(["fusermount3", "-u", mnt], check=False)
    budget = parse_size_mib(a.refs_memory) + 100
    print()
    print("| chunks | URLs | mount returns serving | RSS after mount | first stat+read of a random chunk "
          "(p50 / max of 100) | RSS, 16 readers (max) | `ls` of 1 M-chunk array |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {chunks:,} | {a.files:,} | {mount_s:.2f} s | {rss_mount:.0f} MiB "
          f"| {statistics.median(lat):.1f} / {max(lat):.1f} ms "
          f"| {max(peak):.0f} MiB ({reads[0] / a.seconds:.0f} reads/s) "
          f"| {entries:,} entries: {ls_s:.2f} s |")
    print(f"\n--memory-cache {a.memory_cache}, --refs-memory {a.refs_memory}; targets: mount < 1 s, RSS after mount < 100 MiB, first stat+read < 50 ms, "
          f"RSS under load < {budget:.0f} MiB (--refs-memory {a.refs_memory} + 100 MiB)")
    ok = mount_s < 1 and rss_mount < 100 and max(lat) < 50 and max(peak) < budget
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
