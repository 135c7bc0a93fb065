"""An S3-compatible server (s3rver, on Node.js) on 127.0.0.1 for the tests.

s3rver (the npm package @20minutes/s3rver, pinned) is installed on first use
into a cache directory shared by runs ($ZARRMOUNT_NODE_CACHE, default
/var/tmp/zarrmount-node), under a lock and a time limit. It checks AWS
Signature V4 (a wrong secret gets 403 SignatureDoesNotMatch, an unknown key
403 InvalidAccessKeyId) and answers unknown buckets and keys with S3's
error XML. See s3rver_main.js for the private-bucket rule.

s3rver makes ListObjectsV2 continuation tokens with DES, which the OpenSSL 3
of Node.js 17 and later refuses ("digital envelope routines::unsupported"):
every truncated listing (more than 1,000 keys) would fail with InternalError.
Node runs it with --openssl-legacy-provider, which brings DES back; real S3
is not concerned.
"""

import hashlib

import http.client
import json
import os
import subprocess
import threading
import urllib.parse

from npm_packages import NODE_CACHE, ensure_packages
from procs import stop_process

S3RVER_PACKAGE = "@20minutes/s3rver@4.0.4"


def ensure_s3rver():
    """Installs s3rver into NODE_CACHE unless there already; returns the
    node_modules directory. Raises RuntimeError with npm's output on failure."""
    # s3rver declares a newer Node engine than Debian's, but runs on it.
    return ensure_packages(NODE_CACHE, [S3RVER_PACKAGE], "Node.js runs the S3 test server",
                           ["--engine-strict=false"])
HERE = os.path.dirname(os.path.abspath(__file__))


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
            ["node", "--openssl-legacy-provider", os.path.join(HERE, "s3rver_main.js"),
             json.dumps(config)],
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

    def write_direct(self, bucket, key, data):
        """Stores an object by writing s3rver's files for it (its data and
        MD5) into its directory, as a PUT would, without a request: fast for
        the many objects of a listing test. The bucket must exist."""
        store_dir = os.path.join(self.workdir, "store", bucket)
        parts = key.split("/")
        path = os.path.join(store_dir, *parts[:-1], parts[-1] + "._S3rver_object")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        with open(path + ".md5", "w") as f:
            f.write(hashlib.md5(data).hexdigest())
