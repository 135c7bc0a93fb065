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
