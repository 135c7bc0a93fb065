"""An S3-compatible server (s3rver, on Node.js) on 127.0.0.1 for the tests.

s3rver (the npm package @20minutes/s3rver, pinned) is installed on first use
into a cache directory shared by runs ($ZARRMOUNT_NODE_CACHE, default
/var/tmp/zarrmount-node), under a lock and a time limit. It checks AWS
Signature V4 (a wrong secret gets 403 SignatureDoesNotMatch, an unknown key
403 InvalidAccessKeyId) and answers unknown buckets and keys with S3's
error XML. See s3rver_main.js for the private-bucket rule.
"""

import fcntl
import http.client
import json
import os
import shutil
import subprocess
import threading
import urllib.parse

from procs import stop_process

S3RVER_PACKAGE = "@20minutes/s3rver@4.0.4"
NODE_CACHE = os.environ.get("ZARRMOUNT_NODE_CACHE", "/var/tmp/zarrmount-node")
INSTALL_TIMEOUT = 300  # seconds
HERE = os.path.dirname(os.path.abspath(__file__))


def ensure_s3rver():
    """Installs s3rver into NODE_CACHE unless there already; returns the
    node_modules directory. Raises RuntimeError with npm's output on failure."""
    modules = os.path.join(NODE_CACHE, "node_modules")
    marker = os.path.join(modules, "@20minutes", "s3rver", "package.json")
    version = S3RVER_PACKAGE.rsplit("@", 1)[1]

    def installed():
        try:
            with open(marker) as f:
                return json.load(f).get("version") == version
        except (OSError, ValueError):
            return False

    if installed():
        return modules
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} is not installed (Node.js runs the S3 test server)")
    os.makedirs(NODE_CACHE, exist_ok=True)
    with open(os.path.join(NODE_CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be installing
        if installed():
            return modules
        # s3rver declares a newer Node engine than Debian's, but runs on it.
        proc = subprocess.run(
            ["npm", "install", "--prefix", NODE_CACHE, "--no-audit", "--no-fund",
             "--engine-strict=false", "--loglevel=error", S3RVER_PACKAGE],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not installed():
            raise RuntimeError(f"npm install {S3RVER_PACKAGE} failed:\n{proc.stdout}\n{proc.stderr}")
    return modules


class S3rver:
    def __init__(self, workdir, keys, buckets):
        self.workdir = os.path.abspath(workdir)
        self.keys = [list(k) for k in keys]
        self.buckets = list(buckets)
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        modules = ensure_s3rver()
        config = {"directory": os.path.join(self.workdir, "store"), "keys": self.keys,
                  "buckets": self.buckets}
        os.makedirs(config["directory"], exist_ok=True)
        env = dict(os.environ, NODE_PATH=modules)
        self.stderr_path = os.path.join(self.workdir, "s3rver.stderr")
        err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "s3rver_main.js"), json.dumps(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        err.close()
        line = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("READY "):
            self.stop()
            with open(self.stderr_path, errors="replace") as f:
                raise RuntimeError(f"s3rver did not start: {f.read()[-2000:]}")
        self.port = int(line[0].split()[1])
        return self

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)
            self.proc.stdout.close()
            self.proc = None

    def put(self, bucket, key, data):
        """Stores an object (unsigned PUT, which s3rver accepts)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("PUT", f"/{bucket}/{urllib.parse.quote(key)}", body=data,
                         headers={"Content-Length": str(len(data))})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"PUT {bucket}/{key}: {resp.status} {body[:300]!r}")
        finally:
            conn.close()
