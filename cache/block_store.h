// Block stores: caches of immutable byte blocks under a 128-bit key. The
// memory tier and the LMDB tier implement the same interface, so the
// read-through logic does not care which (or how many) tiers it has.
//
// Thread-safety: all implementations are safe for concurrent use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/slices.h"
#include "base/status.h"
#include "base/units.h"
#include "io/origin.h"

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

using Block = SharedBuffer;

class BlockStore {
 public:
  virtual ~BlockStore() = default;
  // The block stored under `key`, or nullptr. A block that fails its
  // integrity check is a miss, never data.
  virtual Block Get(const BlockKey& key) = 0;
  // The blocks under `keys`, in order (null where absent). A store that can
  // ask for many in one round trip overrides it; by default one Get each.
  virtual std::vector<Block> GetMany(const std::vector<BlockKey>& keys) {
    std::vector<Block> out;
    out.reserve(keys.size());
    for (const BlockKey& k : keys) out.push_back(Get(k));
    return out;
  }
  // Stores `data` under `key`, charging data->size() bytes against the
  // capacity. May evict other blocks; may drop the block (a cache is allowed
  // to forget). Never does I/O itself; a persistent store may wait briefly
  // (bounded) for its writer when it falls behind.
  virtual void Put(const BlockKey& key, Block data) = 0;
  // Put for a block another tier also holds (one found in the shared tier):
  // a store never waits for it, and drops it (counted) where a Put would
  // wait. Reading it from there again is cheaper than stalling a reader.
  virtual void Offer(const BlockKey& key, Block data) { Put(key, std::move(data)); }
  // Waits until earlier Puts are durable (as far as this store promises).
  virtual void Flush() {}
  // Forgets the block under `key`, if held: a hint that it will not be read
  // again. A store may ignore it (by default, all do but the memory tier).
  virtual void Drop(const BlockKey& key) { (void)key; }
};

// A sharded LRU bounded by `capacity_bytes` of block data.
std::unique_ptr<BlockStore> NewMemoryBlockStore(uint64_t capacity_bytes);

struct LmdbOptions {
  // The most block data the store keeps. Past 90% of it, the least recently
  // used blocks are evicted down to 80%. The file never grows beyond it (nor
  // beyond the largest capacity any process opened the store with: a store
  // never shrinks under other processes). 0: the store's present size.
  uint64_t capacity_bytes = 10_GiB;
  // Bytes of Puts queued for the writer thread before new ones are dropped.
  uint64_t max_pending_bytes = 128_MiB;
};

// A persistent block store in one directory, shared safely by several
// processes (daemons and maintenance commands) at once. Every record carries
// its key and an XXH3 checksum of its data (XXH64 in records of the first
// version, still read); a record failing either is
// deleted and reported as a miss. Puts are written by a background thread in
// batches; uses are recorded (in batches too) for the eviction order.
class PersistentBlockStore : public BlockStore {
 public:
  struct Usage {
    uint64_t capacity_bytes = 0;  // this process's bound
    uint64_t used_bytes = 0;      // disk bytes held by blocks
    uint64_t blocks = 0;
    uint64_t file_bytes = 0;      // disk space of the store's files
    int64_t oldest_use = 0;       // unix seconds of the least recent use; 0: empty
    int64_t newest_use = 0;
  };
  // Reads the store's counters (a scan of the use index when `with_ages`).
  virtual Result<Usage> GetUsage(bool with_ages) = 0;

  struct VerifyReport {
    uint64_t checked = 0;  // records read
    uint64_t bad = 0;      // records that failed their checks, now deleted
    uint64_t bytes = 0;    // data bytes checked
  };
  // Reads every record and checks it; bad ones are deleted. `progress`
  // (optional) is called now and then with (records done, records total).
  virtual Result<VerifyReport> Verify(
      const std::function<void(uint64_t, uint64_t)>& progress = nullptr) = 0;

  // Deletes every block.
  virtual Status Clear() = 0;

  // Evicts the least recently used blocks until at most `target_bytes` are
  // held, and those used before `unused_since` (unix seconds; 0: none).
  // Returns the disk bytes freed.
  virtual Result<uint64_t> Prune(uint64_t target_bytes, int64_t unused_since) = 0;

  // Blocks whose records failed their checks in Gets, and Puts dropped
  // because the writer fell behind, since the store was opened.
  virtual uint64_t corrupt_blocks() const = 0;
  virtual uint64_t dropped_puts() const = 0;
};

// Opens (creating if needed) the store in `dir`.
Result<std::unique_ptr<PersistentBlockStore>> OpenLmdbBlockStore(const std::string& dir,
                                                                 const LmdbOptions& options);

}  // namespace zm
