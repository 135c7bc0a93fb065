// Unit tests of refs/catalog.h: the catalog parsers (Intake YAML, STAC JSON)
// against in-memory documents.
#include <fnmatch.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "refs/catalog.h"
#include "refs/reference_loader.h"

namespace zm {
namespace {

CatalogIo MapIo(const std::map<std::string, std::string>& docs, std::vector<std::string>* fetched) {
  CatalogIo io;
  io.fetch = [docs, fetched](const std::string& loc) -> Result<std::string> {
    if (fetched) fetched->push_back(loc);
    auto it = docs.find(loc);
    if (it == docs.end()) return NotFound("no such document");
    return it->second;
  };
  return io;
}

std::string Join(const std::vector<std::string>& p) {
  std::string s;
  for (const auto& x : p) s += (s.empty() ? "" : "/") + x;
  return s;
}

TEST(ResolveLocation, PathsAndUrls) {
  EXPECT_EQ(ResolveLocation("/a/b/cat.yaml", "x.json"), "/a/b/x.json");
  EXPECT_EQ(ResolveLocation("/a/b/cat.yaml", "../r/./x.json"), "/a/r/x.json");
  EXPECT_EQ(ResolveLocation("/a/b/cat.yaml", "/abs/x.json"), "/abs/x.json");
  EXPECT_EQ(ResolveLocation("http://h:1/c/d/cat.json?sig=1", "../i/x.json"), "http://h:1/c/i/x.json");
  EXPECT_EQ(ResolveLocation("http://h/c/cat.json", "/root.json"), "http://h/root.json");
  EXPECT_EQ(ResolveLocation("http://h/c/cat.json", "s3://b/k/../x"), "s3://b/x");
}

TEST(SniffCatalog, Kinds) {
  EXPECT_EQ(SniffCatalog("/x/cat.yaml", ""), CatalogKind::kIntake);
  EXPECT_EQ(SniffCatalog("http://h/cat.yml?x", ""), CatalogKind::kIntake);
  EXPECT_EQ(SniffCatalog("/x/cat", "metadata: {}\nsources:\n  a: {}\n"), CatalogKind::kIntake);
  EXPECT_EQ(SniffCatalog("/x/c.json", R"({"type": "Catalog", "stac_version": "1.0.0"})"),
            CatalogKind::kStac);
  EXPECT_EQ(SniffCatalog("/x/r.json", R"({"version": 1, "refs": {}})"), CatalogKind::kNone);
  EXPECT_EQ(SniffCatalog("/x/r.json.gz", std::string("\x1f\x8b\x08", 3)), CatalogKind::kNone);
}

TEST(IntakeCatalog, SourcesNestedAndNotes) {
  std::map<std::string, std::string> docs;
  docs["/c/main.yaml"] = R"(
metadata: {version: 1}
sources:
  sst:
    driver: zarr
    args:
      urlpath: reference://
      storage_options:
        fo: "{{ CATALOG_DIR }}/refs/sst.json"
        remote_protocol: s3
        remote_options: {anon: true, requester_pays: true}
  rel:
    driver: intake_xarray.xzarr.ZarrSource
    args: {urlpath: "reference://", storage_options: {fo: "../other/r.json.gz", target_options: {compression: gzip}}}
  tmpl:
    driver: zarr
    args: {urlpath: "reference://", storage_options: {fo: "{{ env(HOME) }}/x.json"}}
  csv:
    driver: csv
    args: {urlpath: "x.csv"}
  sub:
    driver: yaml_file_cat
    args: {path: "{{CATALOG_DIR}}/sub/s.yaml"}
  broken:
    driver: intake.catalog.local.YAMLFileCatalog
    args: {path: missing.yaml}
)";
  docs["/c/sub/s.yaml"] = R"(
sources:
  "a/b":
    driver: zarr
    args: {urlpath: "reference://", storage_options: {fo: "http://h/x.json"}}
)";
  auto cat = LoadCatalog("/c/main.yaml", CatalogKind::kIntake, MapIo(docs, nullptr));
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  ASSERT_EQ(cat->datasets.size(), 3u);
  EXPECT_EQ(Join(cat->datasets[0].path), "sst");
  EXPECT_EQ(cat->datasets[0].references, "/c/refs/sst.json");
  EXPECT_EQ(cat->datasets[0].url_base, "s3://");
  EXPECT_TRUE(cat->datasets[0].anonymous);
  EXPECT_EQ(cat->datasets[1].references, "/other/r.json.gz");
  EXPECT_FALSE(cat->datasets[1].anonymous);
  EXPECT_EQ(Join(cat->datasets[2].path), "sub/a_b");  // '/' cannot be in a name
  EXPECT_EQ(cat->datasets[2].references, "http://h/x.json");
  ASSERT_EQ(cat->directories.size(), 2u);  // sub, broken (empty)
  std::string notes;
  for (const auto& n : cat->notes) notes += n + "\n";
  EXPECT_NE(notes.find("source 'tmpl': fo: template '{{ env(HOME) }}' is not supported"),
            std::string::npos) << notes;
  EXPECT_NE(notes.find("driver 'csv' is not a reference set"), std::string::npos);
  EXPECT_NE(notes.find("remote_options 'requester_pays' is not supported"), std::string::npos);
  EXPECT_NE(notes.find("/c/missing.yaml"), std::string::npos) << notes;
  EXPECT_EQ(cat->documents, 3u);
}

TEST(IntakeCatalog, MalformedIsOneLineNamingTheFile) {
  std::map<std::string, std::string> docs{{"/c/bad.yaml", "sources:\n  a: [x\n"},
                                          {"/c/none.yaml", "metadata: {}\n"}};
  auto bad = LoadCatalog("/c/bad.yaml", CatalogKind::kIntake, MapIo(docs, nullptr));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("/c/bad.yaml: invalid YAML at line"), 0u) << bad.status().message();
  EXPECT_EQ(bad.status().message().find('\n'), std::string::npos);
  auto none = LoadCatalog("/c/none.yaml", CatalogKind::kIntake, MapIo(docs, nullptr));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no 'sources'"), std::string::npos);
}

TEST(IntakeCatalog, RemoteCatalogMayNotNameLocalFiles) {
  std::map<std::string, std::string> docs{{"http://h/c.yaml", R"(
sources:
  a: {driver: zarr, args: {urlpath: "reference://", storage_options: {fo: "file:///etc/r.json"}}}
  b: {driver: zarr, args: {urlpath: "reference://", storage_options: {fo: "r.json"}}}
)"}};
  auto cat = LoadCatalog("http://h/c.yaml", CatalogKind::kIntake, MapIo(docs, nullptr));
  ASSERT_TRUE(cat.ok());
  ASSERT_EQ(cat->datasets.size(), 1u);
  EXPECT_EQ(cat->datasets[0].references, "http://h/r.json");
}

// A glob over the fake documents, as fs/ does with glob(3): sorted.
CatalogIo GlobIo(const std::map<std::string, std::string>& docs) {
  CatalogIo io = MapIo(docs, nullptr);
  io.glob = [docs](const std::string& pattern) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    for (const auto& [loc, text] : docs)
      if (::fnmatch(pattern.c_str(), loc.c_str(), FNM_PATHNAME) == 0) out.push_back(loc);
    return out;  // std::map: already sorted
  };
  return io;
}

std::string AllNotes(const Catalog& c) {
  std::string notes;
  for (const auto& n : c.notes) notes += n + "\n";
  return notes;
}

std::string ZarrSource(const std::string& fo) {
  return "{driver: zarr, args: {urlpath: \"reference://\", storage_options: {fo: \"" + fo + "\"}}}";
}

TEST(IntakeCatalog, GlobPathsFollowIntake) {
  std::map<std::string, std::string> docs;
  docs["/c/main.yaml"] = R"(
sources:
  merged: {driver: yaml_files_cat, args: {path: "{{ CATALOG_DIR }}/m/*.yaml"}}
  each: {driver: intake.catalog.local.YAMLFilesCatalog, args: {path: "e/*", flatten: false}}
  dir: {driver: yaml_files_cat, args: {path: "{{ CATALOG_DIR }}/d"}}
  single: {driver: yaml_file_cat, args: {path: "{{ CATALOG_DIR }}/s/on?.yaml"}}
  several: {driver: yaml_file_cat, args: {path: "m/*.yaml"}}
  nothing: {driver: yaml_files_cat, args: {path: "none/*.yaml"}}
  remote: {driver: yaml_files_cat, args: {path: "http://h/cats/*.yaml"}}
)";
  docs["/c/m/b.yaml"] = "sources:\n  b1: " + ZarrSource("b1.json") + "\n";
  docs["/c/m/a.yaml"] = "sources:\n  a1: " + ZarrSource("a1.json") + "\n  a2: " + ZarrSource("a2.json") + "\n";
  docs["/c/m/skip.json"] = "{}";
  docs["/c/e/x.yaml"] = "sources:\n  x1: " + ZarrSource("x1.json") + "\n";
  docs["/c/e/y.v2.yml"] = "sources:\n  y1: " + ZarrSource("y1.json") + "\n";
  docs["/c/d/z.yaml"] = "sources:\n  z1: " + ZarrSource("z1.json") + "\n";
  docs["/c/s/one.yaml"] = "sources:\n  o1: " + ZarrSource("o1.json") + "\n";
  auto cat = LoadCatalog("/c/main.yaml", CatalogKind::kIntake, GlobIo(docs));
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  std::vector<std::string> got;
  for (const auto& d : cat->datasets) got.push_back(Join(d.path) + "=" + d.references);
  // merged: the sources of every file, files in sorted order; flatten:
  // false: one directory per file, named as Intake names it; a directory
  // path means DIR/*; a yaml_file_cat pattern must match one file.
  EXPECT_EQ(got, (std::vector<std::string>{
                     "merged/a1=/c/m/a1.json", "merged/a2=/c/m/a2.json", "merged/b1=/c/m/b1.json",
                     "each/x/x1=/c/e/x1.json", "each/y.v2/y1=/c/e/y1.json", "dir/z1=/c/d/z1.json",
                     "single/o1=/c/s/o1.json"}));
  const std::string notes = AllNotes(*cat);
  EXPECT_NE(notes.find("source 'several': path '/c/m/*.yaml' matches 2 files"), std::string::npos) << notes;
  EXPECT_NE(notes.find("source 'nothing': path '/c/none/*.yaml' matches no file"), std::string::npos) << notes;
  EXPECT_NE(notes.find("source 'remote': path 'http://h/cats/*.yaml' is a pattern, and a remote location "
                       "cannot be listed; skipped"),
            std::string::npos) << notes;
  EXPECT_EQ(notes.find("source 'merged'"), std::string::npos) << notes;

  // Without a way to list files (the default CatalogIo), patterns are noted.
  auto plain = LoadCatalog("/c/main.yaml", CatalogKind::kIntake, MapIo(docs, nullptr));
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(AllNotes(*plain).find("source 'merged': path '/c/m/*.yaml' is a pattern; patterns are not "
                                  "supported here"),
            std::string::npos);
}

TEST(IntakeCatalog, RemoteCatalogGlobIsNotListed) {
  std::map<std::string, std::string> docs{{"http://h/c/main.yaml", R"(
sources:
  many: {driver: yaml_files_cat, args: {path: "{{ CATALOG_DIR }}/sub/*.yaml"}}
)"}};
  int globs = 0;
  CatalogIo io = MapIo(docs, nullptr);
  io.glob = [&globs](const std::string&) -> Result<std::vector<std::string>> {
    ++globs;
    return std::vector<std::string>{};
  };
  auto cat = LoadCatalog("http://h/c/main.yaml", CatalogKind::kIntake, io);
  ASSERT_TRUE(cat.ok());
  EXPECT_EQ(globs, 0);
  ASSERT_EQ(cat->notes.size(), 1u);
  EXPECT_NE(cat->notes[0].find("'http://h/c/sub/*.yaml' is a pattern, and a remote location cannot be listed"),
            std::string::npos) << cat->notes[0];
}

TEST(YamlToJson, TypesScalarsAsPyYaml) {
  auto j = YamlToJson(R"({a: 1, b: "1", c: 0x1F, d: 0o17, e: 017, f: 1_000, g: -2.5e+3, h: .5,
                          i: yes, j: off, k: ~, l: text, m: '', n: [1, "x", null], o: "quote\"d",
                          p: 1.0.0, q: +7})");
  ASSERT_TRUE(j.ok()) << j.status().message();
  EXPECT_EQ(*j, R"({"a":1,"b":"1","c":31,"d":15,"e":15,"f":1000,"g":-2500,"h":0.5,"i":true,"j":false,)"
                R"("k":null,"l":"text","m":"","n":[1,"x",null],"o":"quote\"d","p":"1.0.0","q":7})");
  EXPECT_FALSE(YamlToJson("{a: 1, a: 2}").ok());
  EXPECT_FALSE(YamlToJson("{a: !!binary aGk=}").ok());
}

TEST(IntakeCatalog, InlineReferences) {
  std::map<std::string, std::string> docs{{"/c/main.yaml", R"(
sources:
  inl:
    driver: zarr
    args:
      urlpath: reference://
      storage_options:
        remote_protocol: s3
        fo:
          version: 1
          templates: {u: "bucket/data.nc"}
          refs:
            .zgroup: '{"zarr_format": 2}'
            x/.zarray: '{"chunks": [2], "compressor": null, "dtype": "<i2", "fill_value": 0, "filters": null, "order": "C", "shape": [2], "zarr_format": 2}'
            x/0: ["{{u}}", 100, 4]
            "n": "7"
  bad:
    driver: zarr
    args: {urlpath: reference://, storage_options: {fo: {refs: {a: 1}, refs: {b: 2}}}}
  seq:
    driver: zarr
    args: {urlpath: reference://, storage_options: {fo: [a, b]}}
)"}};
  auto cat = LoadCatalog("/c/main.yaml", CatalogKind::kIntake, MapIo(docs, nullptr));
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  ASSERT_EQ(cat->datasets.size(), 1u) << AllNotes(*cat);
  const CatalogDataset& d = cat->datasets[0];
  EXPECT_EQ(d.references, "/c/main.yaml");
  EXPECT_EQ(d.url_base, "s3://");
  auto index = LoadReferenceData(d.inline_references, "inline", d.url_base);
  ASSERT_TRUE(index.ok()) << index.status().message() << "\n" << d.inline_references;
  auto f = index->FindKey("x/0");
  ASSERT_TRUE(f.has_value());
  auto t = index->target(*f);
  ASSERT_FALSE(t.is_inline());
  EXPECT_EQ(index->url(t.url_id), "s3://bucket/data.nc");  // kerchunk's template, not the catalog's
  EXPECT_EQ(t.offset, 100u);
  EXPECT_EQ(t.size, 4u);
  auto n = index->FindKey("n");
  ASSERT_TRUE(n.has_value());
  const std::string notes = AllNotes(*cat);
  EXPECT_NE(notes.find("source 'bad': inline storage_options.fo:"), std::string::npos) << notes;
  EXPECT_NE(notes.find("source 'seq': storage_options.fo is neither a path"), std::string::npos) << notes;
}

TEST(IntakeCatalog, ParameterDefaults) {
  std::map<std::string, std::string> docs{{"/c/main.yaml", R"Y(
metadata:
  parameters:
    year: {description: shared, type: int, default: 1999}
    region: {type: str, default: "north"}
sources:
  own:
    driver: zarr
    parameters:
      year: {type: int, default: 2001}
    args: {urlpath: reference://, storage_options: {fo: "{{ CATALOG_DIR }}/{{year}}/{{ region }}.json"}}
  shared:
    driver: zarr
    args: {urlpath: reference://, storage_options: {fo: "{{ year }}.json"}}
  nodefault:
    driver: zarr
    parameters: {month: {type: int}}
    args: {urlpath: reference://, storage_options: {fo: "{{ month }}.json"}}
  env:
    driver: zarr
    parameters: {home: {type: str, default: "env(HOME)"}}
    args: {urlpath: reference://, storage_options: {fo: "{{ home }}/r.json"}}
  nested:
    driver: yaml_file_cat
    parameters: {sub: {type: str, default: s}}
    args: {path: "{{ CATALOG_DIR }}/{{ sub }}/cat.yaml"}
)Y"},
                                          {"/c/s/cat.yaml", "sources:\n  n: " + ZarrSource("{{ year }}.json") + "\n"}};
  auto cat = LoadCatalog("/c/main.yaml", CatalogKind::kIntake, MapIo(docs, nullptr));
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  std::vector<std::string> got;
  for (const auto& d : cat->datasets) got.push_back(Join(d.path) + "=" + d.references);
  EXPECT_EQ(got, (std::vector<std::string>{"own=/c/2001/north.json", "shared=/c/1999.json"}));
  const std::string notes = AllNotes(*cat);
  EXPECT_NE(notes.find("source 'nodefault': fo: template '{{ month }}' is not supported"), std::string::npos)
      << notes;
  EXPECT_NE(notes.find("source 'env': fo: template '{{ home }}' is not supported"), std::string::npos) << notes;
  // Parameters belong to their own document: the nested one has no `year`.
  EXPECT_NE(notes.find("/c/s/cat.yaml: source 'n': fo: template '{{ year }}'"), std::string::npos) << notes;
}

TEST(StacCatalog, ChildrenItemsAssetsAndLoops) {
  std::map<std::string, std::string> docs;
  docs["http://h/s/catalog.json"] = R"({"type": "Catalog", "stac_version": "1.0.0", "id": "root",
    "description": "d", "links": [{"rel": "self", "href": "./catalog.json"},
      {"rel": "child", "href": "./c1/collection.json"}, {"rel": "child", "href": "catalog.json"}]})";
  docs["http://h/s/c1/collection.json"] = R"({"type": "Collection", "stac_version": "1.0.0",
    "id": "coll", "description": "d", "license": "x", "extent": {},
    "links": [{"rel": "item", "href": "items/one.json"}, {"rel": "item", "href": "items/two.json"},
              {"rel": "child", "href": "../catalog.json"}],
    "assets": {"agg": {"href": "agg.json", "type": "application/json", "roles": ["references"]}}})";
  docs["http://h/s/c1/items/one.json"] = R"({"type": "Feature", "stac_version": "1.0.0", "id": "one",
    "geometry": null, "properties": {"datetime": null}, "links": [],
    "assets": {"r": {"href": "../refs/one.json", "roles": ["index"]},
               "png": {"href": "x.png", "type": "image/png", "roles": ["thumbnail"]}}})";
  docs["http://h/s/c1/items/two.json"] = R"({"type": "Feature", "stac_version": "1.0.0", "id": "two",
    "geometry": null, "properties": {"datetime": null}, "links": [],
    "assets": {"a": {"href": "a.json", "type": "application/json", "roles": ["references"],
                     "xarray:storage_options": {"remote_protocol": "s3", "remote_options": {"anon": true}}},
               "b": {"href": "reference://", "type": "application/vnd+zarr",
                     "xarray:open_kwargs": {"engine": "zarr",
                        "storage_options": {"fo": "s3://bk/b.json", "target_options": {"anon": true}}}}}})";
  std::vector<std::string> fetched;
  auto cat = LoadCatalog("http://h/s/catalog.json", CatalogKind::kStac, MapIo(docs, &fetched));
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  std::map<std::string, const CatalogDataset*> by_path;
  for (const auto& d : cat->datasets) by_path[Join(d.path)] = &d;
  ASSERT_EQ(by_path.size(), 4u);
  EXPECT_EQ(by_path.at("coll/agg")->references, "http://h/s/c1/agg.json");
  EXPECT_EQ(by_path.at("coll/one")->references, "http://h/s/c1/refs/one.json");
  EXPECT_EQ(by_path.at("coll/two/a")->references, "http://h/s/c1/items/a.json");
  EXPECT_EQ(by_path.at("coll/two/a")->url_base, "s3://");
  EXPECT_TRUE(by_path.at("coll/two/a")->anonymous);
  EXPECT_EQ(by_path.at("coll/two/b")->references, "s3://bk/b.json");
  EXPECT_TRUE(by_path.at("coll/two/b")->anonymous);
  EXPECT_EQ(fetched.size(), 4u);  // each document once, loops cut
  std::string notes;
  for (const auto& n : cat->notes) notes += n + "\n";
  EXPECT_NE(notes.find("already read"), std::string::npos) << notes;
}

TEST(IntakeCatalog, NetcdfSourcesAreFilesToScan) {
  std::map<std::string, std::string> docs;
  docs["/c/main.yaml"] = R"(
sources:
  local:
    driver: netcdf
    args: {urlpath: "{{ CATALOG_DIR }}/data/a.nc", chunks: {}}
  remote:
    driver: intake_xarray.netcdf.NetCDFSource
    args: {urlpath: "s3://bk/b.nc", storage_options: {anon: true, requester_pays: true}}
  many:
    driver: netcdf
    args: {urlpath: "data/*.nc"}
  listed:
    driver: netcdf
    args: {urlpath: [a.nc, b.nc]}
  refs:
    driver: zarr
    args: {urlpath: "reference://", storage_options: {fo: r.json}}
)";
  auto cat = LoadCatalog("/c/main.yaml", CatalogKind::kIntake, MapIo(docs, nullptr));
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  std::map<std::string, const CatalogDataset*> by_path;
  for (const auto& d : cat->datasets) by_path[Join(d.path)] = &d;
  ASSERT_EQ(by_path.size(), 3u);
  EXPECT_EQ(by_path.at("local")->references, "/c/data/a.nc");
  EXPECT_TRUE(by_path.at("local")->scan);
  EXPECT_FALSE(by_path.at("local")->anonymous);
  EXPECT_EQ(by_path.at("remote")->references, "s3://bk/b.nc");
  EXPECT_TRUE(by_path.at("remote")->scan);
  EXPECT_TRUE(by_path.at("remote")->anonymous);
  EXPECT_FALSE(by_path.at("refs")->scan);
  std::string notes;
  for (const auto& n : cat->notes) notes += n + "\n";
  EXPECT_NE(notes.find("source 'many': urlpath 'data/*.nc' is a pattern"), std::string::npos) << notes;
  EXPECT_NE(notes.find("source 'listed': urlpath is a list of files"), std::string::npos) << notes;
  EXPECT_NE(notes.find("storage_options 'requester_pays' is not supported"), std::string::npos) << notes;
}

TEST(StacCatalog, NetcdfAssetsOfItemsWithoutReferences) {
  std::map<std::string, std::string> docs;
  docs["/s/c.json"] = R"({"type": "Collection", "stac_version": "1.0.0", "id": "c", "description": "d",
    "links": [{"rel": "item", "href": "one.json"}, {"rel": "item", "href": "two.json"},
              {"rel": "item", "href": "three.json"}]})";
  docs["/s/one.json"] = R"({"type": "Feature", "stac_version": "1.0.0", "id": "one", "links": [],
    "assets": {"data": {"href": "data/one.nc", "type": "application/netcdf", "roles": ["data"],
                        "xarray:storage_options": {"anon": true}},
               "png": {"href": "x.png", "type": "image/png"}}})";
  docs["/s/two.json"] = R"({"type": "Feature", "stac_version": "1.0.0", "id": "two", "links": [],
    "assets": {"data": {"href": "data/two.h5", "type": "application/x-hdf5"},
               "refs": {"href": "two.json", "roles": ["references"]}}})";
  docs["/s/three.json"] = R"({"type": "Feature", "stac_version": "1.0.0", "id": "three", "links": [],
    "assets": {"csv": {"href": "three.csv", "type": "text/csv"}}})";
  auto cat = LoadCatalog("/s/c.json", CatalogKind::kStac, MapIo(docs, nullptr));
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  std::map<std::string, const CatalogDataset*> by_path;
  for (const auto& d : cat->datasets) by_path[Join(d.path)] = &d;
  ASSERT_EQ(by_path.size(), 2u);
  EXPECT_EQ(by_path.at("one")->references, "/s/data/one.nc");
  EXPECT_TRUE(by_path.at("one")->scan);
  EXPECT_TRUE(by_path.at("one")->anonymous);
  // An item with references is read through them, not scanned.
  EXPECT_EQ(by_path.at("two")->references, "/s/two.json");
  EXPECT_FALSE(by_path.at("two")->scan);
  std::string notes;
  for (const auto& n : cat->notes) notes += n + "\n";
  EXPECT_NE(notes.find("item 'three' has no reference or NetCDF/HDF5 asset"), std::string::npos) << notes;
}

TEST(StacCatalog, DepthLimitAndBadRoot) {
  std::map<std::string, std::string> docs;
  for (int i = 0; i < 10; ++i)
    docs["/s/" + std::to_string(i) + ".json"] =
        R"({"type": "Catalog", "stac_version": "1.0.0", "id": "c)" + std::to_string(i) +
        R"(", "description": "", "links": [{"rel": "child", "href": ")" + std::to_string(i + 1) +
        R"(.json"}]})";
  CatalogLimits limits;
  limits.max_depth = 3;
  auto cat = LoadCatalog("/s/0.json", CatalogKind::kStac, MapIo(docs, nullptr), limits);
  ASSERT_TRUE(cat.ok());
  EXPECT_EQ(cat->directories.size(), 3u);
  docs["/s/bad.json"] = R"({"type": "Catalog", "stac_version": "1.0.0", "id": "x", "links": [})";
  auto bad = LoadCatalog("/s/bad.json", CatalogKind::kStac, MapIo(docs, nullptr));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("/s/bad.json: invalid JSON"), 0u);
}

}  // namespace
}  // namespace zm
