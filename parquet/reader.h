// Reading flat Parquet files: the footer, then whole columns of BYTE_ARRAY
// or INT64 values, required or optional, over every row group. Pages are
// data page v1 or v2 and dictionary pages; values PLAIN, dictionary
// encoded (PLAIN_DICTIONARY, RLE_DICTIONARY) or delta encoded
// (DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY);
// definition levels RLE/bit-packed hybrid; compression none, SNAPPY, GZIP
// or ZSTD.
//
// Every length is checked against its buffer. A page may not inflate past
// its declared uncompressed size, nor past ParquetLimits; a file's decoded
// columns together may not exceed max_decoded_bytes. Errors are
// kInvalidArgument, one line naming the file, the column, the row group
// and page where it applies ("x.parq: column 'path', row group 0, page 2:
// dictionary index 9 out of range (4 entries)").
//
// Thread-safety: ParquetFile is immutable after Open; its const methods may
// be called concurrently.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/units.h"
#include "parquet/format.h"

namespace zm::parquet {

struct ParquetLimits {
  uint64_t max_footer_bytes = 64_MiB;
  uint64_t max_page_bytes = 256_MiB;       // one page, decompressed
  uint64_t max_decoded_bytes = 2_GiB;      // all pages read from one file
};

// A column of byte strings; a null has no bytes and valid[i] == 0.
struct BinaryColumn {
  std::string bytes;           // the values, back to back
  std::vector<uint64_t> ends;  // value i is bytes[ends[i-1], ends[i])
  std::vector<uint8_t> valid;
  size_t size() const { return valid.size(); }
  bool is_null(size_t i) const { return !valid[i]; }
  std::string_view value(size_t i) const {
    uint64_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(bytes).substr(begin, ends[i] - begin);
  }
};

// A column of byte strings each distinct value of which is kept once: row
// i is distinct[index[i]], or null (valid[i] == 0, index[i] == 0). For
// columns that repeat a few values over many rows (the paths of kerchunk's
// references), without a copy per row.
struct InternedBinaryColumn {
  std::deque<std::string> distinct;  // a deque: `ids` views stay valid
  std::vector<uint32_t> index;
  std::vector<uint8_t> valid;
  std::unordered_map<std::string_view, uint32_t> ids;  // distinct value -> its number

  // Move-only: `ids` views the strings of `distinct`.
  InternedBinaryColumn() = default;
  InternedBinaryColumn(InternedBinaryColumn&&) = default;
  InternedBinaryColumn& operator=(InternedBinaryColumn&&) = default;
  size_t size() const { return valid.size(); }
  bool is_null(size_t i) const { return !valid[i]; }
  std::string_view value(size_t i) const { return distinct[index[i]]; }
};

// A column of 64-bit integers; a null reads as 0 with valid[i] == 0.
struct Int64Column {
  std::vector<int64_t> values;
  std::vector<uint8_t> valid;
  size_t size() const { return valid.size(); }
  bool is_null(size_t i) const { return !valid[i]; }
};

// Decodes one column chunk, whose pages are `chunk_bytes` (starting at the
// chunk's first page), appending to `out`. `context` prefixes errors
// ("x.parq: column 'path', row group 0"). `budget` is the decoded bytes the
// caller still allows; it is reduced by what this chunk decodes.
Status DecodeBinaryChunk(std::string_view chunk_bytes, const ColumnChunk& chunk, const ColumnSchema& column,
                         const ParquetLimits& limits, const std::string& context, uint64_t* budget,
                         BinaryColumn* out);
Status DecodeInt64Chunk(std::string_view chunk_bytes, const ColumnChunk& chunk, const ColumnSchema& column,
                        const ParquetLimits& limits, const std::string& context, uint64_t* budget,
                        Int64Column* out);

class ParquetFile {
 public:
  // Parses the footer of `bytes` (a whole file, which must outlive the
  // ParquetFile). `name` is used in errors.
  static Result<ParquetFile> Open(std::string_view bytes, std::string name, const ParquetLimits& limits = {});

  const FileMetaData& metadata() const { return meta_; }
  int64_t num_rows() const { return meta_.num_rows; }
  // The index of the column named `name`, or nullopt.
  std::optional<size_t> FindColumn(std::string_view name) const;

  // All rows of a column, across the row groups. kInvalidArgument when the
  // column's type is not the one asked for.
  // REQUIRES: column < metadata().columns.size().
  Result<BinaryColumn> ReadBinaryColumn(size_t column) const;
  Result<InternedBinaryColumn> ReadInternedBinaryColumn(size_t column) const;
  Result<Int64Column> ReadInt64Column(size_t column) const;

 private:
  template <typename Column, typename Decode>
  Result<Column> ReadColumn(size_t column, PhysicalType want, Decode decode) const;

  std::string_view bytes_;
  std::string name_;
  ParquetLimits limits_;
  FileMetaData meta_;
};

}  // namespace zm::parquet
