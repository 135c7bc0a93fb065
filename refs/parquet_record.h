// The pieces of kerchunk's Parquet reference layout (refs/parquet_refs.h)
// that the eager loader and the lazy one (refs/lazy_parquet.h) share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "parquet/reader.h"

namespace zm {

// ".zmetadata": the metadata keys with the bytes each serves, and the rows
// per record file.
struct ZMetadata {
  std::vector<std::pair<std::string, std::string>> entries;  // key, bytes served
  uint64_t record_size = 0;
};
Result<ZMetadata> ParseZMetadata(const std::string& text);

// The columns of one record file; absent ones are empty (all null).
// Paths are kept once each (a record repeats a few objects' paths).
struct Record {
  parquet::InternedBinaryColumn path;
  parquet::BinaryColumn raw;
  parquet::Int64Column offset, size;
  size_t rows = 0;
};
// Errors name `name` and the column, row group and page.
Result<Record> DecodeRecord(std::string_view bytes, const std::string& name);

// What row `i` of a record says (a row past the columns is missing).
struct RecordRow {
  enum class Kind { kMissing, kInline, kRange, kWhole };
  Kind kind = Kind::kMissing;
  std::string_view bytes;  // kInline: the data; kRange, kWhole: the path
  uint64_t offset = 0, size = 0;
};
// kInvalidArgument for a negative offset or size, a range past 2^50 or an
// empty path (the message names only the problem).
Result<RecordRow> ReadRecordRow(const Record& r, size_t i);

}  // namespace zm
