#include "cache/prefetch_queue.h"

#include <algorithm>
#include <map>

namespace zm {

PrefetchQueue::PrefetchQueue(Filler* filler, const PrefetchQueueOptions& options, CacheStats* stats)
    : filler_(filler), options_(options), stats_(stats), pool_(options.threads) {}

PrefetchQueue::~PrefetchQueue() { Shutdown(); }

void PrefetchQueue::Shutdown() { pool_.Shutdown(); }

void PrefetchQueue::WaitIdle() { pool_.WaitIdle(); }

void PrefetchQueue::Prefetch(std::vector<PrefetchTarget> targets) {
  if (targets.empty() || pool_.threads() == 0) return;
  if (pending_bytes_.load() >= options_.budget_bytes) {
    stats_->prefetch_dropped.fetch_add(targets.size(), std::memory_order_relaxed);
    return;
  }
  // Planning looks blocks up in the tiers (disk reads): do it on a queue
  // thread, not on the caller's, which is serving a read. An unsized
  // object is planned on a thread of its own: its size is a round trip,
  // and a walk's objects are asked about in parallel, not one by one.
  std::vector<PrefetchTarget> sized;
  for (PrefetchTarget& t : targets) {
    if (t.region.length == kUnknownObjectLength)
      pool_.Submit([this, one = std::move(t)] { Plan({one}); });
    else
      sized.push_back(std::move(t));
  }
  if (!sized.empty()) pool_.Submit([this, sized = std::move(sized)] { Plan(sized); });
}

void PrefetchQueue::Plan(const std::vector<PrefetchTarget>& targets) {
  std::map<std::string, std::vector<KeyedRange>> by_url;
  std::vector<std::vector<KeyedRange>> uncached(targets.size());
  filler_->AppendUncached(targets, &uncached);
  for (size_t i = 0; i < targets.size(); ++i) {
    std::vector<KeyedRange>& into = by_url[targets[i].url];
    into.insert(into.end(), uncached[i].begin(), uncached[i].end());
  }
  for (auto& [url, blocks] : by_url) {
    if (blocks.empty()) continue;
    std::sort(blocks.begin(), blocks.end(), [](const KeyedRange& a, const KeyedRange& b) {
      return a.second.offset < b.second.offset;
    });
    filler_->RemoveInFlight(&blocks);
    for (BlockSpan& span : Coalesce(blocks)) Submit(url, std::move(span));
  }
}

std::vector<BlockSpan> PrefetchQueue::Coalesce(const std::vector<KeyedRange>& blocks) {
  std::vector<BlockSpan> spans;
  for (const auto& [key, range] : blocks) {
    if (!ReserveBudget(range.length)) {
      stats_->prefetch_dropped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!spans.empty()) {
      BlockSpan& s = spans.back();
      bool near = range.offset >= s.range.end() && range.offset - s.range.end() <= options_.coalesce_gap;
      if (near && range.end() - s.range.offset <= options_.coalesce_max) {
        s.range.length = range.end() - s.range.offset;
        s.blocks.emplace_back(key, range);
        continue;
      }
    }
    spans.push_back(BlockSpan{range, {{key, range}}});
  }
  return spans;
}

// Exact under concurrent planners: the budget is never overshot.
bool PrefetchQueue::ReserveBudget(uint64_t bytes) {
  uint64_t pending = pending_bytes_.load();
  do {
    if (pending + bytes > options_.budget_bytes) return false;
  } while (!pending_bytes_.compare_exchange_weak(pending, pending + bytes));
  return true;
}

// One task per request, so the requests of one batch go out in parallel.
void PrefetchQueue::Submit(const std::string& url, BlockSpan span) {
  uint64_t planned = 0;
  for (const auto& kb : span.blocks) planned += kb.second.length;
  bool queued = pool_.Submit([this, url, span = std::move(span), planned]() mutable {
    filler_->FetchUnclaimed(url, std::move(span));
    pending_bytes_.fetch_sub(planned);
  });
  if (!queued) pending_bytes_.fetch_sub(planned);  // shutting down
}

}  // namespace zm
