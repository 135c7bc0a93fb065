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

class MemoryBlockStore : public BlockStore {
 public:
  explicit MemoryBlockStore(uint64_t capacity) {
    for (auto& s : shards_) s.capacity = capacity / kShards;
  }

  Block Get(const BlockKey& key) override {
    Shard& s = shards_[key.hi % kShards];
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return nullptr;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return it->second->data;
  }

  void Put(const BlockKey& key, Block data) override {
    Shard& s = shards_[key.hi % kShards];
    if (data->size() > s.capacity) return;
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it != s.map.end()) {
      s.used -= it->second->data->size();
      s.lru.erase(it->second);
      s.map.erase(it);
    }
    s.used += data->size();
    s.lru.push_front(Entry{key, std::move(data)});
    s.map.emplace(key, s.lru.begin());
    while (s.used > s.capacity && !s.lru.empty()) {
      Entry& victim = s.lru.back();
      s.used -= victim.data->size();
      s.map.erase(victim.key);
      s.lru.pop_back();
    }
  }

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    BlockKey key;
    Block data;
  };
  struct Shard {
    std::mutex mu;  // guards the fields below; a leaf lock
    std::list<Entry> lru;  // most recent first
    std::unordered_map<BlockKey, std::list<Entry>::iterator, BlockKeyHash> map;
    uint64_t used = 0;
    uint64_t capacity = 0;
  };
  Shard shards_[kShards];
};

}  // namespace

std::unique_ptr<BlockStore> NewMemoryBlockStore(uint64_t capacity_bytes) {
  return std::make_unique<MemoryBlockStore>(capacity_bytes);
}

}  // namespace zm
