// Unit tests of zarr/sharding.h and the sharding_indexed configuration as
// zarr/metadata.h reads it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codecs/checksum.h"
#include "zarr/metadata.h"
#include "zarr/sharding.h"

namespace zm {
namespace {

using ::testing::HasSubstr;

std::string U64(uint64_t v, bool big_endian = false) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[big_endian ? 7 - i : i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

std::string U32Le(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

ShardingSpec Spec2x2(bool crc, bool big_endian = false) {
  ShardingSpec s;
  s.inner_chunks = {3, 5};
  s.chunks_per_shard = {2, 2};
  s.index_crc32c = crc;
  s.index_big_endian = big_endian;
  return s;
}

// An index of entries (offset, nbytes), encoded per `s`.
std::string Index(const ShardingSpec& s, const std::vector<std::pair<uint64_t, uint64_t>>& e) {
  std::string pairs;
  for (auto [o, n] : e) pairs += U64(o, s.index_big_endian) + U64(n, s.index_big_endian);
  return s.index_crc32c ? pairs + U32Le(Crc32c(pairs)) : pairs;
}

constexpr uint64_t kE = ShardEntry::kEmpty;

TEST(Sharding, Geometry) {
  ShardingSpec s = Spec2x2(true);
  EXPECT_EQ(s.inner_count(), 4u);
  EXPECT_EQ(s.index_bytes(), 68u);
  EXPECT_EQ(*s.IndexOffset(100), 32u);
  s.index_at_end = false;
  EXPECT_EQ(*s.IndexOffset(100), 0u);
  EXPECT_EQ(s.IndexOffset(67).status().code(), Code::kCorruption);
  // Inner grid index (3, 2): shard (1, 1), position 1*2 + 0 in it.
  EXPECT_EQ(s.ShardOf({3, 2}), (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(s.PositionInShard({3, 2}), 2u);
  EXPECT_EQ(s.PositionInShard({0, 1}), 1u);
}

TEST(Sharding, DecodesIndexBothByteOrdersWithAndWithoutCrc) {
  for (bool crc : {false, true})
    for (bool big : {false, true}) {
      ShardingSpec s = Spec2x2(crc, big);
      auto r = DecodeShardIndex(s, Index(s, {{0, 10}, {kE, kE}, {10, 0}, {10, 22}}), 100, "shard 'x'");
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->size(), 4u);
      EXPECT_EQ((*r)[0].offset, 0u);
      EXPECT_EQ((*r)[0].nbytes, 10u);
      EXPECT_TRUE((*r)[1].empty());
      EXPECT_FALSE((*r)[2].empty());
      EXPECT_EQ((*r)[3].offset, 10u);
      EXPECT_EQ((*r)[3].nbytes, 22u);
    }
}

TEST(Sharding, RefusesBadIndexes) {
  ShardingSpec s = Spec2x2(true);
  std::string good = Index(s, {{0, 10}, {kE, kE}, {10, 0}, {10, 22}});
  std::string bad_crc = good;
  bad_crc[3] ^= 1;
  auto r = DecodeShardIndex(s, bad_crc, 100, "shard 'a/c/0'");
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_THAT(r.status().message(), HasSubstr("shard 'a/c/0'"));
  EXPECT_THAT(r.status().message(), HasSubstr("crc32c"));
  r = DecodeShardIndex(s, good.substr(1), 100, "s");
  EXPECT_THAT(r.status().message(), HasSubstr("index of 67 bytes, expected 68"));
  r = DecodeShardIndex(s, Index(s, {{0, 10}, {90, 11}, {10, 0}, {10, 22}}), 100, "s");
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_THAT(r.status().message(), HasSubstr("inner chunk 1"));
  EXPECT_THAT(r.status().message(), HasSubstr("past the shard's 100 bytes"));
  // Offsets near 2^64 do not wrap around the bound.
  r = DecodeShardIndex(s, Index(s, {{kE - 1, 2}, {0, 1}, {0, 1}, {0, 1}}), 100, "s");
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  r = DecodeShardIndex(s, Index(s, {{kE, 5}, {0, 1}, {0, 1}, {0, 1}}), 100, "s");
  EXPECT_THAT(r.status().message(), HasSubstr("half an empty marker"));
}

std::string ShardedArray(const std::string& sharding_config, const std::string& outer_extra = "") {
  return R"({"zarr_format": 3, "node_type": "array", "shape": [10, 9], "data_type": "int16",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [6, 10]}},
    "chunk_key_encoding": {"name": "default"}, "fill_value": 7,
    "codecs": [{"name": "sharding_indexed", "configuration": )" + sharding_config + "}" +
         outer_extra + "]}";
}

TEST(ShardingMetadata, ReadsTheConfiguration) {
  auto m = ParseZarrV3Array(ShardedArray(R"({"chunk_shape": [3, 5],
      "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "gzip", "configuration": {"level": 1}}],
      "index_codecs": [{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "crc32c"}],
      "index_location": "start"})"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->sharding.has_value());
  const ShardingSpec& s = *m->sharding;
  EXPECT_EQ(s.unsupported, "");
  EXPECT_EQ(m->chunks, (std::vector<uint64_t>{6, 10}));  // the shard grid
  EXPECT_EQ(s.inner_chunks, (std::vector<uint64_t>{3, 5}));
  EXPECT_EQ(s.chunks_per_shard, (std::vector<uint64_t>{2, 2}));
  ASSERT_EQ(s.codecs.size(), 2u);
  EXPECT_EQ(s.codecs[1].id, "gzip");
  EXPECT_TRUE(s.index_big_endian);
  EXPECT_TRUE(s.index_crc32c);
  EXPECT_FALSE(s.index_at_end);
  ChunkSpec inner = s.InnerSpec(m->chunk);
  EXPECT_EQ(inner.chunk_shape, (std::vector<uint64_t>{3, 5}));
  EXPECT_EQ(inner.codecs.size(), 2u);
  EXPECT_EQ(inner.fill_element, m->chunk.fill_element);
  // Defaults: the index at the end, no crc32c.
  m = ParseZarrV3Array(ShardedArray(R"({"chunk_shape": [6, 5], "codecs": ["bytes"], "index_codecs": [{"name": "bytes"}]})"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->sharding->index_at_end);
  EXPECT_FALSE(m->sharding->index_crc32c);
  EXPECT_EQ(m->sharding->unsupported, "");
}

TEST(ShardingMetadata, BoundsTheIndex) {
  // Shards of 2^27 inner chunks of one element: a 2 GiB index.
  auto m = ParseZarrV3Array(R"({"zarr_format": 3, "node_type": "array", "shape": [134217728],
    "data_type": "uint8", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [134217728]}},
    "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
    "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [1], "codecs": ["bytes"],
      "index_codecs": ["bytes"]}}]})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_THAT(m->sharding->unsupported, HasSubstr("inner chunks per shard"));
}

TEST(ShardingMetadata, WhatCannotBeReadIsSaidNotFailed) {
  struct Case {
    std::string config, extra, why;
  } cases[] = {
      {"{}", "", "no chunk_shape"},
      {R"({"chunk_shape": [4, 5], "codecs": ["bytes"], "index_codecs": ["bytes"]})", "", "does not divide"},
      {R"({"chunk_shape": [3, 5], "codecs": ["bytes"], "index_codecs": ["bytes", "gzip"]})", "", "index_codecs other than"},
      {R"({"chunk_shape": [3, 5], "codecs": ["bytes"], "index_codecs": ["crc32c"]})", "", "must start with"},
      {R"({"chunk_shape": [3, 5], "codecs": ["bytes"], "index_codecs": ["bytes"], "index_location": "middle"})", "", "index_location"},
      {R"({"chunk_shape": [3, 5], "codecs": ["bytes"], "index_codecs": ["bytes"]})", R"(, {"name": "crc32c"})", "other codecs around"},
  };
  for (const auto& c : cases) {
    auto m = ParseZarrV3Array(ShardedArray(c.config, c.extra));
    ASSERT_TRUE(m.ok()) << c.config << ": " << m.status().ToString();
    ASSERT_TRUE(m->sharding.has_value());
    EXPECT_THAT(m->sharding->unsupported, HasSubstr(c.why)) << c.config;
    EXPECT_THAT(m->sharding->unsupported, HasSubstr("sharding_indexed")) << c.config;
  }
}

}  // namespace
}  // namespace zm
