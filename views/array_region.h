// Region mapping: which bytes of which decoded chunks make up a byte range
// of an array's C-order image (the array as one contiguous run of elements,
// as a .npy file or a NetCDF variable holds it).
//
// The range is cut into runs, each contiguous both in the image and in one
// decoded chunk (chunks are decoded whole, in C order, with the full chunk
// shape: edge chunks carry padding that the mapping skips). A run is one
// row along the last dimension, or longer where the chunks span the whole
// trailing dimensions (then rows of a chunk are adjacent in the image).
//
// Thread-safety: ArrayRegion is immutable after construction.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cache/block_store.h"

namespace zm {

class ArrayRegion {
 public:
  // REQUIRES: shape.size() == chunks.size(), every chunk extent > 0,
  // elem_size > 0. A 0-d array (empty shape) has one element and one chunk.
  ArrayRegion(std::vector<uint64_t> shape, std::vector<uint64_t> chunks, uint32_t elem_size);

  uint64_t nbytes() const { return nbytes_; }
  uint32_t elem_size() const { return elem_size_; }
  // Chunks are numbered in C order over the grid, as ChunkGrid numbers
  // them (zarr/chunk_grid.h); a 0-d array's one chunk is 0.
  uint64_t chunk_count() const { return chunk_count_; }

  struct Run {
    uint64_t chunk;      // linear chunk index
    uint64_t chunk_off;  // byte offset in the decoded chunk
    uint64_t out_off;    // byte offset from the start of the range
    uint64_t size;       // bytes
  };
  // Calls `fn` for the runs of image bytes [pos, pos + len) in order, until
  // it returns false. Runs start and end on element boundaries except at the
  // ends of the range. REQUIRES: pos + len <= nbytes().
  void ForEachRun(uint64_t pos, uint64_t len, const std::function<bool(const Run&)>& fn) const;

  // Distinct chunks touched by [pos, pos + len), in order of first touch, at
  // most `max` of them.
  std::vector<uint64_t> ChunksIn(uint64_t pos, uint64_t len, size_t max) const;

 private:
  std::vector<uint64_t> shape_, chunks_, grid_;
  std::vector<uint64_t> grid_stride_, chunk_stride_;
  uint32_t elem_size_;
  uint64_t nbytes_ = 0, chunk_count_ = 1;
  size_t run_dim_ = 0;       // runs extend along this dimension
  uint64_t trailing_ = 1;    // elements per index of run_dim_
};

// Fills out[0, len) with image bytes [pos, pos + len): each run copied from
// its decoded chunk (from `chunk`), byte-swapped element by element in the
// same pass when `swap`. Returns the first error of `chunk` (and then out is
// not to be used). REQUIRES: each chunk block has the full chunk's bytes.
Status CopyRegion(const ArrayRegion& region, uint64_t pos, uint64_t len, bool swap, char* out,
                  const std::function<Result<Block>(uint64_t chunk)>& chunk);

// Copies n bytes starting `phase` bytes into an element of `elem` bytes at
// src - phase, reversing the bytes of every element (what a byte-order
// change does), also for partial elements at either end.
void SwapCopy(const char* src, uint64_t phase, uint64_t n, uint32_t elem, char* out);

}  // namespace zm
