#!/usr/bin/python3
"""zarrmount benchmark: throughput and latency against the physical limit and
against fsspec, measured side by side in one run, for 0 ms and 20 ms of added
per-request latency.

Entry point: scripts/bench.sh (needs root: FUSE mounts, drop_caches).

  1. builds (once; cached in --workdir) an aggregation of NetCDF-4 files and
     its kerchunk reference set (see dataset.py);
  2. serves the files from two private nginx servers on 127.0.0.1, one as is
     and one that delays every request (see servers.py);
  3. for each latency and workload measures the limit (curl straight from
     nginx), zarrmount cold / memory / warm / hot (see mountctl.py), and the peer
     (fsspec's ReferenceFileSystem, xarray over it) (see readers.py);
  4. prints a table, writes JSON and a PNG chart, checks the targets (PASS /
     MISS, never a failing exit status for a MISS).

Workloads:
  bulk_raw       every chunk file of all variables, 16 parallel readers
                 (limit: curl --parallel 16; peer: fs.cat of all keys; disk:
                 reading the LMDB cache files sequentially, the bound of warm)
  bulk_decoded   xarray .values of every variable (peer: xarray over fsspec)
  drill_raw      the chunk files holding one point, through every time step,
                 read in key order by one reader (peer: fs.cat(keys))
  drill_decoded  ds[var][:, y, x].values (peer: xarray over fsspec; floor:
                 decoding the same chunks from memory with numcodecs)
  random         N random chunk files read whole by one reader, latency
                 percentiles (limit: curl on one connection, one at a time;
                 peer: fs.cat_file per key)
  stat           os.walk + lstat of the whole tree, in a new mount and again
                 (peer: a new ReferenceFileSystem and find(detail=True))
  views          one variable (the first --drill-vars) read whole through the
                 views for legacy tools: numpy np.load of --view npy,
                 `ncdump -v VAR` and netCDF4 of --view netcdf, against xarray
                 reading the zarr view of the same reference set (not in the
                 default run; --only views)

Drill workloads: one point through every time step of the first --drill-vars,
read the ways users read it, each against its peer in the same run. They run
on the kerchunk dataset (--dataset kerchunk, chosen by them): 64 NetCDF-4
files aggregated along time by the peer kerchunk 0.2.2 (--kerchunk DIR), sst
512 x 512 x 1024, chunks 1 x 256 x 512 of ~380 KiB, zlib 1 + shuffle; the
point is --drill-point (default 300,700), so 512 chunks of ~190 MB.
  drill_dask     xr.open_zarr(mnt) with its default (dask) chunks, then
                 ds[var][:, y, x].values (peer: xr.open_zarr("reference://")
                 the same way over fsspec)
  drill_nodask   the same with chunks=None (numpy, no dask) on both sides
  drill_dask_decoded, drill_nodask_decoded
                 the same two on a --view zarr-decoded mount (chunks
                 decoded by the daemon; the same peer)
  drill_npy      --view npy: np.load(VAR.npy, mmap_mode="r")[:, y, x] (peer:
                 xarray, chunks=None, over fsspec)
  drill_netcdf   --view netcdf: netCDF4.Dataset(REFS.nc)[var][:, y, x] (peer:
                 xarray, chunks=None, over fsspec)
  drill_procs    4 processes at once, each drilling another point (the
                 point mirrored by half the grid in y, x and both: 4 chunk
                 columns) with xarray, chunks=None (peer: the same on fsspec)
  drill_procs_decoded
                 the same on a --view zarr-decoded mount
  (drill_raw and bulk_raw, above, also run in the drill suite)
Groups for --only: "drill" = drill_dask, drill_nodask, drill_dask_decoded,
drill_nodask_decoded, drill_npy, drill_netcdf, drill_raw, drill_procs,
drill_procs_decoded, bulk_raw on the kerchunk dataset, e.g.
  scripts/bench.sh --only drill [--quick] [--latencies 0,20]
Mount measurements also record the daemon's own counters (the change of
`zarrmount status MNT --json` over the measurement, after the prefetches it
started have finished): origin requests and bytes, prefetches, cache hits; the
report's "daemon counters" table sets them against the bytes the reader
wanted, which shows prefetch waste.

Throughput is decimal MB/s of stored (compressed) chunk bytes. "x limit" and
"x peer" are the limit's / the peer's time over the mount's time for the same
bytes, i.e. the mount's speed over theirs (> 1: the mount is faster).
Repeated measurements (limit, peer, hot, floor) keep the fastest; cold,
memory and warm are measured once (each needs dropped caches). Cold: a new,
empty cache directory, the page cache dropped, a new daemon. Memory: the cold
daemon again with the page cache dropped, so every byte comes from the
daemon's memory through FUSE: the floor a cold read could reach with every
fetch done before it was asked for (for workloads that fit in the memory
tier; bulk_raw and the 4-process drills read the rest from the disk cache).
"""

import argparse
import contextlib
import json
import os
import shlex
import random
import resource
import shutil
import signal
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import dataset  # noqa: E402
import mountctl  # noqa: E402
import readers  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402
import zmount  # noqa: E402  (tests/integration, put on sys.path by the modules above)

WORKLOADS = ("bulk_raw", "bulk_decoded", "drill_raw", "drill_decoded", "random", "stat", "views",
             "drill_dask", "drill_nodask", "drill_dask_decoded", "drill_nodask_decoded",
             "drill_npy", "drill_netcdf", "drill_procs", "drill_procs_decoded")
# Workloads of the kerchunk dataset only (they name its readers' ways).
KERCHUNK_WORKLOADS = ("drill_dask", "drill_nodask", "drill_dask_decoded", "drill_nodask_decoded",
                      "drill_npy", "drill_netcdf", "drill_procs", "drill_procs_decoded")
GROUPS = {"drill": ("drill_dask", "drill_nodask", "drill_dask_decoded", "drill_nodask_decoded",
                    "drill_npy", "drill_netcdf", "drill_raw",
                    "drill_procs", "drill_procs_decoded", "bulk_raw")}
DEFAULT_WORKLOADS = ("bulk_raw", "bulk_decoded", "drill_raw", "drill_decoded", "random", "stat")
DRILL_POINT = (0.37, 0.61)  # fraction of the grid (y, x), unless --drill-point
DATASETS = {"synthetic": (dataset.FULL, dataset.QUICK),
            "kerchunk": (dataset.KERCHUNK, dataset.KERCHUNK_QUICK)}


def log(msg=""):
    print(msg, flush=True)


def parse_size(text):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().rstrip("IB").rstrip("B") if text.strip().upper() != "B" else ""
    num = t.rstrip("KMGT")
    return int(float(num) * units[t[len(num):]])


def percentiles(lat):
    a = np.asarray(lat) * 1000
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max()), "mean_ms": float(a.mean())}


def client_cpu():
    """CPU seconds of this process and its waited-for children (curl)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Bench:
    def __init__(self, args, meta, refs, refs_paths, nginx, run_dir, ctl, origin_dir):
        self.args = args
        self.meta = meta
        self.refs = refs  # latency -> v0 dict
        self.refs_paths = refs_paths
        self.nginx = nginx
        self.alog = {lat: servers.AccessLog(s.access_log) for lat, s in nginx.items()}
        self.run_dir = run_dir
        self.ctl = ctl
        self.origin_dir = origin_dir
        self.mnt = os.path.join(run_dir, "mnt")
        self.variables = list(meta["variables"])
        self.chunks = {lat: dataset.chunk_index(r, self.variables) for lat, r in refs.items()}
        self.records = []
        self.notes = ctl.notes
        self.reps = args.reps
        self.expected = {}  # (var, point) -> the point's values, decoded from the origin

    # ---------------------------------------------------------------- helpers

    def warm_up_peer(self):
        """One small fsspec and xarray read per server before measuring, so
        that no measurement pays for imports, fsspec's event loop thread or
        the aiohttp session."""
        for lat, refs in self.refs.items():
            key = self.chunks[lat][self.variables[0]][0][0]
            readers.fsspec_cat(refs, [key])
            readers.open_fsspec(refs).close()
            if any(w in KERCHUNK_WORKLOADS for w in self.args.workloads):
                readers.open_fsspec(refs, dask=True).close()
                import netCDF4  # noqa: F401 - imported before any clock starts

    def measure(self, workload, lat, mode, fn, reps=1, mount=False, extra=None):
        """Runs ``fn`` ``reps`` times (keeping the fastest error-free result),
        sampling daemon memory and counting origin requests; records it."""
        best, samples = None, []
        for _ in range(max(1, reps)):
            status0 = mountctl.daemon_status(self.mnt) if mount else None
            self.alog[lat].mark()
            sampler = mountctl.MemorySampler(self.ctl.pids) if mount else contextlib.nullcontext()
            cpu0 = client_cpu()
            with sampler as s, mountctl.Watchdog(self.ctl, self.args.watchdog) as wd:
                res = fn()
            res["client_cpu_seconds"] = client_cpu() - cpu0
            if mount:  # (after the prefetches it started, so they count with it)
                res["daemon"] = mountctl.status_delta(status0, mountctl.settle(self.mnt))
            res["origin"] = self.alog[lat].since()
            if mount:
                res["memory"] = dict(s.peak)
                res["daemon_cpu_seconds"] = s.cpu_seconds
            if wd.fired:
                res["errors"] += 1
                res["error_samples"].append("watchdog fired")
            samples.append(res["seconds"])
            if (best is None or (best["errors"] and not res["errors"])
                    or (not res["errors"] and res["seconds"] < best["seconds"])):
                best = res
        rec = {"workload": workload, "latency_ms": lat, "mode": mode,
               "samples": samples, "loadavg": loadavg()}
        for k, v in best.items():
            if k not in ("data", "values", "latencies"):
                rec[k] = v
        if best.get("latencies"):
            rec.update(percentiles(best["latencies"]))
        if best.get("bytes") and best.get("seconds"):
            rec["MBps"] = best["bytes"] / best["seconds"] / report.MB
        if extra:
            rec.update(extra)
        self.records.append(rec)
        mem = rec.get("memory", {}).get("VmRSS")
        line = (f"  [{lat:>2} ms] {workload:<13} {mode:<6} {rec['seconds']:8.2f} s"
                + (f" {rec['MBps']:8.1f} MB/s" if rec.get("MBps") else " " * 14)
                + (f"  p50 {rec['p50_ms']:.1f} p99 {rec['p99_ms']:.1f} ms"
                   if "p50_ms" in rec else "")
                + (f"  rss {mem / report.MiB:.0f} MiB" if mem else "")
                + f"  origin {rec['origin']['requests']} req")
        if rec.get("daemon"):
            d = rec["daemon"]
            line += (f" (daemon: {d['origin_bytes'] / report.MB:.1f} MB, prefetch "
                     f"{d['prefetch_requests']} req {d['prefetch_bytes'] / report.MB:.1f} MB)")
        if rec["errors"]:
            line += f"  ERRORS {rec['errors']}: {rec['error_samples'][:1]}"
            self.notes.append(f"{lat} ms {workload} {mode}: {rec['errors']} error(s), "
                              f"e.g. {rec['error_samples'][:1]}")
        log(line)
        return best

    def mount_modes(self, workload, lat, fn, tag=None, hot_reps=None, disk=False):
        """cold, memory, warm and hot measurements of ``fn`` (a reader of the mount);
        with ``disk``, also the time to read the cache files from disk."""
        m = self.ctl.cold(self.refs_paths[lat], tag or f"{workload}-{lat}ms")
        out = {}
        done = False
        try:
            mount_s = {"mount_seconds": m.bench_record["mount_seconds"]}
            out["cold"] = self.measure(workload, lat, "cold", fn, mount=True, extra=mount_s)
            if "memory" in self.args.modes:
                mountctl.drop_caches(page_cache_only=True)
                out["memory"] = self.measure(workload, lat, "memory", fn, mount=True)
            if "warm" in self.args.modes:
                between = None
                if disk:
                    def between(cache_dir):
                        self.measure(workload, lat, "disk",
                                     lambda: readers.read_dir_files(cache_dir))
                self.ctl.warm(m, between)
                out["warm"] = self.measure(workload, lat, "warm", fn, mount=True)
            if "hot" in self.args.modes:
                out["hot"] = self.measure(workload, lat, "hot", fn, mount=True,
                                          reps=hot_reps or self.reps)
            done = True
        finally:
            self.ctl.stop(m, fast=not done)
        return out

    def items(self, lat, entries):
        return [(os.path.join(self.mnt, k), n) for k, _, _, n in entries]

    @staticmethod
    def ranges(entries):
        return [(u, o, n) for _, u, o, n in entries]

    def origin_bytes(self, entries):
        """The stored bytes of chunks, read from the origin's files directly."""
        out = []
        for _, url, off, n in entries:
            path = os.path.join(self.origin_dir, url.rsplit("/", 1)[1])
            with open(path, "rb") as f:
                f.seek(off)
                out.append(f.read(n))
        return out

    def fsspec_cat_vars(self, lat, groups):
        """fs.cat(keys) per variable (keys in url/offset order), summed."""
        total = {"seconds": 0.0, "bytes": 0, "errors": 0, "error_samples": []}
        for entries in groups:
            entries = sorted(entries, key=lambda e: (e[1], e[2]))
            r = readers.fsspec_cat(self.refs[lat], [k for k, _, _, _ in entries])
            for k in ("seconds", "bytes", "errors"):
                total[k] += r[k]
            total["error_samples"] += r["error_samples"]
        return total

    def drill_point(self, var):
        """(y, x) of the drill: --drill-point, else DRILL_POINT of the grid."""
        if self.args.drill_point:
            return self.args.drill_point
        _, ny, nx = self.meta["variables"][var]["shape"]
        return int(DRILL_POINT[0] * ny), int(DRILL_POINT[1] * nx)

    def drill_points(self, var, count=4):
        """The drill point and its mirrors by half the grid in y, in x and in
        both: different chunk columns when the grid has two chunks or more
        each way."""
        _, ny, nx = self.meta["variables"][var]["shape"]
        y, x = self.drill_point(var)
        points = [(y, x), ((y + ny // 2) % ny, x), (y, (x + nx // 2) % nx),
                  ((y + ny // 2) % ny, (x + nx // 2) % nx)]
        return points[:count]

    def drill_entries(self, lat, var, point=None):
        """Chunks holding the drill point (or ``point``), in key (time) order,
        and the point's index within the chunk."""
        info = self.meta["variables"][var]
        _, cy, cx = info["chunks"]
        iy, ix = point or self.drill_point(var)
        suffix = f".{iy // cy}.{ix // cx}"
        entries = [e for e in self.chunks[lat][var] if e[0].endswith(suffix)]
        return entries, (iy, ix), (iy % cy, ix % cx)

    def verify(self, what, got, entries):
        want = self.origin_bytes(entries)
        bad = [e[0] for e, g, w in zip(entries, got, want) if g != w]
        if bad:
            self.notes.append(f"{what}: {len(bad)} chunk(s) differ from the origin's bytes, "
                              f"e.g. {bad[:3]}")
            log(f"  ! {what}: {len(bad)} chunks differ from the origin, e.g. {bad[:3]}")
        return not bad

    # -------------------------------------------------------------- workloads

    def bulk_raw(self, lat):
        groups = [self.chunks[lat][v] for v in self.variables]
        entries = [e for g in groups for e in g]
        ranges, items = self.ranges(entries), self.items(lat, entries)
        self.measure("bulk_raw", lat, "limit",
                     lambda: readers.curl_ranges(ranges, readers.THREADS, self.run_dir),
                     reps=self.reps)
        self.measure("bulk_raw", lat, "peer", lambda: self.fsspec_cat_vars(lat, groups),
                     reps=self.reps)
        self.mount_modes("bulk_raw", lat, lambda: readers.read_parallel(items), disk=True)

    def views(self, lat):
        import subprocess
        var = self.args.drill_vars[0]
        nbytes = self.meta["variables"][var]["stored_bytes"]
        stem = os.path.basename(self.refs_paths[lat]).rsplit(".json", 1)[0]
        nc_path = os.path.join(self.mnt, stem + ".nc")

        def timed(fn):
            errors = []
            t0 = time.perf_counter()
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
            return {"seconds": time.perf_counter() - t0, "bytes": 0 if errors else nbytes,
                    "errors": len(errors), "error_samples": errors[:3]}

        def npy():
            np.load(os.path.join(self.mnt, var + ".npy"))

        def ncdump():
            subprocess.run(["ncdump", "-v", var, nc_path], stdout=subprocess.DEVNULL, check=True)

        def netcdf4():
            import netCDF4
            with netCDF4.Dataset(nc_path) as ds:
                ds.set_auto_maskandscale(False)
                ds.variables[var][...]

        runs = [("zarr", "views_zarr_xarray",
                 lambda: readers.xr_values(lambda: readers.open_mount(self.mnt), [var], nbytes)),
                ("npy", "views_npy_numpy", lambda: timed(npy)),
                ("netcdf", "views_netcdf_ncdump", lambda: timed(ncdump)),
                ("netcdf", "views_netcdf_netcdf4", lambda: timed(netcdf4))]
        for view, name, fn in runs:
            with self.view(view):
                self.mount_modes(name, lat, fn, hot_reps=1)

    def bulk_decoded(self, lat):
        nbytes = sum(self.meta["variables"][v]["stored_bytes"] for v in self.variables)
        refs = self.refs[lat]
        self.measure("bulk_decoded", lat, "peer",
                     lambda: readers.xr_values(lambda: readers.open_fsspec(refs),
                                               self.variables, nbytes))
        self.mount_modes("bulk_decoded", lat,
                         lambda: readers.xr_values(lambda: readers.open_mount(self.mnt),
                                                   self.variables, nbytes), hot_reps=1)

    def drill_raw(self, lat):
        groups = [self.drill_entries(lat, v)[0] for v in self.args.drill_vars]
        entries = [e for g in groups for e in g]
        items = self.items(lat, entries)
        self.measure("drill_raw", lat, "limit",
                     lambda: readers.curl_ranges(self.ranges(entries), readers.THREADS,
                                                 self.run_dir), reps=self.reps)
        self.measure("drill_raw", lat, "peer", lambda: self.fsspec_cat_vars(lat, groups),
                     reps=self.reps)
        state = {"first": True}

        def read():
            res = readers.read_sequential(items, keep=state.get("first", False))
            if state.pop("first", False):
                self.verify(f"{lat} ms drill_raw cold", res.pop("data"), entries)
            return res
        self.mount_modes("drill_raw", lat, read)

    def drill_decoded(self, lat):
        dvars = self.args.drill_vars
        sel, inner, chunk_lists, nbytes = {}, {}, {}, 0
        for v in dvars:
            entries, (iy, ix), (jy, jx) = self.drill_entries(lat, v)
            sel[v], inner[v] = (slice(None), iy, ix), (jy, jx)
            chunk_lists[v] = entries
            nbytes += sum(e[3] for e in entries)
        raw = {v: self.origin_bytes(chunk_lists[v]) for v in dvars}
        floor_vals = {}

        def floor():
            tot = {"seconds": 0.0, "bytes": 0, "errors": 0, "error_samples": []}
            for v in dvars:
                info = self.meta["variables"][v]
                r = readers.decode_point(raw[v], info["filters"], info["chunks"], info["dtype"],
                                         inner[v])
                tot["seconds"] += r["seconds"]
                tot["bytes"] += r["bytes"]
                floor_vals[v] = r["values"]
            return tot
        self.measure("drill_decoded", lat, "floor", floor, reps=self.reps)
        refs = self.refs[lat]

        def select_values(opener):
            def run():
                errors, decoded = [], 0
                values = {}
                t0 = time.perf_counter()
                try:
                    ds = opener()
                    for v in dvars:
                        values[v] = ds[v][sel[v]].values
                        decoded += values[v].nbytes
                    ds.close()
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
                return {"seconds": time.perf_counter() - t0, "bytes": 0 if errors else nbytes,
                        "errors": len(errors), "error_samples": errors, "values": values,
                        "decoded_bytes": decoded}
            return run
        peer = self.measure("drill_decoded", lat, "peer",
                            select_values(lambda: readers.open_fsspec(refs)), reps=self.reps)
        got = self.mount_modes("drill_decoded", lat,
                               select_values(lambda: readers.open_mount(self.mnt)))
        for name, res in (("fsspec", peer), ("zarrmount cold", got.get("cold"))):
            for v in dvars:
                a = (res or {}).get("values", {}).get(v)
                if a is None or not np.array_equal(np.asarray(a, dtype=np.float32),
                                                   floor_vals.get(v), equal_nan=True):
                    msg = (f"{lat} ms drill_decoded: {name} values of {v} differ from "
                           "decoding the origin's bytes")
                    self.notes.append(msg)
                    log(f"  ! {msg}")

    # ------------------------------------------- drills as users read them

    @contextlib.contextmanager
    def view(self, name):
        """Mounts made meanwhile show ``--view name``."""
        extra = list(self.ctl.extra)
        self.ctl.extra = extra + ["--view", name]
        try:
            yield
        finally:
            self.ctl.extra = extra

    def drill_target(self, lat, point=None):
        """(var, point, selection, stored bytes of the chunks it touches) of the
        drill of the first --drill-vars."""
        var = self.args.drill_vars[0]
        point = point or self.drill_point(var)
        entries = self.drill_entries(lat, var, point)[0]
        return var, point, (slice(None),) + tuple(point), sum(e[3] for e in entries)

    def expected_values(self, lat, var, point):
        """The point's values through time, decoded from the origin's bytes
        with numcodecs (the same for every latency: computed once)."""
        if (var, point) not in self.expected:
            entries, _, inner = self.drill_entries(lat, var, point)
            info = self.meta["variables"][var]
            r = readers.decode_point(self.origin_bytes(entries), info["filters"],
                                     info["chunks"], info["dtype"], inner)
            self.expected[(var, point)] = r["values"]
        return self.expected[(var, point)]

    def check_point(self, workload, lat, mode, var, point, values):
        """Compares ``values`` with the origin's; a difference is noted, and
        counted as an error of the measurement's record (no ratio is given
        against wrong answers, e.g. a peer that filled failed reads with
        the fill value)."""
        want = self.expected_values(lat, var, point)
        if values is not None and np.array_equal(np.asarray(values, dtype=want.dtype), want,
                                                 equal_nan=True):
            return
        msg = f"values at {point} differ from decoding the origin's bytes"
        rec = report.find(self.records, workload, lat, mode)
        if rec is not None and not rec.get("errors"):  # (an error already explains it)
            rec["errors"] = 1
            rec["error_samples"] = [msg]
            self.notes.append(f"{lat} ms {workload} {mode}: {msg}")
            log(f"  ! {lat} ms {workload} {mode}: {msg}")

    def check_drill(self, workload, lat, var, point, results):
        """Checks the values of the peer's and the cold mount's results
        ({mode: result with a one-entry ``values`` dict})."""
        for mode, res in results.items():
            vals = list(((res or {}).get("values") or {}).values())
            self.check_point(workload, lat, mode, var, point, vals[0] if vals else None)

    def drill_peer_xarray(self, workload, lat, var, sel, nbytes, dask=False):
        """The peer of a drill: xarray over fsspec (chunks=None, or open_zarr's
        default dask chunks)."""
        refs = self.refs[lat]
        return self.measure(workload, lat, "peer", lambda: readers.xr_values(
            lambda: readers.open_fsspec(refs, dask=dask), [var], nbytes, select=sel),
            reps=self.reps)

    def drill_xarray(self, workload, lat, dask, view=None):
        var, point, sel, nbytes = self.drill_target(lat)
        peer = self.drill_peer_xarray(workload, lat, var, sel, nbytes, dask)
        with self.view(view) if view else contextlib.nullcontext():
            got = self.mount_modes(workload, lat, lambda: readers.xr_values(
                lambda: readers.open_mount(self.mnt, dask=dask), [var], nbytes, select=sel))
        self.check_drill(workload, lat, var, point, {"peer": peer, "cold": got.get("cold")})

    def drill_dask(self, lat):
        self.drill_xarray("drill_dask", lat, dask=True)

    def drill_nodask(self, lat):
        self.drill_xarray("drill_nodask", lat, dask=False)

    def drill_dask_decoded(self, lat):
        self.drill_xarray("drill_dask_decoded", lat, dask=True, view="zarr-decoded")

    def drill_nodask_decoded(self, lat):
        self.drill_xarray("drill_nodask_decoded", lat, dask=False, view="zarr-decoded")

    def drill_npy(self, lat):
        var, point, sel, nbytes = self.drill_target(lat)
        peer = self.drill_peer_xarray("drill_npy", lat, var, sel, nbytes)
        path = os.path.join(self.mnt, var + ".npy")
        with self.view("npy"):
            got = self.mount_modes("drill_npy", lat,
                                   lambda: readers.npy_point(path, sel, nbytes))
        self.check_drill("drill_npy", lat, var, point, {"peer": peer, "cold": got.get("cold")})

    def drill_netcdf(self, lat):
        var, point, sel, nbytes = self.drill_target(lat)
        peer = self.drill_peer_xarray("drill_netcdf", lat, var, sel, nbytes)
        stem = os.path.basename(self.refs_paths[lat]).rsplit(".json", 1)[0]
        path = os.path.join(self.mnt, stem + ".nc")
        with self.view("netcdf"):
            got = self.mount_modes("drill_netcdf", lat,
                                   lambda: readers.netcdf_point(path, var, sel, nbytes))
        self.check_drill("drill_netcdf", lat, var, point,
                         {"peer": peer, "cold": got.get("cold")})

    def drill_procs(self, lat, workload="drill_procs", view=None):
        var = self.args.drill_vars[0]
        points = self.drill_points(var)
        nbytes = sum(self.drill_target(lat, p)[3] for p in points)
        peer = self.measure(workload, lat, "peer", lambda: readers.drill_processes(
            "fsspec", self.refs[lat], var, points, nbytes), reps=self.reps)
        with self.view(view) if view else contextlib.nullcontext():
            got = self.mount_modes(workload, lat, lambda: readers.drill_processes(
                "mount", self.mnt, var, points, nbytes))
        for mode, res in (("peer", peer), ("cold", got.get("cold"))):
            for p in points:
                self.check_point(workload, lat, mode, var, p,
                                 ((res or {}).get("values") or {}).get(tuple(p)))

    def drill_procs_decoded(self, lat):
        self.drill_procs(lat, "drill_procs_decoded", view="zarr-decoded")

    def random(self, lat):
        pool = [e for v in self.variables for e in self.chunks[lat][v]]
        picks = random.Random(20240601).sample(pool, min(self.args.random_reads, len(pool)))
        items = self.items(lat, picks)
        self.measure("random", lat, "limit",
                     lambda: readers.curl_ranges(self.ranges(picks), 1, self.run_dir))
        keys = [k for k, _, _, _ in picks]
        self.measure("random", lat, "peer", lambda: readers.fsspec_cat_each(self.refs[lat], keys))
        state = {"first": True}

        def read():
            res = readers.read_sequential(items, keep=state.get("first", False))
            if state.pop("first", False):
                self.verify(f"{lat} ms random cold", res.pop("data"), picks)
            return res
        self.mount_modes("random", lat, read, hot_reps=1)

    def stat(self, lat):
        self.measure("stat", lat, "peer", lambda: readers.fsspec_walk(self.refs[lat]),
                     reps=self.reps)
        m = self.ctl.cold(self.refs_paths[lat], f"stat-{lat}ms")
        done = False
        try:
            self.measure("stat", lat, "cold", lambda: readers.walk_stat(self.mnt), mount=True,
                         extra={"mount_seconds": m.bench_record["mount_seconds"]})
            self.measure("stat", lat, "hot", lambda: readers.walk_stat(self.mnt), mount=True,
                         reps=self.reps)
            done = True
        finally:
            self.ctl.stop(m, fast=not done)


# ------------------------------------------------------------------ main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="scripts/bench.sh", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small data (~0.25 GB, 100 files; kerchunk dataset: 16 files, "
                         "~0.2 GB), one repetition: a sanity run")
    ap.add_argument("--workdir", default="/var/tmp/zarrmount-bench",
                    help="data, reference sets, logs and results (default %(default)s)")
    ap.add_argument("--out", help="results JSON (default WORKDIR/results[-kerchunk][-quick].json)")
    ap.add_argument("--png", help="chart (default WORKDIR/results[-kerchunk][-quick].png)")
    ap.add_argument("--only", action="append", default=[], metavar="WORKLOAD",
                    help="run only this workload or group (repeatable or comma-separated): "
                         + ", ".join(WORKLOADS + tuple(GROUPS)))
    ap.add_argument("--dataset", choices=tuple(DATASETS),
                    help="synthetic (3 variables, references made by the tests' make_refs) "
                         "or kerchunk (sst, references made by kerchunk 0.2.2); default: "
                         "kerchunk if a drill_dask/nodask/npy/netcdf/procs (or _decoded) workload runs, "
                         "else synthetic")
    ap.add_argument("--kerchunk", default=os.environ.get(
        "KERCHUNK_DIR", "/work/shared/peers/kerchunk-0.2.2"), metavar="DIR",
                    help="kerchunk's source tree (put on PYTHONPATH to build the kerchunk "
                         "dataset's references; default $KERCHUNK_DIR or %(default)s)")
    ap.add_argument("--latencies", default="0,20",
                    help="added per-request latencies in ms (default %(default)s)")
    ap.add_argument("--modes", default="cold,memory,warm,hot",
                    help="mount states to measure besides cold (default %(default)s)")
    ap.add_argument("--reps", type=int,
                    help="repetitions of limit/peer/hot/floor (default 3, 1 with --quick)")
    ap.add_argument("--random-reads", type=int,
                    help="reads of the random workload (default 300, 100 with --quick)")
    ap.add_argument("--drill-vars",
                    help="variables of the pixel drill (default tas,pr; kerchunk dataset: "
                         "sst); the drills of users' readers and views use the first")
    ap.add_argument("--drill-point", metavar="Y,X",
                    help="grid indices of the drill (default: 37%%,61%% of the grid; "
                         "kerchunk dataset: 300,700)")
    ap.add_argument("--memory-cache", default="512M", help="zarrmount --memory-cache")
    ap.add_argument("--daemon-args", default="",
                    help="more zarrmount options for every mount, e.g. \"--no-disk-cache\"")
    ap.add_argument("--memory-bound",
                    help="target for the daemon's peak anonymous memory (default: the bound "
                         "the README states, --memory-cache + --prefetch-memory (256M) + 384M)")
    ap.add_argument("--zarrmount", default=os.environ.get(
        "ZARRMOUNT", os.path.join(REPO, "build", "zarrmount")), help="the binary to measure")
    ap.add_argument("--report", metavar="RESULTS.json",
                    help="measure nothing: print the report of an earlier run's JSON again "
                         "and rewrite its .txt and PNG (--png, default next to the JSON)")
    ap.add_argument("--watchdog", type=float, default=600,
                    help="seconds one measurement may take before the daemon is killed")
    args = ap.parse_args(argv)
    only = []
    for w in (w for o in args.only for w in o.split(",") if w):
        if w not in WORKLOADS and w not in GROUPS:
            ap.error(f"unknown workload {w!r}; choose from "
                     f"{', '.join(WORKLOADS + tuple(GROUPS))}")
        only += GROUPS.get(w, (w,))
    # (a group keeps its own order: the cheap drills first, bulk last)
    args.workloads = (list(dict.fromkeys(only)) if only else list(DEFAULT_WORKLOADS))
    if not args.dataset:
        args.dataset = ("kerchunk" if any(w in KERCHUNK_WORKLOADS for w in args.workloads)
                        else "synthetic")
    if args.dataset != "kerchunk" and any(w in KERCHUNK_WORKLOADS for w in args.workloads):
        ap.error("the drill_dask/nodask/npy/netcdf/procs (and _decoded) workloads need --dataset kerchunk")
    args.latencies = [int(x) for x in args.latencies.split(",")]
    args.modes = set(args.modes.split(",")) | {"cold"}
    kerchunk = args.dataset == "kerchunk"
    args.drill_vars = (args.drill_vars or ("sst" if kerchunk else "tas,pr")).split(",")
    point = args.drill_point or ("300,700" if kerchunk else None)
    args.drill_point = tuple(int(v) for v in point.split(",")) if point else None
    args.reps = args.reps or (1 if args.quick else 3)
    args.random_reads = args.random_reads or (100 if args.quick else 300)
    args.png_given = args.png
    args.suffix = ("-kerchunk" if kerchunk else "") + ("-quick" if args.quick else "")
    args.out = args.out or os.path.join(args.workdir, f"results{args.suffix}.json")
    args.png = args.png or os.path.join(args.workdir, f"results{args.suffix}.png")
    args.memory_bound_bytes = (parse_size(args.memory_bound) if args.memory_bound
                               else parse_size(args.memory_cache) + (256 << 20) + (384 << 20))
    return args


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        return rerender(args.report, args.png_given)
    if os.geteuid() != 0:
        sys.exit("bench: needs root (FUSE mounts and /proc/sys/vm/drop_caches)")
    if not os.access(args.zarrmount, os.X_OK):
        sys.exit(f"bench: no zarrmount binary at {args.zarrmount} (build it, or --zarrmount)")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)
    # (kerchunk's time coordinate has fill_value 0.0, so xarray masks its
    # first step and warns while decoding it, on every open)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="xarray.coding.times")
    t_start = time.monotonic()
    layout = DATASETS[args.dataset][1 if args.quick else 0]
    os.makedirs(args.workdir, exist_ok=True)
    for d in (args.out, args.png):
        os.makedirs(os.path.dirname(os.path.abspath(d)), exist_ok=True)

    run_dir = os.path.join(args.workdir, "run" + args.suffix)
    mnt = os.path.join(run_dir, "mnt")
    if zmount.is_mounted(mnt):
        log(f"unmounting {mnt} left by an earlier run")
        zmount.fusermount_u(mnt, lazy=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(os.path.join(run_dir, "bin"))
    # A private copy of the binary: it may be rebuilt while we measure.
    binary = os.path.join(run_dir, "bin", "zarrmount")
    shutil.copy2(args.zarrmount, binary)
    zmount.ZARRMOUNT = binary
    binfo = mountctl.binary_info(args.zarrmount)
    log(f"zarrmount: {binfo['path']} ({binfo['version']}, built {binfo['mtime']})")

    meta = dataset.build(args.workdir, layout, log, kerchunk_dir=args.kerchunk)
    t_data = time.monotonic() - t_start
    ctl = mountctl.MountCtl(run_dir, ["--memory-cache", args.memory_cache]
                           + shlex.split(args.daemon_args), log)
    nginx, origin_dir, bench = {}, None, None
    try:
        servers.clean_stale_shm(log)
        origin_dir = servers.copy_to_shm(meta["data_dir"], meta["files"])
        refs, refs_paths = {}, {}
        for lat in args.latencies:
            prefix = os.path.join(run_dir, f"nginx-{lat}ms")
            srv = (servers.Nginx(origin_dir, prefix) if lat == 0
                   else servers.LatencyNginx(origin_dir, prefix, lat))
            nginx[lat] = srv.start()
            ok, desc = servers.check_range(f"{srv.url}/{meta['files'][0]}", 1 << 20)
            log(f"nginx {lat:>2} ms: {srv.url} (root {origin_dir}); Range check: {desc}")
            if not ok:
                raise RuntimeError(f"nginx ({lat} ms) does not answer Range requests with 206")
            refs[lat] = dataset.refs_for(meta, srv.url)
            refs_paths[lat] = os.path.join(run_dir, f"refs-{lat}ms.json")
            with open(refs_paths[lat], "w") as f:
                json.dump(dataset.refs_document(meta, refs[lat]), f, separators=(",", ":"))
        bench = Bench(args, meta, refs, refs_paths, nginx, run_dir, ctl, origin_dir)
        bench.warm_up_peer()
        phases = {}
        for lat in args.latencies:
            for w in args.workloads:
                log(f"-- {w}, {lat} ms added latency")
                t0 = time.monotonic()
                getattr(bench, w)(lat)
                phases[f"{w}@{lat}ms"] = round(time.monotonic() - t0, 1)
    except (KeyboardInterrupt, SystemExit):
        log("\nbench: interrupted; unmounting, stopping nginx, removing the origin copy")
        raise
    except Exception:
        log("\nbench: failed; unmounting, stopping nginx, removing the origin copy")
        raise
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # let the cleanup finish
        ctl.cleanup()
        for srv in nginx.values():
            srv.stop()
        if origin_dir:
            shutil.rmtree(origin_dir, ignore_errors=True)
        if not zmount.is_mounted(mnt):
            shutil.rmtree(mnt, ignore_errors=True)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL if s != signal.SIGINT else signal.default_int_handler)

    total = time.monotonic() - t_start
    out = {
        "meta": {"layout": layout.to_json(), "dataset": {k: v for k, v in meta.items()
                                                         if k != "files"},
                 "binary": binfo, "args": {k: (sorted(v) if isinstance(v, set) else v)
                                           for k, v in vars(args).items()},
                 "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "run_seconds": round(total, 1), "data_seconds": round(t_data, 1),
                 "phase_seconds": phases},
        "records": bench.records, "mounts": ctl.mounts, "run_notes": list(bench.notes),
    }
    render(out, args.out, args.png)
    log(f"logs: {run_dir}/logs (daemons), {run_dir}/nginx-*ms (servers)")


def render(out, json_path, png_path):
    """Targets, oddities, the text report and the chart of a run's results
    (``out``); writes JSON_PATH, its .txt sibling and PNG_PATH."""
    meta, a = out["meta"], out["meta"]["args"]
    records = out["records"]
    latencies = a["latencies"]
    out["notes"] = out.get("run_notes", []) + report.oddities(records,
                                                              parse_size(a["memory_cache"]))
    out["targets"] = report.check_targets(records, latencies, a["memory_bound_bytes"])
    loads = [r["loadavg"] for r in records]
    ds = meta["dataset"]
    var_desc = ", ".join(
        f"{v} {d['chunk_count']} chunks of ~{d['chunk_bytes_mean'] / 1024:.0f} KiB"
        for v, d in ds["variables"].items())
    header = (f"zarrmount benchmark ({meta['layout']['name']}): {meta['layout']['files']} files, "
              f"{ds['stored_bytes'] / 1e9:.2f} GB stored / {ds['decoded_bytes'] / 1e9:.2f} GB "
              f"decoded; {var_desc}\nbinary {meta['binary']['version']} built "
              f"{meta['binary']['mtime']}; --memory-cache {a['memory_cache']}; {meta['cpus']} CPUs; "
              f"run {meta['run_seconds']:.0f} s (data {meta['data_seconds']:.0f} s); "
              f"1-min load average during the run "
              f"{min(loads, default=0):.1f}..{max(loads, default=0):.1f}; {meta['date']}")
    text = "\n".join([
        "", header, "",
        report.table(records, latencies), "",
        report.ratio_table(records, latencies), "",
        report.detail_table(records, latencies), "",
        "targets:", report.targets_text(out["targets"]), "",
        "notes:" if out["notes"] else "notes: none",
        *[f"  - {n}" for n in out["notes"]],
    ])
    log(text)
    with open(json_path, "w") as f:
        json.dump(out, f, indent=1, default=str)
    txt = os.path.splitext(json_path)[0] + ".txt"
    with open(txt, "w") as f:
        f.write(text + "\n")
    try:
        report.chart(records, latencies, png_path, header.split("\n")[0])
        log(f"\nwrote {json_path}, {txt} and {png_path}")
    except Exception as e:  # noqa: BLE001 - the numbers are what matters
        log(f"\nwrote {json_path} and {txt}; chart failed: {e!r}")


def rerender(path, png_path=None):
    """--report: the report of an earlier run's JSON, again (e.g. after
    changing report.py); rewrites the JSON's targets/notes, .txt and PNG."""
    with open(path) as f:
        out = json.load(f)
    out.setdefault("run_notes", [])  # (results of older versions: no run notes kept)
    render(out, path, png_path or os.path.splitext(path)[0] + ".png")


if __name__ == "__main__":
    main()
