// BlockTiers: the block stores of one cache, nearest first (memory, then
// disk, then the shared tier other hosts fill too), looked up and filled as
// one. BlockSpan: one origin request and the
// blocks it is cut into.
//
// Thread-safety: as the stores (safe for concurrent use).
#pragma once

#include <functional>
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
  // hit into memory and offered to the disk (BlockStore::Offer: never waits
  // for its writer), not back into the shared tier.
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
        if (disk) disk->Offer(key, b);
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
    const BlockTiers local{memory, disk, nullptr};
    for (size_t i = 0; i < keys.size(); ++i) out[i] = local.Get(keys[i], &hit[i]);
    FillFromShared(keys, out, hit);
    if (hits) *hits = std::move(hit);
    return out;
  }

  // Asks the shared tier, in one GetMany, for the keys whose block `out`
  // lacks (and that `ask`, when given, accepts by index); a block found
  // goes into `out`, its hit is kShared, and it is kept in the local tiers.
  void FillFromShared(const std::vector<BlockKey>& keys, std::vector<Block>& out, std::vector<Hit>& hits,
                      const std::function<bool(size_t)>& ask = nullptr) const {
    if (!shared) return;
    std::vector<size_t> wanted;
    std::vector<BlockKey> wanted_keys;
    for (size_t i = 0; i < keys.size(); ++i)
      if (!out[i] && (!ask || ask(i))) {
        wanted.push_back(i);
        wanted_keys.push_back(keys[i]);
      }
    if (wanted.empty()) return;
    std::vector<Block> got = shared->GetMany(wanted_keys);
    for (size_t j = 0; j < wanted.size() && j < got.size(); ++j) {
      if (!got[j]) continue;
      const size_t i = wanted[j];
      out[i] = std::move(got[j]);
      hits[i] = Hit::kShared;
      if (memory) memory->Put(keys[i], out[i]);
      if (disk) disk->Offer(keys[i], out[i]);
    }
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
