"""A private nginx on 127.0.0.1 serving a directory, for the integration tests.

Each instance has its own prefix, config, pid file and logs in a temp dir, runs
in the foreground (``daemon off``, ``master_process off``) as our child, and
is stopped by ``stop()``. Range requests work with nginx's default static
file handler. The access log records method, uri, status and Range header.

Besides the data, the server has misbehaving locations for fault tests:
  /norange/...              the data again, but Range is ignored (200, whole body)
  /listed/...               the data again, with HTML directory listings (autoindex);
                            the listing of any directory named "unlisted" is a 500
  /fault/500/...            500 Internal Server Error
  /fault/short/...          200 with a 10-byte body, whatever was asked
  /fault/wrong_range/...    206 whose Content-Range is not the range asked for
  /fault/slow/...           answers after 20 s (needs the echo module; see has_slow)
"""

import os
import socket
import subprocess
import time

from procs import stop_process

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

SLOW = """\
        location /fault/slow/ {{ echo_sleep 20; echo "too late"; }}
"""

CONF = """\
{load_echo}
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format zm '$request_method $uri $status "$http_range" $body_bytes_sent';
    access_log {prefix}/access.log zm;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /norange/ {{ alias {root}/; max_ranges 0; }}
        location /listed/ {{ alias {root}/; autoindex on; }}
        location ~ ^/listed/.*/unlisted/$ {{ return 500; }}
        location /fault/500/ {{ return 500; }}
        location /fault/short/ {{ return 200 "short body"; }}
        location /fault/wrong_range/ {{
            add_header Content-Range "bytes 5-14/1000" always;
            return 206 "0123456789";
        }}
{slow}    }}
}}
"""


def free_port():
    """A port nobody listens on right now (may race; callers retry)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Nginx:
    def __init__(self, root, prefix):
        self.root = os.path.abspath(root)
        self.prefix = os.path.abspath(prefix)
        self.proc = None
        self.port = None
        self.has_slow = os.path.exists(ECHO_MODULE)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self):
        return os.path.join(self.prefix, "access.log")

    def start(self, port=None):
        """Starts nginx (on ``port`` or a free one); returns self."""
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        for _attempt in range(5):
            self.port = port or free_port()
            conf = os.path.join(self.prefix, "nginx.conf")
            with open(conf, "w") as f:
                f.write(CONF.format(
                    prefix=self.prefix, root=self.root, port=self.port,
                    load_echo=f"load_module {ECHO_MODULE};" if self.has_slow else "",
                    slow=SLOW.format() if self.has_slow else ""))
            errlog = open(os.path.join(self.prefix, "stderr.log"), "ab")
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.prefix, "-c", conf, "-e", os.path.join(self.prefix, "error.log")],
                stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog)
            errlog.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # could not bind: try another port
                if port_open(self.port):
                    return self
                time.sleep(0.05)
            self.stop()
            if port:
                break
        raise RuntimeError(f"nginx did not start; see {self.prefix}/error.log")

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None

    def requests(self):
        """Access log lines so far, as lists [method, uri, status, range, bytes]."""
        if not os.path.exists(self.access_log):
            return []
        with open(self.access_log) as f:
            return [line.split() for line in f if line.strip()]
