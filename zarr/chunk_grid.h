// The regular chunk grid of a Zarr array: how many chunks along each
// dimension, the C-order numbering of chunks (linear index), and the extent
// of each chunk inside the array (edge chunks are cut short by the shape;
// they are still stored and decoded with the full chunk shape).
//
// Thread-safety: ChunkGrid is immutable; const methods may be called
// concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"

namespace zm {

// Chunks along each dimension: ceil(shape / chunk_shape), 0 along a
// dimension of chunk extent 0 (never a division by zero). Never wraps, even
// for shapes near UINT64_MAX. REQUIRES: shape.size() == chunk_shape.size().
std::vector<uint64_t> GridShape(const std::vector<uint64_t>& shape,
                                const std::vector<uint64_t>& chunk_shape);

class ChunkGrid {
 public:
  // kInvalidArgument when the lengths differ, a chunk extent is 0, or the
  // number of chunks does not fit in 64 bits. A 0-d array (empty shape)
  // has one chunk, of grid index {}.
  static Result<ChunkGrid> Make(std::vector<uint64_t> shape, std::vector<uint64_t> chunk_shape);

  size_t rank() const { return shape_.size(); }
  const std::vector<uint64_t>& shape() const { return shape_; }
  const std::vector<uint64_t>& chunk_shape() const { return chunk_shape_; }
  // Chunks along each dimension.
  const std::vector<uint64_t>& grid_shape() const { return grid_shape_; }
  // All chunks: the product of grid_shape() (1 for a 0-d array, 0 when an
  // extent of the shape is 0).
  uint64_t chunk_count() const { return chunk_count_; }

  // The C-order position of chunk `index` in the grid, or nullopt when
  // `index` has the wrong length or lies outside the grid.
  std::optional<uint64_t> LinearIndex(const std::vector<uint64_t>& index) const;
  // The grid index of chunk `linear`. REQUIRES: linear < chunk_count().
  std::vector<uint64_t> GridIndex(uint64_t linear) const;
  // The elements of chunk `index` inside the array along each dimension:
  // the chunk shape, less at the far edge of the shape.
  // REQUIRES: LinearIndex(index) has a value.
  std::vector<uint64_t> ChunkExtent(const std::vector<uint64_t>& index) const;

 private:
  ChunkGrid() = default;
  std::vector<uint64_t> shape_, chunk_shape_, grid_shape_;
  uint64_t chunk_count_ = 1;
};

}  // namespace zm
