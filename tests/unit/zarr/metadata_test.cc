// Unit tests of zarr/metadata.h: .zarray and zarr.json documents (hand-written
// and written by zarr-python), attributes, and nodes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "codecs/pipeline.h"
#include "zarr/metadata.h"
#include "tests/unit/test_data.h"

namespace zm {
namespace {

// ---- .zarray -------------------------------------------------------------------

TEST(ZarrArray, ParsesShapeChunksAndSeparator) {
  auto m = ParseZarrArray(R"({"shape": [365, 90, 180], "chunks": [1, 90, 100],
                              "dimension_separator": "/", "dtype": "<f4", "zarr_format": 2})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->shape, (std::vector<uint64_t>{365, 90, 180}));
  EXPECT_EQ(m->key_encoding, ChunkKeyEncoding::V2('/'));
  EXPECT_EQ(m->GridShape(), (std::vector<uint64_t>{365, 1, 2}));
  EXPECT_FALSE(ParseZarrArray(R"({"shape": [1, 2], "chunks": [1]})").ok());
  EXPECT_FALSE(ParseZarrArray(R"({"shape": [-1], "chunks": [1]})").ok());
  EXPECT_FALSE(ParseZarrArray(R"({"shape": [1], "chunks": [1], "dimension_separator": "-"})").ok());
  EXPECT_FALSE(ParseZarrArray("[").ok());
}

TEST(ZarrArray, GridOfHugeShapesDoesNotWrap) {
  auto m = ParseZarrArray(R"({"shape": [18446744073709551615, 18446744073709551615, 7],
                              "chunks": [2, 1, 3], "dtype": "|u1"})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->GridShape(), (std::vector<uint64_t>{9223372036854775808u, 18446744073709551615u, 3}));
  // A zero chunk length is refused by the parser; the grid of one built by
  // hand is empty along that axis rather than a division by zero.
  EXPECT_FALSE(ParseZarrArray(R"({"shape": [7], "chunks": [0], "dtype": "|u1"})").ok());
  ZarrArrayMeta hand;
  hand.shape = {7, 4};
  hand.chunks = {0, 2};
  EXPECT_EQ(hand.GridShape(), (std::vector<uint64_t>{0, 2}));
}

TEST(ZarrArray, KerchunkZarrayFullPipeline) {
  auto m = ParseZarrArray(R"({"chunks": [1, 90, 180], "compressor": {"id": "zlib", "level": 4},
    "dtype": "<f4", "fill_value": "NaN", "filters": [{"elementsize": 4, "id": "shuffle"}],
    "order": "C", "shape": [365, 90, 180], "zarr_format": 2})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->chunk.dtype.ToString(), "<f4");
  ASSERT_EQ(m->chunk.codecs.size(), 2u);
  EXPECT_EQ(m->chunk.codecs[0].id, "shuffle");
  EXPECT_EQ(m->chunk.codecs[0].numbers.at("elementsize"), 4);
  EXPECT_EQ(m->chunk.codecs[1].id, "zlib");
  float f;
  ASSERT_EQ(m->chunk.fill_element.size(), 4u);
  std::memcpy(&f, m->chunk.fill_element.data(), 4);
  EXPECT_TRUE(std::isnan(f));
  EXPECT_EQ(m->ChunkKey({3, 0, 1}), "3.0.1");
  EXPECT_TRUE(ChunkDecoder::Make(m->chunk).ok());
}

// ---- Zarr arrays written by zarr-python (tests/unit/make_codec_vectors.py) ---------

// Every tests/data/zarr case: its metadata parses; its stored chunk decodes
// to the bytes zarr-python decodes it to (or fails as the .error says); a
// missing chunk is the fill value repeated.
TEST(ZarrVectors, MetadataAndChunkDecode) {
  const std::string dir = testing::DataDir("zarr");
  int cases = 0;
  for (const char* suffix : {".zarray", ".zarr.json"}) {
    for (const std::string& name : testing::DataCases(dir, suffix)) {
      if (std::string(suffix) == ".zarray" && name.find(".zarr") != std::string::npos) continue;
      SCOPED_TRACE(name);
      ++cases;
      std::string meta_json, stored, want, error, fill;
      ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + suffix, &meta_json));
      ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + ".bin", &stored));
      ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + ".expect", &want));
      testing::ReadDataFile(dir + "/" + name + ".error", &error);
      bool v3 = std::string(suffix) == ".zarr.json";
      auto meta = v3 ? ParseZarrV3Array(meta_json) : ParseZarrArray(meta_json);
      ASSERT_TRUE(meta.ok()) << meta.status().ToString();
      auto dec = ChunkDecoder::Make(meta->chunk);
      std::string code = error.substr(0, error.find(' '));
      std::string what = error.empty() ? "" : error.substr(error.find(' ') + 1);
      if (code == "unsupported") {
        ASSERT_FALSE(dec.ok());
        EXPECT_EQ(dec.status().code(), Code::kUnsupported);
        EXPECT_THAT(dec.status().message(), ::testing::HasSubstr(what));
        continue;
      }
      ASSERT_TRUE(dec.ok()) << dec.status().ToString();
      EXPECT_EQ((*dec)->spec().chunk_bytes(), want.size());
      auto r = (*dec)->Decode(stored);
      if (!error.empty()) {
        ASSERT_FALSE(r.ok()) << "decoded " << r->size() << " bytes";
        EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
        EXPECT_THAT(r.status().message(), ::testing::HasSubstr(what));
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->size(), want.size());
      EXPECT_TRUE(*r == want) << "decoded bytes differ";
      if (testing::ReadDataFile(dir + "/" + name + ".fill", &fill)) {
        EXPECT_TRUE((*dec)->FillChunk() == fill) << "fill chunk differs";
      }
    }
  }
  EXPECT_GE(cases, 30);
}

TEST(ZarrVectors, V3MetadataFields) {
  std::string json;
  ASSERT_TRUE(testing::ReadDataFile(testing::DataDir("zarr") + "/v3_transpose_zstd.zarr.json", &json));
  auto m = ParseZarrV3Array(json);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->shape, (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(m->dimension_names, (std::vector<std::string>{"d0", "d1", "d2"}));
  EXPECT_EQ(m->ChunkKey({0, 1, 2}), "c/0/1/2");
  EXPECT_EQ(m->chunk.dtype.ToString(), "<f4");
  EXPECT_EQ(m->chunk.fill_element, std::string("\x00\x00\xc0\x7f", 4));
  auto attrs = ParseZarrAttrs(json);
  ASSERT_TRUE(attrs.ok()) << attrs.status().ToString();
  ASSERT_EQ(attrs->size(), 2u);
  EXPECT_EQ((*attrs)[0].name, "units");
  EXPECT_EQ((*attrs)[0].text, "K");
  EXPECT_EQ((*attrs)[1].kind, ZarrAttribute::Kind::kFloats);
  EXPECT_EQ((*attrs)[1].floats, (std::vector<double>{1, 2.5}));
  ASSERT_TRUE(testing::ReadDataFile(testing::DataDir("zarr") + "/v3_key_v2_u1.zarr.json", &json));
  m = ParseZarrV3Array(json);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->ChunkKey({4}), "4");
  EXPECT_EQ(ZarrArrayMeta{}.ChunkKey({}), "0");
}

// A bad document fails with one line that names the field.
TEST(ZarrArray, BadDocumentsNameTheField) {
  const std::string base = R"("shape": [10], "chunks": [5], "dtype": "<f4", "zarr_format": 2)";
  struct Case {
    std::string json, field;
  } cases[] = {
      {R"({"chunks": [5], "dtype": "<f4"})", "'shape'"},
      {R"({"shape": [10], "dtype": "<f4"})", "'chunks'"},
      {R"({"shape": [10], "chunks": [5]})", "'dtype'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "<f4", "zarr_format": 3})", "'zarr_format'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "<q9"})", "'dtype'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "|O"})", "'dtype'"},
      {R"({"shape": [10], "chunks": [5], "dtype": [["a", "<f4"]]})", "'dtype'"},
      {"{" + base + R"(, "order": "X"})", "'order'"},
      {"{" + base + R"(, "fill_value": "hello"})", "'fill_value'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "|u1", "fill_value": 256})", "'fill_value'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "<u4", "fill_value": -1})", "'fill_value'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "|S2", "fill_value": "not base64!"})", "'fill_value'"},
      {"{" + base + R"(, "compressor": {"level": 1}})", "'compressor'"},
      {"{" + base + R"(, "compressor": "zlib"})", "'compressor'"},
      {"{" + base + R"(, "filters": {"id": "shuffle"}})", "'filters'"},
      {"{" + base + R"(, "dimension_separator": "-"})", "'dimension_separator'"},
      {R"({"shape": [10], "chunks": [0], "dtype": "<f4"})", "'chunks'"},
  };
  for (const auto& c : cases) {
    auto r = ParseZarrArray(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.json;
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(c.field)) << c.json;
    EXPECT_THAT(r.status().message(), ::testing::StartsWith(".zarray: ")) << c.json;
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
  auto bad_json = ParseZarrArray("{\"shape\": [1,");
  ASSERT_FALSE(bad_json.ok());
  EXPECT_THAT(bad_json.status().message(), ::testing::HasSubstr("invalid JSON"));
}

TEST(ZarrArray, UnknownCodecStillParses) {
  auto m = ParseZarrArray(R"({"shape": [10], "chunks": [5], "dtype": "<f4",
                              "compressor": {"id": "zfpy", "mode": 3, "tolerance": 0.01},
                              "filters": [{"id": "categorize", "labels": ["a", "b"], "dtype": "<U1"}]})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->GridShape(), (std::vector<uint64_t>{2}));
  auto d = ChunkDecoder::Make(m->chunk);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kUnsupported);
  EXPECT_THAT(d.status().message(), ::testing::HasSubstr("categorize"));
}

TEST(ZarrArray, FillValues) {
  auto fill = [](const std::string& dtype, const std::string& fv) {
    auto m = ParseZarrArray(R"({"shape": [1], "chunks": [1], "dtype": ")" + dtype + R"(", "fill_value": )" + fv + "}");
    EXPECT_TRUE(m.ok()) << dtype << " " << fv << ": " << m.status().ToString();
    return m.ok() ? m->chunk.fill_element : std::string("?");
  };
  EXPECT_EQ(fill("<f4", "null"), "");
  EXPECT_EQ(fill("<f8", "\"-Infinity\""), std::string("\x00\x00\x00\x00\x00\x00\xf0\xff", 8));
  EXPECT_EQ(fill(">f4", "\"Infinity\""), std::string("\x7f\x80\x00\x00", 4));
  EXPECT_EQ(fill(">i2", "-2"), std::string("\xff\xfe", 2));
  EXPECT_EQ(fill("<u8", "18446744073709551615"), std::string(8, '\xff'));
  EXPECT_EQ(fill("<i4", "3.0"), std::string("\x03\x00\x00\x00", 4));
  EXPECT_EQ(fill("<M8[ns]", "\"NaT\""), std::string("\x00\x00\x00\x00\x00\x00\x00\x80", 8));
  EXPECT_EQ(fill("<M8[ns]", "-9223372036854775808"), std::string("\x00\x00\x00\x00\x00\x00\x00\x80", 8));
  EXPECT_EQ(fill("|b1", "true"), "\x01");
  EXPECT_EQ(fill("|S4", "\"YWI=\""), std::string("ab\0\0", 4));
  EXPECT_EQ(fill("|V2", "\"AQI=\""), std::string("\x01\x02", 2));
  EXPECT_EQ(fill("<f2", "1.0"), std::string("\x00\x3c", 2));
  EXPECT_EQ(fill("<c8", "[1.0, \"NaN\"]"), std::string("\x00\x00\x80\x3f\x00\x00\xc0\x7f", 8));
}

TEST(ZarrV3, BadDocumentsNameTheField) {
  const std::string ok = R"({"zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "int16",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
    "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]})";
  auto m = ParseZarrV3Array(ok);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->ChunkKey({1}), "c.1");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = ok;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case {
    std::string json, field;
  } cases[] = {
      {with("\"zarr_format\": 3", "\"zarr_format\": 2"), "'zarr_format'"},
      {with("\"node_type\": \"array\"", "\"node_type\": \"group\""), "'node_type'"},
      {with("\"int16\"", "\"int17\""), "int17"},
      {with("\"regular\"", "\"rectilinear\""), "'chunk_grid'"},
      {with("\"name\": \"default\"", "\"name\": \"other\""), "'chunk_key_encoding'"},
      {with("\"fill_value\": 0", "\"fill_value\": \"x\""), "'fill_value'"},
      {with("\"fill_value\": 0,", ""), "'fill_value'"},
      {with("[{\"name\": \"bytes\"", "{\"x\": [{\"name\": \"bytes\"") + "}", ""},
      {with("\"chunk_shape\": [2]", "\"chunk_shape\": [2, 2]"), "'chunk_shape'"},
  };
  for (const auto& c : cases) {
    auto r = ParseZarrV3Array(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.json;
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(c.field)) << c.json;
    EXPECT_THAT(r.status().message(), ::testing::StartsWith("zarr.json: ")) << c.json;
  }
}

TEST(ZarrV3Metadata, NodeTypeTellsGroupsFromArrays) {
  auto g = ParseZarrV3NodeType(R"({"zarr_format": 3, "node_type": "group", "attributes": {}})");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(*g, "group");
  // An array whose metadata this build cannot read is still an array.
  const char* bad_array = R"({"zarr_format": 3, "node_type": "array", "shape": [2],
    "data_type": "int16", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    "chunk_key_encoding": {"name": "other"}, "fill_value": 0, "codecs": [{"name": "bytes"}]})";
  EXPECT_FALSE(ParseZarrV3Array(bad_array).ok());
  auto a = ParseZarrV3NodeType(bad_array);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "array");
  EXPECT_FALSE(ParseZarrV3NodeType(R"({"zarr_format": 3})").ok());
  EXPECT_FALSE(ParseZarrV3NodeType(R"({"node_type": 3})").ok());
  EXPECT_FALSE(ParseZarrV3NodeType("[1]").ok());
}

TEST(ZarrAttrs, KindsInDocumentOrder) {
  auto a = ParseZarrAttrs(R"({"_ARRAY_DIMENSIONS": ["time", "lat"], "units": "K", "scale_factor": 0.01,
    "valid_range": [0, 1000], "flags": [1, 2.5], "big": 18446744073709551615, "nested": {"a": 1},
    "missing": null, "ok": true, "nan": "NaN", "empty": []})");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  using K = ZarrAttribute::Kind;
  std::vector<std::pair<std::string, K>> got;
  for (const auto& x : *a) got.emplace_back(x.name, x.kind);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, K>>{
                     {"_ARRAY_DIMENSIONS", K::kOther}, {"units", K::kString}, {"scale_factor", K::kFloats},
                     {"valid_range", K::kInts}, {"flags", K::kFloats}, {"big", K::kFloats},
                     {"nested", K::kOther}, {"missing", K::kOther}, {"ok", K::kOther},
                     {"nan", K::kString}, {"empty", K::kOther}}));
  EXPECT_EQ((*a)[0].text, R"(["time","lat"])");
  EXPECT_EQ((*a)[3].ints, (std::vector<int64_t>{0, 1000}));
  EXPECT_EQ((*a)[4].floats, (std::vector<double>{1, 2.5}));
  EXPECT_EQ((*a)[6].text, R"({"a":1})");
  EXPECT_FALSE(ParseZarrAttrs("[1, 2]").ok());
  EXPECT_FALSE(ParseZarrAttrs("{").ok());
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
