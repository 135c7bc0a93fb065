// The parts of Zarr metadata the mount needs: the chunk grid, how chunk keys
// are spelled, the decode pipeline (for views), and attributes.
// Zarr v2 (.zarray/.zattrs) and Zarr v3 (zarr.json) are both read.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "codecs/pipeline.h"
#include "zarr/chunk_grid.h"
#include "zarr/chunk_key.h"
#include "zarr/sharding.h"

namespace zm {

struct ZarrArrayMeta {
  std::vector<uint64_t> shape;
  std::vector<uint64_t> chunks;
  // How chunk keys are spelled: v2 "0.1" or "0/1"; v3 "c/0/1" by default.
  ChunkKeyEncoding key_encoding;
  // Decode pipeline. Unknown codecs are kept here by id: parsing still
  // succeeds (the tree and the prefetcher need only the grid), and
  // ChunkDecoder::Make reports them.
  ChunkSpec chunk;
  // Dimension names: v3 "dimension_names"; v2 has them in .zattrs
  // (_ARRAY_DIMENSIONS), see ParseZarrAttrs. Empty when unknown.
  std::vector<std::string> dimension_names;
  // v3 "sharding_indexed" as the codec: `chunks` is the shard shape (one
  // stored object per shard) and this describes the inner chunks within.
  std::optional<ShardingSpec> sharding;

  // Chunks along each dimension: ceil(shape / chunks) (see zarr/chunk_grid.h).
  std::vector<uint64_t> GridShape() const { return zm::GridShape(shape, chunks); }
  // The grid, or kInvalidArgument when it has no chunks of positive extent
  // or more than 2^64 chunks.
  Result<ChunkGrid> Grid() const { return ChunkGrid::Make(shape, chunks); }
  // The key of chunk `index` relative to the array's directory, e.g. "0.3.1",
  // "0/3/1" or "c/0/3/1" (a 0-d array's only chunk is "0" in v2, "c" in v3).
  std::string ChunkKey(const std::vector<uint64_t>& index) const { return key_encoding.Key(index); }
  // The grid index of a key relative to the array's directory, or nullopt
  // if it is not one of this array's chunk keys (bounds not checked).
  std::optional<std::vector<uint64_t>> ParseChunkKey(std::string_view key) const {
    return key_encoding.Parse(key, shape.size());
  }
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

// The names of an array's metadata document: Zarr v2 and Zarr v3.
inline constexpr std::string_view kZarrV2ArrayDocument = ".zarray";
inline constexpr std::string_view kZarrV3Document = "zarr.json";

// What one node (directory) of a store is, judged by its metadata.
struct ZarrNode {
  enum class Kind {
    kNotArray,  // no array metadata: a v2 group, a v3 group, a plain directory
    kArray,     // `array` holds its metadata
    kBadArray,  // array metadata that does not parse; `error` says why
  };
  Kind kind = Kind::kNotArray;
  ZarrArrayMeta array;   // kArray
  Status error;          // kBadArray: one line naming the document and field
  // The metadata document read (.zarray or zarr.json; a v3 group's
  // zarr.json too), e.g. for a v3 array's attributes.
  std::string document;
};

// Reads the document `name` of a node: nullopt when the node has none, an
// error when it exists but cannot be read.
using ZarrDocumentReader =
    std::function<Result<std::optional<std::string>>(std::string_view name)>;

// Classifies a node by its metadata: ".zarray" if present (v2), else
// "zarr.json" (v3; a group's is not an array, anything else that does not
// parse is a bad array). Errors are only those of `read`.
Result<ZarrNode> ReadZarrNode(const ZarrDocumentReader& read);

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
