"""Catalogs: one mount for a collection of reference sets.

Intake v1 catalogs (YAML) and STAC catalogs/collections/items (JSON) are
written here by hand following the specifications, over the reference sets
prepare_data builds (sst, fice, chl, groups), and mounted from local files
and from nginx:
  * one directory per dataset, named as the catalog names it; nested
    catalogs and STAC children are nested directories; every dataset
    directory reads bit-identical to the original NetCDF files through
    zarr-python and xarray (judges.check_zarr_store);
  * python3-intake opens the same catalogs and lists the same sources;
  * laziness: mounting a catalog of 2,000 sources reads no reference file
    (nginx's access log, the daemon's counters) and returns fast; touching
    one dataset loads that one only; concurrent first readers load it once;
  * memory release: with a budget of one dataset, datasets are released and
    reload correctly with the same inode numbers; idle ones are released;
  * errors: a missing reference file gives EIO for that dataset and a log
    line naming it while the others work; a malformed catalog fails the
    mount with one line naming the file.
"""

import errno
import json
import os
import subprocess
import threading
import time

import pytest
import yaml

import judges
import zmount

STATUS_XATTR = "user.zarrmount.status"


def status(m):
    return json.loads(os.getxattr(m.mnt, STATUS_XATTR))


def ref_source(fo, **options):
    """An Intake catalog entry for the reference set `fo` (zarr driver,
    reference:// urlpath), with more storage_options if given."""
    return {"driver": "zarr",
            "args": {"urlpath": "reference://", "storage_options": dict(options, fo=fo)}}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def ref_requests(nginx, needle="/refs/"):
    return [r for r in nginx.requests() if len(r) > 1 and needle in r[1]]


@pytest.fixture(scope="module")
def cat(dataset, datadir, nginx):
    """Catalog files under DATADIR/catalogs (served by nginx too)."""
    d = os.path.join(datadir, "catalogs")
    refs = os.path.join(datadir, "refs")
    url = nginx.url
    out = {"dir": d, "url": url + "/catalogs"}
    # Intake v1: the spec's layout (metadata.version, sources: NAME: driver,
    # args). fo relative to the catalog through {{ CATALOG_DIR }}, relative
    # as written, absolute, and a URL; a nested catalog; entries of other
    # kinds that must be left out.
    out["intake"] = write(os.path.join(d, "main.yaml"), f"""\
metadata:
  version: 1
  description: zarrmount test catalog
sources:
  sst:
    description: monthly SST, twelve files
    driver: zarr
    args:
      urlpath: "reference://"
      consolidated: false
      storage_options:
        fo: "{{{{ CATALOG_DIR }}}}/../refs/sst_v0_rel.json"
  fice:
    driver: intake_xarray.xzarr.ZarrSource
    args:
      urlpath: reference://
      storage_options:
        fo: ../refs/fice_v1_http.json.gz
        target_options:
          compression: gzip
        remote_protocol: http
  chl:
    driver: zarr
    args:
      urlpath: reference://
      storage_options:
        fo: {url}/refs/chl_v0_http.json
        remote_protocol: http
        remote_options:
          anon: true
          client_kwargs: {{}}
  groups:
    driver: zarr
    args:
      urlpath: reference://
      storage_options:
        fo: {refs}/groups_v1_abs.json.gz
  table:
    driver: csv
    args:
      urlpath: "{{{{ CATALOG_DIR }}}}/table.csv"
  templated:
    driver: zarr
    args:
      urlpath: reference://
      storage_options:
        fo: "{{{{ CATALOG_DIR }}}}/{{{{ year }}}}.json"
  more:
    driver: yaml_file_cat
    args:
      path: "{{{{ CATALOG_DIR }}}}/sub/more.yaml"
""")
    write(os.path.join(d, "sub", "more.yaml"), """\
metadata:
  version: 1
sources:
  sst_gen:
    driver: zarr
    args:
      urlpath: reference://
      storage_options:
        fo: "{{ CATALOG_DIR }}/../../refs/sst_v1_gen_http"
        target_options: {compression: zstd}
""")
    # The same catalog for a remote mount: only references nginx serves.
    out["intake_http"] = write(os.path.join(d, "http.yaml"), """\
metadata:
  version: 1
sources:
  sst:
    driver: zarr
    args:
      urlpath: reference://
      storage_options:
        fo: "{{ CATALOG_DIR }}/../refs/sst_v0_rel.json"
  chl:
    driver: zarr
    args:
      urlpath: reference://
      storage_options: {fo: ../refs/chl_v0_http.json}
  more:
    driver: intake.catalog.local.YAMLFileCatalog
    args: {path: "{{ CATALOG_DIR }}/sub/more.yaml"}
""")
    # STAC 1.0: catalog -> collection -> items; one item with two
    # reference assets (one named by role, one by the xarray-assets fields);
    # a child link back to the catalog (a loop) that must be cut.
    stac = os.path.join(d, "stac")

    def link(rel, href, typ="application/json"):
        return {"rel": rel, "href": href, "type": typ}

    catalog = {
        "type": "Catalog", "stac_version": "1.0.0", "id": "ocean",
        "description": "test catalog",
        "links": [link("root", "./catalog.json"), link("self", "./catalog.json"),
                  link("child", "./ice/collection.json")],
    }
    collection = {
        "type": "Collection", "stac_version": "1.0.0", "id": "ice-and-sea",
        "description": "items of the test", "license": "proprietary",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                   "temporal": {"interval": [["1990-01-01T00:00:00Z", None]]}},
        "links": [link("root", "../catalog.json"), link("parent", "../catalog.json"),
                  link("item", "./items/sst-monthly.json"),
                  link("item", "items/multi.json"),
                  link("child", "../catalog.json")],
        "assets": {"groups-refs": {"href": refs + "/groups_v1_abs.json.gz",
                                   "type": "application/json", "roles": ["references"]}},
    }

    def item(iid, assets):
        return {"type": "Feature", "stac_version": "1.0.0",
                "stac_extensions": ["https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json"],
                "id": iid, "geometry": None, "bbox": None,
                "properties": {"datetime": "2000-01-01T00:00:00Z"},
                "links": [link("collection", "../collection.json"), link("root", "../../catalog.json")],
                "assets": assets}

    sst_item = item("sst-monthly", {
        "refs": {"href": "../../../../refs/sst_v0_rel.json", "type": "application/json",
                 "roles": ["index", "references"]},
        "thumbnail": {"href": "thumb.png", "type": "image/png", "roles": ["thumbnail"]}})
    multi_item = item("multi", {
        "fice": {"href": f"{url}/refs/fice_v1_http.json.gz", "type": "application/json",
                 "roles": ["references"],
                 "xarray:storage_options": {"remote_protocol": "http"}},
        "chl": {"href": "reference://", "type": "application/vnd+zarr", "roles": ["data"],
                "xarray:open_kwargs": {"engine": "zarr", "consolidated": False,
                                       "storage_options": {"fo": "../../../../refs/chl_v0_http.json"}}}})
    docs = {"catalog.json": catalog, "ice/collection.json": collection,
            "ice/items/sst-monthly.json": sst_item, "ice/items/multi.json": multi_item}
    for rel, doc in docs.items():
        check_stac(doc)
        write(os.path.join(stac, rel), json.dumps(doc, indent=1))
    out["stac"] = os.path.join(stac, "catalog.json")
    out["stac_item"] = os.path.join(stac, "ice/items/multi.json")
    out["entries"] = dataset
    return out


def check_stac(doc):
    """The fields the STAC 1.0 specification requires (no pystac in Debian)."""
    t = doc["type"]
    assert doc["stac_version"] and isinstance(doc["id"], str) and doc["id"]
    assert isinstance(doc["links"], list)
    for lk in doc["links"]:
        assert lk["href"] and lk["rel"]
    if t in ("Catalog", "Collection"):
        assert isinstance(doc["description"], str)
    if t == "Collection":
        assert doc["license"] and doc["extent"]["spatial"]["bbox"]
        assert doc["extent"]["temporal"]["interval"]
    if t == "Feature":
        assert "geometry" in doc and "properties" in doc
        assert "datetime" in doc["properties"]
        assert doc["geometry"] is not None or doc.get("bbox") is None
        for a in doc["assets"].values():
            assert a["href"]


def mount_catalog(mount, source, *extra, start=True):
    return mount(source, extra=list(extra), start=start)


def check_dataset(path, entry):
    assert judges.check_zarr_store(path, entry) > 0


INTAKE_LAYOUT = {"sst": "sst_v0_rel", "fice": "fice_v1_http", "chl": "chl_v0_http",
                 "groups": "groups_v1_abs", "more/sst_gen": "sst_v1_gen_http"}


def test_intake_catalog_valid_for_intake(cat):
    intake = pytest.importorskip("intake")
    c = intake.open_catalog(cat["intake"])
    assert set(c) == {"sst", "fice", "chl", "groups", "table", "templated", "more"}
    assert set(c.more) == {"sst_gen"}
    # Entries as intake reads them (opening one would need intake-xarray).
    args = c._entries["sst"].describe()["args"]
    assert args["urlpath"] == "reference://"
    assert args["storage_options"]["fo"] == "{{ CATALOG_DIR }}/../refs/sst_v0_rel.json"
    c = intake.open_catalog(cat["intake_http"])
    assert set(c) == {"sst", "chl", "more"}


def test_intake_catalog_local(cat, mount):
    m = mount_catalog(mount, cat["intake"])
    assert sorted(os.listdir(m.mnt)) == ["chl", "fice", "groups", "more", "sst"]
    assert os.listdir(m.path("more")) == ["sst_gen"]
    log = open(m.log).read()
    # Entries of other kinds and unsupported templates: one line each.
    assert "source 'table': driver 'csv' is not a reference set; skipped" in log
    assert "source 'templated'" in log and "{{ year }}" in log
    assert "remote_options 'client_kwargs' is not supported" in log
    for path, name in INTAKE_LAYOUT.items():
        check_dataset(m.path(path), cat["entries"][name])
    s = status(m)["catalog"]
    assert s["datasets"] == 5 and s["loads"] == 5 and s["load_failures"] == 0


def test_intake_catalog_over_http(cat, mount, nginx):
    m = mount_catalog(mount, cat["url"] + "/http.yaml")
    assert sorted(os.listdir(m.mnt)) == ["chl", "more", "sst"]
    check_dataset(m.path("sst"), cat["entries"]["sst_v0_rel"])
    check_dataset(m.path("more/sst_gen"), cat["entries"]["sst_v1_gen_http"])
    check_dataset(m.path("chl"), cat["entries"]["chl_v0_http"])


@pytest.mark.parametrize("where", ["local", "http"])
def test_stac_catalog(cat, mount, where):
    src = cat["stac"] if where == "local" else cat["url"] + "/stac/catalog.json"
    m = mount_catalog(mount, src)
    assert os.listdir(m.mnt) == ["ice-and-sea"]
    coll = m.path("ice-and-sea")
    assert sorted(os.listdir(coll)) == ["groups-refs", "multi", "sst-monthly"]
    if where == "local":
        check_dataset(os.path.join(coll, "groups-refs"), cat["entries"]["groups_v1_abs"])
    else:
        # In a remote document an absolute path is one on the same server,
        # never a local file: here it does not exist there.
        with pytest.raises(OSError) as err:
            os.listdir(os.path.join(coll, "groups-refs"))
        assert err.value.errno == errno.EIO
    assert sorted(os.listdir(os.path.join(coll, "multi"))) == ["chl", "fice"]
    check_dataset(os.path.join(coll, "sst-monthly"), cat["entries"]["sst_v0_rel"])
    check_dataset(os.path.join(coll, "multi", "fice"), cat["entries"]["fice_v1_http"])
    check_dataset(os.path.join(coll, "multi", "chl"), cat["entries"]["chl_v0_http"])
    assert "already read" in open(m.log).read()  # the loop back to the catalog


def test_stac_item_as_source(cat, mount):
    m = mount_catalog(mount, cat["stac_item"])
    assert os.listdir(m.mnt) == ["multi"]
    check_dataset(m.path("multi/fice"), cat["entries"]["fice_v1_http"])


def test_intake_globs_inline_references_and_parameters(cat, mount, datadir, nginx, tmp_path):
    """yaml_files_cat patterns (merged, and one directory per file), a
    reference set written inline in the catalog, and a parameter's default;
    python3-intake reads the same catalog the same way."""
    refs = os.path.join(datadir, "refs")
    d = str(tmp_path / "gcat")
    with open(os.path.join(refs, "chl_v0_http.json")) as f:
        inline = json.load(f)
    main = write(os.path.join(d, "main.yaml"), yaml.safe_dump({
        "metadata": {"version": 1,
                     "parameters": {"which": {"description": "reference set", "type": "str",
                                              "default": "sst_v0_rel"}}},
        "sources": {
            "merged": {"driver": "yaml_files_cat",
                       "args": {"path": "{{ CATALOG_DIR }}/parts/*.yaml"}},
            "each": {"driver": "yaml_files_cat",
                     "args": {"path": "{{ CATALOG_DIR }}/each/*.yaml", "flatten": False}},
            "remote": {"driver": "yaml_files_cat",
                       "args": {"path": nginx.url + "/catalogs/sub/*.yaml"}},
            "inline": ref_source(inline, remote_protocol="http"),
            "param": ref_source(refs + "/{{ which }}.json"),
        }}))

    def part(path, name, fo):
        write(path, yaml.safe_dump({"sources": {name: ref_source(fo)}}))

    part(os.path.join(d, "parts", "b.yaml"), "chl", refs + "/chl_v0_http.json")
    part(os.path.join(d, "parts", "a.yaml"), "groups", refs + "/groups_v1_abs.json.gz")
    part(os.path.join(d, "each", "ice.yaml"), "fice", refs + "/fice_v1_http.json.gz")
    write(os.path.join(d, "parts", "notes.txt"), "not matched by *.yaml\n")

    intake = pytest.importorskip("intake")
    c = intake.open_catalog(main)
    assert set(c) == {"merged", "each", "remote", "inline", "param"}
    assert set(c.merged) == {"chl", "groups"}
    assert set(c.each) == {"ice"}

    m = mount_catalog(mount, main)
    assert sorted(os.listdir(m.mnt)) == ["each", "inline", "merged", "param", "remote"]
    assert sorted(os.listdir(m.path("merged"))) == ["chl", "groups"]
    assert os.listdir(m.path("each")) == ["ice"]
    assert os.listdir(m.path("each/ice")) == ["fice"]
    assert os.listdir(m.path("remote")) == []
    log = open(m.log).read()
    assert "source 'remote'" in log and "a remote location cannot be listed" in log
    check_dataset(m.path("merged/chl"), cat["entries"]["chl_v0_http"])
    check_dataset(m.path("merged/groups"), cat["entries"]["groups_v1_abs"])
    check_dataset(m.path("each/ice/fice"), cat["entries"]["fice_v1_http"])
    check_dataset(m.path("inline"), cat["entries"]["chl_v0_http"])
    check_dataset(m.path("param"), cat["entries"]["sst_v0_rel"])
    s = status(m)["catalog"]
    assert s["datasets"] == 5 and s["load_failures"] == 0


def generated_catalog(path, n, fo):
    sources = {f"ds{i:05d}": dict(ref_source(fo.format(i=i)), description=f"dataset {i}")
               for i in range(n)}
    write(path, yaml.safe_dump({"metadata": {"version": 1}, "sources": sources}))
    return path


def test_laziness_2000_sources(cat, mount, nginx, tmp_path, datadir):
    n = 2000
    # 2,000 names of one reference file, so the access log tells them apart.
    many = os.path.join(datadir, "many")
    os.makedirs(many, exist_ok=True)
    for i in range(n):
        link = os.path.join(many, f"ds{i}.json")
        if not os.path.lexists(link):
            os.symlink("../refs/chl_v0_http.json", link)
    path = generated_catalog(str(tmp_path / "big.yaml"), n, nginx.url + "/many/ds{i}.json")
    before = len(ref_requests(nginx, "/many/"))
    t0 = time.monotonic()
    m = mount_catalog(mount, path)
    mount_s = time.monotonic() - t0
    names = os.listdir(m.mnt)
    assert len(names) == n
    for name in names[:200]:
        os.stat(m.path(name))  # ls -l: stat'ing dataset directories loads nothing
    assert len(ref_requests(nginx, "/many/")) == before
    s = status(m)["catalog"]
    assert s["loads"] == 0 and s["datasets"] == n
    assert mount_s < 10, f"mounting {n} sources took {mount_s:.1f}s"
    t0 = time.monotonic()
    assert ".zgroup" in os.listdir(m.path("ds01234"))
    first_access_s = time.monotonic() - t0
    got = ref_requests(nginx, "/many/")[before:]
    assert got and all(r[1] == "/many/ds1234.json" for r in got), got
    assert status(m)["catalog"]["loads"] == 1
    rss = int([ln for ln in open(f"/proc/{m.pids[0]}/status") if ln.startswith("VmRSS")][0].split()[1])
    print(f"\n2000-source catalog: mount {mount_s*1000:.0f} ms, first access "
          f"{first_access_s*1000:.0f} ms, RSS {rss/1024:.1f} MiB")
    check_dataset(m.path("ds01234"), cat["entries"]["chl_v0_http"])


def test_concurrent_first_access_loads_once(cat, mount, tmp_path):
    path = generated_catalog(str(tmp_path / "c.yaml"), 8, cat["entries"]["fice_v1_http"]["refs"])
    m = mount_catalog(mount, path)
    barrier = threading.Barrier(8)
    errors = []

    def reader():
        try:
            barrier.wait()
            os.listdir(m.path("ds00003/fice"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert status(m)["catalog"]["loads"] == 1


def test_release_and_reload(cat, mount, tmp_path):
    e = cat["entries"]
    path = write(str(tmp_path / "two.yaml"), yaml.safe_dump({"sources": {
        "a": ref_source(e["sst_v0_rel"]["refs"]),
        "b": ref_source(e["fice_v1_http"]["refs"]),
    }}))
    m = mount_catalog(mount, path, "--catalog-datasets", "1", "--catalog-idle", "0")
    ino_a = os.stat(m.path("a/sst/.zarray")).st_ino
    fd = os.open(m.path("a/sst/.zarray"), os.O_RDONLY)  # the kernel keeps this inode
    check_dataset(m.path("b"), e["fice_v1_http"])
    s = status(m)["catalog"]
    assert s["loaded"] == 1 and s["releases"] >= 1
    # Reading through the inode of a released dataset reloads it.
    assert os.pread(fd, 1 << 16, 0).startswith(b"{")
    os.close(fd)
    assert os.stat(m.path("a/sst/.zarray")).st_ino == ino_a
    check_dataset(m.path("a"), e["sst_v0_rel"])
    s = status(m)["catalog"]
    assert s["loads"] >= 3 and s["releases"] >= 2 and s["loaded"] == 1


def test_memory_budget_and_idle_release(cat, mount, tmp_path):
    e = cat["entries"]
    path = generated_catalog(str(tmp_path / "m.yaml"), 3, e["sst_v0_rel"]["refs"])
    m = mount_catalog(mount, path, "--catalog-memory", "1K", "--catalog-idle", "1")
    for name in ("ds00000", "ds00001", "ds00002"):
        check_dataset(m.path(name), e["sst_v0_rel"])
        assert status(m)["catalog"]["loaded"] == 1
    deadline = time.monotonic() + 10
    while status(m)["catalog"]["loaded"] and time.monotonic() < deadline:
        time.sleep(0.2)
    s = status(m)["catalog"]
    assert s["loaded"] == 0 and s["loaded_bytes"] == 0
    check_dataset(m.path("ds00001"), e["sst_v0_rel"])


def test_missing_reference_file(cat, mount, tmp_path):
    e = cat["entries"]
    path = write(str(tmp_path / "bad.yaml"), yaml.safe_dump({"sources": {
        "good": ref_source(e["sst_v0_rel"]["refs"]),
        "gone": ref_source("{{ CATALOG_DIR }}/nope.json"),
    }}))
    m = mount_catalog(mount, path)
    assert sorted(os.listdir(m.mnt)) == ["gone", "good"]
    with pytest.raises(OSError) as err:
        os.listdir(m.path("gone"))
    assert err.value.errno == errno.EIO
    check_dataset(m.path("good"), e["sst_v0_rel"])
    log = open(m.log).read()
    lines = [ln for ln in log.splitlines() if "dataset 'gone'" in ln]
    assert len(lines) == 1 and "nope.json" in lines[0], log
    assert status(m)["catalog"]["load_failures"] == 1


@pytest.mark.parametrize("name,text,problem", [
    ("broken.yaml", "sources:\n  a: [unclosed\n", "invalid YAML"),
    ("nosources.yaml", "metadata:\n  version: 1\n", "no 'sources'"),
    ("bad.json", '{"stac_version": "1.0.0", "type": "Catalog", "id": "x", "links": [}', "invalid JSON"),
    ("feature.json", '{"stac_version": "1.0.0", "type": "Thing", "id": "x"}', "not a STAC document"),
])
def test_malformed_catalog_fails_mount(mount, tmp_path, name, text, problem):
    path = write(str(tmp_path / name), text)
    m = mount_catalog(mount, path, start=False)
    proc = subprocess.run(m.command(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and path in err and problem in err, err
    assert not zmount.is_mounted(m.mnt)


def test_check_option_summarises(cat):
    proc = subprocess.run([zmount.ZARRMOUNT, "--check", cat["intake"]], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Intake catalog" in proc.stdout and "5 datasets" in proc.stdout
