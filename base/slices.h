// Bytes handed between layers without copying: shared, immutable buffers
// and the pieces of them that make up one answer. The cache's blocks, the
// views' decoded chunks and the FUSE reply all speak this type, so no layer
// depends on another's buffer type.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace zm {

// An immutable buffer, shared by whoever holds it.
using SharedBuffer = std::shared_ptr<const std::string>;

// Bytes as pieces of buffers, in order. The pieces stay valid as long as
// `buffers` (and so this object) lives.
struct Slices {
  std::vector<SharedBuffer> buffers;
  std::vector<std::string_view> pieces;

  uint64_t size() const {
    uint64_t n = 0;
    for (auto p : pieces) n += p.size();
    return n;
  }
  // The bytes in one string (a copy).
  std::string ToString() const {
    std::string out;
    out.reserve(size());
    for (auto p : pieces) out.append(p);
    return out;
  }
};

}  // namespace zm
