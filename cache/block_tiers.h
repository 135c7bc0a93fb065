// BlockTiers: the block stores of one cache, nearest first (memory, then
// disk, then the shared tier other hosts fill too), looked up and filled as
// one. BlockSpan: one origin request and the
// blocks it is cut into.
//
// Thread-safety: as the stores (safe for concurrent use).
#pragma once

#include <utility>
#include <vector>

#include "cache/block_store.h"
#include "io/origin.h"

namespace zm {

struct BlockTiers {
  BlockStore* memory = nullptr;  // any may be null (no such tier); not owned
  BlockStore* disk = nullptr;
  BlockStore* shared = nullptr;

  enum class Hit { kNone, kMemory, kDisk, kShared };

  // The block from the nearest tier holding it, else null; `*hit` (optional)
  // says which tier that was. A disk hit is put into memory too; a shared
  // hit into memory and disk (not back into the shared tier).
  Block Get(const BlockKey& key, Hit* hit = nullptr) const {
    if (memory) {
      if (Block b = memory->Get(key)) {
        if (hit) *hit = Hit::kMemory;
        return b;
      }
    }
    if (disk) {
      if (Block b = disk->Get(key)) {
        if (hit) *hit = Hit::kDisk;
        if (memory) memory->Put(key, b);
        return b;
      }
    }
    if (shared) {
      if (Block b = shared->Get(key)) {
        if (hit) *hit = Hit::kShared;
        if (memory) memory->Put(key, b);
        if (disk) disk->Put(key, b);
        return b;
      }
    }
    if (hit) *hit = Hit::kNone;
    return nullptr;
  }

  // Get for many keys: the local tiers one by one, then what they lack from
  // the shared tier in one GetMany (a round trip per node, not per block).
  // `hits` (optional) gets each key's tier.
  std::vector<Block> GetMany(const std::vector<BlockKey>& keys, std::vector<Hit>* hits = nullptr) const {
    std::vector<Block> out(keys.size());
    std::vector<Hit> hit(keys.size(), Hit::kNone);
    std::vector<size_t> remote;  // indexes of keys no local tier holds
    for (size_t i = 0; i < keys.size(); ++i) {
      BlockTiers local{memory, disk, nullptr};
      out[i] = local.Get(keys[i], &hit[i]);
      if (!out[i] && shared) remote.push_back(i);
    }
    if (!remote.empty()) {
      std::vector<BlockKey> ask;
      ask.reserve(remote.size());
      for (size_t i : remote) ask.push_back(keys[i]);
      std::vector<Block> got = shared->GetMany(ask);
      for (size_t j = 0; j < remote.size() && j < got.size(); ++j) {
        if (!got[j]) continue;
        const size_t i = remote[j];
        out[i] = std::move(got[j]);
        hit[i] = Hit::kShared;
        if (memory) memory->Put(keys[i], out[i]);
        if (disk) disk->Put(keys[i], out[i]);
      }
    }
    if (hits) *hits = std::move(hit);
    return out;
  }

  // Stores `block` in every tier (the shared tier's Put only queues it).
  void Put(const BlockKey& key, const Block& block) const {
    if (memory) memory->Put(key, block);
    if (disk) disk->Put(key, block);
    if (shared) shared->Put(key, block);
  }
};

// One origin request: object bytes `range`, cut into `blocks` (each block's
// key and object bytes, in order of offset, inside `range`). Bytes of
// `range` between blocks are fetched and thrown away.
struct BlockSpan {
  ByteRange range;
  std::vector<std::pair<BlockKey, ByteRange>> blocks;
};

}  // namespace zm
