// PrefetchQueue: fetches parts of regions in the background, for the cache
// that owns it, on a ThreadPool of its own, so demand reads never queue
// behind a prefetch (they only wait for one already carrying the bytes they
// need: a block is claimed only when its request goes out).
//
// A batch of targets is planned on a queue thread (planning looks blocks up
// in the tiers, which may read the disk): the blocks no tier holds and no
// request is fetching are grouped by object, and neighbouring blocks of one
// object are coalesced into one request when the gap between them is at most
// `coalesce_gap`, up to `coalesce_max` bytes per request. Each request is a
// task of its own, so the requests of one batch go out in parallel, at most
// `threads` at a time.
//
// Bytes of blocks planned and not yet fetched are bounded by
// `budget_bytes`: what does not fit is dropped (counted in
// CacheStats::prefetch_dropped), never waited for.
//
// Thread-safety: safe for concurrent use.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/thread_pool.h"
#include "base/units.h"
#include "cache/block_tiers.h"
#include "cache/cache_stats.h"
#include "io/origin.h"

namespace zm {

// Part of a region to prefetch: region bytes [pos, pos + len).
// A region of this length is the whole object, of a size not known yet:
// planning learns it first (one request, through the object records, which
// the reader that later opens the object shares).
inline constexpr uint64_t kUnknownObjectLength = ~uint64_t{0};

struct PrefetchTarget {
  std::string url;
  ByteRange region;  // {0, kUnknownObjectLength}: the whole object, unsized
  uint64_t pos = 0;
  uint64_t len = ~uint64_t{0};
};

struct PrefetchQueueOptions {
  int threads = 32;  // requests at a time, at most; 0: Prefetch does nothing
  uint64_t budget_bytes = 256_MiB;
  uint64_t coalesce_gap = 64_KiB;
  uint64_t coalesce_max = 16_MiB;
};

class PrefetchQueue {
 public:
  // A block of an object: its key and object bytes.
  using KeyedRange = std::pair<BlockKey, ByteRange>;

  // What the queue needs of the cache it fills. Called on the queue's
  // threads, concurrently.
  class Filler {
   public:
    // Fills (*out)[i] with the blocks of targets[i] that no tier holds, in
    // order (none when the target cannot be planned). All targets at once:
    // the shared tier answers a batch in a round trip per node.
    virtual void AppendUncached(const std::vector<PrefetchTarget>& targets,
                                std::vector<std::vector<KeyedRange>>* out) = 0;
    // Removes from `blocks` those some request is fetching now.
    virtual void RemoveInFlight(std::vector<KeyedRange>* blocks) = 0;
    // Claims the blocks of `span` that no request is fetching and memory
    // does not hold, and fetches them in one request; returns when done.
    virtual void FetchUnclaimed(const std::string& url, BlockSpan span) = 0;

   protected:
    ~Filler() = default;
  };

  // REQUIRES: `filler` and `stats` outlive the queue's tasks (see Shutdown).
  PrefetchQueue(Filler* filler, const PrefetchQueueOptions& options, CacheStats* stats);
  // Shutdown().
  ~PrefetchQueue();

  // Plans and fetches `targets` in the background (see the file comment).
  void Prefetch(std::vector<PrefetchTarget> targets);

  // Blocks until no prefetch is queued or running.
  void WaitIdle();

  // Drops the queued prefetches (they hold no claims) and waits for the
  // running ones. Prefetch does nothing afterwards.
  void Shutdown();

 private:
  void Plan(const std::vector<PrefetchTarget>& targets);
  // Cuts the blocks of one object (sorted by offset, none in flight) into
  // requests, reserving their bytes in the budget; drops what does not fit.
  std::vector<BlockSpan> Coalesce(const std::vector<KeyedRange>& blocks);
  bool ReserveBudget(uint64_t bytes);
  void Submit(const std::string& url, BlockSpan span);

  Filler* const filler_;
  const PrefetchQueueOptions options_;
  CacheStats* const stats_;
  std::atomic<uint64_t> pending_bytes_{0};  // planned, not yet fetched
  ThreadPool pool_;  // last: its tasks use everything above
};

}  // namespace zm
