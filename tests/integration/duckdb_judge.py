"""DuckDB as the independent Parquet writer and reader of test_parquet.py.

DuckDB's Node.js client (the npm package @duckdb/node-api, pinned) is
installed on first use into a cache directory shared by runs
($ZARRMOUNT_NODE_CACHE/duckdb, default /var/tmp/zarrmount-node/duckdb), under
a lock and a time limit, as s3_server.py installs s3rver. duckdb_parquet.js
does the work.
"""

import base64
import json
import os
import subprocess

from npm_packages import NODE_CACHE, ensure_packages

DUCKDB_PACKAGE = "@duckdb/node-api@1.5.6-r.1"
PREFIX = os.path.join(NODE_CACHE, "duckdb")
RUN_TIMEOUT = 120  # seconds
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "duckdb_parquet.js")


def ensure_duckdb():
    """Installs the DuckDB client into PREFIX unless there already; returns
    its node_modules directory. Raises RuntimeError on failure."""
    return ensure_packages(PREFIX, [DUCKDB_PACKAGE], "DuckDB's Node.js client judges Parquet")


class DuckDB:
    def __init__(self):
        self.env = dict(os.environ, NODE_PATH=ensure_duckdb())

    def _run(self, *args):
        proc = subprocess.run(["node", SCRIPT, *map(str, args)], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, env=self.env)
        if proc.returncode != 0:
            raise RuntimeError(f"duckdb_parquet.js {' '.join(map(str, args))}: {proc.stderr}")
        return proc.stdout

    def write(self, workdir, files):
        """Writes Parquet files: ``files`` is a list of (out_path, rows, options)
        with rows (path, offset, size, raw bytes or None) and options the
        COPY options compression, row_group_size and version."""
        specs = []
        for n, (out, rows, opts) in enumerate(files):
            rows_path = os.path.join(workdir, f"rows{n}.ndjson")
            with open(rows_path, "w") as f:
                for path, offset, size, raw in rows:
                    f.write(json.dumps({"path": path, "offset": offset, "size": size,
                                        "raw": None if raw is None else
                                        base64.b64encode(raw).decode()}) + "\n")
            specs.append({"rows": rows_path, "out": str(out),
                          "compression": opts.get("compression", "zstd"),
                          "row_group_size": opts.get("row_group_size", 122880),
                          "version": opts.get("version", "V1")})
        spec_path = os.path.join(workdir, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(specs, f)
        self._run("write", spec_path)

    def read(self, workdir, paths):
        """The rows of Parquet files, in one run of DuckDB:
        {path: [(path, offset, size, raw bytes or None)]}."""
        list_path = os.path.join(workdir, "read.json")
        with open(list_path, "w") as f:
            json.dump([str(p) for p in paths], f)
        files = json.loads(self._run("read", list_path))

        def num(v):
            return None if v is None else int(v)
        return {p: [(r["path"], num(r["offset"]), num(r["size"]),
                     None if r["raw"] is None else base64.b64decode(r["raw"])) for r in rows]
                for p, rows in files.items()}
