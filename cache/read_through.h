// ReadThroughCache: reads byte ranges of referenced regions through the
// block tiers (memory, then disk) and fills them from the origin.
//
// A region is what one reference points at: bytes [offset, offset+length)
// of the object at a URL. Blocks are cut from the start of the region
// (block i is region bytes [i*B, (i+1)*B)), so a chunk smaller than B is one
// block and its reads never fetch a neighbour's bytes. Missing blocks that
// are adjacent are fetched in one request; a region no larger than
// `whole_fetch_limit` is fetched whole on its first miss, because readers of
// Zarr chunks read whole chunks.
//
// Thread-safety: safe for concurrent use.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "base/units.h"
#include "cache/block_store.h"
#include "cache/origin.h"

namespace zm {

struct ReadThroughOptions {
  uint64_t block_size = 1_MiB;
  uint64_t whole_fetch_limit = 8_MiB;
};

struct CacheStats {
  std::atomic<uint64_t> memory_hits{0};
  std::atomic<uint64_t> disk_hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> origin_requests{0};
  std::atomic<uint64_t> origin_bytes{0};
  std::atomic<uint64_t> origin_errors{0};
};

class ReadThroughCache {
 public:
  // `memory` and `disk` may be null (no such tier). None are owned.
  ReadThroughCache(Origin* origin, BlockStore* memory, BlockStore* disk,
                   const ReadThroughOptions& options);

  // Returns bytes [pos, pos + len) of `region` of the object at `url`,
  // clipped to the region's end (empty at or past it).
  Result<std::string> Read(const std::string& url, ByteRange region, uint64_t pos, uint64_t len);

  // The size of the object at `url`: from a cache tier when known, else
  // from the origin (and then remembered in the tiers). Sizes are cached
  // like blocks, so a mount whose blocks are all cached needs no origin.
  Result<uint64_t> Size(const std::string& url);

  const CacheStats& stats() const { return stats_; }

 private:
  Block Lookup(const BlockKey& key);

  Origin* origin_;
  BlockStore* memory_;
  BlockStore* disk_;
  const ReadThroughOptions options_;
  CacheStats stats_;
};

}  // namespace zm
