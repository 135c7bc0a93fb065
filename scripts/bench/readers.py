"""The readers the benchmark times: through the mount, straight from nginx with
curl (the limit), and through fsspec's ReferenceFileSystem (the peer).

Every function returns a dict with at least ``seconds`` and ``bytes`` (the
stored, i.e. compressed, bytes delivered) and ``errors`` (a count, with the
first messages in ``error_samples``).
"""

import concurrent.futures
import os
import subprocess
import tempfile
import threading
import time

import numpy as np

THREADS = 16  # parallel readers for bulk reads (= zarrmount's FUSE threads)


def _result(seconds, nbytes, errors=(), **extra):
    out = {"seconds": seconds, "bytes": nbytes, "errors": len(errors),
           "error_samples": [str(e)[:300] for e in errors[:3]]}
    out.update(extra)
    return out


# --------------------------------------------------------------------------
# Through the mount
# --------------------------------------------------------------------------

def _read_whole(path, buf):
    """Reads file ``path`` into ``buf`` (larger than the file); returns the
    number of bytes read. open/read.../close, like any reader of a file."""
    mv = memoryview(buf)
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            r = f.readinto(mv[n:])
            if not r:
                break
            n += r
    return n


def read_parallel(items, threads=THREADS):
    """Whole files read by a pool of ``threads``; items: [(path, size)]."""
    local = threading.local()
    biggest = max(size for _, size in items) + (1 << 20)
    errors = []

    def one(item):
        path, size = item
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = bytearray(biggest)
        try:
            n = _read_whole(path, buf)
        except OSError as e:
            errors.append(f"{path}: {e}")
            return 0
        if n != size:
            errors.append(f"{path}: read {n} bytes, expected {size}")
        return n

    t0 = time.perf_counter()
    pool = concurrent.futures.ThreadPoolExecutor(threads)
    try:
        total = sum(pool.map(one, items))
    except BaseException:  # Ctrl-C: do not read the rest first
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return _result(time.perf_counter() - t0, total, errors)


def read_sequential(items, keep=False):
    """Whole files read one after the other by one reader, as zarr's
    DirectoryStore does; per-file latencies in ``latencies`` (seconds)."""
    biggest = max(size for _, size in items) + (1 << 20)
    buf = bytearray(biggest)
    errors, lat, data = [], [], []
    total = 0
    t0 = time.perf_counter()
    for path, size in items:
        t = time.perf_counter()
        try:
            n = _read_whole(path, buf)
        except OSError as e:
            errors.append(f"{path}: {e}")
            n = 0
        lat.append(time.perf_counter() - t)
        if n != size:
            errors.append(f"{path}: read {n} bytes, expected {size}")
        if keep:
            data.append(bytes(buf[:n]))
        total += n
    out = _result(time.perf_counter() - t0, total, errors, latencies=lat)
    if keep:
        out["data"] = data
    return out


def _data_extents(fd, size):
    """(offset, length) of the parts of a file that hold data: LMDB's map
    file is sparse, as big as the cache's capacity."""
    out, pos = [], 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:  # ENXIO: no data past pos
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append((start, end - start))
        pos = end
    return out


def read_dir_files(root, block=4 << 20):
    """Reads the data of every file under ``root`` sequentially, holes
    skipped (the disk's speed for the persistent cache's files, after the
    page cache was dropped)."""
    buf = bytearray(block)
    mv = memoryview(buf)
    total = 0
    t0 = time.perf_counter()
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            with open(os.path.join(dirpath, name), "rb", buffering=0) as f:
                for start, length in _data_extents(f.fileno(), os.fstat(f.fileno()).st_size):
                    f.seek(start)
                    while length > 0:
                        n = f.readinto(mv[:min(block, length)])
                        if not n:
                            break
                        total += n
                        length -= n
    return _result(time.perf_counter() - t0, total, [])


def walk_stat(root):
    """os.walk + lstat of every entry (like ``find | xargs stat``)."""
    t0 = time.perf_counter()
    entries = files = 0
    errors = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        for name in dirnames + filenames:
            try:
                os.lstat(os.path.join(dirpath, name))
            except OSError as e:
                errors.append(e)
            entries += 1
        files += len(filenames)
    return _result(time.perf_counter() - t0, 0, errors, entries=entries, files=files)


# --------------------------------------------------------------------------
# The limit: curl straight from nginx
# --------------------------------------------------------------------------

def curl_ranges(ranges, parallel=THREADS, workdir=None):
    """Fetches ranges [(url, offset, length)] with one curl process:
    ``parallel`` > 1 runs them with --parallel --parallel-max N, 1 runs them
    one after another on one connection. Per-transfer times in ``latencies``."""
    fd, conf = tempfile.mkstemp(prefix="curl-", suffix=".conf", dir=workdir)
    with os.fdopen(fd, "w") as f:
        for i, (url, off, n) in enumerate(ranges):
            if i:
                f.write("next\n")  # each transfer its own options (range, output)
            f.write(f'url = "{url}"\nrange = "{off}-{off + n - 1}"\noutput = "/dev/null"\n'
                    'write-out = "%{http_code} %{size_download} %{time_total}\\n"\n')
    cmd = ["curl", "-q", "-s", "-S", "-K", conf]
    if parallel > 1:
        cmd[2:2] = ["--parallel", "--parallel-max", str(parallel)]
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    finally:
        os.unlink(conf)
    errors, lat = [], []
    total = 0
    lines = proc.stdout.splitlines()
    for line in lines:
        code, size, t = line.split()
        total += int(size)
        lat.append(float(t))
        if code != "206":
            errors.append(f"HTTP {code}")
    if proc.returncode != 0:
        errors.append(f"curl exit {proc.returncode}: {proc.stderr.strip()[:200]}")
    if len(lines) != len(ranges):
        errors.append(f"curl reported {len(lines)} transfers of {len(ranges)}")
    want = sum(n for _, _, n in ranges)
    if total != want:
        errors.append(f"curl fetched {total} bytes, expected {want}")
    return _result(seconds, total, errors, latencies=lat)


# --------------------------------------------------------------------------
# The peer: fsspec's ReferenceFileSystem, xarray over it
# --------------------------------------------------------------------------

def _storage_options(refs):
    # A new ReferenceFileSystem per measurement, but fsspec's one cached http
    # filesystem (one aiohttp session, at most 100 connections) for all: new
    # sessions per measurement leave their idle connections open until
    # garbage collection, exhausting nginx's worker_connections (256), which
    # then stalls new connections for ~10 s.
    return {"fo": refs, "remote_protocol": "http", "skip_instance_cache": True}


def reference_fs(refs):
    import fsspec
    return fsspec.filesystem("reference", **_storage_options(refs))


def fsspec_cat(refs, keys, keep=False):
    """fs.cat(keys) of a new ReferenceFileSystem. Keys should be given in
    (url, offset) order: fsspec 2022.11 pairs results with keys in that order
    when it merges no ranges (see tests/integration/judges.py)."""
    t0 = time.perf_counter()
    fs = reference_fs(refs)
    errors = []
    try:
        out = fs.cat(list(keys))
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        errors.append(repr(e))
        out = {}
    seconds = time.perf_counter() - t0
    total = 0
    for k in keys:
        v = out.get(k)
        if not isinstance(v, bytes) or len(v) != refs[k][2]:
            errors.append(f"{k}: {type(v).__name__} of {len(v) if isinstance(v, bytes) else '-'} "
                          f"bytes, expected {refs[k][2]}")
        else:
            total += len(v)
    res = _result(seconds, total, errors)
    if keep:
        res["data"] = [out.get(k) for k in keys]
    return res


def fsspec_cat_each(refs, keys):
    """One fs.cat_file per key, one after another (a single reader)."""
    t0 = time.perf_counter()
    fs = reference_fs(refs)
    lat, errors = [], []
    total = 0
    for k in keys:
        t = time.perf_counter()
        try:
            total += len(fs.cat_file(k))
        except Exception as e:  # noqa: BLE001
            errors.append(f"{k}: {e!r}")
        lat.append(time.perf_counter() - t)
    return _result(time.perf_counter() - t0, total, errors, latencies=lat)


def fsspec_walk(refs):
    """A new ReferenceFileSystem and a find() of every entry with details."""
    t0 = time.perf_counter()
    fs = reference_fs(refs)
    found = fs.find("", withdirs=True, detail=True)
    return _result(time.perf_counter() - t0, 0, [], entries=len(found))


# --------------------------------------------------------------------------
# Decoded reads with xarray
# --------------------------------------------------------------------------

def open_mount(mnt, dask=False):
    """xr.open_zarr of the mount: numpy-backed (chunks=None), or with ``dask``
    as users call it, with open_zarr's default chunks."""
    import xarray as xr
    if dask:
        return xr.open_zarr(mnt, consolidated=False)
    return xr.open_zarr(mnt, consolidated=False, chunks=None)


def open_fsspec(refs, dask=False):
    """The same over fsspec's ReferenceFileSystem ("reference://")."""
    import xarray as xr
    if dask:
        return xr.open_zarr("reference://", consolidated=False,
                            storage_options=_storage_options(refs))
    return xr.open_dataset("reference://", engine="zarr", chunks=None,
                           backend_kwargs={"consolidated": False,
                                           "storage_options": _storage_options(refs)})


def xr_values(opener, variables, nbytes, select=None):
    """Opens the dataset and computes ``ds[var][select].values`` for each
    variable; ``nbytes`` is the stored size of the chunks this touches.
    Returns the arrays too (``values``), for cross-checks when small."""
    errors = []
    values = {}
    decoded = 0
    t0 = time.perf_counter()
    try:
        ds = opener()
        for var in variables:
            arr = ds[var] if select is None else ds[var][select]
            v = arr.values
            decoded += v.nbytes
            values[var] = v if v.size <= 1 << 20 else None
            del v
        ds.close()
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))
    seconds = time.perf_counter() - t0
    return _result(seconds, nbytes if not errors else 0, errors, decoded_bytes=decoded,
                   values=values)


def decode_point(chunks, filters, chunk_shape, dtype, point):
    """Decode-only time of ``chunks`` (bytes in memory) with numcodecs, taking
    the element at ``point`` (index within the chunk, without time) of each."""
    import numcodecs
    codecs = [numcodecs.get_codec(dict(c)) for c in (filters or [])]
    t0 = time.perf_counter()
    out = []
    for data in chunks:
        for c in reversed(codecs):
            data = c.decode(data)
        a = np.frombuffer(data, dtype=dtype).reshape(chunk_shape)
        out.append(a[(slice(None),) + tuple(point)].copy())
    seconds = time.perf_counter() - t0
    return _result(seconds, sum(len(c) for c in chunks), [], values=np.concatenate(out))


# --------------------------------------------------------------------------
# One point through every time step, as users read it
# --------------------------------------------------------------------------

def npy_point(path, select, nbytes):
    """np.load(path, mmap_mode="r")[select] of a .npy file of the npy view."""
    errors, values = [], None
    t0 = time.perf_counter()
    try:
        a = np.load(path, mmap_mode="r")
        values = np.array(a[select])
        del a
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))
    return _result(time.perf_counter() - t0, 0 if errors else nbytes, errors,
                   values={"": values})


def netcdf_point(path, var, select, nbytes):
    """netCDF4.Dataset(path)[var][select] of a file of the netcdf view (with
    netCDF4's default masking; the values compared are the masked array's data)."""
    errors, values = [], None
    t0 = time.perf_counter()
    try:
        import netCDF4
        with netCDF4.Dataset(path) as ds:
            values = np.ma.getdata(ds[var][select])
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))
    return _result(time.perf_counter() - t0, 0 if errors else nbytes, errors,
                   values={"": values})


def _drill_worker(kind, target, var, point, ready, go, results):
    """One process of drill_processes: imports and gets ready, waits for
    ``go``, then opens the dataset (xarray, chunks=None) and reads
    ``var[:, y, x]``; puts (index, seconds since go, values or error)."""
    import warnings
    warnings.simplefilter("ignore")
    import xarray  # noqa: F401 - imported before the clock starts
    if kind == "fsspec":
        import fsspec  # noqa: F401
    ready.release()
    go.wait()
    t0 = time.perf_counter()
    try:
        ds = open_mount(target) if kind == "mount" else open_fsspec(target)
        values = ds[var][(slice(None),) + tuple(point)].values
        ds.close()
        results.put((point, time.perf_counter() - t0, values, None))
    except Exception as e:  # noqa: BLE001
        results.put((point, time.perf_counter() - t0, None, repr(e)))


def drill_processes(kind, target, var, points, nbytes, timeout=600):
    """``len(points)`` processes at once, each reading one point through time
    with xarray (chunks=None) from the mount (``kind`` "mount", ``target`` its
    path) or from fsspec (``kind`` "fsspec", ``target`` the references). Time
    from the common start to the last answer; each process's own time in
    ``latencies``. Processes are spawned (no fork of this process's threads)
    and import everything before the clock starts."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_drill_worker, args=(kind, target, var, p, ready, go, results),
                         daemon=True) for p in points]
    for p in procs:
        p.start()
    errors, values, lat = [], {}, []
    t0 = None
    try:
        for _ in procs:
            if not ready.acquire(timeout=120):
                raise RuntimeError("a drill process did not start in 120 s")
        t0 = time.perf_counter()
        go.set()
        for _ in procs:
            point, secs, vals, err = results.get(timeout=timeout)
            lat.append(secs)
            if err:
                errors.append(f"{point}: {err}")
            values[tuple(point)] = vals
    except Exception as e:  # noqa: BLE001 - a stuck or dead process: reported
        errors.append(repr(e))
    finally:
        seconds = time.perf_counter() - t0 if t0 else 0.0
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
    return _result(seconds, 0 if errors else nbytes, errors, latencies=lat, values=values)
