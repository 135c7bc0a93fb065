#!/usr/bin/env python3
"""Loading huge reference sets: time and memory of `--check` and of a mount.

For each N in --keys, writes (once, cached in --workdir) a synthetic
reference set of N chunk keys with scripts/gen_big_refs.py (4 variables,
1000 URLs, templates), then measures:
  - `zarrmount --check`: wall time and peak RSS (/usr/bin/time -v);
  - a mount (`--offline`, no disk cache: loading only): seconds until the
    mount command returns serving, the daemon's peak RSS (VmHWM) and RSS
    after loading;
  - `ls` of the biggest directory (a quarter of the keys), and a `stat`
    of one key of it;
and prints one table row per N with the targets beside them.
Needs root (FUSE). Usage:
  scripts/bench_refs_scale.py [--keys 1000000,10000000] [--workdir DIR] [--zarrmount BIN]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def timed_check(zm, refs):
    out = subprocess.run(["/usr/bin/time", "-v", zm, "--check", refs], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"--check failed: {out.stderr.strip()[-400:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return seconds, peak


def measure_mount(zm, refs, mnt):
    t0 = time.perf_counter()
    subprocess.run([zm, "--offline", "--no-disk-cache", refs, mnt], check=True)
    mount_s = time.perf_counter() - t0
    pid = int(subprocess.run(["pgrep", "-nf", f"{zm} --offline --no-disk-cache {refs} {mnt}"],
                             capture_output=True, text=True).stdout.split()[0])
    try:
        hwm, rss = rss_kib(pid, "VmHWM"), rss_kib(pid, "VmRSS")
        biggest = os.path.join(mnt, "var0")
        t0 = time.perf_counter()
        entries = len(os.listdir(biggest))
        ls_s = time.perf_counter() - t0
        subprocess.run(["sh", "-c", "echo 2 > /proc/sys/vm/drop_caches"], check=False)
        t0 = time.perf_counter()
        os.stat(os.path.join(biggest, "7.3.4"))
        stat_ms = (time.perf_counter() - t0) * 1000
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
    return dict(mount_s=mount_s, hwm=hwm, rss=rss, entries=entries, ls_s=ls_s, stat_ms=stat_ms)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", default="1000000,10000000")
    ap.add_argument("--workdir", default="/var/tmp/zarrmount-bench/scale")
    ap.add_argument("--zarrmount", default=os.path.join(REPO, "build", "zarrmount"))
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    rows = []
    for n in (int(k) for k in a.keys.split(",")):
        refs = os.path.join(a.workdir, f"refs-{n}.json")
        if not os.path.exists(refs):
            print(f"writing {refs} ...", flush=True)
            subprocess.run([sys.executable, os.path.join(REPO, "scripts", "gen_big_refs.py"), str(n),
                            refs + ".tmp"], check=True)
            os.rename(refs + ".tmp", refs)
        check_s, check_peak = timed_check(a.zarrmount, refs)
        with tempfile.TemporaryDirectory(prefix="zm-scale-") as mnt:
            m = measure_mount(a.zarrmount, refs, mnt)
        rows.append((n, os.path.getsize(refs), check_s, check_peak, m))
        print(f"{n:,} keys: check {check_s:.2f} s, mount {m['mount_s']:.2f} s, "
              f"peak {m['hwm'] / 1024:.0f} MiB", flush=True)
    print()
    print("| keys (JSON, templates) | text | `--check` | `--check` peak RSS | mount returns serving "
          "| daemon peak RSS | RSS after load | `ls` of the biggest directory | `stat` of one key |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, size, check_s, check_peak, m in rows:
        print(f"| {n:,} | {size / 1e6:.0f} MB | {check_s:.2f} s | {check_peak / 1024:.0f} MiB "
              f"| {m['mount_s']:.2f} s | {m['hwm'] / 1024:.0f} MiB | {m['rss'] / 1024:.0f} MiB "
              f"| {m['entries']:,} entries: {m['ls_s']:.2f} s | {m['stat_ms']:.1f} ms |")
    print("\ntargets (10 million keys): mount < 5 s, daemon peak RSS < 1 GiB; ls of 2.5 million < 5 s")


if __name__ == "__main__":
    main()
