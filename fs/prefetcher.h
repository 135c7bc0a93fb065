// Prefetcher: watches reads and fetches ahead while a pattern holds.
//
// Two patterns:
//  - chunk walks: readers opening the chunk files of one Zarr array (v2 or
//    v3, any chunk key encoding) along a line of its chunk grid or in C
//    order, in whatever order their reads arrive (fs/chunk_walk.h): a pixel
//    drill walks the time axis, loading a variable walks C order. Once a
//    walk is recognised, the chunks ahead of it are prefetched, 16 at first,
//    the window growing fourfold while the walk goes on, up to max_chunks (and
//    max_bytes of chunk data per batch). A walk is shared within a group:
//    the first read of a sibling array (same chunk grid) on the line of the
//    group's latest walk, near where that began, fetches ahead at once, so
//    a drill through several variables at one point is recognised once.
//  - sequential reads within one large file: after two consecutive reads,
//    the bytes after the current one are prefetched, the window doubling
//    from 2 MiB up to max_bytes.
// The prefetches themselves run in ReadThroughCache, which bounds their
// memory and keeps them from delaying demand reads.
//
// Thread-safety: OnRead may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/units.h"
#include "cache/read_through.h"
#include "fs/chunk_walk.h"
#include "refs/reference_index.h"
#include "zarr/metadata.h"

namespace zm {

struct PrefetchOptions {
  bool enabled = true;
  uint64_t max_chunks = 128;
  uint64_t max_bytes = 64_MiB;  // per pattern
};

class Prefetcher {
 public:
  Prefetcher(const ReferenceIndex* index, ReadThroughCache* cache, const PrefetchOptions& options);
  ~Prefetcher();

  // Called before serving a read of `size` bytes at `offset` of file `f`;
  // the ticket goes to OnReadDone once the read is served (reads of an
  // array that overlap in time are a pool of readers at work).
  struct Array;
  struct ReadTicket {
    Array* array = nullptr;
  };
  ReadTicket OnRead(ReferenceIndex::FileId f, uint64_t offset, uint64_t size);
  void OnReadDone(ReadTicket ticket);

 private:
  struct FileStream {
    ReferenceIndex::FileId file = ~uint64_t{0};
    uint64_t next = 0;
    uint64_t window = 0;
    uint64_t prefetched_to = 0;
  };

  // The array whose chunk `f` is, and the chunk's linear index; nullptr if
  // `f` is not a chunk of an array.
  Array* ArrayOf(ReferenceIndex::FileId f, uint64_t* linear);
  // The array at directory `d`, or nullptr when `d` is not one whose grid
  // can be walked (loaded once, then remembered either way).
  std::shared_ptr<Array> GetArray(ReferenceIndex::DirId d);
  std::shared_ptr<Array> LoadArray(ReferenceIndex::DirId d);
  void OnChunk(Array* a, uint64_t linear, bool overlapping);
  // The group (parent directory) of array `a`.
  ReferenceIndex::DirId GroupOf(const Array& a) const;
  // The chunks at linear indices `want` as prefetch targets, stopping at
  // max_bytes of chunk data; chunks not stored or inline are skipped.
  std::vector<PrefetchTarget> ChunkTargets(const Array& a, const std::vector<uint64_t>& want) const;
  void OnSequential(ReferenceIndex::FileId f, uint64_t offset, uint64_t size);

  const ReferenceIndex* index_;
  ReadThroughCache* cache_;
  const PrefetchOptions options_;

  std::mutex arrays_mu_;  // guards arrays_; never held while reading metadata
  std::unordered_map<ReferenceIndex::DirId, std::shared_ptr<Array>> arrays_;

  // Per group, the latest walk of one of its arrays.
  struct GroupWalk {
    const Array* array = nullptr;
    ChunkWalk::Walk walk;
    std::chrono::steady_clock::time_point when;
  };
  std::mutex groups_mu_;  // guards group_walks_; a leaf lock
  std::unordered_map<ReferenceIndex::DirId, GroupWalk> group_walks_;

  static constexpr size_t kStreams = 64;
  std::mutex streams_mu_;  // guards streams_; a leaf lock
  FileStream streams_[kStreams];
};

}  // namespace zm
