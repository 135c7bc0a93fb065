// Aggregation of many reference sets into one, along one or more
// dimensions, in the manner of kerchunk's MultiZarrToZarr: the inputs are
// Zarr v2 stores whose arrays carry their dimension names in .zattrs
// (_ARRAY_DIMENSIONS), and every input holds a coordinate array named like
// each concatenation dimension, at its root.
//
// The result, per concatenation dimension DIM:
//   * the coordinate DIM holds the inputs' DIM values concatenated in
//     increasing order, as one uncompressed inline chunk of the same dtype;
//   * inputs are ordered by their first DIM value; overlapping or repeated
//     values are an error naming two files;
//   * every array with DIM among its dimensions has its chunk keys shifted
//     along DIM by the chunks of the inputs before it, and its .zarray shape
//     is the sum. An input whose extent along DIM is not a whole number of
//     that array's chunks, unless it is the last along DIM, is an error;
//   * everything else (arrays without a concatenation dimension, .zattrs,
//     .zgroup, other keys) comes from the first input in that order.
// Every input must hold the same arrays, with .zarray equal apart from the
// shape along the concatenation dimensions. Arrays named in
// `identical_arrays` must also hold the same values in every input (decoded
// and compared when at most `max_compare_bytes`; by metadata otherwise).
// The coordinates' "units" and "calendar" attributes must agree.
//
// With several concatenation dimensions, inputs sharing the values along one
// dimension form one block there; each block's position is its first value.
//
// Streaming: Add() keeps only what the result needs of an input (its chunk
// references, its coordinate values, and the metadata of the first input so
// far), so the caller can load one input, add it and drop it.
//
// Thread-safety: none; one thread drives an Aggregator.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/units.h"
#include "refs/reference_index.h"

namespace zm {

struct AggregateOptions {
  std::vector<std::string> concat_dims;        // REQUIRES: at least one
  std::vector<std::string> identical_arrays;   // e.g. {"lat", "lon"}
  uint64_t max_compare_bytes = 16_MiB;
};

// Returns `size` bytes at `offset` of the object `url` (as a ReferenceIndex
// holds it); size is ReferenceIndex::kUnknownSize for a whole object. Used
// to read the chunks of coordinates; refs/ does no I/O of its own.
using ByteFetcher =
    std::function<Result<std::string>(const std::string& url, uint64_t offset, uint64_t size)>;

class Aggregator {
 public:
  Aggregator(AggregateOptions options, ByteFetcher fetch);
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // Takes what the result needs from `input`. `name` (a file name) names the
  // input in errors, which are one line ("b.json: 'sst' has ...").
  Status Add(const std::string& name, const ReferenceIndex& input);

  size_t input_count() const;

  // Orders the inputs, checks them against each other and builds the
  // combined index. REQUIRES: called once.
  Result<ReferenceIndex> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes `index` as a kerchunk version 1 reference set: every distinct URL
// once, as a template ("{{u12}}"), inline bytes as text when they are UTF-8
// (else "base64:"), whole objects of unknown size as [url]. URLs are written
// as the index holds them (absolute after loading). kInvalidArgument if a
// URL contains "{{" (it would read as a template).
Result<std::string> WriteReferencesV1(const ReferenceIndex& index);

}  // namespace zm
