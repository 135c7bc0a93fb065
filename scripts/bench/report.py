"""Tables, targets and the chart of a benchmark run."""

import math

MB = 1e6  # throughput is reported in decimal MB/s
MiB = 1 << 20

MOUNT_MODES = ("cold", "memory", "warm", "hot")
ORDER = ("limit", "peer", "floor", "disk", "cold", "memory", "warm", "hot")
LABEL = {
    "bulk_raw": "bulk, raw chunk files (16 readers)",
    "bulk_decoded": "bulk, decoded (xarray .values)",
    "drill_raw": "pixel drill, raw (1 reader, key order)",
    "drill_decoded": "pixel drill, decoded (xarray [:, y, x])",
    "random": "random single-chunk reads (1 reader; limit: curl, 1 connection)",
    "stat": "stat of the whole tree (os.walk + lstat)",
    "drill_dask": "drill, xr.open_zarr (dask chunks) [:, y, x]",
    "drill_nodask": "drill, xr.open_zarr(chunks=None) [:, y, x]",
    "drill_dask_decoded": "drill, --view zarr-decoded: xr.open_zarr (dask chunks)",
    "drill_nodask_decoded": "drill, --view zarr-decoded: xr.open_zarr(chunks=None)",
    "drill_npy": "drill, --view npy: np.load(mmap_mode='r')",
    "drill_netcdf": "drill, --view netcdf: netCDF4.Dataset",
    "drill_procs": "drill, 4 processes, 4 points (xarray)",
    "drill_procs_decoded": "drill, --view zarr-decoded: 4 processes, 4 points",
}
MODE_LABEL = {
    "limit": "limit: curl -> nginx",
    "peer": "peer: fsspec",
    "floor": "floor: decode only",
    "disk": "disk: read LMDB files",
    "cold": "zarrmount cold",
    "memory": "zarrmount memory",
    "warm": "zarrmount warm",
    "hot": "zarrmount hot",
}


def mbps(rec):
    if not rec or not rec.get("seconds") or not rec.get("bytes"):
        return None
    return rec["bytes"] / rec["seconds"] / MB


def find(records, workload, latency, mode):
    for r in records:
        if r["workload"] == workload and r["latency_ms"] == latency and r["mode"] == mode:
            return r
    return None


def ratios(records, rec):
    """(x limit, x peer) of a mount record: time of limit / peer over time of
    the mount for the same bytes (> 1 means the mount is faster)."""
    if rec["mode"] not in MOUNT_MODES or not rec.get("seconds"):
        return None, None
    out = []
    for other in ("limit", "peer"):
        o = find(records, rec["workload"], rec["latency_ms"], other)
        out.append(o["seconds"] / rec["seconds"] if o and o.get("seconds") and not o.get("errors")
                   and not rec.get("errors") else None)
    return tuple(out)


def _f(v, fmt, width):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-".rjust(width)
    return format(v, fmt).rjust(width)


def table(records, latencies):
    """The main table: one row per workload and mode, a column group per latency."""
    cols = "{:>8} {:>8} {:>7} {:>7} {:>7}"
    head1 = f"{'workload / mode':<34}" + "".join(
        f" | {('%d ms added latency' % lat):^41}" for lat in latencies)
    head2 = f"{'':<34}" + "".join(
        " | " + cols.format("s", "MB/s", "xlimit", "xpeer", "RSS MiB") for _ in latencies)
    lines = [head1, head2, "-" * len(head2)]
    workloads = []
    for r in records:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    for w in workloads:
        lines.append(LABEL.get(w, w))
        modes = [m for m in ORDER if any(r["workload"] == w and r["mode"] == m for r in records)]
        for mode in modes:
            row = f"  {MODE_LABEL[mode]:<32}"
            for lat in latencies:
                r = find(records, w, lat, mode)
                if r is None:
                    row += " | " + cols.format(*["-"] * 5)
                    continue
                xl, xp = ratios(records, r)
                rss = r.get("memory", {}).get("VmRSS")
                secs = r.get("seconds")
                row += " | " + " ".join([
                    _f(secs, ".2f" if secs is None or secs >= 1 else ".3f", 8),
                    _f(mbps(r), ".0f", 8) if w != "stat" else _f(None, "", 8),
                    _f(xl, ".2f", 7), _f(xp, ".2f", 7),
                    _f(rss / MiB if rss else None, ".0f", 7)])
                if r.get("errors"):
                    row += f" ERR{r['errors']}"
            lines.append(row)
    return "\n".join(lines)


def ratio_table(records, latencies):
    """Per workload: the peer's time, and the mount's speed over the peer's
    (peer seconds / mount seconds) cold, from the daemon's memory, warm and
    hot, per latency."""
    cols = "{:>8} {:>7} {:>7} {:>7} {:>7}"
    head1 = f"{'mount speed / peer speed (x peer)':<44}" + "".join(
        f" | {('%d ms' % lat):^39}" for lat in latencies)
    head2 = f"{'':<44}" + "".join(
        " | " + cols.format("peer s", "cold", "memory", "warm", "hot") for _ in latencies)
    lines = [head1, head2, "-" * len(head2)]
    for w in dict.fromkeys(r["workload"] for r in records):
        if not any(r["workload"] == w and r["mode"] == "peer" for r in records):
            continue
        row = f"  {LABEL.get(w, w)[:42]:<42}"
        for lat in latencies:
            peer = find(records, w, lat, "peer")
            xs = []
            for mode in MOUNT_MODES:
                r = find(records, w, lat, mode)
                xs.append(_f(ratios(records, r)[1] if r else None, ".2f", 7))
            row += " | " + _f(peer.get("seconds") if peer else None, ".2f", 8) + " " + " ".join(xs)
        lines.append(row)
    return "\n".join(lines)


def daemon_table(records):
    """The daemon's own counters per mount measurement (change of `zarrmount
    status --json`): what it fetched, prefetched and found in its caches,
    against the stored bytes the reader wanted."""
    rows = [r for r in records if r.get("daemon")]
    if not rows:
        return ""
    lines = ["daemon counters per mount measurement (zarrmount status --json; MB; checks: "
             "objects' size/version checked; fetched/wanted > 1 is over-fetch, e.g. prefetch "
             "waste)",
             f"  {'lat':>5} {'workload':<14} {'mode':<6} {'orig req':>8} {'orig MB':>8}"
             f" {'pf req':>7} {'pf MB':>7} {'pf drop':>7} {'mem hit':>7} {'disk hit':>8}"
             f" {'miss':>6} {'checks':>6} {'wanted':>8} {'x':>5}"]
    for r in rows:
        d = dict.fromkeys(("object_checks",), 0)  # (not recorded by older runs)
        d.update(r["daemon"])
        want = r.get("bytes") or 0
        amp = d["origin_bytes"] / want if want and d["origin_bytes"] else None
        lines.append(
            f"  {r['latency_ms']:>2} ms {r['workload']:<14} {r['mode']:<6}"
            f" {d['origin_requests']:>8} {d['origin_bytes'] / MB:>8.1f}"
            f" {d['prefetch_requests']:>7} {d['prefetch_bytes'] / MB:>7.1f}"
            f" {d['prefetch_dropped']:>7} {d['memory_hits']:>7} {d['disk_hits']:>8}"
            f" {d['misses']:>6} {d['object_checks']:>6} {want / MB:>8.1f} {_f(amp, '.2f', 5)}")
    return "\n".join(lines)


def detail_table(records, latencies):
    """Latency percentiles, origin traffic, stat entries."""
    lines = []
    rows = [r for r in records if r.get("p50_ms") is not None]
    if rows:
        lines.append("per-read latency (ms)            " + "".join(
            f" | {('%d ms' % lat):^23}" for lat in latencies))
        lines.append(f"{'':<33}" + "".join(" | {:>7} {:>7} {:>7}".format("p50", "p99", "max")
                                            for _ in latencies))
        seen = []
        for r in rows:
            key = (r["workload"], r["mode"])
            if key in seen:
                continue
            seen.append(key)
            row = f"  {r['workload'] + ' ' + MODE_LABEL[r['mode']]:<31}"
            for lat in latencies:
                x = find(records, r["workload"], lat, r["mode"])
                row += " | " + " ".join(_f(x.get(k) if x else None, ".1f", 7)
                                        for k in ("p50_ms", "p99_ms", "max_ms"))
            lines.append(row)
    rows = [r for r in records if r.get("origin") and r["mode"] in ("limit", "peer") + MOUNT_MODES]
    if rows:
        lines.append("")
        lines.append("origin traffic and daemon memory per measurement (MB fetched / wanted;"
                     " peak MiB: VmRSS = RssAnon + RssFile (LMDB map), VmHWM)")
        lines.append(f"  {'lat':>5} {'workload':<14} {'mode':<6} {'requests':>8} {'MB':>8}"
                     f" {'wanted':>8} {'x':>5} | {'VmRSS':>6} {'anon':>6} {'file':>6} {'HWM':>6}"
                     f" | CPU s: {'daemon':>6} {'client':>6}")
        for r in rows:
            o = r["origin"]
            mem = r.get("memory", {})
            want = r.get("bytes") or 0
            amp = o["bytes"] / want if want and o["bytes"] else None
            lines.append(
                f"  {r['latency_ms']:>2} ms {r['workload']:<14} {r['mode']:<6} {o['requests']:>8}"
                f" {o['bytes'] / MB:>8.1f} {want / MB:>8.1f} {_f(amp, '.2f', 5)} |"
                + "".join(_f(mem[k] / MiB if k in mem else None, ".0f", 7)
                          for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"))
                + f" |        {_f(r.get('daemon_cpu_seconds'), '.2f', 6)}"
                f" {_f(r.get('client_cpu_seconds'), '.2f', 6)}")
    daemon = daemon_table(records)
    if daemon:
        lines += ["", daemon]
    return "\n".join(lines)


def check_targets(records, latencies, mem_bound):
    """[(name, value, goal, ok)] for the project's targets; ok None if unmeasured."""
    out = []

    def add(name, value, goal, better="higher"):
        ok = None if value is None else (value >= goal if better == "higher" else value <= goal)
        out.append({"target": name, "value": value, "goal": goal, "ok": ok, "better": better})

    for lat in latencies:
        cold = find(records, "bulk_raw", lat, "cold")
        goal = 0.8 if lat == 0 else 0.7
        add(f"bulk raw cold >= {goal} x limit ({lat} ms)",
            ratios(records, cold)[0] if cold else None, goal)
    for lat in latencies:
        warm = find(records, "bulk_raw", lat, "warm")
        add(f"bulk raw warm >= 1000 MB/s ({lat} ms)", mbps(warm) if warm else None, 1000.0)
    for lat in latencies:
        cold = find(records, "bulk_raw", lat, "cold")
        add(f"bulk raw cold >= 3 x fsspec cat ({lat} ms)",
            ratios(records, cold)[1] if cold else None, 3.0)
    for lat in [x for x in latencies if x > 0]:
        cold = find(records, "drill_raw", lat, "cold")
        add(f"raw pixel drill cold >= 3 x fsspec cat ({lat} ms)",
            ratios(records, cold)[1] if cold else None, 3.0)
        cold = find(records, "drill_decoded", lat, "cold")
        add(f"decoded pixel drill cold >= 1.5 x xarray/fsspec ({lat} ms)",
            ratios(records, cold)[1] if cold else None, 1.5)
        floor = find(records, "drill_decoded", lat, "floor")
        peer = find(records, "drill_decoded", lat, "peer")
        if floor and peer and floor.get("seconds"):
            out[-1]["note"] = (
                f"floor: decoding alone takes {floor['seconds']:.2f} s of the peer's "
                f"{peer['seconds']:.2f} s, so at most {peer['seconds'] / floor['seconds']:.2f} x "
                "is possible on this machine")
    # The daemon's own memory is its anonymous memory: VmRSS also counts the
    # LMDB file's pages it has mapped, which are page cache the kernel
    # reclaims at will (shown in the table, not held to the bound).
    for kind, what in (("RssAnon", "anonymous memory (RssAnon)"),):
        peak = max((r.get("memory", {}).get(kind, 0) for r in records), default=0)
        add(f"daemon peak {what} <= {mem_bound / MiB:.0f} MiB", peak / MiB if peak else None,
            mem_bound / MiB, better="lower")
    return out


def oddities(records, memory_cache_bytes):
    """Things in the measurements worth a second look, as sentences."""
    out = []
    for r in records:
        where = f"{r['latency_ms']} ms {r['workload']} {r['mode']}"
        o = r.get("origin") or {}
        mem = r.get("memory") or {}
        # (requests without data are the objects' version checks of a new daemon)
        if r["mode"] in ("memory", "warm") and o.get("bytes", 0) >= MB:
            out.append(f"{where}: fetched {o['bytes'] / MB:.1f} MB ({o['requests']} requests) "
                       "from the origin: the caches did not hold everything the cold pass read")
        if r["mode"] == "cold" and r.get("bytes") and o.get("bytes", 0) > 1.25 * r["bytes"]:
            out.append(f"{where}: fetched {o['bytes'] / MB:.1f} MB from the origin for "
                       f"{r['bytes'] / MB:.1f} MB read ({o['bytes'] / r['bytes']:.2f} x)")
        # (hot runs in the warm daemon: its memory is reported with warm)
        if r["mode"] != "hot" and mem.get("RssAnon", 0) > memory_cache_bytes + 256 * MiB:
            out.append(f"{where}: daemon anonymous memory peaked at "
                       f"{mem['RssAnon'] / MiB:.0f} MiB (--memory-cache {memory_cache_bytes / MiB:.0f}"
                       " MiB)")
        if (r["mode"] in MOUNT_MODES and r.get("p50_ms") is not None
                and r["max_ms"] > max(50.0, 10 * r["p99_ms"])):
            out.append(f"{where}: latency outlier: max {r['max_ms']:.0f} ms against "
                       f"p99 {r['p99_ms']:.1f} ms")
        if r["mode"] in MOUNT_MODES and len(r.get("samples", [])) > 1:
            lo, hi = min(r["samples"]), max(r["samples"])
            if hi > 2 * lo and hi - lo > 0.2:
                out.append(f"{where}: repetitions vary {lo:.2f}..{hi:.2f} s")
    return out


def targets_text(targets):
    lines = []
    for t in targets:
        status = {True: "PASS", False: "MISS", None: "n/a "}[t["ok"]]
        v = "-" if t["value"] is None else f"{t['value']:.2f}"
        lines.append(f"  {status}  {t['target']:<60} measured {v}")
        if t.get("note"):
            lines.append(f"        ({t['note']})")
    return "\n".join(lines)


def chart(records, latencies, path, title):
    """Throughput bars (log scale) and ratio bars, one column per latency."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = [w for w in LABEL if w != "stat" and any(r["workload"] == w for r in records)]
    modes = [m for m in ORDER
             if any(r["mode"] == m and r["workload"] in workloads for r in records)]
    colors = {"limit": "#444444", "peer": "#d95f02", "floor": "#aaaaaa", "disk": "#e6ab02",
              "cold": "#1b9e77", "memory": "#a6761d",
              "warm": "#7570b3", "hot": "#66a61e"}
    fig, axes = plt.subplots(2, len(latencies), figsize=(7.5 * len(latencies) + 2.5, 9),
                             squeeze=False)
    width = 0.8 / max(1, len(modes))
    for col, lat in enumerate(latencies):
        ax = axes[0][col]
        for i, mode in enumerate(modes):
            vals = []
            for w in workloads:
                r = find(records, w, lat, mode)
                vals.append(mbps(r) if r and not r.get("errors") else 0)
            xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(workloads))]
            ax.bar(xs, [v or 0 for v in vals], width, label=MODE_LABEL[mode],
                   color=colors[mode])
        ax.set_yscale("log")
        ax.set_ylabel("MB/s (stored bytes)")
        ax.set_title(f"{lat} ms added latency: throughput")
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels([w.replace("_", "\n") for w in workloads])
        ax.grid(axis="y", which="both", alpha=0.3)
        if col == len(latencies) - 1:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax = axes[1][col]
        kinds = [("cold", 0, "cold / limit"), ("cold", 1, "cold / peer"),
                 ("warm", 1, "warm / peer"), ("hot", 1, "hot / peer")]
        kw = 0.8 / len(kinds)
        kcolors = ["#1b9e77", "#d95f02", "#7570b3", "#66a61e"]
        for i, (mode, which, label) in enumerate(kinds):
            vals = []
            for w in workloads:
                r = find(records, w, lat, mode)
                v = ratios(records, r)[which] if r else None
                vals.append(v or 0)
            xs = [j + (i - (len(kinds) - 1) / 2) * kw for j in range(len(workloads))]
            ax.bar(xs, vals, kw, label=label, color=kcolors[i])
            for x, v in zip(xs, vals):
                if v:
                    ax.text(x, v, f"{v:.1f}", ha="center", va="bottom", fontsize=6)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylabel("speed ratio (x)")
        ax.set_title(f"{lat} ms added latency: zarrmount vs limit and peer")
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels([w.replace("_", "\n") for w in workloads])
        ax.grid(axis="y", which="both", alpha=0.3)
        if col == len(latencies) - 1:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
