#include "zarr/chunk_grid.h"

#include <algorithm>
#include <string>

namespace zm {

std::vector<uint64_t> GridShape(const std::vector<uint64_t>& shape,
                                const std::vector<uint64_t>& chunk_shape) {
  std::vector<uint64_t> grid(shape.size());
  // Rounded up without shape + chunk - 1, which wraps for huge shapes.
  for (size_t d = 0; d < shape.size(); ++d)
    grid[d] = chunk_shape[d] ? shape[d] / chunk_shape[d] + (shape[d] % chunk_shape[d] != 0) : 0;
  return grid;
}

Result<ChunkGrid> ChunkGrid::Make(std::vector<uint64_t> shape, std::vector<uint64_t> chunk_shape) {
  if (shape.size() != chunk_shape.size())
    return InvalidArgument("chunk grid: " + std::to_string(chunk_shape.size()) +
                           " chunk extents for " + std::to_string(shape.size()) + " dimensions");
  for (uint64_t c : chunk_shape)
    if (c == 0) return InvalidArgument("chunk grid: a chunk extent is 0");
  ChunkGrid g;
  g.grid_shape_ = GridShape(shape, chunk_shape);
  g.shape_ = std::move(shape);
  g.chunk_shape_ = std::move(chunk_shape);
  for (uint64_t n : g.grid_shape_)
    if (__builtin_mul_overflow(g.chunk_count_, n, &g.chunk_count_))
      return InvalidArgument("chunk grid: more than 2^64 chunks");
  return g;
}

std::optional<uint64_t> ChunkGrid::LinearIndex(const std::vector<uint64_t>& index) const {
  if (index.size() != grid_shape_.size()) return std::nullopt;
  uint64_t linear = 0;
  // Cannot wrap: the result is below chunk_count(), which fits.
  for (size_t d = 0; d < index.size(); ++d) {
    if (index[d] >= grid_shape_[d]) return std::nullopt;
    linear = linear * grid_shape_[d] + index[d];
  }
  return linear;
}

std::vector<uint64_t> ChunkGrid::GridIndex(uint64_t linear) const {
  std::vector<uint64_t> index(grid_shape_.size());
  for (size_t d = grid_shape_.size(); d-- > 0;) {
    index[d] = linear % grid_shape_[d];
    linear /= grid_shape_[d];
  }
  return index;
}

std::vector<uint64_t> ChunkGrid::ChunkExtent(const std::vector<uint64_t>& index) const {
  std::vector<uint64_t> extent(chunk_shape_);
  for (size_t d = 0; d < extent.size(); ++d) {
    const uint64_t begin = index[d] * chunk_shape_[d];  // inside the shape: no wrap
    extent[d] = std::min(chunk_shape_[d], shape_[d] - begin);
  }
  return extent;
}

}  // namespace zm
