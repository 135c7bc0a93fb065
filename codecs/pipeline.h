// The decode pipeline of one Zarr array: from the bytes stored for a chunk to
// the chunk's elements, in C order and in the byte order of the array's data
// type. Zarr v2 (compressor + filters) and Zarr v3 (a codec chain) are both
// described by a ChunkSpec; refs/ fills it from the metadata documents.
//
// Thread-safety: ChunkDecoder objects are immutable; Decode may be called
// from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace zm {

// A Zarr v2 data type ("<f4", ">i2", "|u1", "|b1", "<M8[ns]", "|S8", ...).
// Zarr v3 names ("float32", "int16", "bool", ...) map to little-endian ones.
struct DataType {
  char kind = 'u';        // numpy kind: b i u f c M m S U V
  uint32_t size = 1;      // bytes per element
  bool big_endian = false;  // meaningless when size == 1 or kind is S/V
  std::string unit;       // for M and m: "ns", "s", "D", ... (empty otherwise)

  // The numpy spelling, e.g. "<f4", "|u1", "<M8[ns]".
  std::string ToString() const;
};

// kInvalidArgument naming the text when it is not a data type this mount
// can represent (structured dtypes, "|O", bad sizes ...). Refined: S, U
// and V elements may be up to 64 KiB ("|S100" netCDF char arrays are
// common); numeric kinds take numpy's sizes only (f2/f4/f8, c8/c16, ...).
Result<DataType> ParseDataType(std::string_view text);
Result<DataType> ParseDataTypeV3(std::string_view name);

// One codec with its parameters, by numcodecs id or Zarr v3 name.
// Parameters keep only what decoding needs; each is in the map of its JSON
// type (booleans as 0/1 numbers, lists of integers in int_lists).
struct CodecConfig {
  std::string id;
  std::map<std::string, std::string> strings;
  std::map<std::string, double> numbers;
  std::map<std::string, std::vector<int64_t>> int_lists;
};

struct ChunkSpec {
  int zarr_format = 2;                 // 2 or 3
  DataType dtype;                      // of the decoded elements
  std::vector<uint64_t> chunk_shape;   // elements per dimension
  char order = 'C';                    // v2 memory order of the stored chunk: 'C' or 'F'
  // One element in dtype's byte order, or empty for "no fill value" (then
  // missing chunks read as zeros).
  std::string fill_element;
  // v2: the filters in the order they were applied on encode, then the
  //     compressor (when there is one) last.
  // v3: the "codecs" list as written (array→array, array→bytes, bytes→bytes).
  std::vector<CodecConfig> codecs;

  uint64_t chunk_elements() const;          // product of chunk_shape
  uint64_t chunk_bytes() const { return chunk_elements() * dtype.size; }
};

class ChunkDecoder {
 public:
  // kUnsupported naming the codec when one of spec.codecs is unknown or has
  // parameters this build cannot decode; kInvalidArgument for an
  // inconsistent spec (e.g. a v3 chain without an array→bytes codec).
  // Refined: chunks of more than 2 GiB decoded are kUnsupported (every
  // stage allocates its exact output size, and this bounds it).
  static Result<std::unique_ptr<ChunkDecoder>> Make(ChunkSpec spec);

  virtual ~ChunkDecoder() = default;
  const ChunkSpec& spec() const { return spec_; }

  // The chunk's spec.chunk_bytes() bytes: elements in C order, in the byte
  // order of spec.dtype. Stored data that does not decode to exactly that
  // size, or fails a checksum (fletcher32, crc32c), is kCorruption naming
  // the codec; never partial or padded output.
  virtual Result<std::string> Decode(std::string_view stored) const = 0;

  // A chunk that is not stored: fill_element repeated (zeros if none).
  std::string FillChunk() const;

 protected:
  explicit ChunkDecoder(ChunkSpec spec) : spec_(std::move(spec)) {}
  ChunkSpec spec_;
};

}  // namespace zm
