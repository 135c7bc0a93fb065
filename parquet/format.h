// Parquet's file metadata and page headers (parquet.thrift), the parts a
// reader of flat columns needs, decoded from and encoded to the Thrift
// compact protocol. Nested schemas, encryption, statistics and indexes are
// skipped when read and never written.
//
// Thread-safety: plain values and functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace zm::parquet {

enum class PhysicalType : int32_t {
  kBoolean = 0, kInt32 = 1, kInt64 = 2, kInt96 = 3, kFloat = 4, kDouble = 5,
  kByteArray = 6, kFixedLenByteArray = 7,
};
enum class Repetition : int32_t { kRequired = 0, kOptional = 1, kRepeated = 2 };
enum class Codec : int32_t {
  kUncompressed = 0, kSnappy = 1, kGzip = 2, kLzo = 3, kBrotli = 4, kLz4 = 5, kZstd = 6, kLz4Raw = 7,
};
enum class Encoding : int32_t {
  kPlain = 0, kPlainDictionary = 2, kRle = 3, kBitPacked = 4, kDeltaBinaryPacked = 5,
  kDeltaLengthByteArray = 6, kDeltaByteArray = 7, kRleDictionary = 8, kByteStreamSplit = 9,
};
enum class PageType : int32_t { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };

const char* CodecName(Codec c);
const char* EncodingName(Encoding e);

// A column of the schema (a leaf directly under the root).
struct ColumnSchema {
  std::string name;
  PhysicalType type = PhysicalType::kInt32;
  Repetition repetition = Repetition::kRequired;
  bool is_string = false;  // converted type UTF8 / logical type STRING (written only)
};

struct ColumnChunk {
  PhysicalType type = PhysicalType::kInt32;
  Codec codec = Codec::kUncompressed;
  std::vector<std::string> path;  // path_in_schema
  int64_t num_values = 0;
  int64_t total_uncompressed_size = 0;
  int64_t total_compressed_size = 0;
  int64_t data_page_offset = 0;
  std::optional<int64_t> dictionary_page_offset;
  std::vector<Encoding> encodings;
};

struct RowGroup {
  std::vector<ColumnChunk> columns;
  int64_t total_byte_size = 0;
  int64_t num_rows = 0;
};

struct FileMetaData {
  int32_t version = 1;
  std::vector<ColumnSchema> columns;  // the leaves, in schema order
  int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
  std::string created_by;
};

struct PageHeader {
  PageType type = PageType::kDataPage;
  int32_t uncompressed_page_size = 0;
  int32_t compressed_page_size = 0;
  // Data page (v1 and v2) and dictionary page fields.
  int32_t num_values = 0;
  Encoding encoding = Encoding::kPlain;
  Encoding definition_level_encoding = Encoding::kRle;  // v1
  // v2 only.
  int32_t num_nulls = 0;
  int32_t num_rows = 0;
  int32_t definition_levels_byte_length = 0;
  int32_t repetition_levels_byte_length = 0;
  bool is_compressed = true;
};

// Decodes FileMetaData. Refuses nested schemas (a column that has children
// or is repeated), counts that are negative, and a row group whose column
// count differs from the schema's. kInvalidArgument, one line.
Result<FileMetaData> ParseFileMetaData(std::string_view bytes);
std::string EncodeFileMetaData(const FileMetaData& meta);

// Decodes a page header at the start of `bytes`; `*header_size` is set to
// its encoded length. Refuses negative sizes and counts, and a data or
// dictionary page without its sub-header.
Result<PageHeader> ParsePageHeader(std::string_view bytes, size_t* header_size);
std::string EncodePageHeader(const PageHeader& h);

}  // namespace zm::parquet
