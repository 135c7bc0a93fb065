#!/usr/bin/env python3
"""Mounting a plain Zarr store of many chunk objects on s3rver.

Writes a v2 store of --chunks chunk objects (one int32 array, one chunk per
element, 4 bytes each) straight into s3rver's directory layout (the files a
PUT would write: fast), starts s3rver (tests/integration/s3_server.py,
installed with npm on first use), and times `zarrmount s3://bench/s.zarr MNT`
until it returns serving:
  - with consolidated metadata (.zmetadata): no listing, no chunk request;
  - without it: the bucket's ListObjectsV2 listing, 1,000 keys a page.
Each mount is checked (the number of chunk names in the array's directory)
and unmounted. Prints seconds and the ratio to its targets (< 1 s
with consolidated metadata, < 5 s listing only), and the seconds s3rver
takes to answer the same listing pages to a bare HTTP client (unsigned,
one after the other): the listing's floor on this server, whatever the
client does (s3rver spends its time per key, on one thread: asking for
the pages in parallel, by prefix, does not make it faster).

Chunk keys are nested ('/' separator, 1,000 directories of --chunks/1000)
unless --flat: s3rver walks its directory tree from the start for every
page, stat-ing each entry, so one flat directory of 100,000 objects costs
it O(pages x objects) and times s3rver rather than zarrmount.

Needs root (FUSE) and Node.js. Usage:
  scripts/bench_store_mount.py [--chunks 100000] [--flat] [--runs 2] [--zarrmount BIN]
"""
import argparse
import http.client
import json
import re
import urllib.parse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import s3_server  # noqa: E402

KEY_ID, SECRET = "AKIDZARRMOUNTBENCH01", "zmBenchSecret/Known+Value0123456789ab"
TARGETS = {"consolidated": 1.0, "listed": 5.0}


def store_objects(chunks, flat):
    """{key: bytes} of the store: .zgroup, v/.zarray and the chunks."""
    rows = 1000 if chunks % 1000 == 0 and chunks >= 1000 else 1
    cols = chunks // rows
    zarray = {"zarr_format": 2, "shape": [rows, cols], "chunks": [1, 1], "dtype": "<i4",
              "compressor": None, "fill_value": -1, "order": "C", "filters": None,
              "dimension_separator": "." if flat else "/"}
    objects = {".zgroup": json.dumps({"zarr_format": 2}).encode(),
               "v/.zarray": json.dumps(zarray).encode()}
    sep = "." if flat else "/"
    for i in range(rows):
        for j in range(cols):
            objects[f"v/{i}{sep}{j}"] = (i * cols + j).to_bytes(4, "little")
    return objects, rows, cols


def zmetadata(objects):
    meta = {k: json.loads(v) for k, v in objects.items() if os.path.basename(k).startswith(".z")}
    return json.dumps({"zarr_consolidated_format": 1, "metadata": meta}).encode()


def timed_mount(zm, env, mnt, cols, rows):
    t0 = time.monotonic()
    proc = subprocess.run([zm, "--cache-dir", os.path.join(os.path.dirname(mnt), "cache"),
                           "s3://bench/s.zarr", mnt], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"mount failed: {proc.stderr.strip()[-600:]}")
    try:
        top = os.listdir(os.path.join(mnt, "v"))
        names = len(top) if rows == 1 or "0.0" in top else sum(
            len(os.listdir(os.path.join(mnt, "v", d))) for d in top if d[0].isdigit())
        if names < rows * cols:
            sys.exit(f"the mount shows {names} chunks, not {rows * cols}")
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        time.sleep(0.3)
    return seconds


def bare_listing_seconds(port):
    """Seconds for s3rver to answer every ListObjectsV2 page of the store,
    one after the other, to a plain HTTP client."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    token, pages, t0 = None, 0, time.monotonic()
    while True:
        query = "list-type=2&prefix=s.zarr%2F"
        if token:
            query = "continuation-token=" + urllib.parse.quote(token, safe="") + "&" + query
        conn.request("GET", "/bench?" + query)
        body = conn.getresponse().read().decode()
        pages += 1
        m = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", body)
        if not m:
            break
        token = m.group(1)
    conn.close()
    return time.monotonic() - t0, pages


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--flat", action="store_true", help="'.' chunk keys: one flat directory")
    ap.add_argument("--runs", type=int, default=2, help="mounts per case; the best is reported")
    ap.add_argument("--zarrmount", default=os.path.join(REPO, "build", "zarrmount"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="zm-bench-store-")
    server = None
    try:
        t0 = time.monotonic()
        objects, rows, cols = store_objects(args.chunks, args.flat)
        server = s3_server.S3rver(work, [(KEY_ID, SECRET)], ["bench"])
        os.makedirs(os.path.join(work, "store", "bench"), exist_ok=True)
        for key, data in objects.items():
            server.write_direct("bench", "s.zarr/" + key, data)
        server.write_direct("bench", "s.zarr/.zmetadata", zmetadata(objects))
        server.start()
        print(f"store: {len(objects) - 2} chunk objects ({'flat' if args.flat else 'nested'} keys) "
              f"written into s3rver's layout in {time.monotonic() - t0:.1f} s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HOME=work, AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID=KEY_ID,
                   AWS_SECRET_ACCESS_KEY=SECRET)
        mnt = os.path.join(work, "mnt")
        os.makedirs(mnt)
        results = {}
        for case in ("consolidated", "listed"):
            if case == "listed":  # the same store, its consolidated metadata gone
                base = os.path.join(work, "store", "bench", "s.zarr", ".zmetadata._S3rver_object")
                for suffix in ("", ".md5"):
                    os.remove(base + suffix)
            runs = [timed_mount(args.zarrmount, env, mnt, cols, rows) for _ in range(args.runs)]
            results[case] = min(runs)
            print(f"{case:>12}: mount returns serving in {results[case]:.2f} s (best of "
                  f"{args.runs}: {', '.join(f'{r:.2f}' for r in runs)}); target < "
                  f"{TARGETS[case]:.0f} s: {results[case] / TARGETS[case]:.2f} of it")
        floor, pages = bare_listing_seconds(server.port)
        print(f"{'bare client':>12}: s3rver answers the {pages} listing pages in {floor:.2f} s; "
              f"the listed mount takes {results['listed'] / floor:.2f} of that")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
