"""npm packages the tests run on Node.js (s3rver, zarrita, DuckDB), pinned and
installed on first use into a cache directory shared by runs
($ZARRMOUNT_NODE_CACHE, default /var/tmp/zarrmount-node), under a lock (runs
may install at once) and a time limit."""

import fcntl
import json
import os
import shutil
import subprocess

NODE_CACHE = os.environ.get("ZARRMOUNT_NODE_CACHE", "/var/tmp/zarrmount-node")
INSTALL_TIMEOUT = 300  # seconds


def ensure_packages(prefix, packages, purpose, extra_args=()):
    """Installs ``packages`` ("name@version", pinned) into ``prefix`` unless
    the first of them is there at its version; returns ``prefix``'s
    node_modules directory. ``purpose`` says in an error what Node.js is
    for. Raises RuntimeError with npm's output on failure."""
    name, version = packages[0].rsplit("@", 1)
    modules = os.path.join(prefix, "node_modules")
    marker = os.path.join(modules, name, "package.json")

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
            raise RuntimeError(f"{tool} is not installed ({purpose})")
    os.makedirs(prefix, exist_ok=True)
    with open(os.path.join(prefix, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be installing
        if installed():
            return modules
        proc = subprocess.run(
            ["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error",
             *extra_args, *packages],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not installed():
            raise RuntimeError(f"npm install {' '.join(packages)} failed:\n{proc.stdout}\n{proc.stderr}")
    return modules
