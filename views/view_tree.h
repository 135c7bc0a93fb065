// Views for legacy tools: the arrays of a reference set's Zarr store as
// ordinary files, decoded lazily.
//
//  - npy: the group tree, each array as "<name>.npy" (NumPy format, C order,
//    the array's dtype and byte order, data 64-byte aligned).
//  - netcdf: one NetCDF classic file (CDF-2, or CDF-5 where needed) per
//    group holding arrays: the root group's is "<set>.nc" at the mount's
//    root (<set>: the reference file's name without .json/.gz/.zst...),
//    group "a/b"'s is "a/b.nc". Dimensions come from _ARRAY_DIMENSIONS (v2)
//    or dimension_names (v3); group and array attributes from .zattrs /
//    zarr.json.
// Directories are shown only where they lead to a view file.
//
// Building the tree reads metadata only (.zarray, .zattrs, zarr.json);
// sizes come from it. A read decodes only the chunks its bytes touch
// (views/decoded_arrays.h: each once while it stays cached, sharded arrays
// by inner chunk, a chunk with no key the fill value, never wrong bytes).
// Sequential readers get the chunks ahead decoded in the background, and
// so do readers walking the chunk grid.
//
// Arrays the view cannot show (unknown codec, unreadable metadata, and for
// NetCDF a type the format cannot hold or dimensions that conflict) are
// left out, with one log line each.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/units.h"
#include "cache/read_through.h"
#include "views/array_region.h"
#include "views/chunk_cache.h"
#include "views/decoded_arrays.h"
#include "fs/tree.h"
#include "refs/reference_index.h"
#include "zarr/metadata.h"

namespace zm {

struct NcAttribute;  // views/netcdf.h

enum class ViewKind { kZarr, kZarrDecoded, kNpy, kNetcdf };

// "zarr", "zarr-decoded", "npy" or "netcdf"; kInvalidArgument otherwise.
Result<ViewKind> ParseViewKind(std::string_view name);

// The name of the root group's NetCDF file stem: the reference file's base
// name without its extensions (".json", ".gz", ".zst", ".zstd", ".parq"),
// e.g. "sst_v0_rel" for ".../sst_v0_rel.json.gz"; "root" if nothing is left.
std::string ReferenceSetName(std::string_view source_path);

struct ViewOptions {
  ViewKind kind = ViewKind::kNpy;
  // The decoded arrays; root_name names the root group's NetCDF file (see
  // ReferenceSetName) and a root array's .npy.
  DecodedArraysOptions arrays;
  uint64_t max_readahead = 64_MiB;  // file bytes decoded ahead, at most
};

class ViewFilesystem : public Tree {
 public:
  // Reads the metadata of `index` (through `cache`) and lays out the view.
  // Neither pointer is owned; both must outlive the result. Fails only if
  // metadata cannot be read at all; arrays that cannot be shown are left
  // out (see omitted()).
  static Result<std::unique_ptr<ViewFilesystem>> Build(const ReferenceIndex* index,
                                                       ReadThroughCache* cache,
                                                       const ViewOptions& options,
                                                       int64_t mtime = 0);
  ~ViewFilesystem() override;

  int64_t mtime() const override { return mtime_; }
  Result<Attr> Lookup(uint64_t parent, std::string_view name) const override;
  Result<Attr> GetAttr(uint64_t ino) const override;
  Status ReadDir(uint64_t ino, uint64_t offset,
                 const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit)
      const override;
  Status Open(uint64_t ino) const override;
  Result<Slices> ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const override;
  void StatFs(struct statvfs* st) const override;

  // The same bytes as one string (tests).
  Result<std::string> Read(uint64_t ino, uint64_t offset, uint64_t size) const;
  // One line per array or variable left out, as logged.
  const std::vector<std::string>& omitted() const { return omitted_; }
  const DecodedChunkStats& chunk_stats() const { return arrays_->chunk_stats(); }
  // Blocks until decode-ahead is idle (tests).
  void WaitForDecodeAhead() const { arrays_->WaitForDecodeAhead(); }

 private:
  using Array = DecodedArrays::Array;
  struct File;
  struct Node;
  struct Stream {
    uint64_t ino = 0;
    uint64_t next = 0;    // where a sequential read would continue
    uint64_t window = 0;  // bytes decoded ahead
  };

  ViewFilesystem(const ReferenceIndex* index, const ViewOptions& options, int64_t mtime);
  void BuildNpy();
  // One NetCDF file per group holding arrays (see the top of this file).
  void BuildNetcdf();
  // Adds the NetCDF file of `group` showing what it can of `arrays`, or
  // omits it when it can show none.
  void AddNetcdfFile(const std::string& group, const std::vector<const Array*>& arrays);
  // The attributes of `group` (.zattrs or zarr.json) as NetCDF global
  // attributes; none, with a warning, when they cannot be read.
  std::vector<NcAttribute> NetcdfGroupAttributes(const std::string& group) const;
  // Orders every directory's entries by name.
  void SortChildren();
  void Omit(std::string line);
  uint32_t EnsureDir(std::string_view path);
  void AddFile(uint32_t dir, std::string name, File file);
  // Decode-ahead for readers walking the file sequentially (readers
  // walking the chunk grid are followed by DecodedArrays::FollowWalk).
  void ReadAhead(uint64_t ino, const File& file, uint64_t offset, uint64_t size) const;
  Attr NodeAttr(uint32_t n) const;

  const ReferenceIndex* index_;
  const ViewOptions options_;
  const int64_t mtime_;
  std::vector<File> files_;
  std::vector<Node> nodes_;  // inode = position + 1; the root is first
  std::vector<std::string> omitted_;
  uint64_t total_bytes_ = 0;

  static constexpr size_t kStreams = 64;
  mutable std::mutex streams_mu_;  // guards streams_; a leaf lock
  mutable Stream streams_[kStreams];

  // Last: destroyed first, so its decode-ahead threads stop before the
  // rest goes away.
  std::unique_ptr<DecodedArrays> arrays_;
};

}  // namespace zm
