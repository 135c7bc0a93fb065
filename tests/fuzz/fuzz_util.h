// Helpers shared by the fuzz targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zm::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// A broken invariant is a finding: crash so that libFuzzer saves the input.
inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace zm::fuzz
