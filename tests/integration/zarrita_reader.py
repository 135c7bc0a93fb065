"""zarrita (npm: zarrita, @zarrita/storage; pinned), an independent Zarr v3
reader for the tests, installed on first use into $ZARRMOUNT_NODE_CACHE/zarrita
(default /var/tmp/zarrmount-node/zarrita), as s3_server.py installs s3rver."""

import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from npm_packages import NODE_CACHE, ensure_packages

PACKAGES = ["zarrita@0.5.4", "@zarrita/storage@0.2.0"]
PREFIX = os.path.join(NODE_CACHE, "zarrita")
HERE = os.path.dirname(os.path.abspath(__file__))


def ensure_zarrita():
    """Installs the packages into PREFIX unless there; returns PREFIX.
    Raises RuntimeError with npm's output on failure."""
    ensure_packages(PREFIX, PACKAGES, "Node.js runs zarrita")
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
            flat = np.frombuffer(data, dtype=np.dtype(m["dtype"]))
            strides = [s * flat.itemsize for s in m.get("stride") or []]
            if len(strides) != len(m["shape"]):
                raise AssertionError(f"zarrita gave {p} strides {m.get('stride')} for shape {m['shape']}")
            result[p] = np.lib.stride_tricks.as_strided(flat, m["shape"], strides).copy()
        return result
