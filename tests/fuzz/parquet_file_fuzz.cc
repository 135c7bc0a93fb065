// ParquetFile::Open on arbitrary bytes, then every BYTE_ARRAY and INT64
// column read. Errors must be kInvalidArgument and one line; what is read
// must be consistent (one validity flag per row, ends never past the bytes).
#include <cstdint>

#include "parquet/reader.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;

namespace {

void CheckError(const zm::Status& s) {
  Check(s.code() == zm::Code::kInvalidArgument);
  Check(!s.message().empty() && s.message().find('\n') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  zm::parquet::ParquetLimits limits;
  limits.max_page_bytes = 1 << 20;  // bounded work per input
  limits.max_decoded_bytes = 4 << 20;
  auto f = zm::parquet::ParquetFile::Open(zm::fuzz::AsText(data, size), "f.parq", limits);
  if (!f.ok()) {
    CheckError(f.status());
    return 0;
  }
  for (size_t c = 0; c < f->metadata().columns.size(); ++c) {
    if (f->metadata().columns[c].type == zm::parquet::PhysicalType::kInt64) {
      auto col = f->ReadInt64Column(c);
      if (!col.ok()) {
        CheckError(col.status());
        continue;
      }
      Check(col->values.size() == col->valid.size());
      Check(static_cast<int64_t>(col->size()) == f->num_rows());
    } else {
      auto col = f->ReadBinaryColumn(c);
      if (!col.ok()) {
        CheckError(col.status());
        continue;
      }
      Check(col->ends.size() == col->valid.size());
      Check(static_cast<int64_t>(col->size()) == f->num_rows());
      for (size_t i = 0; i < col->size(); ++i) {
        Check(col->ends[i] <= col->bytes.size());
        Check(i == 0 || col->ends[i] >= col->ends[i - 1]);
      }
      // Kept once per distinct value: the same rows.
      auto interned = f->ReadInternedBinaryColumn(c);
      Check(interned.ok());
      Check(interned->size() == col->size());
      for (size_t i = 0; i < col->size(); ++i) {
        Check(interned->is_null(i) == col->is_null(i));
        Check(col->is_null(i) || interned->value(i) == col->value(i));
      }
    }
  }
  return 0;
}
