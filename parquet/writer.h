// Writing flat Parquet files: one row group, one data page per column
// (preceded by a dictionary page for dictionary-encoded columns), values
// PLAIN or RLE_DICTIONARY, definition levels RLE/bit-packed hybrid.
//
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "parquet/format.h"
#include "parquet/reader.h"

namespace zm::parquet {

struct WriteOptions {
  Codec codec = Codec::kZstd;  // UNCOMPRESSED, SNAPPY, GZIP or ZSTD
  int zstd_level = 3;
  bool data_page_v2 = false;
  std::string created_by = "zarrmount";
};

// One column to write. Exactly one of `binary` and `int64` is set, of the
// type of `schema`; nulls need a kOptional column. All columns have the
// same number of rows.
struct ColumnToWrite {
  ColumnSchema schema;
  const BinaryColumn* binary = nullptr;
  const Int64Column* int64 = nullptr;
  bool dictionary = false;
};

// The bytes of the file. kInvalidArgument for a column that breaks the
// rules above, or a page beyond 2 GiB.
Result<std::string> WriteParquetFile(const std::vector<ColumnToWrite>& columns, const WriteOptions& options = {});

// Compresses `in` with `codec` (a page's payload).
Result<std::string> CompressPage(Codec codec, std::string_view in, int zstd_level = 3);

}  // namespace zm::parquet
