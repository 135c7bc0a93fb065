// ReadThroughCache: reads byte ranges of referenced regions through the
// block tiers (memory, then disk, then shared) and fills them from the
// origin.
//
// A region is what one reference points at: bytes [offset, offset+length)
// of the object at a URL. Blocks are cut from the start of the region
// (block i is region bytes [i*B, (i+1)*B)), so a chunk smaller than B is one
// block and its reads never fetch a neighbour's bytes. Missing blocks that
// are adjacent are fetched in one request; a region no larger than
// `whole_fetch_limit` is fetched whole on its first miss, because readers of
// Zarr chunks read whole chunks.
//
// Single flight: a block being fetched is fetched once; other readers of it
// wait for that request instead of sending their own. The shared tier is
// part of the fetch: the reader that claims a missing block asks the shared
// tier for it, then the origin, so concurrent readers ask each at most once.
//
// The cache is three parts: this read-through core (block geometry, the
// tiers, single flight, failure memory), ObjectRecords (each object's size
// and version, cache/object_records.h) and PrefetchQueue (background
// fetches, cache/prefetch_queue.h).
//
// Prefetch: Prefetch() fetches regions in the background on its own threads,
// so demand reads never queue behind it (they only wait for a prefetch that
// is already carrying the bytes they need). Neighbouring prefetch ranges of
// the same object are coalesced into one request when the gap between them
// is at most `coalesce_gap`, up to `coalesce_max` bytes per request. At most
// `prefetch_threads` prefetch requests are under way at a time. Bytes of
// prefetches queued or in flight are bounded by `prefetch_budget`; what does
// not fit is dropped, never waited for.
//
// Thread-safety: safe for concurrent use.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "base/units.h"
#include "cache/block_store.h"
#include "cache/block_tiers.h"
#include "cache/cache_stats.h"
#include "cache/object_records.h"
#include "cache/prefetch_queue.h"
#include "io/origin.h"

namespace zm {

struct ReadThroughOptions {
  uint64_t block_size = 1_MiB;
  uint64_t whole_fetch_limit = 8_MiB;
  uint64_t coalesce_gap = 64_KiB;
  uint64_t coalesce_max = 16_MiB;
  int prefetch_threads = 32;
  uint64_t prefetch_budget = 256_MiB;
  // A block whose fetch failed fails again at once for this long, instead
  // of starting a new fetch: the kernel re-reads a page whose readahead
  // failed, and readers that waited for the failed fetch would otherwise
  // each start one too, so one bad chunk would cost several deadlines.
  int failure_memory_ms = 2000;
  // Ask the origin once per object (per ReadThroughCache) for the object's
  // version (Origin::Stat) before serving its cached blocks. Blocks are kept
  // under keys that include the version, so blocks of an object that has
  // changed since they were cached are never served. Off, the version last
  // seen is trusted (as an offline mount must).
  bool validate = false;
  // Also put blocks found in memory or on disk into the shared tier (in
  // the background), so a run over cached data fills the shared tier for
  // other hosts (`zarrmount warm --shared-cache`).
  bool share_local_hits = false;
};

class ReadThroughCache final : private PrefetchQueue::Filler {
 public:
  // `memory`, `disk` and `shared` may be null (no such tier). None are owned.
  ReadThroughCache(Origin* origin, BlockStore* memory, BlockStore* disk,
                   const ReadThroughOptions& options, BlockStore* shared = nullptr);
  // Waits for running prefetches; queued ones are released unsent.
  ~ReadThroughCache();

  // Returns bytes [pos, pos + len) of `region` of the object at `url`,
  // clipped to the region's end (empty at or past it).
  Result<std::string> Read(const std::string& url, ByteRange region, uint64_t pos, uint64_t len);

  // The same bytes without copying them: the blocks holding them and the
  // pieces of those blocks, in order. The blocks stay valid as long as the
  // result lives.
  using Slices = zm::Slices;
  Result<Slices> ReadSlices(const std::string& url, ByteRange region, uint64_t pos, uint64_t len);

  // Fetches the targets in the background (see the file comment).
  void Prefetch(std::vector<PrefetchTarget> targets);

  // Drops the blocks of `region` of the object at `url` from the memory
  // tier (not from the disk or shared tiers): a hint from a reader that is
  // done with them, such as a scan done with a file, so that the tier holds
  // what will be read. Readers holding the blocks keep them; a prefetch of
  // them still queued does not fetch them again; a later read does.
  void DropFromMemory(const std::string& url, ByteRange region);

  // The size of the object at `url`: from a cache tier when known, else
  // from the origin (and then remembered in the tiers). Sizes are cached
  // like blocks, so a mount whose blocks are all cached needs no origin.
  // When validating, the origin is asked once per object (see Object).
  Result<uint64_t> Size(const std::string& url);

  // Object, for a reader about to read the object from its start (a scan):
  // when the origin must be asked, the object's first block comes with
  // the answer, in one request (Origin::ReadHead), and is kept as Read
  // would keep it, as block 0 of the region {0, size}.
  Result<Origin::ObjectInfo> ObjectForReading(const std::string& url);

  // The object's size and version as this cache uses them: when validating,
  // the origin's answer (asked once, then remembered); otherwise the last
  // one recorded in the tiers, else the origin's. A changed version is
  // recorded and logged. If the origin cannot be asked (it is unreachable)
  // the last recorded answer is used.
  Result<Origin::ObjectInfo> Object(const std::string& url);

  // Blocks until no prefetch is queued or running (for tests and shutdown).
  void WaitForPrefetches();

  const CacheStats& stats() const { return stats_; }
  const ReadThroughOptions& options() const { return options_; }

 private:
  struct Flight;
  // The blocks of one region of one object version.
  struct RegionBlocks;
  using Span = BlockSpan;

  // The memory and disk tiers, without the shared one.
  BlockTiers LocalTiers() const { return BlockTiers{tiers_.memory, tiers_.disk, nullptr}; }
  // Counts a lookup's hit (`b` null: none) in the stats.
  void CountHit(const BlockKey& key, const Block& b, BlockTiers::Hit hit);
  // Claims, fetches and collects the blocks of [first, last] missing from
  // `blocks` (blocks[i - first] is block i), sharing flights under way.
  Status FillMissing(const RegionBlocks& rb, uint64_t first, uint64_t last, std::vector<Block>& blocks);
  // Of the blocks `flight` claimed (`claimed`, ascending), takes those a
  // tier holds (the shared tier for all; the local ones for those outside
  // [first, last], which the reader has not looked for) into the flight
  // and releases their claim; leaves in `claimed` the ones to fetch.
  void TakeFromTiers(const RegionBlocks& rb, uint64_t first, uint64_t last,
                     const std::shared_ptr<Flight>& flight, std::vector<uint64_t>& claimed);
  // Fetches `span` for `flight`, stores its blocks, releases the flight.
  Status Fetch(const std::string& url, const Span& span, const std::shared_ptr<Flight>& flight);
  // Asks the origin for the object's size and version with its first
  // block (ObjectRecords' asker for ObjectForReading), which it stores.
  Result<Origin::ObjectInfo> AskWithFirstBlock(const std::string& url);
  // The error a block's last fetch failed with, if that was recent.
  Status RecentFailure(const BlockKey& key);

  // PrefetchQueue::Filler
  void AppendUncached(const std::vector<PrefetchTarget>& targets,
                      std::vector<std::vector<PrefetchQueue::KeyedRange>>* out) override;
  void RemoveInFlight(std::vector<PrefetchQueue::KeyedRange>* blocks) override;
  void FetchUnclaimed(const std::string& url, BlockSpan span) override;

  Origin* origin_;
  const BlockTiers tiers_;
  const ReadThroughOptions options_;
  CacheStats stats_;
  ObjectRecords records_;

  std::mutex inflight_mu_;  // guards the maps and the dropped set below; held for map work and memory-tier lookups only, never across I/O
  std::unordered_map<BlockKey, std::shared_ptr<Flight>, BlockKeyHash> inflight_;
  struct Failure {
    Status status;
    std::chrono::steady_clock::time_point until;
  };
  std::unordered_map<BlockKey, Failure, BlockKeyHash> failures_;
  // Blocks dropped from memory (DropFromMemory) and not read since: a
  // prefetch planned before the drop does not fetch them again. At most
  // kDroppedRemembered, the oldest forgotten first. Guarded by inflight_mu_.
  static constexpr size_t kDroppedRemembered = 4096;
  std::unordered_set<BlockKey, BlockKeyHash> dropped_;
  std::deque<BlockKey> dropped_order_;

  PrefetchQueue prefetch_;  // last: its tasks use everything above
};

}  // namespace zm
