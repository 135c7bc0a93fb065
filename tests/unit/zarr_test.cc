// Unit tests of zarr/: chunk keys in every encoding (both directions), the
// chunk grid's geometry, and telling arrays from groups by their metadata.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "zarr/chunk_grid.h"
#include "zarr/chunk_key.h"
#include "zarr/metadata.h"

namespace zm {
namespace {

using Index = std::vector<uint64_t>;

// ---- chunk keys ----------------------------------------------------------------

TEST(ChunkKey, SpelledPerEncoding) {
  EXPECT_EQ(ChunkKeyEncoding::V2('.').Key({0, 3, 1}), "0.3.1");
  EXPECT_EQ(ChunkKeyEncoding::V2('/').Key({0, 3, 1}), "0/3/1");
  EXPECT_EQ(ChunkKeyEncoding::V3Default('/').Key({0, 3, 1}), "c/0/3/1");
  EXPECT_EQ(ChunkKeyEncoding::V3Default('.').Key({0, 3, 1}), "c.0.3.1");
  EXPECT_EQ(ChunkKeyEncoding::V2('.').Key({12}), "12");
  EXPECT_EQ(ChunkKeyEncoding::V3Default('/').Key({12}), "c/12");
  // A 0-d array's one chunk.
  EXPECT_EQ(ChunkKeyEncoding::V2('.').Key({}), "0");
  EXPECT_EQ(ChunkKeyEncoding::V2('/').Key({}), "0");
  EXPECT_EQ(ChunkKeyEncoding::V3Default('/').Key({}), "c");
  EXPECT_EQ(ChunkKeyEncoding::V3Default('.').Key({}), "c");
}

TEST(ChunkKey, ParseInvertsKey) {
  const ChunkKeyEncoding encodings[] = {ChunkKeyEncoding::V2('.'), ChunkKeyEncoding::V2('/'),
                                        ChunkKeyEncoding::V3Default('/'),
                                        ChunkKeyEncoding::V3Default('.')};
  const Index indices[] = {{}, {0}, {7}, {0, 0}, {10, 2}, {1, 22, 333},
                           {18446744073709551615u, 0, 5}};
  for (const auto& e : encodings)
    for (const Index& idx : indices) {
      const std::string key = e.Key(idx);
      auto back = e.Parse(key, idx.size());
      ASSERT_TRUE(back) << key;
      EXPECT_EQ(*back, idx) << key;
      // The same key does not parse for another rank; but for "0", which
      // in v2 is both the 0-d array's chunk and chunk {0} of a 1-d array.
      if (key == "0") continue;
      EXPECT_FALSE(e.Parse(key, idx.size() + 1)) << key;
      if (!idx.empty()) {
        EXPECT_FALSE(e.Parse(key, idx.size() - 1)) << key;
      }
    }
}

TEST(ChunkKey, ParseRefusesWhatKeyNeverSpells) {
  const auto v2dot = ChunkKeyEncoding::V2('.');
  const auto v2slash = ChunkKeyEncoding::V2('/');
  const auto v3 = ChunkKeyEncoding::V3Default('/');
  for (const char* key : {"", ".", "0.", ".0", "0..1", "01.2", "0.-1", "+1.2", "0.1a", "a.0",
                          "0/1", "0.1.2", " 0.1", "0.18446744073709551616", ".zarray"})
    EXPECT_FALSE(v2dot.Parse(key, 2)) << key;
  EXPECT_TRUE(v2dot.Parse("0.18446744073709551615", 2));
  for (const char* key : {"0.1", "c/0/1", "0/1/", "/0/1", "0//1"})
    EXPECT_FALSE(v2slash.Parse(key, 2)) << key;
  for (const char* key : {"0/1", "c", "c/", "c/0", "c.0.1", "cc/0/1", "c/0/1/2", "C/0/1", "c/00/1"})
    EXPECT_FALSE(v3.Parse(key, 2)) << key;
  // 0-d: only the one key.
  EXPECT_TRUE(v2dot.Parse("0", 0));
  EXPECT_FALSE(v2dot.Parse("1", 0));
  EXPECT_FALSE(v2dot.Parse("c", 0));
  EXPECT_TRUE(v3.Parse("c", 0));
  EXPECT_FALSE(v3.Parse("0", 0));
  EXPECT_FALSE(v3.Parse("c/0", 0));
}

// The encodings the metadata parsers choose.
TEST(ChunkKey, ChosenByTheMetadata) {
  auto v2 = ParseZarrArray(R"({"shape": [4], "chunks": [2], "dtype": "<f4"})");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->key_encoding, ChunkKeyEncoding::V2('.'));
  v2 = ParseZarrArray(R"({"shape": [4], "chunks": [2], "dtype": "<f4", "dimension_separator": "/"})");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->key_encoding, ChunkKeyEncoding::V2('/'));

  const std::string head = R"({"zarr_format": 3, "node_type": "array", "shape": [4, 6],
      "data_type": "float32", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 3]}},
      "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}])";
  const std::map<std::string, ChunkKeyEncoding> cases = {
      {"", ChunkKeyEncoding::V3Default('/')},
      {R"(, "chunk_key_encoding": {"name": "default"})", ChunkKeyEncoding::V3Default('/')},
      {R"(, "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}})",
       ChunkKeyEncoding::V3Default('.')},
      {R"(, "chunk_key_encoding": {"name": "v2"})", ChunkKeyEncoding::V2('.')},
      {R"(, "chunk_key_encoding": {"name": "v2", "configuration": {"separator": "/"}})",
       ChunkKeyEncoding::V2('/')},
  };
  for (const auto& [extra, want] : cases) {
    auto m = ParseZarrV3Array(head + extra + "}");
    ASSERT_TRUE(m.ok()) << extra << ": " << m.status().ToString();
    EXPECT_EQ(m->key_encoding, want) << extra;
    EXPECT_EQ(m->ParseChunkKey(m->ChunkKey({1, 1})), (Index{1, 1})) << extra;
  }
}

// ---- chunk grid ------------------------------------------------------------------

TEST(ChunkGrid, ShapeCountAndBothIndices) {
  auto g = ChunkGrid::Make({10, 7, 4}, {3, 7, 2});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->rank(), 3u);
  EXPECT_EQ(g->grid_shape(), (Index{4, 1, 2}));
  EXPECT_EQ(g->chunk_count(), 8u);
  // C order: the last dimension varies fastest.
  EXPECT_EQ(g->LinearIndex({0, 0, 1}), 1u);
  EXPECT_EQ(g->LinearIndex({1, 0, 0}), 2u);
  EXPECT_EQ(g->LinearIndex({3, 0, 1}), 7u);
  for (uint64_t l = 0; l < g->chunk_count(); ++l) EXPECT_EQ(g->LinearIndex(g->GridIndex(l)), l);
  // Outside the grid, or the wrong rank.
  EXPECT_FALSE(g->LinearIndex({4, 0, 0}));
  EXPECT_FALSE(g->LinearIndex({0, 1, 0}));
  EXPECT_FALSE(g->LinearIndex({0, 0}));
  EXPECT_FALSE(g->LinearIndex({0, 0, 0, 0}));
}

TEST(ChunkGrid, EdgeChunksAreCutByTheShape) {
  auto g = ChunkGrid::Make({10, 7}, {3, 7});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->ChunkExtent({0, 0}), (Index{3, 7}));
  EXPECT_EQ(g->ChunkExtent({2, 0}), (Index{3, 7}));
  EXPECT_EQ(g->ChunkExtent({3, 0}), (Index{1, 7}));
  // Near the top of uint64: no wrap.
  auto huge = ChunkGrid::Make({18446744073709551615u}, {10});
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->grid_shape(), (Index{1844674407370955162u}));
  EXPECT_EQ(huge->ChunkExtent({1844674407370955161u}), (Index{5}));
}

TEST(ChunkGrid, ZeroDimensionalAndEmptyArrays) {
  auto scalar = ChunkGrid::Make({}, {});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->chunk_count(), 1u);
  EXPECT_EQ(scalar->GridIndex(0), Index{});
  EXPECT_EQ(scalar->LinearIndex({}), 0u);
  EXPECT_EQ(scalar->ChunkExtent({}), Index{});
  auto empty = ChunkGrid::Make({3, 0}, {2, 2});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->grid_shape(), (Index{2, 0}));
  EXPECT_EQ(empty->chunk_count(), 0u);
  EXPECT_FALSE(empty->LinearIndex({0, 0}));
}

TEST(ChunkGrid, RefusesGridsItCannotNumber) {
  EXPECT_FALSE(ChunkGrid::Make({4, 4}, {2}).ok());
  EXPECT_FALSE(ChunkGrid::Make({4, 4}, {2, 0}).ok());
  auto over = ChunkGrid::Make({1ull << 40, 1ull << 40}, {1, 1});
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("2^64"), std::string::npos) << over.status().message();
  // GridShape alone never divides by zero.
  EXPECT_EQ(GridShape({7, 4}, {0, 2}), (Index{0, 2}));
}

// ---- nodes -------------------------------------------------------------------------

// A node whose documents are `docs` (name -> text); "!" reads as an error.
ZarrDocumentReader Docs(std::map<std::string, std::string> docs) {
  return [docs = std::move(docs)](std::string_view name) -> Result<std::optional<std::string>> {
    auto it = docs.find(std::string(name));
    if (it == docs.end()) return std::optional<std::string>();
    if (it->second == "!") return Unavailable("cannot read " + std::string(name));
    return std::optional<std::string>(it->second);
  };
}

const char kV2[] = R"({"shape": [4], "chunks": [2], "dtype": "<f4"})";
const char kV3[] = R"({"zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "float32",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    "fill_value": 0, "codecs": [{"name": "bytes"}], "attributes": {"units": "K"}})";

TEST(ZarrNode, ArraysOfBothVersions) {
  auto n = ReadZarrNode(Docs({{".zarray", kV2}, {".zattrs", "{}"}}));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->kind, ZarrNode::Kind::kArray);
  EXPECT_EQ(n->array.chunk.zarr_format, 2);
  EXPECT_EQ(n->document, kV2);
  n = ReadZarrNode(Docs({{"zarr.json", kV3}}));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->kind, ZarrNode::Kind::kArray);
  EXPECT_EQ(n->array.chunk.zarr_format, 3);
  EXPECT_EQ(n->array.ChunkKey({1}), "c/1");
  EXPECT_EQ(n->document, kV3);
  // .zarray first when both are there.
  n = ReadZarrNode(Docs({{".zarray", kV2}, {"zarr.json", "!"}}));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->array.chunk.zarr_format, 2);
}

TEST(ZarrNode, GroupsAndPlainDirectoriesAreNotArrays) {
  for (const auto& docs : std::vector<std::map<std::string, std::string>>{
           {},
           {{".zgroup", R"({"zarr_format": 2})"}},
           {{"zarr.json", R"({"zarr_format": 3, "node_type": "group", "attributes": {}})"}}}) {
    auto n = ReadZarrNode(Docs(docs));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(n->kind, ZarrNode::Kind::kNotArray);
  }
}

TEST(ZarrNode, MetadataThatDoesNotParseIsABadArray) {
  auto n = ReadZarrNode(Docs({{".zarray", R"({"shape": [4], "chunks": [2]})"}}));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->kind, ZarrNode::Kind::kBadArray);
  EXPECT_EQ(n->error.message(), ".zarray: 'dtype' is missing");
  n = ReadZarrNode(Docs({{"zarr.json", R"({"zarr_format": 3, "node_type": "array"})"}}));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->kind, ZarrNode::Kind::kBadArray);
  n = ReadZarrNode(Docs({{"zarr.json", "not json"}}));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->kind, ZarrNode::Kind::kBadArray);
}

TEST(ZarrNode, ReadErrorsAreReturned) {
  EXPECT_FALSE(ReadZarrNode(Docs({{".zarray", "!"}})).ok());
  EXPECT_FALSE(ReadZarrNode(Docs({{"zarr.json", "!"}})).ok());
}

}  // namespace
}  // namespace zm
