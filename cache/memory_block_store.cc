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
// block up to the whole capacity fits. Every use stamps a block from one
// clock, so each shard's tail is its least recent block and the oldest of
// the tails is the least recent of the store: eviction takes that one,
// whatever shard it is in. (Evicting from the new block's own shard first
// would drop blocks prefetched moments ago while older ones sat in other
// shards, whenever the budget is a few blocks per shard.)
class MemoryBlockStore : public BlockStore {
 public:
  explicit MemoryBlockStore(uint64_t capacity) : capacity_(capacity) {}

  Block Get(const BlockKey& key) override {
    Shard& s = shards_[key.hi % kShards];
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return nullptr;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    it->second->stamp = clock_.fetch_add(1, std::memory_order_relaxed);
    return it->second->data;
  }

  void Put(const BlockKey& key, Block data) override {
    if (data->size() > capacity_) return;
    {
      Shard& s = shards_[key.hi % kShards];
      std::lock_guard<std::mutex> lock(s.mu);
      if (auto it = s.map.find(key); it != s.map.end()) EraseLocked(s, it);
      used_ += data->size();
      s.lru.push_front(Entry{key, std::move(data), clock_.fetch_add(1, std::memory_order_relaxed)});
      s.map.emplace(key, s.lru.begin());
    }
    while (used_ > capacity_ && EvictOldest()) {
    }
  }

  void Drop(const BlockKey& key) override {
    Shard& s = shards_[key.hi % kShards];
    std::lock_guard<std::mutex> lock(s.mu);
    if (auto it = s.map.find(key); it != s.map.end()) EraseLocked(s, it);
  }

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    BlockKey key;
    Block data;
    uint64_t stamp;  // clock_ at its last use; stamps fall towards the tail
  };
  struct Shard {
    std::mutex mu;  // guards lru and map; at most one shard lock is held
    std::list<Entry> lru;  // most recent first
    std::unordered_map<BlockKey, std::list<Entry>::iterator, BlockKeyHash> map;
  };

  // Removes the entry `it` of shard `s`, whose lock the caller holds.
  void EraseLocked(Shard& s, std::unordered_map<BlockKey, std::list<Entry>::iterator, BlockKeyHash>::iterator it) {
    used_ -= it->second->data->size();
    s.lru.erase(it->second);
    s.map.erase(it);
  }

  // Evicts the least recent block of the store: finds the oldest tail, one
  // shard lock at a time (never two, so no lock order is needed), then
  // takes it if it is still that shard's tail. False if the store is empty.
  bool EvictOldest() {
    size_t victim = kShards;
    uint64_t oldest = 0;
    for (size_t i = 0; i < kShards; ++i) {
      std::lock_guard<std::mutex> lock(shards_[i].mu);
      if (!shards_[i].lru.empty() && (victim == kShards || shards_[i].lru.back().stamp < oldest)) {
        victim = i;
        oldest = shards_[i].lru.back().stamp;
      }
    }
    if (victim == kShards) return false;
    Shard& s = shards_[victim];
    std::lock_guard<std::mutex> lock(s.mu);
    // Used or replaced meanwhile: the next pass looks again.
    if (!s.lru.empty() && s.lru.back().stamp == oldest && used_ > capacity_) {
      Entry& tail = s.lru.back();
      used_ -= tail.data->size();
      s.map.erase(tail.key);
      s.lru.pop_back();
    }
    return true;
  }

  const uint64_t capacity_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> clock_{0};
  Shard shards_[kShards];
};

}  // namespace

std::unique_ptr<BlockStore> NewMemoryBlockStore(uint64_t capacity_bytes) {
  return std::make_unique<MemoryBlockStore>(capacity_bytes);
}

}  // namespace zm
