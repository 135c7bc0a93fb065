// Element-wise and layout operations on decoded chunk bytes, shared by the
// decode pipeline, its tests and the codec benchmark.
//
// Thread-safety: pure functions on caller-owned buffers.
#pragma once

#include <cstdint>
#include <cstddef>
#include <vector>

namespace zm {

// Undoes a byte shuffle of `n` bytes with element size `es` (numcodecs
// "shuffle", HDF5's shuffle filter): `in` holds byte 0 of every element, then
// byte 1 of every element, ...; bytes past the last whole element are copied
// as they are. REQUIRES: in and out do not overlap, es >= 1.
void Unshuffle(const char* in, char* out, size_t n, size_t es);

// Reverses the byte order of each of the n / es elements, in place.
void ByteSwapInPlace(char* data, size_t n, size_t es);

// Permutes axes in one pass: `in` is a C-order array of shape `in_shape` with
// elements of `es` bytes; `out` gets the C-order array whose axis perm[i] is
// axis i of `in` (so out_shape[perm[i]] == in_shape[i]). Used for Zarr v2
// order 'F' (in_shape reversed, perm = n-1..0) and the v3 "transpose" codec.
// REQUIRES: perm is a permutation of 0..in_shape.size()-1; buffers hold
// product(in_shape) * es bytes and do not overlap.
void PermuteAxes(const char* in, char* out, const std::vector<uint64_t>& in_shape,
                 const std::vector<size_t>& perm, size_t es);

}  // namespace zm
