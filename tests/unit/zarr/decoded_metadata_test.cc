#include "zarr/decoded_metadata.h"

#include <gtest/gtest.h>

#include <vector>

#include "zarr/metadata.h"

namespace zm {
namespace {

constexpr std::string_view kZarray = R"({
  "chunks": [1, 256, 512], "compressor": {"id": "zlib", "level": 1}, "dtype": ">f4",
  "fill_value": 9.969209968386869e+36,
  "filters": [{"elementsize": 4, "id": "shuffle"}], "order": "F",
  "shape": [512, 512, 1024], "zarr_format": 2, "dimension_separator": "/"})";

TEST(DecodedArrayDocument, V2DropsCodecsAndKeepsTheArray) {
  auto out = DecodedArrayDocument(kZarray);
  ASSERT_TRUE(out.ok()) << out.status().message();
  auto before = ParseZarrArray(kZarray);
  auto after = ParseZarrArray(*out);
  ASSERT_TRUE(before.ok() && after.ok()) << *out;
  EXPECT_TRUE(after->chunk.codecs.empty()) << *out;
  EXPECT_EQ(after->chunk.order, 'C');
  EXPECT_EQ(after->shape, before->shape);
  EXPECT_EQ(after->chunks, before->chunks);
  EXPECT_EQ(after->chunk.dtype.ToString(), ">f4");
  EXPECT_EQ(after->chunk.fill_element, before->chunk.fill_element);
  EXPECT_EQ(after->key_encoding, before->key_encoding);
  // Members keep their order.
  EXPECT_LT(out->find("\"chunks\""), out->find("\"compressor\":null"));
  EXPECT_LT(out->find("\"filters\":null"), out->find("\"order\":\"C\""));
}

TEST(DecodedArrayDocument, V3KeepsOnlyTheBytesCodec) {
  const std::string doc = R"({"zarr_format": 3, "node_type": "array", "shape": [4, 6],
    "data_type": "int16", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 3]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
    "fill_value": -1, "attributes": {"units": "K"},
    "codecs": [{"name": "transpose", "configuration": {"order": [1, 0]}},
               {"name": "bytes", "configuration": {"endian": "big"}}, {"name": "zstd"}]})";
  auto out = DecodedArrayDocument(doc);
  ASSERT_TRUE(out.ok()) << out.status().message();
  auto after = ParseZarrV3Array(*out);
  ASSERT_TRUE(after.ok()) << *out;
  ASSERT_EQ(after->chunk.codecs.size(), 1u);
  EXPECT_EQ(after->chunk.codecs[0].id, "bytes");
  EXPECT_EQ(after->chunk.codecs[0].strings.at("endian"), "little");
  EXPECT_EQ(after->key_encoding, ChunkKeyEncoding::V3Default('.'));
  EXPECT_NE(out->find(R"("attributes":{"units":"K"})"), std::string::npos) << *out;

  const std::string bytes_only = R"({"zarr_format": 3, "node_type": "array", "shape": [4],
    "data_type": "uint8", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    "fill_value": 0, "codecs": [{"name": "bytes"}, {"name": "gzip", "configuration": {"level": 1}}]})";
  auto u8 = DecodedArrayDocument(bytes_only);
  ASSERT_TRUE(u8.ok());
  EXPECT_NE(u8->find(R"("codecs":[{"name":"bytes"}])"), std::string::npos) << *u8;
}

TEST(DecodedArrayDocument, V3ShardedTakesTheInnerChunkGrid) {
  const std::string doc = R"({"zarr_format": 3, "node_type": "array", "shape": [8, 12],
    "data_type": "float32", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 6]}},
    "fill_value": 0,
    "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 3],
      "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd"}],
      "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]}}]})";
  auto out = DecodedArrayDocument(doc);
  ASSERT_TRUE(out.ok()) << out.status().message();
  auto after = ParseZarrV3Array(*out);
  ASSERT_TRUE(after.ok()) << *out;
  EXPECT_FALSE(after->sharding) << *out;
  EXPECT_EQ(after->chunks, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(after->shape, (std::vector<uint64_t>{8, 12}));
  ASSERT_EQ(after->chunk.codecs.size(), 1u);
  EXPECT_EQ(after->chunk.codecs[0].id, "bytes");
  // A sharding codec without its inner chunk shape is not array metadata.
  EXPECT_FALSE(DecodedArrayDocument(R"({"zarr_format": 3, "node_type": "array", "shape": [8],
    "data_type": "uint8", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4]}},
    "fill_value": 0, "codecs": [{"name": "sharding_indexed", "configuration": {}}]})").ok());
}

TEST(DecodedArrayDocument, RejectsWhatIsNotArrayMetadata) {
  EXPECT_FALSE(DecodedArrayDocument("[1, 2]").ok());
  EXPECT_FALSE(DecodedArrayDocument("{\"zarr_format\": 5}").ok());
  EXPECT_FALSE(DecodedArrayDocument("not json").ok());
}

TEST(DecodedConsolidatedDocument, V2RewritesTheDecodedArraysOnly) {
  const std::string doc = std::string(R"({"metadata": {".zgroup": {"zarr_format": 2},
    "sst/.zarray": )") + std::string(kZarray) + R"(, "sst/.zattrs": {"units": "K"},
    "raw/.zarray": )" + std::string(kZarray) + R"(}, "zarr_consolidated_format": 1})";
  auto out = DecodedConsolidatedDocument(doc, [](std::string_view path) { return path == "sst"; });
  ASSERT_TRUE(out.ok()) << out.status().message();
  // One array rewritten, the other kept with its codecs.
  size_t sst = out->find("\"sst/.zarray\""), raw = out->find("\"raw/.zarray\"");
  ASSERT_NE(sst, std::string::npos);
  ASSERT_NE(raw, std::string::npos);
  EXPECT_NE(out->find("\"compressor\":null", sst), std::string::npos);
  EXPECT_LT(out->find("\"compressor\":null", sst), raw);
  EXPECT_NE(out->find("\"compressor\":{\"id\":\"zlib\"", raw), std::string::npos) << *out;
  EXPECT_NE(out->find(R"("zarr_consolidated_format":1)"), std::string::npos);
  EXPECT_NE(out->find(R"("sst/.zattrs":{"units":"K"})"), std::string::npos);
}

TEST(DecodedConsolidatedDocument, V3RewritesArraysInConsolidatedMetadata) {
  const std::string doc = R"({"zarr_format": 3, "node_type": "group", "attributes": {},
    "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": {
      "g": {"zarr_format": 3, "node_type": "group"},
      "g/x": {"zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "float64",
              "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
              "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                                          {"name": "gzip", "configuration": {"level": 5}}]}}}})";
  std::vector<std::string> asked;
  auto out = DecodedConsolidatedDocument(doc, [&](std::string_view path) {
    asked.emplace_back(path);
    return true;
  });
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(asked, std::vector<std::string>{"g/x"});  // groups are not arrays
  EXPECT_EQ(out->find("gzip"), std::string::npos) << *out;
  EXPECT_NE(out->find(R"("kind":"inline")"), std::string::npos);
}

}  // namespace
}  // namespace zm
