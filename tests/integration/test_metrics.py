"""Prometheus metrics: `--metrics HOST:PORT` and `zarrmount status --prometheus`.

  * a mount with `--metrics PORT` listens on loopback only; its /metrics and
    `status --prometheus` pass `promtool check metrics` and hold the same
    samples; every number of the status JSON has its metric, equal to it;
  * under a scripted read (O_DIRECT pieces of known chunks, and a key whose
    object is missing) the counters move as the status counters do, and the
    histograms count each FUSE read and each origin request (by host and
    result), with cumulative buckets ending in +Inf == _count;
  * URLs holding a password and a signed query leave none of it, nor any
    path, in the metrics: an origin is its host;
  * an address in use or malformed fails the mount with one line.

Data: test_cache's random blobs served by nginx.
"""

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import make_refs
import zmount
from test_cache import Blobs, check_direct, pieces, zm

PROMTOOL = "/usr/bin/promtool"
PASSWORD, SIGNATURE = "MeTrIcSPaSsWoRd", "MeTrIcSSiGnAtUrE"

# Each number of the status JSON and the sample that must equal it:
# (member path, metric, labels).
STATUS_METRICS = [
    ("keys", "zarrmount_keys", {}),
    ("hit_ratio", "zarrmount_cache_hit_ratio", {}),
    ("memory_hits", "zarrmount_cache_lookups_total", {"result": "hit", "tier": "memory"}),
    ("disk_hits", "zarrmount_cache_lookups_total", {"result": "hit", "tier": "disk"}),
    ("misses", "zarrmount_cache_lookups_total", {"result": "miss"}),
    ("memory_hit_bytes", "zarrmount_cache_bytes_total", {"tier": "memory"}),
    ("disk_hit_bytes", "zarrmount_cache_bytes_total", {"tier": "disk"}),
    ("origin_bytes", "zarrmount_cache_bytes_total", {"tier": "origin"}),
    ("origin_requests", "zarrmount_origin_requests_total", {}),
    ("origin_errors", "zarrmount_origin_errors_total", {}),
    ("origin_in_flight", "zarrmount_origin_requests_in_flight", {}),
    ("object_checks", "zarrmount_object_checks_total", {}),
    ("fuse_opens", "zarrmount_fuse_opens_total", {}),
    ("prefetch_requests", "zarrmount_prefetch_requests_total", {}),
    ("prefetch_bytes", "zarrmount_prefetch_bytes_total", {}),
    ("prefetch_dropped", "zarrmount_prefetch_dropped_total", {}),
    ("disk_cache.capacity_bytes", "zarrmount_disk_cache_capacity_bytes", {}),
    ("disk_cache.used_bytes", "zarrmount_disk_cache_used_bytes", {}),
    ("disk_cache.blocks", "zarrmount_disk_cache_blocks", {}),
    ("disk_cache.corrupt_blocks", "zarrmount_disk_cache_corrupt_blocks_total", {}),
    ("disk_cache.dropped_writes", "zarrmount_disk_cache_dropped_writes_total", {}),
]
NOT_METRICS = {"pid"}  # numbers of the status with no metric (a label-less identity)
MOVING = {"uptime_s"}  # changes by itself; zarrmount_uptime_seconds


@pytest.fixture(scope="module")
def blobs(datadir, nginx, tmp_path_factory):
    return Blobs(datadir, nginx.url, tmp_path_factory.mktemp("blobs") / "blobs.json")


@pytest.fixture(scope="module", autouse=True)
def promtool():
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail(f"{PROMTOOL} not found (Debian package prometheus, scripts/install-deps.sh)")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port, path="/metrics"):
    """(HTTP status, Content-Type, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def prometheus_status(m):
    proc = zm("status", "--prometheus", m.mnt)
    assert proc.returncode == 0 and proc.stderr == "", proc
    return proc.stdout


def status_json(m):
    proc = zm("status", "--json", m.mnt)
    assert proc.returncode == 0, proc
    return json.loads(proc.stdout)


def promtool_check(text, what):
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"promtool check metrics on {what}: {proc.stdout}{proc.stderr}"


LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"')
SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")


def parse(text):
    """{(name, frozenset of (label, value)): value} of an exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        key = (name, frozenset(LABEL.findall(labels or "")))
        assert key not in samples, f"sample given twice: {line!r}"
        samples[key] = float(value)
    return samples


def sample(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}"
    return samples[key]


def numbers(status, prefix=""):
    """{"member" or "object.member": number} of a status object."""
    out = {}
    for k, v in status.items():
        if isinstance(v, dict):
            out.update(numbers(v, f"{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[prefix + k] = v
    return out


def snapshot(m, port):
    """The status JSON, the HTTP scrape and `status --prometheus` taken
    while the counters stand still (the JSON read before and after the two
    agrees): (status, http text, status --prometheus text)."""
    for _ in range(50):
        before = status_json(m)
        code, ctype, http = scrape(port)
        assert code == 200 and ctype.startswith("text/plain; version=0.0.4"), (code, ctype)
        prom = prometheus_status(m)
        after = status_json(m)
        if all(before[k] == after[k] for k in before if k not in MOVING):
            return after, http, prom
        time.sleep(0.2)
    pytest.fail(f"the status never stood still: {before} {after}")


def check_agree(status, http, prom):
    """Both expositions pass promtool, hold the same samples (uptime
    aside), and give each status number its value."""
    promtool_check(http, "/metrics")
    promtool_check(prom, "status --prometheus")
    a, b = parse(http), parse(prom)
    uptime = ("zarrmount_uptime_seconds", frozenset())
    assert abs(a.pop(uptime) - status["uptime_s"]) <= 2 and abs(b.pop(uptime) - status["uptime_s"]) <= 2
    assert a == b, sorted(set(a.items()) ^ set(b.items()))
    mapped = {path for path, _, _ in STATUS_METRICS}
    have = set(numbers(status)) - NOT_METRICS - MOVING
    assert have <= mapped, f"status numbers with no metric checked here: {have - mapped}"
    for path, name, labels in STATUS_METRICS:
        want = numbers(status)[path]
        got = sample(a, name, **labels)
        assert abs(got - want) < (1e-4 if path == "hit_ratio" else 0.5), (path, name, got, want)
    return a


def histograms(samples, name):
    """{labels (without le): (cumulative bucket counts by le, _count, _sum)},
    checking each series' buckets rise to le="+Inf" == _count."""
    series = {}
    for (n, labels), value in samples.items():
        if n == name + "_bucket":
            d = dict(labels)
            le = d.pop("le")
            series.setdefault(frozenset(d.items()), {})[float(le)] = value
    out = {}
    for labels, buckets in series.items():
        counts = [buckets[le] for le in sorted(buckets)]
        assert counts == sorted(counts), (name, labels, buckets)
        assert sorted(buckets)[-1] == float("inf"), (name, labels)
        count = samples[(name + "_count", labels)]
        assert counts[-1] == count, (name, labels, counts, count)
        out[labels] = (counts, count, samples[(name + "_sum", labels)])
    return out


def listening_addresses(port):
    """Local addresses (hex, as /proc/net/tcp{,6} writes them) listening on
    ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                    found.append(address)
    return found


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

def test_metrics_move_with_the_status_counters(mount, blobs, nginx, tmp_path):
    """--metrics PORT (loopback only). Before and after reading three files'
    keys in O_DIRECT pieces and a key whose object is missing: both
    expositions pass promtool and agree with the status JSON; the counters
    moved by what was read; each FUSE read and each origin request is in
    its histogram; no secret, path or query of a URL is in the metrics."""
    host = nginx.url.split("://", 1)[1]
    query = f"?X-Amz-Signature={SIGNATURE}&x=1"
    keys = blobs.of_files(range(3))
    refs = {".zgroup": json.dumps({"zarr_format": 2})}
    for k in keys:
        url, offset, length = blobs.ranges[k]
        refs[k] = [url.replace("://", f"://reader:{PASSWORD}@", 1) + query, offset, length]
    refs["missing"] = [f"http://reader:{PASSWORD}@{host}/no/such/object.bin{query}", 0, 100]
    path = str(tmp_path / "refs.json")
    make_refs.write(refs, path)
    port = free_port()
    m = mount(path, extra=["--no-prefetch", "--cache-size", "64M", "--retries", "0",
                           "--metrics", str(port)])
    assert listening_addresses(port) == ["0100007F"], listening_addresses(port)
    assert scrape(port, "/")[0] == 404

    s0, http0, prom0 = snapshot(m, port)
    m0 = check_agree(s0, http0, prom0)
    assert check_direct(m, blobs, keys) == []
    with pytest.raises(OSError):
        with open(m.path("missing"), "rb") as f:
            f.read()
    s1, http1, prom1 = snapshot(m, port)
    m1 = check_agree(s1, http1, prom1)

    # The counters moved, as the status counters did.
    n1, n0 = numbers(s1), numbers(s0)
    for member, name, labels in STATUS_METRICS:
        assert sample(m1, name, **labels) - sample(m0, name, **labels) == \
            pytest.approx(n1[member] - n0[member], abs=1e-4), member
    assert n1["misses"] - n0["misses"] == blobs.nblocks(keys), (s0, s1)
    assert n1["origin_bytes"] - n0["origin_bytes"] == blobs.nbytes(keys), (s0, s1)
    assert n1["memory_hits"] - n0["memory_hits"] > 0, (s0, s1)
    # The first open is answered ENOSYS, after which the kernel opens files
    # without asking: the files read cost one open in all.
    assert (n0["fuse_opens"], n1["fuse_opens"]) == (0, 1), (s0, s1)

    # Every FUSE read and every origin request is counted once.
    reads1 = histograms(m1, "zarrmount_fuse_read_duration_seconds")
    reads0 = histograms(m0, "zarrmount_fuse_read_duration_seconds")
    ok, error = (frozenset({("result", r)}) for r in ("ok", "error"))
    n_pieces = sum(pieces(blobs.ranges[k][2]) for k in keys)
    assert reads1[ok][1] - reads0[ok][1] == n_pieces, (reads0, reads1)
    assert reads1[error][1] - reads0[error][1] >= 1, (reads0, reads1)
    assert reads1[ok][2] > reads0[ok][2], "the read times' sum did not grow"
    origin = histograms(m1, "zarrmount_origin_request_duration_seconds")
    assert {dict(labels)["origin"] for labels in origin} == {host}, origin.keys()
    by_result = {dict(labels)["result"]: count for labels, (_, count, _) in origin.items()}
    # Data requests and size/version checks; the failed ones of both are errors.
    assert by_result["ok"] + by_result["error"] == s1["origin_requests"] + s1["object_checks"], \
        (by_result, s1)
    assert by_result["error"] == s1["origin_errors"], (by_result, s1)

    for text in (http1, prom1):
        for secret in (PASSWORD, SIGNATURE, "reader", "cachetest", "no/such", "X-Amz"):
            assert secret not in text, f"{secret!r} in the metrics:\n{text}"
    fm, alive = m.unmount()
    assert fm.returncode == 0 and not alive, (fm.stderr, alive)


def test_metrics_address_errors_fail_the_mount(mount, blobs, tmp_path):
    """A port another socket holds, and malformed addresses, fail the mount
    command with one line naming --metrics and the address; nothing is
    mounted."""
    refs = blobs.write_refs(tmp_path / "r.json", blobs.of_files([0]))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        cases = {f"127.0.0.1:{port}": "in use", "nope": "not a port",
                 "[::1]9100": "[ADDRESS]:PORT", "127.0.0.1:70000": "not a port"}
        for spec, why in cases.items():
            m = mount(refs, start=False, extra=["--metrics", spec])
            proc = subprocess.run(m.command(), capture_output=True, text=True,
                                  timeout=zmount.MOUNT_TIMEOUT, stdin=subprocess.DEVNULL)
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode != 0 and len(lines) == 1, (spec, proc)
            assert f"--metrics '{spec}'" in lines[0] and why in lines[0], (spec, lines)
            assert not zmount.is_mounted(m.mnt), spec
