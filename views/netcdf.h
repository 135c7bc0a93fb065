// The header of a NetCDF classic-model file holding fixed-size variables
// only (no record dimension), and where each variable's data lies.
//
// Two formats are written: CDF-2 (64-bit offset) when it can hold the file,
// else CDF-5 (64-bit data), which every netCDF library since 4.4 reads and
// which adds unsigned and 64-bit integer types and variables of 4 GiB and
// more. Data follows the header: each variable's elements in C order,
// big-endian, padded to a multiple of 4 bytes, variables in the order given.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace zm {

enum class NcType : int32_t {
  kByte = 1, kChar = 2, kShort = 3, kInt = 4, kFloat = 5, kDouble = 6,
  // CDF-5 only:
  kUByte = 7, kUShort = 8, kUInt = 9, kInt64 = 10, kUInt64 = 11,
};

uint32_t NcTypeSize(NcType t);
inline bool NcTypeNeedsCdf5(NcType t) { return static_cast<int32_t>(t) >= 7; }

struct NcAttribute {
  std::string name;
  NcType type = NcType::kChar;
  std::string values;  // the elements, big-endian, packed (no padding)
  uint64_t count() const;
};

// Attributes from values: text as NC_CHAR (UTF-8 bytes); integers as
// NC_INT when all fit 32 bits, else NC_INT64; floats as NC_DOUBLE.
NcAttribute NcTextAttribute(std::string name, std::string_view text);
NcAttribute NcIntAttribute(std::string name, const std::vector<int64_t>& values);
NcAttribute NcDoubleAttribute(std::string name, const std::vector<double>& values);
// One element of type `t` given in its native byte order (`big_endian`
// says which), e.g. a variable's _FillValue.
NcAttribute NcElementAttribute(std::string name, NcType t, std::string_view element,
                               bool big_endian);

struct NcDimension {
  std::string name;
  uint64_t length = 0;  // > 0: a zero length would mean the record dimension
};

struct NcVariable {
  std::string name;
  std::vector<uint32_t> dims;  // indices into the dimension list, slowest first
  NcType type = NcType::kByte;
  std::vector<NcAttribute> attributes;
};

struct NcLayout {
  int version = 2;            // 2: CDF-2, 5: CDF-5
  std::string header;         // the file's first header.size() bytes
  std::vector<uint64_t> begin;   // per variable: offset of its data
  std::vector<uint64_t> nbytes;  // per variable: its data bytes (unpadded)
  uint64_t file_size = 0;     // last variable's begin + its padded size
};

// The layout of a file with these dimensions, global attributes and
// variables, in CDF-2 unless it needs CDF-5 (or `min_version` is 5).
// kInvalidArgument for an empty or repeated name, a zero dimension length,
// or a dimension index out of range.
Result<NcLayout> LayoutNetcdf(const std::vector<NcDimension>& dims,
                              const std::vector<NcAttribute>& global_attributes,
                              const std::vector<NcVariable>& vars, int min_version = 2);

}  // namespace zm
