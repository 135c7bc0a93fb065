// DecodedChunkCache: a bounded memory cache of decoded chunks for the views,
// with single flight and decode-ahead.
//
// A .npy file or a NetCDF variable is read in pieces far smaller than a
// chunk (the kernel asks for 128 KiB - 1 MiB at a time), so without this a
// sequential read would decode each chunk many times. Decoded chunks are
// kept in an LRU bounded by their bytes; concurrent readers of one chunk
// share one load. Errors are never cached: the next read tries again (the
// read-through cache below remembers recent fetch failures briefly).
//
// Prefetch() loads chunks on background threads (decode-ahead for
// sequential readers), a ThreadPool of its own. Queued loads are bounded;
// what does not fit is dropped, never waited for.
//
// Thread-safety: safe for concurrent use. mu_ is a leaf lock, never held
// while loading (fetch or decode), while calling back, or while queueing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <mutex>
#include <unordered_map>

#include "base/status.h"
#include "base/thread_pool.h"
#include "cache/block_store.h"

namespace zm {

struct ChunkId {
  uint32_t array = 0;
  uint64_t chunk = 0;  // linear index in the array's chunk grid
  bool operator==(const ChunkId&) const = default;
};

struct DecodedChunkStats {
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> loads{0};           // fetched and decoded (demand or ahead)
  std::atomic<uint64_t> shared_waits{0};    // served by another reader's load
  std::atomic<uint64_t> prefetch_loads{0};
  std::atomic<uint64_t> prefetch_dropped{0};
  std::atomic<uint64_t> load_errors{0};
};

class DecodedChunkCache {
 public:
  using Loader = std::function<Result<Block>()>;

  // Keeps at most `capacity_bytes` of decoded chunks (a single chunk larger
  // than that is served but not kept). `prefetch_threads` 0 turns
  // Prefetch() into a no-op.
  DecodedChunkCache(uint64_t capacity_bytes, int prefetch_threads, size_t max_queued = 256);
  // Waits for running loads; queued ones are dropped.
  ~DecodedChunkCache();

  // The chunk, from memory or loaded by `load` once.
  Result<Block> Get(ChunkId id, const Loader& load);
  // True if the chunk is in memory or being loaded.
  bool Has(ChunkId id);
  // Loads the chunk in the background unless it is cached or loading.
  void Prefetch(ChunkId id, Loader load);
  // Blocks until no prefetch is queued or running (tests, shutdown).
  void WaitIdle();

  const DecodedChunkStats& stats() const { return stats_; }
  uint64_t bytes() const;

 private:
  struct IdHash {
    size_t operator()(const ChunkId& k) const {
      return std::hash<uint64_t>()(k.chunk * 0x9E3779B97F4A7C15ULL ^ k.array);
    }
  };
  struct Entry {
    Block block;
    std::list<ChunkId>::iterator lru;
  };
  void Insert(ChunkId id, Block block);  // REQUIRES: mu_ held

  const uint64_t capacity_;
  DecodedChunkStats stats_;

  mutable std::mutex mu_;  // guards the fields below; a leaf lock
  std::unordered_map<ChunkId, Entry, IdHash> entries_;
  std::list<ChunkId> lru_;  // front: most recent
  uint64_t bytes_ = 0;
  std::unordered_map<ChunkId, std::shared_future<Result<Block>>, IdHash> loading_;

  ThreadPool decode_ahead_;  // last: its tasks use everything above
};

}  // namespace zm
