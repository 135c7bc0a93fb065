// ParseZarrArray on arbitrary bytes; an accepted array's grid must cover
// its shape exactly.
#include <cstdint>

#include "zarr/metadata.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = zm::ParseZarrArray(zm::fuzz::AsText(data, size));
  if (!r.ok()) return 0;
  Check(r->shape.size() == r->chunks.size());
  Check(r->key_encoding.prefix.empty());  // v2 keys are the bare indices
  Check(r->key_encoding.separator == '.' || r->key_encoding.separator == '/');
  std::vector<uint64_t> grid = r->GridShape();
  Check(grid.size() == r->shape.size());
  for (size_t i = 0; i < grid.size(); ++i) {
    unsigned __int128 c = r->chunks[i], g = grid[i], s = r->shape[i];
    if (c == 0) continue;
    Check(g * c >= s);              // covers the shape
    Check(g == 0 || (g - 1) * c < s);  // and not one chunk more
  }
  return 0;
}
