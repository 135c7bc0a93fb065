// Unit tests of refs/zarr_store.h: telling a plain Zarr store from its root
// metadata, reading consolidated metadata, building the store's index.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "refs/zarr_store.h"

namespace zm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Result<StoreRoot> Classify(const std::map<std::string, std::string>& docs) {
  return ClassifyStoreRoot([&](std::string_view name) -> Result<std::optional<std::string>> {
    auto it = docs.find(std::string(name));
    if (it == docs.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  });
}

TEST(ZarrStore, ClassifiesTheRoot) {
  EXPECT_EQ(*Classify({}), StoreRoot::kNone);
  EXPECT_EQ(*Classify({{".zgroup", R"({"zarr_format": 2})"}}), StoreRoot::kPlain);
  EXPECT_EQ(*Classify({{".zarray", "{}"}}), StoreRoot::kPlain);
  EXPECT_EQ(*Classify({{".zmetadata", R"({"metadata": {}, "zarr_consolidated_format": 1})"},
                       {".zgroup", "{}"}}),
            StoreRoot::kConsolidatedV2);
  // kerchunk's Parquet references carry a .zmetadata with record_size.
  EXPECT_EQ(*Classify({{".zmetadata", R"({"metadata": {}, "record_size": 10000})"}}), StoreRoot::kNone);
  EXPECT_EQ(*Classify({{"zarr.json", R"({"zarr_format": 3, "node_type": "group"})"}}), StoreRoot::kPlain);
  EXPECT_EQ(*Classify({{"zarr.json", R"({"zarr_format": 3, "node_type": "group",
      "consolidated_metadata": {"kind": "inline", "metadata": {}}})"}}),
            StoreRoot::kConsolidatedV3);
  // Errors of reading are errors, not "no store".
  auto r = ClassifyStoreRoot([](std::string_view) -> Result<std::optional<std::string>> {
    return IoError("HTTP 500");
  });
  EXPECT_FALSE(r.ok());
}

const char* kV2 = R"({"zarr_consolidated_format": 1, "metadata": {
  ".zgroup": {"zarr_format": 2},
  ".zattrs": {"title": "t"},
  "a/.zarray": {"zarr_format": 2, "shape": [5, 4], "chunks": [2, 4], "dtype": "<f4", "order": "C",
                "fill_value": 0, "compressor": null, "filters": null},
  "g/b/.zarray": {"zarr_format": 2, "shape": [3], "chunks": [2], "dtype": "<i2", "order": "C",
                  "fill_value": null, "compressor": null, "filters": null, "dimension_separator": "/"},
  "g/b/.zattrs": {"_ARRAY_DIMENSIONS": ["n"]}}})";

TEST(ZarrStore, ReadsV2ConsolidatedMetadata) {
  auto c = ReadConsolidated(StoreRoot::kConsolidatedV2, kV2);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<std::string> keys;
  for (const auto& [k, text] : c->documents) keys.push_back(k);
  EXPECT_THAT(keys, ElementsAre(".zgroup", ".zattrs", "a/.zarray", "g/b/.zarray", "g/b/.zattrs"));
  EXPECT_EQ(c->documents[1].second, R"({"title":"t"})");
  EXPECT_THAT(c->chunk_keys, ElementsAre("a/0.0", "a/1.0", "a/2.0", "g/b/0", "g/b/1"));
  auto few = ReadConsolidated(StoreRoot::kConsolidatedV2, kV2, 4);
  ASSERT_FALSE(few.ok());
  EXPECT_THAT(few.status().message(), HasSubstr("too many to probe without a listing"));
  auto bad = ReadConsolidated(StoreRoot::kConsolidatedV2, R"({"metadata": {"a/.zarray": {"shape": [1]}}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("a/.zarray"));
}

TEST(ZarrStore, ReadsV3ConsolidatedMetadata) {
  const char* root = R"({"zarr_format": 3, "node_type": "group", "attributes": {},
    "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": {
      "x": {"zarr_format": 3, "node_type": "array", "shape": [4, 3], "data_type": "uint8",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 3]}},
            "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": ["bytes"]},
      "g": {"zarr_format": 3, "node_type": "group", "attributes": {"a": 1}},
      "g/y": {"zarr_format": 3, "node_type": "array", "shape": [3], "data_type": "int16",
              "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
              "chunk_key_encoding": {"name": "v2", "configuration": {"separator": "."}},
              "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}}}})";
  auto c = ReadConsolidated(StoreRoot::kConsolidatedV3, root);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<std::string> keys;
  for (const auto& [k, text] : c->documents) keys.push_back(k);
  EXPECT_THAT(keys, ElementsAre("zarr.json", "x/zarr.json", "g/zarr.json", "g/y/zarr.json"));
  EXPECT_THAT(c->chunk_keys, ElementsAre("x/c/0/0", "x/c/1/0", "g/y/0", "g/y/1"));
}

TEST(ZarrStore, BuildsTheIndex) {
  auto index = BuildStoreIndex("http://h/s.zarr", {{".zgroup", "{}"}},
                               {{".zgroup", 99}, {"a/.zarray", 120}, {"a/0.0", 7}});
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  auto f = index->FindKey(".zgroup");
  ASSERT_TRUE(f);
  EXPECT_TRUE(index->target(*f).is_inline());
  f = index->FindKey("a/0.0");
  ASSERT_TRUE(f);
  auto t = index->target(*f);
  EXPECT_EQ(index->url(t.url_id), "http://h/s.zarr/a/0.0");
  EXPECT_EQ(t.offset, 0u);
  EXPECT_EQ(t.size, 7u);
  EXPECT_FALSE(BuildStoreIndex("/d", {}, {{"a/../b", 1}}).ok());
}

TEST(ZarrStore, ParsesAnNginxIndex) {
  const char* html = R"(<html><head><title>Index of /s/</title></head><body>
<h1>Index of /s/</h1><hr><pre><a href="../">../</a>
<a href="sub/">sub/</a>                                               02-Dec-2026 01:00       -
<a href=".zattrs">.zattrs</a>                                           02-Dec-2026 01:00      24
<a href="0.0">0.0</a>                                               02-Dec-2026 01:00     120
<a href="a%20b&amp;c">a b&amp;c</a>                                02-Dec-2026 01:00       1
</pre><hr></body></html>)";
  EXPECT_THAT(ParseIndexLinks(html), ElementsAre("sub/", ".zattrs", "0.0", "a b&c"));
}

TEST(ZarrStore, IndexLinksElsewhereAreLeftOut) {
  const char* html = R"(<a href="?C=N;O=D">Name</a> <a href="/icons/back.gif">x</a>
<a href="/s/">Parent Directory</a> <a href="http://other/x">x</a> <a href='./t/'>t/</a>
<a href="#top">top</a> <a href="a/b">deep</a> <a href="bad%0">bad</a> <a href="nul%00">n</a>
<a href="0.1">0.1</a> <a href="0.1">again</a>)";
  EXPECT_THAT(ParseIndexLinks(html), ElementsAre("t/", "0.1"));
  EXPECT_TRUE(ParseIndexLinks("").empty());
  EXPECT_TRUE(ParseIndexLinks("<a href=").empty());
  EXPECT_TRUE(ParseIndexLinks("<a href=\"unterminated").empty());
}

TEST(ZarrStore, UnsizedObjectsAreWholeObjectsOfUnknownSize) {
  auto idx = BuildStoreIndex("http://h/s", {{".zgroup", "{}"}},
                             {StoreObject{"a/0", ReferenceIndex::kUnknownSize},
                              StoreObject{"a/1", 5}});
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  auto f = idx->FindKey("a/0");
  ASSERT_TRUE(f);
  EXPECT_EQ(idx->target(*f).size, ReferenceIndex::kUnknownSize);
  EXPECT_EQ(idx->url(idx->target(*f).url_id), "http://h/s/a/0");
  EXPECT_EQ(idx->target(*idx->FindKey("a/1")).size, 5u);
  EXPECT_EQ(idx->UnsizedFiles().size(), 1u);
}

}  // namespace
}  // namespace zm
