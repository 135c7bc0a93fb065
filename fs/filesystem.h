// Filesystem: the read-only tree of a reference set, independent of FUSE.
// The FUSE adapter only unpacks arguments, calls this, and replies; so the
// behaviour is tested here without a mount.
//
// Inode numbers are stable for a given reference set: 1 is the root, then
// one per directory in ReferenceIndex order, then one per file. A lazy
// chunk (refs/lazy_refs.h) is looked up when named; one that does not exist
// is "no such file", and listings show only those that exist (positions are
// the chunks' places in the grid, so they stay valid between calls).
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <sys/statvfs.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "cache/read_through.h"
#include "fs/prefetcher.h"
#include "fs/tree.h"
#include "refs/reference_index.h"

namespace zm {

// The zarr view: the reference set's keys as files.
class Filesystem : public Tree {
 public:

  // Neither argument is owned; both must outlive this object. A whole
  // object of unknown size (ReferenceIndex::kUnknownSize: a Zarr store's
  // chunk key, derived from its metadata) is sized on first Lookup,
  // GetAttr or read, by one request through the cache's object records,
  // and remembered: an object the origin does not have is "no such file"
  // (kNotFound; a Zarr reader then uses the fill value), another failure is
  // that file's error. ReadDir lists such a file by name until it is sized
  // (Attr::size_known false).
  // `mtime` (seconds since the epoch) is every entry's time stamp: the
  // reference file's, so it is stable across mounts.
  Filesystem(const ReferenceIndex* index, ReadThroughCache* cache, int64_t mtime = 0);

  // Reads are reported to `prefetcher` (not owned; may be null) before they
  // are served.
  void set_prefetcher(Prefetcher* prefetcher) { prefetcher_ = prefetcher; }

  int64_t mtime() const override { return mtime_; }

  // kNotFound if `parent` has no entry `name`; kInvalidArgument if `parent`
  // is not a directory.
  Result<Attr> Lookup(uint64_t parent, std::string_view name) const override;
  Result<Attr> GetAttr(uint64_t ino) const override;

  // Calls `emit(name, attr, next_offset)` for the entries of directory `ino`
  // from position `offset` on ("." is 0, ".." is 1), until it returns false.
  Status ReadDir(uint64_t ino, uint64_t offset,
                 const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const override;

  // kNotFound for no such inode, kInvalidArgument for a directory.
  Status Open(uint64_t ino) const override;

  // Up to `size` bytes at `offset` of file `ino` (short only at end of file).
  // Errors carry the key and the origin's message.
  Result<std::string> Read(uint64_t ino, uint64_t offset, uint64_t size) const;
  // The same, as pieces of cached blocks (no copy), for the FUSE reply.
  Result<Slices> ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const override;

  void StatFs(struct statvfs* st) const override;

  // The key of a file inode, for messages.
  std::string KeyOf(uint64_t ino) const;
  // The index's file shown as inode `ino`, if `ino` is a file.
  std::optional<ReferenceIndex::FileId> FileOf(uint64_t ino) const {
    if (!IsFile(ino)) return std::nullopt;
    return ino - kRootIno - index_->dir_count();
  }

 private:
  bool IsDir(uint64_t ino) const { return ino >= kRootIno && ino < kRootIno + index_->dir_count(); }
  bool IsFile(uint64_t ino) const {
    return ino >= kRootIno + index_->dir_count() &&
           ino < kRootIno + index_->dir_count() + index_->file_count();
  }
  Attr DirAttr(ReferenceIndex::DirId d) const;
  // The file's target; kNotFound for a lazy chunk that does not exist.
  Result<ReferenceIndex::ResolvedTarget> Target(ReferenceIndex::FileId f) const;
  // The file's attributes, its size learned first if need be.
  Result<Attr> FileAttr(ReferenceIndex::FileId f) const;
  // The attributes known without a request (size_known false if none).
  Attr ListedFileAttr(ReferenceIndex::FileId f, const ReferenceIndex::ResolvedTarget& t) const;
  // The file's size: the target's, else the learned one, else learned now.
  Result<uint64_t> FileSize(ReferenceIndex::FileId f, const ReferenceIndex::ResolvedTarget& t) const;
  // The size of the object at `url`, asked of the cache.
  Result<uint64_t> ObjectSize(ReferenceIndex::FileId f, const std::string& url) const;
  void ReadLazyDir(uint32_t run, uint64_t from, uint64_t base,
                   const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const;

  const ReferenceIndex* index_;
  ReadThroughCache* cache_;
  Prefetcher* prefetcher_ = nullptr;
  // Per eager file, the size learned for an unsized whole object (kUnknownSize
  // until learned, kMissingObject for an object the origin does not have);
  // null when the index has no such file.
  static constexpr uint64_t kMissingObject = ReferenceIndex::kUnknownSize - 1;
  std::unique_ptr<std::atomic<uint64_t>[]> learned_sizes_;
  uint64_t total_bytes_ = 0;
  int64_t mtime_ = 0;
};

}  // namespace zm
