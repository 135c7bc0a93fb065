// Block stores: caches of immutable byte blocks under a 128-bit key. The
// memory tier and the LMDB tier implement the same interface, so the
// read-through logic does not care which (or how many) tiers it has.
//
// Thread-safety: all implementations are safe for concurrent use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/units.h"
#include "cache/origin.h"

namespace zm {

struct BlockKey {
  uint64_t hi = 0, lo = 0;
  bool operator==(const BlockKey&) const = default;
};

struct BlockKeyHash {
  size_t operator()(const BlockKey& k) const { return static_cast<size_t>(k.lo); }
};

// The key of bytes `range` of the object at `url` (XXH3-128 of both).
BlockKey MakeBlockKey(std::string_view url, ByteRange range);

using Block = std::shared_ptr<const std::string>;

class BlockStore {
 public:
  virtual ~BlockStore() = default;
  // The block stored under `key`, or nullptr. A block that fails its
  // integrity check is a miss, never data.
  virtual Block Get(const BlockKey& key) = 0;
  // Stores `data` under `key`, charging data->size() bytes against the
  // capacity. May evict other blocks; may drop the block (a cache is allowed
  // to forget). Never does I/O itself; a persistent store may wait briefly
  // (bounded) for its writer when it falls behind.
  virtual void Put(const BlockKey& key, Block data) = 0;
  // Waits until earlier Puts are durable (as far as this store promises).
  virtual void Flush() {}
};

// A sharded LRU bounded by `capacity_bytes` of block data.
std::unique_ptr<BlockStore> NewMemoryBlockStore(uint64_t capacity_bytes);

struct LmdbOptions {
  uint64_t capacity_bytes = 10_GiB;  // the LMDB map size
  // Bytes of Puts queued for the writer thread before new ones are dropped.
  uint64_t max_pending_bytes = 128_MiB;
};

// A persistent store in directory `dir` (created if missing), shared safely
// by several processes. Every record carries its key and an XXH64 checksum
// of its data; a record failing either is deleted and reported as a miss.
// Puts are written by a background thread in batches.
Result<std::unique_ptr<BlockStore>> OpenLmdbBlockStore(const std::string& dir,
                                                       const LmdbOptions& options);

}  // namespace zm
