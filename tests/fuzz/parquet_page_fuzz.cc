// The page decoder on arbitrary bytes: a column chunk's pages. The first
// three bytes choose the chunk's compression, the column's type and
// repetition, and how many values it claims.
#include <cstdint>

#include "parquet/reader.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;
namespace pq = zm::parquet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static const pq::Codec kCodecs[] = {pq::Codec::kUncompressed, pq::Codec::kSnappy, pq::Codec::kGzip,
                                      pq::Codec::kZstd};
  pq::ColumnChunk chunk;
  chunk.codec = kCodecs[data[0] % 4];
  const bool int64 = data[1] & 2;
  chunk.type = int64 ? pq::PhysicalType::kInt64 : pq::PhysicalType::kByteArray;
  chunk.num_values = data[2];
  pq::ColumnSchema column{"c", chunk.type, (data[1] & 1) ? pq::Repetition::kOptional : pq::Repetition::kRequired,
                          false};
  pq::ParquetLimits limits;
  limits.max_page_bytes = 1 << 20;
  uint64_t budget = 4 << 20;
  std::string_view pages = zm::fuzz::AsText(data + 3, size - 3);
  zm::Status st;
  size_t rows = 0;
  if (int64) {
    pq::Int64Column out;
    st = pq::DecodeInt64Chunk(pages, chunk, column, limits, "c", &budget, &out);
    rows = out.size();
  } else {
    pq::BinaryColumn out;
    st = pq::DecodeBinaryChunk(pages, chunk, column, limits, "c", &budget, &out);
    rows = out.size();
    for (size_t i = 0; i < out.size(); ++i) Check(out.ends[i] <= out.bytes.size());
  }
  if (st.ok()) {
    Check(rows == static_cast<size_t>(chunk.num_values));
  } else {
    Check(st.code() == zm::Code::kInvalidArgument);
    Check(!st.message().empty() && st.message().find('\n') == std::string::npos);
  }
  return 0;
}
