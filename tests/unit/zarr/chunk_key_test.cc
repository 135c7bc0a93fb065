// Unit tests of zarr/chunk_key.h: how chunk keys are spelled and parsed.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

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

}  // namespace
}  // namespace zm
