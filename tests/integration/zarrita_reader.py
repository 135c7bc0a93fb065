"""zarrita (npm: zarrita, @zarrita/storage; pinned), an independent Zarr v3
reader for the tests, installed on first use into $ZARRMOUNT_NODE_CACHE/zarrita
(default /var/tmp/zarrmount-node/zarrita), as s3_server.py installs s3rver."""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from s3_server import NODE_CACHE

PACKAGES = ["zarrita@0.5.4", "@zarrita/storage@0.2.0"]
PREFIX = os.path.join(NODE_CACHE, "zarrita")
HERE = os.path.dirname(os.path.abspath(__file__))
INSTALL_TIMEOUT = 300  # seconds


def ensure_zarrita():
    """Installs the packages into PREFIX unless there; returns PREFIX.
    Raises RuntimeError with npm's output on failure."""
    marker = os.path.join(PREFIX, "node_modules", "zarrita", "package.json")

    def installed():
        try:
            with open(marker) as f:
                return json.load(f).get("version") == PACKAGES[0].rsplit("@", 1)[1]
        except (OSError, ValueError):
            return False

    if installed():
        return PREFIX
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} is not installed (Node.js runs zarrita)")
    os.makedirs(PREFIX, exist_ok=True)
    with open(os.path.join(PREFIX, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return PREFIX
        proc = subprocess.run(
            ["npm", "install", "--prefix", PREFIX, "--no-audit", "--no-fund", "--loglevel=error",
             *PACKAGES], capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
            stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not installed():
            raise RuntimeError(f"npm install {' '.join(PACKAGES)} failed:\n{proc.stdout}\n{proc.stderr}")
    return PREFIX


def read_arrays(store_dir, paths, timeout=300):
    """{path: ndarray} as zarrita reads the v3 arrays ``paths`` of the store
    directory ``store_dir``."""
    prefix = ensure_zarrita()
    # ES modules resolve packages from the script's directory.
    script = os.path.join(prefix, "zarrita_read.mjs")
    shutil.copyfile(os.path.join(HERE, "zarrita_read.mjs"), script)
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run(["node", script, str(store_dir), out, *paths], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"zarrita failed on {store_dir}: {proc.stderr[-3000:]}")
        with open(os.path.join(out, "meta.json")) as f:
            meta = json.load(f)
        result = {}
        for p, m in meta.items():
            with open(os.path.join(out, p.replace("/", "_") + ".bin"), "rb") as f:
                data = f.read()
            result[p] = np.frombuffer(data, dtype=np.dtype(m["dtype"])).reshape(m["shape"])
        return result
