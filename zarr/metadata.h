// The parts of Zarr metadata the mount needs: the chunk grid, how chunk keys
// are spelled, the decode pipeline (for views), and attributes.
// Zarr v2 (.zarray/.zattrs) and Zarr v3 (zarr.json) are both read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "codecs/pipeline.h"

namespace zm {

struct ZarrArrayMeta {
  std::vector<uint64_t> shape;
  std::vector<uint64_t> chunks;
  char separator = '.';  // between chunk indices in a key: '.' or '/'
  // v3 only: chunk keys are "c" + separator + indices ("c/0/1");
  // v2 keys are the bare indices ("0.1").
  std::string key_prefix;
  // Decode pipeline. Unknown codecs are kept here by id: parsing still
  // succeeds (the tree and the prefetcher need only the grid), and
  // ChunkDecoder::Make reports them.
  ChunkSpec chunk;
  // Dimension names: v3 "dimension_names"; v2 has them in .zattrs
  // (_ARRAY_DIMENSIONS), see ParseZarrAttrs. Empty when unknown.
  std::vector<std::string> dimension_names;

  // Chunks along each dimension: ceil(shape / chunks).
  std::vector<uint64_t> GridShape() const;
  // The key of chunk `index` relative to the array's directory, e.g. "0.3.1",
  // "0/3/1" or "c/0/3/1" (a 0-d array's only chunk is "0" in v2, "c" in v3).
  std::string ChunkKey(const std::vector<uint64_t>& index) const;
};

// Parses a Zarr v2 ".zarray" document. "shape", "chunks" (positive) and
// "dtype" are required; "compressor", "filters", "fill_value" (null),
// "order" ("C") and "dimension_separator" (".") default when absent. Errors
// are kInvalidArgument, one line naming the field (".zarray: 'dtype' ...").
Result<ZarrArrayMeta> ParseZarrArray(std::string_view json);
// Parses a Zarr v3 "zarr.json" of node_type "array" (kInvalidArgument for a
// group or anything else).
Result<ZarrArrayMeta> ParseZarrV3Array(std::string_view json);
// The "node_type" of a Zarr v3 "zarr.json" ("array", "group", ...), to tell
// a group from an array whose metadata does not parse. kInvalidArgument
// when the text is not a JSON object with a string "node_type".
Result<std::string> ParseZarrV3NodeType(std::string_view json);

// One attribute, in document order. Numbers and lists of numbers become
// ints (all integers) or floats; strings stay strings; anything else
// (objects, mixed lists, null, booleans) is kOther with its JSON text.
struct ZarrAttribute {
  enum class Kind { kString, kInts, kFloats, kOther };
  std::string name;
  Kind kind = Kind::kOther;
  std::string text;             // kString: the string; kOther: the JSON text
  std::vector<int64_t> ints;    // kInts (a scalar is a list of one)
  std::vector<double> floats;   // kFloats (NaN/Infinity spelled as strings are not numbers)
};

// Parses a ".zattrs" document, or the "attributes" member when given a v3
// "zarr.json". kInvalidArgument if it is not a JSON object.
Result<std::vector<ZarrAttribute>> ParseZarrAttrs(std::string_view json);

}  // namespace zm
