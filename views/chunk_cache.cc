#include "views/chunk_cache.h"

namespace zm {

DecodedChunkCache::DecodedChunkCache(uint64_t capacity_bytes, int prefetch_threads,
                                     size_t max_queued)
    : capacity_(capacity_bytes), decode_ahead_(prefetch_threads, max_queued) {}

DecodedChunkCache::~DecodedChunkCache() {
  stats_.prefetch_dropped += decode_ahead_.Shutdown();
}

uint64_t DecodedChunkCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

void DecodedChunkCache::Insert(ChunkId id, Block block) {
  if (!block || block->size() > capacity_ || entries_.count(id)) return;
  lru_.push_front(id);
  bytes_ += block->size();
  entries_.emplace(id, Entry{std::move(block), lru_.begin()});
  while (bytes_ > capacity_ && !lru_.empty()) {
    auto it = entries_.find(lru_.back());
    bytes_ -= it->second.block->size();
    entries_.erase(it);
    lru_.pop_back();
  }
}

bool DecodedChunkCache::Has(ChunkId id) {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.count(id) || loading_.count(id);
}

Result<Block> DecodedChunkCache::Get(ChunkId id, const Loader& load) {
  std::promise<Result<Block>> promise;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (auto it = entries_.find(id); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      ++stats_.hits;
      return it->second.block;
    }
    if (auto it = loading_.find(id); it != loading_.end()) {
      auto f = it->second;
      lock.unlock();
      ++stats_.shared_waits;
      return f.get();
    }
    loading_.emplace(id, promise.get_future().share());
  }
  ++stats_.loads;
  Result<Block> r = load();
  if (!r.ok()) ++stats_.load_errors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.ok()) Insert(id, *r);
    loading_.erase(id);
  }
  promise.set_value(r);
  return r;
}

void DecodedChunkCache::Prefetch(ChunkId id, Loader load) {
  if (decode_ahead_.threads() == 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.count(id) || loading_.count(id)) return;
  }
  bool queued = decode_ahead_.Submit([this, id, load = std::move(load)] {
    ++stats_.prefetch_loads;
    // Through Get: a reader arriving meanwhile shares this load. A failure
    // is met again (and reported) by the read that needs the chunk.
    (void)Get(id, load);
  });
  if (!queued) ++stats_.prefetch_dropped;
}

void DecodedChunkCache::WaitIdle() { decode_ahead_.WaitIdle(); }

}  // namespace zm
