#!/usr/bin/python3
"""A misbehaving HTTP/1.1 origin for zarrmount's fault tests (stdlib only).

Serves the files under a directory with single-range support (``Range:
bytes=a-b``, ``a-``, ``-n``), HEAD and keep-alive, like a plain static file
server. Each GET or HEAD is answered according to a policy: the first
matching per-path rule, else a seeded random mix. What it can do to a request
(``FAULTS``):

  ok              serve it correctly (206 for a range, 200 otherwise)
  reset           reset the connection (SO_LINGER 0, then close: a TCP RST),
                  before the response or after the headers and part of the body
  error500        500 without Retry-After
  error503        503 without Retry-After
  error500_retry  500 with ``Retry-After: <retry_after>``
  error503_retry  503 with ``Retry-After: <retry_after>``
  stall           send nothing for ``stall_seconds`` (before the response, or
                  after the headers and part of the body), then close
  drip            the right answer, its body in ``drip_pieces`` pieces spread
                  over ``drip_seconds``
  truncate        the right headers (full Content-Length), part of the body,
                  then close
  wrong_range     206 whose Content-Range is not the range asked for (shifted,
                  shorter or longer), with the bytes of the range it names
  full_200        200 with the whole file where a range was asked for

Faults that need a range (wrong_range, full_200) serve requests without one
correctly; HEAD requests only get reset, error* and stall. What was done is
counted per fault and per path, and logged with a CLOCK_MONOTONIC time stamp.

Configuration (all keys optional; given ones replace the current ones)::

  {"seed": 1,
   "mix": {"reset": 0.05, "stall": 0.01, ...},   # probabilities; rest is ok
   "rules": [{"path": "/a.bin", "fault": "error503_retry", "times": 2,
              "method": "GET", "params": {"retry_after": 1}}],
   "params": {"retry_after": 1, "stall_seconds": 30, "drip_seconds": 0.5,
              "drip_pieces": 8}}

A rule applies to requests whose path starts with ``path`` (and whose method
is ``method``, when given), ``times`` times (forever if absent or null); its
``params`` override the global ones. Rules are tried in order.

Control endpoint (never faulted):
  POST /_fault/config   JSON as above
  POST /_fault/reset    zero the counters and the log
  GET  /_fault/stats    {"requests": n, "faults": {fault: n},
                         "paths": {path: {fault: n}}, "log": [[t, method,
                         path, range, fault], ...]}

In-process: ``FaultServer(root, config).start()``; as a separate process
(its own interpreter, so a busy test does not slow it down):
``FaultProcess(root, config).start()``, or from a shell
``fault_server.py ROOT [--port N] [--config JSON]``, which prints
``PORT <n>`` once it listens. Both classes have ``url``, ``configure()``,
``reset()``, ``stats()`` and ``stop()``.
"""

import argparse
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from procs import stop_process

FAULTS = ("ok", "reset", "error500", "error503", "error500_retry", "error503_retry",
          "stall", "drip", "truncate", "wrong_range", "full_200")
CONTROL = "/_fault/"
DEFAULT_PARAMS = {"retry_after": 1, "stall_seconds": 30.0, "drip_seconds": 0.5,
                  "drip_pieces": 8}
LOG_LIMIT = 200_000  # log entries kept; counters are exact regardless


class Policy:
    """Chooses a fault per request and counts what was done. Thread-safe."""

    def __init__(self, config=None):
        self.lock = threading.Lock()
        self.rng = random.Random(0)
        self.mix = {}
        self.rules = []
        self.params = dict(DEFAULT_PARAMS)
        self.reset()
        if config:
            self.configure(config)

    def configure(self, config):
        with self.lock:
            if "seed" in config:
                self.rng = random.Random(config["seed"])
            if "mix" in config:
                mix = {k: float(v) for k, v in config["mix"].items()}
                bad = set(mix) - set(FAULTS)
                if bad or sum(mix.values()) > 1.0 + 1e-9 or min(mix.values(), default=0) < 0:
                    raise ValueError(f"bad mix {config['mix']!r}")
                self.mix = mix
            if "rules" in config:
                rules = []
                for r in config["rules"]:
                    if r.get("fault") not in FAULTS or "path" not in r:
                        raise ValueError(f"bad rule {r!r}")
                    rules.append(dict(r, params=dict(r.get("params") or {})))
                self.rules = rules
            if "params" in config:
                self.params.update(config["params"])

    def reset(self):
        with self.lock:
            self.requests = 0
            self.faults = {}
            self.paths = {}
            self.log = []

    def choose(self, method, path):
        """Returns (fault, params, rng draw in [0, 1) for the fault's variant)."""
        with self.lock:
            for rule in self.rules:
                if not path.startswith(rule["path"]):
                    continue
                if rule.get("method") and rule["method"] != method:
                    continue
                times = rule.get("times")
                if times is not None:
                    if times <= 0:
                        continue
                    rule["times"] = times - 1
                return rule["fault"], dict(self.params, **rule["params"]), self.rng.random()
            x = self.rng.random()
            fault = "ok"
            for name, p in self.mix.items():
                if x < p:
                    fault = name
                    break
                x -= p
            return fault, dict(self.params), self.rng.random()

    def record(self, method, path, range_text, fault):
        with self.lock:
            self.requests += 1
            self.faults[fault] = self.faults.get(fault, 0) + 1
            per_path = self.paths.setdefault(path, {})
            per_path[fault] = per_path.get(fault, 0) + 1
            if len(self.log) < LOG_LIMIT:
                self.log.append([time.monotonic(), method, path, range_text, fault])

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "faults": dict(self.faults),
                    "paths": {p: dict(c) for p, c in self.paths.items()},
                    "log": [list(e) for e in self.log]}


def parse_range(header, size):
    """(first, last) inclusive for a single byte range, None when there is no
    usable Range header (serve the whole file), or "unsatisfiable"."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None  # multiple or malformed ranges: ignored, as RFC 9110 allows
    if m.group(1) == "":  # suffix: the last n bytes
        n = int(m.group(2))
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else size - 1
    if first >= size or last < first:
        return "unsatisfiable"
    return first, min(last, size - 1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "fault_server"
    timeout = 120  # idle keep-alive connections are closed eventually

    def log_message(self, fmt, *args):  # quiet: the policy keeps the log
        pass

    # -- plumbing ----------------------------------------------------------

    def _reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_head(self, code, length, headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        for k, v in headers:
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send_file(self, path, first, length, pieces=1, seconds=0.0):
        """Sends file bytes [first, first + length), in ``pieces`` writes
        spread over ``seconds``."""
        stop = self.server.stopping
        with open(path, "rb") as f:
            f.seek(first)
            left = length
            pieces = max(1, int(pieces))
            step = max(1, -(-length // pieces)) if pieces > 1 else 1 << 16
            while left > 0:
                data = f.read(min(step, left))
                if not data:
                    raise OSError(f"{path}: shorter than expected")
                self.wfile.write(data)
                left -= len(data)
                if pieces > 1 and left > 0 and stop.wait(seconds / pieces):
                    return

    def _close(self):
        """Ends the connection after this response (FIN)."""
        self.close_connection = True

    def _reset(self):
        """Ends the connection with a RST: SO_LINGER 0 makes close() abort it.
        Every reference to the socket is dropped here so the close is real
        (a later shutdown() by socketserver would send a FIN first)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.rfile.close()
        self.connection.close()

    # -- requests ------------------------------------------------------------

    def do_GET(self):
        self._serve()

    def do_HEAD(self):
        self._serve()

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        policy = self.server.policy
        try:
            if path == CONTROL + "config":
                policy.configure(json.loads(body or b"{}"))
            elif path == CONTROL + "reset":
                policy.reset()
            else:
                return self._reply(404, b"no such control\n")
        except (ValueError, TypeError, KeyError) as e:
            return self._reply(400, f"{e}\n".encode())
        self._reply(200, b"{}", [("Content-Type", "application/json")])

    def _serve(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if path.startswith(CONTROL):
            if path == CONTROL + "stats" and self.command == "GET":
                body = json.dumps(self.server.policy.stats()).encode()
                return self._reply(200, body, [("Content-Type", "application/json")])
            return self._reply(404, b"no such control\n")
        local = os.path.realpath(os.path.join(self.server.root, path.lstrip("/")))
        if not local.startswith(self.server.root + os.sep) or not os.path.isfile(local):
            return self._reply(404, b"not found\n")
        size = os.path.getsize(local)
        rng = parse_range(self.headers.get("Range"), size)
        range_text = self.headers.get("Range") or ""
        fault, params, draw = self.server.policy.choose(self.command, path)
        head = self.command == "HEAD"
        # Faults that do not apply to this request serve it correctly.
        if head and fault not in ("ok", "reset", "stall") and not fault.startswith("error"):
            fault = "ok"
        if fault in ("wrong_range", "full_200") and not isinstance(rng, tuple):
            fault = "ok"
        self.server.policy.record(self.command, path, range_text, fault)

        if rng == "unsatisfiable" and fault == "ok":
            return self._reply(416, b"", [("Content-Range", f"bytes */{size}")])
        first, last = rng if isinstance(rng, tuple) else (0, size - 1)
        length = last - first + 1 if size else 0
        if isinstance(rng, tuple):
            code, headers = 206, [("Content-Range", f"bytes {first}-{last}/{size}")]
        else:
            code, headers = 200, []
        mid = draw >= 0.5  # the variant of reset and stall
        part = int(length * (draw - 0.5) * 2) if mid else 0  # body bytes sent first

        if fault == "ok" or rng == "unsatisfiable":
            self._send_head(code, length, headers)
            if not head:
                self._send_file(local, first, length)
        elif fault == "reset":
            if mid and not head:
                self._send_head(code, length, headers)
                self._send_file(local, first, part)
            self._reset()
        elif fault.startswith("error"):
            status = int(fault[5:8])
            extra = [("Retry-After", params["retry_after"])] if fault.endswith("_retry") else []
            self._reply(status, f"fault: {fault}\n".encode(), extra)
        elif fault == "stall":
            if mid and not head:
                self._send_head(code, length, headers)
                self._send_file(local, first, part)
            self.wfile.flush()
            self.server.stopping.wait(float(params["stall_seconds"]))
            self._close()
        elif fault == "drip":
            self._send_head(code, length, headers)
            self._send_file(local, first, length, params["drip_pieces"],
                            float(params["drip_seconds"]))
        elif fault == "truncate":
            self._send_head(code, length, headers)
            self._send_file(local, first, int(length * draw))  # always short
            self._close()
        elif fault == "wrong_range":
            # A self-consistent answer for another range: the bytes match the
            # Content-Range, so only checking it against the request helps.
            shift = 1 + int(draw * 4096)
            if draw < 1 / 3 and length < size:  # shifted, same length
                if last + 1 < size:
                    a = first + min(shift, size - 1 - last)
                else:
                    a = first - min(shift, first)
                b = a + length - 1
            elif draw < 2 / 3 and length > 1:  # shorter
                a, b = first, last - min(shift, length - 1)
            else:  # longer (or, at the file's edges, shorter at the front)
                a, b = max(0, first - shift), min(size - 1, last + shift)
                if (a, b) == (first, last):
                    a = first + 1
            n = b - a + 1
            self._send_head(206, n, [("Content-Range", f"bytes {a}-{b}/{size}")])
            self._send_file(local, a, n)
        elif fault == "full_200":
            self._send_head(200, size)
            self._send_file(local, 0, size)
        else:  # pragma: no cover - choose() only returns FAULTS
            raise AssertionError(fault)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, BrokenPipeError, socket.timeout, ValueError, OSError):
            # The client gave up (timeouts, aborts after a bad answer) or we
            # reset the connection ourselves: nothing to report.
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, addr, root, policy):
        self.root = os.path.realpath(root)
        self.policy = policy
        self.stopping = threading.Event()
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        super().handle_error(request, client_address)


class _Control:
    """The control-endpoint client shared by FaultServer and FaultProcess."""

    url = None

    def _call(self, method, what, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + CONTROL + what, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")

    def configure(self, config):
        return self._call("POST", "config", config)

    def reset(self):
        return self._call("POST", "reset", {})

    def stats(self):
        return self._call("GET", "stats")

    def no_faults(self):
        """Serves everything correctly from now on."""
        return self.configure({"mix": {}, "rules": []})


class FaultServer(_Control):
    """The server in this process, on its own threads."""

    def __init__(self, root, config=None, port=0):
        self.policy = Policy(config)
        self.httpd = _Server(("127.0.0.1", port), root, self.policy)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.stopping.set()
        if self.thread:
            self.httpd.shutdown()
            self.thread.join(10)
        self.httpd.server_close()


class FaultProcess(_Control):
    """The server in a child process (this file run as a script)."""

    def __init__(self, root, config=None, python=None):
        self.root = str(root)
        self.config = config or {}
        self.python = python or sys.executable
        self.proc = None
        self.port = None

    def start(self, timeout=30):
        self.proc = subprocess.Popen(
            [self.python, os.path.abspath(__file__), self.root, "--config",
             json.dumps(self.config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        line = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not line.startswith("PORT "):
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError("fault_server did not start")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc.stdout.close()
        self.proc = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", help="directory to serve")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    ap.add_argument("--config", default="{}", help="policy as JSON (see the module doc)")
    args = ap.parse_args(argv)
    server = FaultServer(args.root, json.loads(args.config), args.port)
    print(f"PORT {server.port}", flush=True)
    try:
        server.httpd.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.stopping.set()
        server.httpd.server_close()


if __name__ == "__main__":
    main()
