// What the NetCDF-3 and HDF5 scanners share: writing Zarr v2 metadata as
// JSON text, chunk keys, and adding a chunk to the references (inline when
// small). Internal to refs/.
//
// Thread-safety: ScanSink is used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "refs/reference_index.h"
#include "refs/scan.h"

namespace zm {

// A double as JSON the way Python writes it (NaN, Infinity, -Infinity for
// the non-finite values, which zarr-python and xarray read back).
std::string JsonDouble(double v);

// A list of JSON values, "[a, b]".
std::string JsonList(const std::vector<std::string>& items);

// The .zarray of an uncompressed-or-filtered Zarr v2 array in C order.
// `dtype_json` and `fill_json` are JSON values ("\">f4\"", "null");
// `filters_json` a JSON list or "null".
std::string ZarrayJson(const std::vector<uint64_t>& shape, const std::vector<uint64_t>& chunks,
                       std::string_view dtype_json, std::string_view fill_json,
                       std::string_view filters_json);

// Attributes as (name, JSON value) pairs, in order.
using JsonAttributes = std::vector<std::pair<std::string, std::string>>;
std::string ZattrsJson(const JsonAttributes& attrs);

// The key of chunk `index` of the array at `path` ("g/v/0.1"; "g/v/0" for a
// scalar, as Zarr v2 names it).
std::string ChunkKey(std::string_view path, const std::vector<uint64_t>& index);

// Collects one file's references.
class ScanSink {
 public:
  // REQUIRES: input outlives the sink.
  ScanSink(const ScanInput& input, const ScanOptions& options);

  const std::string& path() const { return input_.name; }
  uint64_t file_size() const { return input_.size; }
  const ScanInput& input() const { return input_; }
  // Exactly `size` bytes at `offset`; errors name the input.
  Result<std::string> Read(uint64_t offset, uint64_t size) const;

  // A metadata file (".zgroup", ".zarray", ".zattrs" under `dir`; "" is the root).
  void AddMetadata(std::string_view dir, std::string_view name, std::string_view json);
  // A chunk at [offset, offset + size) of the file: inline if smaller than
  // the threshold. Error naming the file if the range is past its end.
  Status AddChunk(const std::string& key, uint64_t offset, uint64_t size);
  void AddInline(const std::string& key, std::string_view bytes);
  void Skip(std::string line);

  Result<ScanResult> Finish() &&;

 private:
  const ScanInput& input_;
  uint64_t inline_threshold_;
  ReferenceIndexBuilder builder_;  // before url_id_, which it makes
  uint32_t url_id_;
  std::vector<std::string> skipped_;
};

// Reads `size` bytes at `offset` of `fd`; error naming `path` if short.
Result<std::string> ReadFileRange(int fd, const std::string& path, uint64_t offset, uint64_t size);

// Where an HDF5 superblock starts (0, 512, 1024, ...), if anywhere.
std::optional<uint64_t> FindHdf5Signature(const ScanSink& sink);

// The HDF5 scanner (scan_hdf5.cc).
Status ScanHdf5(ScanSink* sink);
// The NetCDF-3 scanner (scan_netcdf3.cc).
Status ScanNetcdf3(ScanSink* sink);

}  // namespace zm
