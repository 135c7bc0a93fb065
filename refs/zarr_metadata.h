// The parts of Zarr array metadata the mount needs: the chunk grid and how
// chunk keys are spelled.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace zm {

struct ZarrArrayMeta {
  std::vector<uint64_t> shape;
  std::vector<uint64_t> chunks;
  char separator = '.';  // between chunk indices in a key: '.' or '/'

  // Chunks along each dimension: ceil(shape / chunks).
  std::vector<uint64_t> GridShape() const;
};

// Parses a Zarr v2 ".zarray" document (shape, chunks, dimension_separator).
Result<ZarrArrayMeta> ParseZarrArray(std::string_view json);

}  // namespace zm
