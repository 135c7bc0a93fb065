"""The independent readers the integration tests compare zarrmount against.

* netCDF4-python reading the original files (raw values: no mask/scale);
* fsspec's ReferenceFileSystem resolving the same reference set;
* zarr-python and xarray reading a Zarr tree (the mount, or fsspec's mapper).
"""

import contextlib
import os
from collections.abc import MutableMapping

import netCDF4
import numpy as np
import xarray as xr
import zarr
from fsspec.implementations.reference import ReferenceFileSystem

import make_refs


@contextlib.contextmanager
def chdir(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


class FsspecRefs:
    """fsspec's view of a reference file. Relative urls are resolved against the
    reference file's directory by running fsspec's local reads from there.

    Keys are fetched one at a time with cat_file: fsspec 2022.11's batched
    ReferenceFileSystem.cat() (also used by its mapper's getitems) pairs
    results with the wrong keys when the targets' urls sort in a different
    order than the keys (e.g. m10.f4 before m2.f4)."""

    def __init__(self, refs_path):
        self.refs_path = os.path.abspath(refs_path)
        self.base = os.path.dirname(self.refs_path)
        # A dict of filesystems keeps bare paths on the local filesystem even
        # when http urls are present too.
        self.fs = ReferenceFileSystem(fo=make_refs.load(self.refs_path),
                                      fs={"http": {}, "file": {}})

    def keys(self):
        return sorted(self.fs.references)

    def cat(self, keys):
        with chdir(self.base):
            return {k: bytes(self.fs.cat_file(k)) for k in keys}

    @contextlib.contextmanager
    def mapper(self):
        """A read-only Zarr store (a Mapping) over fsspec's per-key reads."""
        with chdir(self.base):
            yield zarr.storage.KVStore(_RefMapping(self.fs))


class _RefMapping(MutableMapping):
    def __init__(self, fs):
        self.fs = fs

    def __getitem__(self, key):
        if key not in self.fs.references:
            raise KeyError(key)
        return bytes(self.fs.cat_file(key))

    def __contains__(self, key):
        return key in self.fs.references

    def __iter__(self):
        return iter(sorted(self.fs.references))

    def __len__(self):
        return len(self.fs.references)

    def __setitem__(self, key, value):
        raise PermissionError("read-only")

    def __delitem__(self, key):
        raise PermissionError("read-only")


def direct_bytes(refs_path, http_base=None, http_root=None):
    """Each key's bytes of a version-0 reference set, computed without fsspec
    (http urls under ``http_base`` are read from ``http_root``), to check the
    fsspec judge on awkward entries."""
    import base64
    refs = make_refs.load(refs_path)
    out = {}
    for key, v in refs.items():
        if isinstance(v, str):
            out[key] = base64.b64decode(v[7:]) if v.startswith("base64:") else v.encode()
            continue
        url = v[0]
        if http_base and url.startswith(http_base + "/"):
            url = os.path.join(http_root, url[len(http_base) + 1:])
        with open(url, "rb") as f:
            if len(v) == 1:
                out[key] = f.read()
            else:
                f.seek(v[1])
                out[key] = f.read(v[2])
    return out


def implied_tree(keys):
    """{directory: set(children)} implied by '/'-separated keys ('' is the root)."""
    tree = {"": set()}
    for key in keys:
        parts = key.split("/")
        for depth in range(len(parts)):
            parent = "/".join(parts[:depth])
            tree.setdefault(parent, set()).add(parts[depth])
            if depth < len(parts) - 1:
                tree.setdefault("/".join(parts[:depth + 1]), set())
    return tree


def _nc_read(var):
    var.set_auto_maskandscale(False)
    return np.asarray(var[...])


def _walk_nc(grp, prefix, out):
    for name, var in grp.variables.items():
        out[f"{prefix}{name}"] = _nc_read(var)
    for name, sub in grp.groups.items():
        _walk_nc(sub, f"{prefix}{name}/", out)


def expected_arrays(entry):
    """{'group/var': ndarray} read by netCDF4-python (h5py for kind "h5") from
    the original files, following the manifest entry written by prepare_data.py."""
    out = {}
    if entry["kind"] == "h5":
        import h5py

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind != "O":
                out[name] = obj[()]
        with h5py.File(entry["files"][0], "r") as f:
            f.visititems(visit)
        return out
    if entry["kind"] == "single":
        with netCDF4.Dataset(entry["files"][0]) as ds:
            _walk_nc(ds, "", out)
        return out
    dim = entry["concat_dim"]
    parts = {}
    with netCDF4.Dataset(entry["files"][0]) as ds:
        for name, var in ds.variables.items():
            if dim not in var.dimensions:
                out[name] = _nc_read(var)
            else:
                parts[name] = var.dimensions.index(dim)
    for name, axis in parts.items():
        pieces = []
        for path in entry["files"]:
            with netCDF4.Dataset(path) as ds:
                pieces.append(_nc_read(ds.variables[name]))
        out[name] = np.concatenate(pieces, axis=axis)
    for alias, name in entry.get("aliases", {}).items():
        out[alias] = out[name]
    return out


def groups_of(names):
    """Every group holding an array, and all groups above them."""
    out = {""}
    for n in names:
        parts = n.split("/")[:-1]
        out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(out)


def assert_identical(name, got, want):
    got = np.asarray(got)
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    # Bit-identical, which also makes NaN payloads compare equal.
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), \
        f"{name}: values differ ({np.count_nonzero(got != want)} elements)"


def check_zarr_store(store, entry):
    """Reads every array of ``store`` (a path or mapping) with zarr-python and,
    group by group, with xarray; compares with netCDF4 reads of the originals.
    Returns the number of arrays checked."""
    want = expected_arrays(entry)
    root = zarr.open_group(store, mode="r")
    for name, arr in want.items():
        assert_identical(f"zarr {name}", root[name][...], arr)
    found = set()
    root.visit(lambda p: found.add(p) if isinstance(root[p], zarr.Array) else None)
    assert found == set(want), f"arrays {sorted(found ^ set(want))} differ"
    for group in groups_of(want):
        ds = xr.open_zarr(store, group=group or None, consolidated=False,
                          mask_and_scale=False, decode_times=False)
        with ds:
            for name in ds.variables:
                full = f"{group}/{name}" if group else name
                # xarray hands out native byte order; compare values as such.
                w = want[full]
                assert_identical(f"xarray {full}", ds[name].values,
                                 w.astype(w.dtype.newbyteorder("=")))
            members = {n for n in want if n.rpartition("/")[0] == group}
            assert {f"{group}/{n}" if group else n for n in ds.variables} == members
    return len(want)
