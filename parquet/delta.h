// Parquet's delta encodings: DELTA_BINARY_PACKED (integers),
// DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY (byte strings), as writers
// of data page v2 use them (DuckDB's PARQUET_VERSION V2, for one).
//
// Every length is checked against the buffer; a header must promise
// exactly the values the page holds, so nothing is decoded beyond them.
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace zm::parquet {

// Decodes exactly `count` integers from the start of `data` into `out`
// (replacing it); `*consumed` is set to the bytes they took.
Status DecodeDeltaBinaryPacked(std::string_view data, size_t count, std::vector<int64_t>* out, size_t* consumed);

// Decodes exactly `count` byte strings: their lengths (delta packed), then
// their bytes. Views into `data`.
Status DecodeDeltaLengthByteArray(std::string_view data, size_t count, std::vector<std::string_view>* out);

// Decodes exactly `count` byte strings stored as (prefix length shared with
// the previous string, suffix): the strings are built into `*storage`
// (replaced), and `out` holds views into it.
Status DecodeDeltaByteArray(std::string_view data, size_t count, std::string* storage,
                            std::vector<std::string_view>* out);

// Encodes `values` as DELTA_BINARY_PACKED (blocks of 128 values in 4
// miniblocks), for tests and writers.
std::string EncodeDeltaBinaryPacked(const std::vector<int64_t>& values);

}  // namespace zm::parquet
