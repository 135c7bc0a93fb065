// Data types for the view tests.
#pragma once

#include <cstdint>
#include <string>

#include "codecs/pipeline.h"

namespace zm::testing {

inline DataType Dt(char kind, uint32_t size, bool big = false, std::string unit = "") {
  DataType t;
  t.kind = kind;
  t.size = size;
  t.big_endian = big;
  t.unit = unit;
  return t;
}

}  // namespace zm::testing
