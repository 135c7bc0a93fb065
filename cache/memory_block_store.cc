#include <atomic>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cache/block_store.h"

namespace zm {

BlockKey MakeBlockKey(std::string_view url, ByteRange range) {
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, url.data(), url.size());
  uint64_t nums[2] = {range.offset, range.length};
  XXH3_128bits_update(&state, nums, sizeof nums);
  XXH128_hash_t h = XXH3_128bits_digest(&state);
  return BlockKey{h.high64, h.low64};
}

namespace {

// Sixteen LRU shards, each with its own lock, sharing one byte budget: a
// shard may hold more than a sixteenth when the others are light, and a
// block up to the whole capacity fits.
class MemoryBlockStore : public BlockStore {
 public:
  explicit MemoryBlockStore(uint64_t capacity) : capacity_(capacity) {}

  Block Get(const BlockKey& key) override {
    Shard& s = shards_[key.hi % kShards];
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return nullptr;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return it->second->data;
  }

  void Put(const BlockKey& key, Block data) override {
    if (data->size() > capacity_) return;
    const size_t home = key.hi % kShards;
    {
      Shard& s = shards_[home];
      std::lock_guard<std::mutex> lock(s.mu);
      auto it = s.map.find(key);
      if (it != s.map.end()) {
        used_ -= it->second->data->size();
        s.lru.erase(it->second);
        s.map.erase(it);
      }
      used_ += data->size();
      s.lru.push_front(Entry{key, std::move(data)});
      s.map.emplace(key, s.lru.begin());
      // Evict here first, sparing the block just added.
      while (used_ > capacity_ && s.lru.size() > 1) EvictTail(s);
    }
    // Still over: take the least recent blocks of the other shards, one
    // shard lock at a time (never two, so no lock order is needed).
    for (size_t i = 1; i < kShards && used_ > capacity_; ++i) {
      Shard& s = shards_[(home + i) % kShards];
      std::lock_guard<std::mutex> lock(s.mu);
      while (used_ > capacity_ && !s.lru.empty()) EvictTail(s);
    }
  }

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    BlockKey key;
    Block data;
  };
  struct Shard {
    std::mutex mu;  // guards lru and map; at most one shard lock is held
    std::list<Entry> lru;  // most recent first
    std::unordered_map<BlockKey, std::list<Entry>::iterator, BlockKeyHash> map;
  };
  // REQUIRES: s.mu held.
  void EvictTail(Shard& s) {
    Entry& victim = s.lru.back();
    used_ -= victim.data->size();
    s.map.erase(victim.key);
    s.lru.pop_back();
  }

  const uint64_t capacity_;
  std::atomic<uint64_t> used_{0};
  Shard shards_[kShards];
};

}  // namespace

std::unique_ptr<BlockStore> NewMemoryBlockStore(uint64_t capacity_bytes) {
  return std::make_unique<MemoryBlockStore>(capacity_bytes);
}

}  // namespace zm
