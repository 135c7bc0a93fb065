"""The benchmark's origins: private nginx servers on 127.0.0.1.

One server is the integration tests' ``nginx_server.Nginx`` with room for
more connections (``Nginx``); the other adds a fixed delay to every request
with the echo module
(``echo_sleep``, then ``echo_exec`` to a named location that serves the files
with nginx's static handler, so Range requests still get 206 answers).

The served files are copied to a tmpfs (``/dev/shm``) first: the benchmark
drops the kernel page cache between phases, and the origin must not turn
into a disk benchmark when it does.
"""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import nginx_server  # noqa: E402

SHM = "/dev/shm"
SHM_PREFIX = "zarrmount-bench."


class Nginx(nginx_server.Nginx):
    """nginx_server.Nginx with room for ``CONNECTIONS`` clients at once.

    The tests' 256 connections are too few for the peer's many-process
    drill: each process has its own aiohttp session of up to 100
    connections, and past the limit nginx reuses (closes) connections,
    which fsspec reports as missing keys that zarr then fills with the
    fill value."""

    CONNECTIONS = 4096

    def start(self, port=None):
        saved = nginx_server.CONF
        old = "events {{ worker_connections 256; }}"
        if old not in saved:
            raise RuntimeError("nginx_server.CONF changed: no worker_connections 256 to raise")
        nginx_server.CONF = saved.replace(old, (
            "worker_rlimit_nofile %d;\nevents {{ worker_connections %d; }}"
            % (2 * self.CONNECTIONS + 64, self.CONNECTIONS)))
        try:
            return super().start(port)
        finally:
            nginx_server.CONF = saved


class LatencyNginx(Nginx):
    """Nginx whose every request waits ``delay_ms`` first.

    nginx_server's config template has one slot for extra locations of the
    server block (its slow fault location, which also needs the echo
    module); this server fills it with the delaying locations instead."""

    def __init__(self, root, prefix, delay_ms):
        super().__init__(root, prefix)
        if not self.has_slow:
            raise RuntimeError(f"the nginx echo module is missing ({nginx_server.ECHO_MODULE}); "
                               "install libnginx-mod-http-echo")
        self.delay_ms = delay_ms

    def start(self, port=None):
        locations = (
            "        location / {{ echo_sleep %.3f; echo_exec @files; }}\n"
            "        location @files {{ }}\n" % (self.delay_ms / 1000.0))
        saved = nginx_server.SLOW
        nginx_server.SLOW = locations
        try:
            return super().start(port)
        finally:
            nginx_server.SLOW = saved


def check_range(url, length, timeout=10):
    """Asks ``url`` for bytes 1..100 (of an object of ``length`` bytes) with
    curl; returns (ok, description)."""
    want = min(100, length - 1)
    out = subprocess.run(
        ["curl", "-q", "-s", "-o", "/dev/null", "-r", f"1-{want}", "--max-time", str(timeout),
         "-w", "%{http_code} %{size_download} %{time_total}", url],
        capture_output=True, text=True)
    parts = out.stdout.split()
    ok = out.returncode == 0 and len(parts) == 3 and parts[0] == "206" and int(parts[1]) == want
    return ok, f"{out.stdout.strip()} (rc {out.returncode})"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def clean_stale_shm(log=print):
    """Removes origin copies left by benchmark runs that died."""
    for name in os.listdir(SHM):
        if not name.startswith(SHM_PREFIX):
            continue
        try:
            pid = int(name[len(SHM_PREFIX):])
        except ValueError:
            continue
        if not _pid_alive(pid):
            log(f"removing stale {SHM}/{name}")
            shutil.rmtree(os.path.join(SHM, name), ignore_errors=True)


def copy_to_shm(src_dir, names):
    """Copies files ``names`` of ``src_dir`` to a new tmpfs directory; returns it."""
    dst = os.path.join(SHM, f"{SHM_PREFIX}{os.getpid()}")
    os.makedirs(dst, exist_ok=True)
    for n in names:
        shutil.copyfile(os.path.join(src_dir, n), os.path.join(dst, n))
    return dst


class AccessLog:
    """Counts requests and bytes in an nginx access log since ``mark()``.
    nginx_server's log format: method uri status "range" bytes."""

    def __init__(self, path):
        self.path = path
        self.pos = 0

    def mark(self):
        self.pos = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def since(self):
        if not os.path.exists(self.path):
            return {"requests": 0, "bytes": 0, "statuses": {}}
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        requests = nbytes = 0
        statuses = {}
        for line in data.decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) < 5:
                continue
            requests += 1
            statuses[parts[2]] = statuses.get(parts[2], 0) + 1
            try:
                nbytes += int(parts[-1])
            except ValueError:
                pass
        return {"requests": requests, "bytes": nbytes, "statuses": statuses}
