// The header of a NumPy .npy file (format 1.0, or 2.0 when the header does
// not fit 1.0's 16-bit length) for an array in C order.
//
// The header keeps the array's data type and byte order ("<f4", ">i2",
// "|u1", "<M8[ns]", "|S8") and is padded with spaces so that the data
// starts at a multiple of 64 bytes, as numpy's own writer does: the data
// can then be memory-mapped with aligned elements.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codecs/pipeline.h"

namespace zm {

// numpy's spelling of `dtype` ("descr"): byte-order character ('<', '>' or
// '|'), kind, size, and the unit for M and m.
std::string NpyDescr(const DataType& dtype);

// The whole header; the data follows it directly.
std::string NpyHeader(const DataType& dtype, const std::vector<uint64_t>& shape);

}  // namespace zm
