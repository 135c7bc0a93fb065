// Parquet's RLE / bit-packed hybrid encoding of small unsigned integers
// (definition levels, dictionary indices), without the 4-byte length
// prefix that data page v1 puts before levels.
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace zm::parquet {

// Decodes exactly `count` values of `bit_width` bits (0..32) from `data`
// into `out` (replacing its contents). kInvalidArgument when the runs end
// before `count` values.
Status DecodeRleHybrid(std::string_view data, int bit_width, size_t count, std::vector<uint32_t>* out);

// Encodes `values` (each below 2^bit_width) as runs: repeated values as RLE
// runs, the others as bit-packed groups of 8.
std::string EncodeRleHybrid(const std::vector<uint32_t>& values, int bit_width);

// The bits needed for values up to `max_value` (0 for 0).
int BitWidth(uint32_t max_value);

}  // namespace zm::parquet
