// Tree: what the FUSE adapter serves. The zarr view (Filesystem) and the
// views for legacy tools (ViewFilesystem) both implement it, so the adapter
// does not know which one it mounts.
//
// Inode 1 (kRootIno) is the root directory.
//
// Thread-safety: implementations must be safe to call concurrently.
#pragma once

#include <sys/statvfs.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/slices.h"

namespace zm {

struct Attr {
  uint64_t ino = 0;
  bool is_dir = false;
  uint64_t size = 0;
  uint32_t nlink = 1;
  // False for a file listed by ReadDir before its size is learned (`size`
  // is then 0 and meaningless): the adapter gives the kernel its name only,
  // and a lookup learns the rest.
  bool size_known = true;
};

class Tree {
 public:
  static constexpr uint64_t kRootIno = 1;
  virtual ~Tree() = default;

  // Every entry's time stamp, seconds since the epoch.
  virtual int64_t mtime() const = 0;

  // kNotFound if `parent` has no entry `name`; kInvalidArgument if `parent`
  // is not a directory.
  virtual Result<Attr> Lookup(uint64_t parent, std::string_view name) const = 0;
  virtual Result<Attr> GetAttr(uint64_t ino) const = 0;

  // Calls `emit(name, attr, next_offset)` for the entries of directory `ino`
  // from position `offset` on ("." is 0, ".." is 1), until it returns false.
  virtual Status ReadDir(
      uint64_t ino, uint64_t offset,
      const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const = 0;

  // kNotFound for no such inode, kInvalidArgument for a directory.
  virtual Status Open(uint64_t ino) const = 0;

  // Up to `size` bytes at `offset` of file `ino` (short only at end of
  // file), as pieces of buffers the result keeps alive. Errors carry the
  // key and the cause; a read that cannot be served exactly fails whole.
  virtual Result<Slices> ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const = 0;

  virtual void StatFs(struct statvfs* st) const = 0;
};

}  // namespace zm
