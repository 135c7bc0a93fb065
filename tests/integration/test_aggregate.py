"""Aggregation at mount time (--concat) and `zarrmount combine`.

Real NetCDF files from Debian packages are split along time into per-file
NetCDF-4 files (SST: 12 monthly files, one chunk each along time; sea ice:
10 yearly files of 12 steps in chunks of 4), each gets its own reference set
(make_refs.py), and zarrmount aggregates them along time when mounting:
  * every variable and the time coordinate read bit-identical through zarr
    and xarray to netCDF4 reading the original files, whichever form names
    the inputs (directory, quoted glob, list file, zip archive, arguments);
  * decoded by xarray, the mount equals xarray's concatenation of the files;
  * `zarrmount combine` writes a reference file that fsspec's
    ReferenceFileSystem + xarray read the same, key for key the bytes of the
    aggregated mount;
  * bad aggregations fail with one line naming the file and nothing is
    mounted: mismatched variables, overlapping and duplicate time values,
    chunks not aligned, an input that does not exist.
"""

import base64
import json
import os
import random
import subprocess
import time
import zipfile

import numpy as np
import pytest
import xarray as xr

import judges
import make_refs
import prepare_data
import zmount


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """{kind: {"files": [nc...], "refs": [json...], "dir": refdir}} plus
    odd-sized files for the alignment error."""
    work = str(tmp_path_factory.mktemp("aggdata"))
    out = {}
    specs = {
        "sst": (prepare_data.SST_SRC, 1, {"sst": (1, 46, 91)}, None),
        "fice": (prepare_data.FICE_SRC, 12, {"fice": (4, 25, 50)}, None),
        # Six steps per file in chunks of four: not aligned.
        "odd": (prepare_data.FICE_SRC, 6, {"fice": (4, 25, 50)}, 3),
    }
    for kind, (src, block, chunks, count) in specs.items():
        files = prepare_data.split_time(src, os.path.join(work, "nc", kind), kind, block,
                                        chunks, count=count, note=f"{kind} for test_aggregate")
        refdir = os.path.join(work, "refs", kind)
        os.makedirs(refdir)
        refs = []
        for i, p in enumerate(files):
            stem = os.path.basename(p)[:-3]
            if kind == "fice":
                # v1 with templates, every other one gzip-compressed.
                gz = i % 2 == 1
                path = os.path.join(refdir, stem + (".json.gz" if gz else ".json"))
                make_refs.build([p], path, version=1, templates=True, url_style="abs",
                                compression="gzip" if gz else "none")
            else:
                # v0, urls relative to the reference file.
                path = os.path.join(refdir, stem + ".json")
                make_refs.build([p], path, version=0, url_style="rel")
            refs.append(path)
        out[kind] = {"files": files, "refs": refs, "dir": refdir}
    out["work"] = work
    return out


def entry(files):
    return {"kind": "agg", "files": files, "concat_dim": "time", "aliases": {}}


def mount_agg(mount, sources, *more):
    """Mounts an aggregation of ``sources`` (SOURCE arguments) along time."""
    sources = [str(s) for s in sources]
    return mount(sources[-1], extra=["--concat", "time", *more, *sources[:-1]])


def run(*args, timeout=60):
    return subprocess.run([zmount.ZARRMOUNT, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def check_decoded(store, files):
    """xarray decoding (CF on) of the aggregation equals xarray's own
    concatenation of the original NetCDF files."""
    parts = [xr.open_dataset(f) for f in files]
    try:
        want = xr.concat(parts, dim="time", data_vars="minimal", coords="minimal",
                         compat="override")
        with xr.open_zarr(store, consolidated=False) as got:
            assert set(got.variables) == set(want.variables)
            for name in want.variables:
                np.testing.assert_array_equal(got[name].values, want[name].values, err_msg=name)
                assert got[name].dims == want[name].dims, name
    finally:
        for p in parts:
            p.close()


def test_directory_of_monthly_sst_files(data, mount):
    m = mount_agg(mount, [data["sst"]["dir"]])
    assert judges.check_zarr_store(m.path(), entry(data["sst"]["files"])) == 4
    check_decoded(m.path(), data["sst"]["files"])
    zarray = json.load(open(m.path("sst/.zarray")))
    assert zarray["shape"] == [12, 91, 181] and zarray["chunks"] == [1, 46, 91]
    assert sorted(os.listdir(m.path("sst")))[:3] == [".zarray", ".zattrs", "0.0.0"]
    assert os.path.exists(m.path("sst/11.1.1")) and not os.path.exists(m.path("sst/12.0.0"))
    tz = json.load(open(m.path("time/.zarray")))
    assert tz["shape"] == [12] and tz["compressor"] is None and tz["dtype"] == "<f4"


@pytest.mark.parametrize("form", ["directory", "glob", "list", "zip", "arguments"])
def test_every_source_form_of_yearly_fice_files(form, data, mount, tmp_path):
    fice = data["fice"]
    shuffled = list(fice["refs"])
    random.Random(5).shuffle(shuffled)  # inputs are ordered by time, not by name
    if form == "directory":
        sources = [fice["dir"]]
    elif form == "glob":
        sources = [os.path.join(fice["dir"], "fice_*.json*")]
    elif form == "list":
        lst = tmp_path / "inputs.txt"
        lines = ["# yearly sea ice", ""] + [os.path.relpath(p, tmp_path) for p in shuffled]
        lst.write_text("\n".join(lines) + "\n")
        sources = [lst]
    elif form == "zip":
        z = os.path.join(fice["dir"], "..", "fice_refs.zip")
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in shuffled:
                zf.write(p, "refs/" + os.path.basename(p))
            zf.writestr("README.txt", "not a reference set")
        sources = [z]
    else:
        sources = shuffled
    m = mount_agg(mount, sources, "--identical-dims", "hlat,hlon")
    assert judges.check_zarr_store(m.path(), entry(fice["files"])) == 4
    assert json.load(open(m.path("fice/.zarray")))["shape"][0] == 12 * len(fice["files"])
    check_decoded(m.path(), fice["files"])


def test_combine_reads_the_same_through_fsspec(data, mount, tmp_path):
    for kind in ("sst", "fice"):
        out = tmp_path / f"{kind}_combined.json"
        proc = run("combine", "--concat", "time", "--local-root", data["work"],
                   data[kind]["dir"], "-o", out)
        assert proc.returncode == 0, proc.stderr
        assert f"combined {len(data[kind]['refs'])} reference sets" in proc.stdout
        doc = json.load(open(out))
        assert doc["version"] == 1
        # Each file's URL once, in the templates.
        assert len(doc["templates"]) == len(data[kind]["files"])
        assert sorted(os.path.realpath(u) for u in doc["templates"].values()) == \
            data[kind]["files"]
        ref = judges.FsspecRefs(out)
        with ref.mapper() as store:
            assert judges.check_zarr_store(store, entry(data[kind]["files"])) == 4
            check_decoded(store, data[kind]["files"])
        # The mounted aggregation and the combined file: the same keys and bytes.
        m = mount_agg(mount, [data[kind]["dir"]])
        got = {}
        for root, dirs, files in os.walk(m.path()):
            for name in files:
                p = os.path.join(root, name)
                with open(p, "rb") as fh:
                    got[os.path.relpath(p, m.path())] = fh.read()
        assert got == ref.cat(ref.keys())
        # And zarrmount mounts the combined file itself.
        m2 = mount(out)
        assert judges.check_zarr_store(m2.path(), entry(data[kind]["files"])) == 4


def edited(src, dst, fn=None):
    """Writes reference set ``src`` (v0 JSON) to ``dst`` with absolute urls,
    after fn(refs)."""
    refs = make_refs.load(str(src))
    base = os.path.dirname(str(src))
    for k, v in refs.items():
        if isinstance(v, list):
            v[0] = os.path.normpath(os.path.join(base, v[0]))
    if fn:
        fn(refs)
    make_refs.write(refs, str(dst))
    return dst


def assert_refused(args, mnt, *fragments):
    proc = run(*args)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]
    if mnt is not None:
        assert not zmount.is_mounted(mnt)
        assert not zmount.daemon_pids(mnt)
    return lines[0]


def error_cases(data, tmp_path):
    """(name, SOURCE args, expected fragments) of bad aggregations."""
    sst = data["sst"]["refs"]
    bad = tmp_path / "bad"
    bad.mkdir()
    cases = []
    # A variable missing in one file.
    d = bad / "missing"
    d.mkdir()
    for p in sst[:3]:
        edited(p, d / os.path.basename(p))
    edited(sst[1], d / os.path.basename(sst[1]),
           lambda r: [r.pop(k) for k in list(r) if k.startswith("lat/")])
    cases.append(("mismatched variables", [d], [str(d / "sst_02.json"), "has no array 'lat'",
                                                str(d / "sst_01.json")]))
    # The same month twice.
    d = bad / "duplicate"
    d.mkdir()
    for p in sst[:3]:
        edited(p, d / os.path.basename(p))
    edited(sst[1], d / "sst_02_again.json")
    cases.append(("duplicate time", [d], ["sst_02.json and", "sst_02_again.json",
                                          "hold the same coordinates"]))
    # Overlapping, not equal: a file of two steps, months 1.5 and 2.5 (the
    # time values inline, the data a copy of January's).
    d = bad / "overlap"
    d.mkdir()
    for p in sst[:3]:
        edited(p, d / os.path.basename(p))

    def two_steps(r):
        z = json.loads(r["time/.zarray"])
        vals = np.full(z["chunks"][0], 9.969209968386869e36, dtype="<f4")
        vals[:2] = [1.5, 2.5]
        r["time/0"] = "base64:" + base64.b64encode(vals.tobytes()).decode()
        for name in ("time", "sst"):
            z = json.loads(r[f"{name}/.zarray"])
            z["shape"][0] = 2
            r[f"{name}/.zarray"] = make_refs.meta_text(z)
        for k in [k for k in r if k.startswith("sst/0.")]:
            r["sst/1." + k[len("sst/0."):]] = r[k]
    edited(sst[0], d / "sst_01b.json", two_steps)
    cases.append(("overlapping time", [d],
                  ["sst_01b.json (1.5 to 2.5) and", "sst_02.json (2 to 2) overlap"]))
    # Time chunks of 4 over files of 6 steps.
    cases.append(("non-aligned chunks", [data["odd"]["dir"]],
                  [data["odd"]["refs"][0], "'fice' has 6 elements along 'time'",
                   "not a whole number of its chunks (4)"]))
    # An input that does not exist, named directly or in a list.
    cases.append(("missing input", [sst[0], tmp_path / "nope.json"],
                  [str(tmp_path / "nope.json"), "No such file"]))
    lst = tmp_path / "list.txt"
    lst.write_text(f"{sst[0]}\n{tmp_path / 'gone.json'}\n")
    cases.append(("missing listed input", [lst], [f"{lst}:2:", "gone.json", "No such file"]))
    cases.append(("empty glob", [str(tmp_path / "none-*.json")], ["no file matches"]))
    return cases


def test_zarr_v3_inputs_aggregated_along_time(data, mount, tmp_path):
    """Two Zarr v3 reference sets (v3_refs.py: sst with transpose, big-endian
    bytes, gzip and crc32c; time with v2 chunk keys; dimension_names),
    five months each, mounted with --concat time: the npy view reads every
    array as the concatenation of what was written (the arrays without a
    time dimension as in the first input), and zarrita, an independent v3
    reader, reads the mount's zarr view the same. An input array that
    cannot be understood (v3_refs' array with an unknown chunk key
    encoding) fails the aggregation with one line naming it: whether it
    runs along time cannot be told."""
    import v3_refs
    import zarrita_reader
    files = data["sst"]["files"]
    inputs, wants = [], []
    for n, part in enumerate((files[:5], files[5:10])):
        path = str(tmp_path / f"months{n}.json")
        _refs, want, _docs = v3_refs.build(part, path)
        inputs.append(path)
        wants.append(want)
    bad = run("--check", "--concat", "time", *inputs)
    assert bad.returncode != 0
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "'odd_keys'" in lines[0] and "months0.json" in lines[0], bad.stderr
    for path in inputs:  # without the arrays no reader can read
        refs = json.load(open(path))  # version 0: {key: value}
        for key in [k for k in refs if k.split("/")[0] in ("odd", "odd_keys")]:
            del refs[key]
        with open(path, "w") as f:
            json.dump(refs, f)
    expect = {}
    for name, first in wants[0].items():
        # Arrays along time are joined; the others are the first input's.
        expect[name] = (np.concatenate([first, wants[1][name]])
                        if name in ("sst", "time") else first)
    z = mount_agg(mount, inputs)
    meta = json.load(open(z.path("sst/zarr.json")))
    assert meta["shape"] == [10, 91, 181] and meta["dimension_names"] == ["time", "lat", "lon"]
    got = zarrita_reader.read_arrays(z.mnt, sorted(expect))
    for name, arr in expect.items():
        assert got[name].dtype == arr.dtype and np.array_equal(got[name], arr, equal_nan=True), name
    v = mount_agg(mount, inputs, "--view", "npy")
    for name, arr in expect.items():
        npy = np.load(v.path(name + ".npy"))
        assert npy.dtype == arr.dtype and np.array_equal(npy, arr, equal_nan=True), name


def test_bad_aggregations_fail_with_one_line_and_mount_nothing(data, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for name, sources, fragments in error_cases(data, tmp_path):
        line = assert_refused(["--cache-dir", tmp_path / "cache", "--local-root", data["work"],
                               "--concat", "time", *sources, mnt], mnt, *fragments)
        print(f"{name}: {line}")
        # combine refuses the same inputs, with the same line, writing nothing.
        out = tmp_path / "out.json"
        assert assert_refused(["combine", "--local-root", data["work"], "--concat", "time",
                               *sources, "-o", out], None, *fragments) == line
        assert not out.exists()


def test_usage_errors(data, tmp_path):
    sst = data["sst"]["refs"]
    proc = run(sst[0], sst[1], tmp_path)
    assert proc.returncode == 2 and "several SOURCEs need --concat DIM" in proc.stderr
    proc = run("--identical-dims", "lat", sst[0], tmp_path)
    assert proc.returncode == 2 and "needs --concat" in proc.stderr
    proc = run("combine", sst[0])
    assert proc.returncode == 2 and "--concat" in proc.stderr


def test_thousands_of_inputs_load_in_seconds(data, mount, tmp_path):
    """2,000 per-month reference sets (each a copy of one SST month with its
    own time value, coordinates inline as kerchunk writes small ones): the
    mount is serving within seconds and the shape and keys are right."""
    n = 2000
    d = tmp_path / "many"
    d.mkdir()
    src = make_refs.load(data["sst"]["refs"][0])
    src = {k: (v if not isinstance(v, list) else [os.path.normpath(
        os.path.join(data["sst"]["dir"], v[0]))] + v[1:]) for k, v in src.items()}
    z = json.loads(src["time/.zarray"])
    vals = np.full(z["chunks"][0], 9.969209968386869e36, dtype="<f4")
    for i in range(n):
        vals[0] = i
        src["time/0"] = "base64:" + base64.b64encode(vals.tobytes()).decode()
        with open(d / f"m{i:05d}.json", "w") as f:
            json.dump(src, f)
    t0 = time.monotonic()
    m = mount_agg(mount, [d])
    elapsed = time.monotonic() - t0
    print(f"mounted {n} inputs in {elapsed:.2f} s")
    assert elapsed < 20
    assert json.load(open(m.path("sst/.zarray")))["shape"] == [n, 91, 181]
    assert os.path.exists(m.path(f"sst/{n - 1}.1.1"))
    t = np.frombuffer(open(m.path("time/0"), "rb").read(), "<f4")
    assert np.array_equal(t, np.arange(n, dtype="<f4"))
