#!/usr/bin/python3
"""The shared (memcached) tier across hosts: throughput and latency in
network namespaces (tests/integration/shared_hosts.py: client hosts, three
memcached nodes, an nginx origin with added latency per request).

Prints:
  1. host a reading a working set from the origin (cold), host b reading the
     same set afterwards from the shared tier: throughput of each, their
     ratio (target >= 5x at 20 ms) and b's origin requests (target 0);
  2. a new host reading with one of the three nodes down: throughput and
     p99 read latency against the healthy run (targets: throughput falls by
     no more than the node's share; p99 within 2x);
  3. the daemon's CPU time for the same reads from LMDB and from the shared
     tier (HMAC, checksum, copies; target: overhead <= 10%); with --profile,
     both split by where the time went (perf; cpu_profile.py).

Chunks are 1 MiB (one block each, read whole) and are read by --readers
threads in a shuffled order (the daemons' default options: prefetch on). Run as root: scripts/bench_shared_cache.sh.
"""

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

import cpu_profile  # noqa: E402
import shared_hosts  # noqa: E402
import zmount  # noqa: E402
from shared_hosts import MiB, NODES, Data, HostMount, Net, remove_stale_namespaces  # noqa: E402


def read_pass(m, keys, want, readers):
    """Reads every key whole on `readers` threads; (seconds, latencies, wrong keys)."""
    order = list(keys)
    random.Random(7).shuffle(order)
    lat, wrong, lock, it = [], [], threading.Lock(), iter(order)

    def worker():
        while True:
            with lock:
                k = next(it, None)
            if k is None:
                return
            t0 = time.monotonic()
            with open(m.path(k), "rb") as f:
                got = f.read()
            dt = time.monotonic() - t0
            with lock:
                lat.append(dt)
                if got != want[k]:
                    wrong.append(k)
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, lat, wrong


def p99(lat):
    return sorted(lat)[max(0, int(len(lat) * 0.99) - 1)]


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


class Bench:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.net = Net(latency_ms=args.latency_ms)
        self.net.node_memory_mb = max(64, 2 * args.size_mb // 3 + 64)
        self.mounts = []
        self.key = os.path.join(work, "key")
        with open(self.key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(self.key, 0o600)

    def mount(self, host, name, shared=True, extra=()):
        opts = list(extra)
        if shared:
            opts += ["--shared-cache", shared_hosts.shared_url("?timeout_ms=50&retry_s=60"),
                     "--shared-cache-key-file", self.key]
        m = HostMount(self.net, host, self.data.refs, os.path.join(self.work, f"mnt-{name}"),
                      os.path.join(self.work, f"cache-{name}"),
                      os.path.join(self.work, f"{name}.log"), opts)
        self.mounts.append(m)
        m.start()
        return m

    def run(self):
        a = self.args
        self.net.build()
        for n in NODES:
            self.net.start_node(n)
        root = os.path.join(self.work, "origin")
        os.makedirs(root)
        os.chmod(self.work, 0o755)
        os.chmod(root, 0o755)
        url = self.net.start_origin(root, os.path.join(self.work, "nginx"))
        files = max(1, a.size_mb // 32)
        self.data = Data(root, url, os.path.join(self.work, "refs.json"), files=files,
                         file_size=32 * MiB + 1, sizes=lambda rnd, j: MiB)
        keys, want = self.data.keys, self.data.want
        total = sum(len(want[k]) for k in keys)
        mb = total / MiB
        print(f"working set: {len(keys)} chunks of 1 MiB ({mb:.0f} MiB) read whole in a shuffled "
              f"order, {a.latency_ms} ms per origin request; load average {os.getloadavg()[0]:.1f}")

        for readers in a.readers:
            self.net.mc("flush")
            ha = self.mount("a", f"a{readers}")
            s_a, lat_a, wrong = read_pass(ha, keys, want, readers)
            assert not wrong, wrong[:5]
            shared_hosts.wait_shared_puts(ha, len(keys), timeout=300)
            hb = self.mount("b", f"b{readers}")
            s_b, lat_b, wrong = read_pass(hb, keys, want, readers)
            assert not wrong, wrong[:5]
            st_b = shared_hosts.status(hb)
            sc = shared_hosts.status(ha)["shared_cache"]
            print(f"  {readers} readers: host a from the origin {mb / s_a:7.1f} MiB/s (p99 "
                  f"{p99(lat_a) * 1e3:5.1f} ms), host b from the shared tier {mb / s_b:7.1f} MiB/s "
                  f"(p99 {p99(lat_b) * 1e3:5.1f} ms): {s_a / s_b:.1f}x; b's origin requests "
                  f"{st_b['origin_requests']}, shared hits {st_b.get('shared_hits', 0)}; a's writes {sc['shared_puts']}, dropped "
                  f"{sc['shared_queue_drops']}")
            for m in (ha, hb):
                m.cleanup()
        readers = a.readers[-1]

        lost = shared_hosts.groups_on(self.net, "mc2")
        self.net.kill_node("mc2")
        hc = self.mount("c", "c")
        s_c, lat_c, wrong = read_pass(hc, keys, want, readers)
        assert not wrong, wrong[:5]
        st_c = shared_hosts.status(hc)
        print(f"  {readers} readers, one node of 3 down: {mb / s_c:7.1f} MiB/s, p99 {p99(lat_c) * 1e3:5.1f} ms"
              f" ({s_b / s_c:.2f}x the healthy throughput, p99 {p99(lat_c) / p99(lat_b):.1f}x; "
              f"{st_c['misses']} blocks from the origin, the node held {len(lost)} values' blocks)")
        self.net.start_node("mc2")

        # CPU: the same reads from LMDB, then from the shared tier, with a
        # memory cache too small to hold them.
        small = ["--memory-cache", "16M", "--no-prefetch"]
        hd = self.mount("d", "d", shared=False, extra=small)
        read_pass(hd, keys, want, readers)  # fills d's LMDB from the origin
        hd.unmount()
        for m in list(self.mounts):
            if m is not hd:
                m.cleanup()
        lmdb = self.mount("d", "d", shared=False, extra=small)  # the same cache directory
        with self.profiled(lmdb, "lmdb"):
            cpu0 = cpu_seconds(lmdb.pids)
            s_l, _, wrong = read_pass(lmdb, keys, want, readers)
            cpu_l = cpu_seconds(lmdb.pids) - cpu0
        assert not wrong and shared_hosts.status(lmdb)["origin_requests"] == 0
        lmdb.cleanup()
        # Host e fills the shared tier again (mc2 came back empty), then
        # host d reads it all from the shared tier with no disk cache.
        he = self.mount("a", "e", extra=["--no-prefetch"])
        read_pass(he, keys, want, readers)
        shared_hosts.wait_shared_puts(he, 1, timeout=300)
        he.cleanup()
        sh = self.mount("b", "f", extra=small + ["--no-disk-cache"])
        with self.profiled(sh, "shared"):
            cpu0 = cpu_seconds(sh.pids)
            s_s, _, wrong = read_pass(sh, keys, want, readers)
            cpu_s = cpu_seconds(sh.pids) - cpu0
        st = shared_hosts.status(sh)
        assert not wrong
        print(f"  daemon CPU, reads from LMDB:    {cpu_l:6.2f} s ({mb / s_l:8.1f} MiB/s)")
        print(f"  daemon CPU, reads from shared:  {cpu_s:6.2f} s ({mb / s_s:8.1f} MiB/s; "
              f"{st.get('shared_hits', 0)} shared hits, {st['origin_requests']} origin requests)")
        print(f"  shared-tier CPU overhead:       {100 * (cpu_s - cpu_l) / max(cpu_l, 1e-9):+.0f}% of "
              f"the LMDB reads' CPU")
        if a.profile:
            self.print_profile(cpu_l, cpu_s)
        print(json.dumps({"mib": mb, "readers": readers, "origin_mib_s": mb / s_a,
                          "shared_mib_s": mb / s_b, "speedup": s_a / s_b,
                          "b_origin_requests": st_b["origin_requests"], "node_down_mib_s": mb / s_c,
                          "p99_healthy_ms": p99(lat_b) * 1e3,
                          "p99_node_down_ms": p99(lat_c) * 1e3, "cpu_lmdb_s": cpu_l,
                          "cpu_shared_s": cpu_s}))

    def profiled(self, m, name):
        """perf on `m`'s daemon for the block, with --profile."""
        if not self.args.profile:
            return contextlib.nullcontext()
        return cpu_profile.Recording(m.pids, os.path.join(self.work, f"perf-{name}.data"))

    def print_profile(self, cpu_l, cpu_s):
        """The two CPU passes split by where the time went (cpu_profile.py)."""
        lmdb = cpu_profile.seconds(cpu_profile.split(os.path.join(self.work, "perf-lmdb.data")), cpu_l)
        shared = cpu_profile.seconds(cpu_profile.split(os.path.join(self.work, "perf-shared.data")), cpu_s)
        print("  where the daemon's CPU went (perf samples, scaled to the CPU measured):")
        print(f"    {'':18} {'LMDB':>8} {'shared':>8} {'difference':>12}")
        for c in cpu_profile.CATEGORIES:
            print(f"    {c:18} {lmdb[c]:7.3f}s {shared[c]:7.3f}s "
                  f"{100 * (shared[c] - lmdb[c]) / max(cpu_l, 1e-9):+10.0f}%")
        own = ("MAC", "checksum", "user copies")
        d_own = sum(shared[c] - lmdb[c] for c in own)
        d_net = shared["network receive"] - lmdb["network receive"]
        print(f"  MAC, checksum and copies: {sum(shared[c] for c in own):.3f} s against "
              f"{sum(lmdb[c] for c in own):.3f} s from LMDB, {100 * d_own / max(cpu_l, 1e-9):+.0f}% of "
              f"the LMDB reads' CPU (target <= 10%); the network receive "
              f"{100 * d_net / max(cpu_l, 1e-9):+.0f}%")

    def cleanup(self):
        for m in self.mounts:
            m.cleanup()
        self.net.delete()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=256, help="working set in MiB (default 256)")
    p.add_argument("--latency-ms", type=int, default=20, help="added per origin request")
    p.add_argument("--readers", default="1,8",
                   help="reading threads, a comma-separated list (default 1,8; the last is "
                        "used for the node-down and CPU runs)")
    p.add_argument("--profile", action="store_true",
                   help="split the CPU passes by where the time went, with perf (cpu_profile.py)")
    args = p.parse_args()
    if args.profile and not cpu_profile.available():
        sys.exit("bench_shared_cache: --profile needs perf (Debian: linux-perf)")
    args.readers = [int(r) for r in args.readers.split(",")]
    if os.geteuid() != 0:
        sys.exit("bench_shared_cache: needs root (network namespaces, FUSE)")
    if not os.access(zmount.ZARRMOUNT, os.X_OK):
        sys.exit(f"bench_shared_cache: no zarrmount at {zmount.ZARRMOUNT} (set ZARRMOUNT)")
    remove_stale_namespaces()
    with tempfile.TemporaryDirectory(prefix="zm-bench-shared.") as work:
        b = Bench(args, work)
        try:
            b.run()
        finally:
            b.cleanup()


if __name__ == "__main__":
    main()
