// Chunk keys: how a Zarr array names the stored object of each chunk,
// relative to the array's directory.
//
//   Zarr v2, dimension_separator ".":            "0.3.1"   (0-d: "0")
//   Zarr v2, dimension_separator "/":            "0/3/1"   (0-d: "0")
//   Zarr v3, chunk_key_encoding "default", "/":  "c/0/3/1" (0-d: "c")
//   Zarr v3, chunk_key_encoding "default", ".":  "c.0.3.1" (0-d: "c")
//   Zarr v3, chunk_key_encoding "v2":            as Zarr v2
//
// Thread-safety: ChunkKeyEncoding is a value; const methods may be called
// concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zm {

struct ChunkKeyEncoding {
  // Before the indices: "" (v2 and v3 "v2") or "c" (v3 "default").
  std::string prefix;
  // Between the prefix and the indices, and between indices: '.' or '/'.
  char separator = '.';

  static ChunkKeyEncoding V2(char separator) { return {"", separator}; }
  static ChunkKeyEncoding V3Default(char separator) { return {"c", separator}; }

  // The key of the chunk at grid index `index` (one entry per dimension).
  std::string Key(const std::vector<uint64_t>& index) const;

  // The grid index of `key` for an array of `rank` dimensions, or nullopt
  // if `key` is not a chunk key under this encoding. Only keys Key() spells
  // are accepted: decimal indices without sign or leading zeros, each at
  // most UINT64_MAX. The grid's bounds are not checked here.
  std::optional<std::vector<uint64_t>> Parse(std::string_view key, size_t rank) const;

  bool operator==(const ChunkKeyEncoding&) const = default;
};

}  // namespace zm
