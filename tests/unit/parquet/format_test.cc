#include "parquet/format.h"

#include <gtest/gtest.h>

#include "parquet/thrift.h"

namespace zm::parquet {
namespace {

FileMetaData Sample() {
  FileMetaData m;
  m.columns = {{"path", PhysicalType::kByteArray, Repetition::kOptional, true},
               {"offset", PhysicalType::kInt64, Repetition::kRequired, false}};
  m.num_rows = 7;
  RowGroup g;
  g.num_rows = 7;
  for (const ColumnSchema& c : m.columns) {
    ColumnChunk cc;
    cc.type = c.type;
    cc.codec = Codec::kZstd;
    cc.path = {c.name};
    cc.num_values = 7;
    cc.total_compressed_size = 100;
    cc.data_page_offset = 4;
    cc.dictionary_page_offset = 40;
    cc.encodings = {Encoding::kPlain, Encoding::kRleDictionary};
    g.columns.push_back(cc);
  }
  m.row_groups = {g, g};
  m.num_rows = 14;
  m.created_by = "test";
  return m;
}

TEST(FormatTest, FileMetaDataRoundTrips) {
  auto m = ParseFileMetaData(EncodeFileMetaData(Sample()));
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->columns.size(), 2u);
  EXPECT_EQ(m->columns[0].name, "path");
  EXPECT_EQ(m->columns[0].repetition, Repetition::kOptional);
  EXPECT_EQ(m->columns[1].type, PhysicalType::kInt64);
  EXPECT_EQ(m->num_rows, 14);
  ASSERT_EQ(m->row_groups.size(), 2u);
  EXPECT_EQ(m->row_groups[1].columns[0].codec, Codec::kZstd);
  EXPECT_EQ(m->row_groups[1].columns[0].dictionary_page_offset, 40);
  EXPECT_EQ(m->row_groups[1].columns[1].path, std::vector<std::string>{"offset"});
  EXPECT_EQ(m->created_by, "test");
}

TEST(FormatTest, PageHeadersRoundTrip) {
  PageHeader h;
  h.type = PageType::kDataPageV2;
  h.uncompressed_page_size = 300;
  h.compressed_page_size = 200;
  h.num_values = 10;
  h.num_nulls = 2;
  h.num_rows = 10;
  h.encoding = Encoding::kRleDictionary;
  h.definition_levels_byte_length = 3;
  h.is_compressed = false;
  std::string bytes = EncodePageHeader(h) + "payload";
  size_t n = 0;
  auto p = ParsePageHeader(bytes, &n);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(bytes.substr(n), "payload");
  EXPECT_EQ(p->num_nulls, 2);
  EXPECT_EQ(p->encoding, Encoding::kRleDictionary);
  EXPECT_FALSE(p->is_compressed);
  EXPECT_EQ(p->definition_levels_byte_length, 3);
}

TEST(FormatTest, UnknownFieldsAreSkipped) {
  // A page header with an extra i64 field 20 and a nested struct field 21
  // holding a list: both skipped.
  thrift::CompactWriter w;
  w.BeginStruct();
  w.FieldI32(1, 2);  // dictionary page
  w.FieldI32(2, 5);
  w.FieldI32(3, 5);
  w.FieldI64(20, 123456789);
  w.FieldStruct(21);
  w.FieldList(1, thrift::kBinary, 2);
  w.ElementBinary("a");
  w.ElementBinary("b");
  w.EndStruct();
  w.FieldStruct(7);
  w.FieldI32(1, 1);
  w.FieldI32(2, 0);
  w.FieldBool(3, true);
  w.EndStruct();
  w.EndStruct();
  size_t n = 0;
  auto p = ParsePageHeader(w.data(), &n);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->type, PageType::kDictionaryPage);
  EXPECT_EQ(p->num_values, 1);
  EXPECT_EQ(n, w.data().size());
}

TEST(FormatTest, MalformedMetadataIsOneLine) {
  std::string good = EncodeFileMetaData(Sample());
  for (size_t cut = 0; cut < good.size(); cut += 3) {
    auto m = ParseFileMetaData(good.substr(0, cut));
    ASSERT_FALSE(m.ok()) << cut;
    EXPECT_EQ(m.status().message().find('\n'), std::string::npos);
  }
  // A list claiming a billion elements.
  std::string lie = {char(0x19), char(0xFC), char(0xFF), char(0xFF), char(0xFF), char(0x03)};
  EXPECT_FALSE(ParseFileMetaData(lie).ok());
  // Deep nesting of unknown structs.
  std::string deep(64, char(0xFC));  // field 15, a struct, in each
  auto m = ParseFileMetaData(deep);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("deep"), std::string::npos) << m.status().message();
}

TEST(FormatTest, RefusesNestedSchemasAndMismatchedRowGroups) {
  FileMetaData m = Sample();
  m.row_groups[0].columns.pop_back();
  auto r = ParseFileMetaData(EncodeFileMetaData(m));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("row group 0 has 1 columns"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace zm::parquet
