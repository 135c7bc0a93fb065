// Lazy chunk runs: the chunks of an array whose references are looked up
// when used instead of being held in memory (kerchunk's Parquet layout,
// refs/lazy_parquet.h). A ReferenceIndex holds one resolver for all its
// runs (see ReferenceIndex::AddLazyRun and Resolve).
//
// Thread-safety: a resolver's methods are called concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/slices.h"
#include "base/status.h"

namespace zm {

// What one lazy chunk is.
struct LazyTarget {
  enum class Kind { kMissing, kInline, kRange, kWhole };
  Kind kind = Kind::kMissing;
  // kRange and kWhole: the object's URL, valid as long as the resolver.
  const std::string* url = nullptr;
  uint64_t offset = 0;  // kRange
  uint64_t size = 0;    // kRange
  // kInline: the bytes, owned here (not by a record that may be evicted).
  SharedBuffer inline_bytes;
};

class LazyChunkResolver {
 public:
  virtual ~LazyChunkResolver() = default;

  // The chunk at C-order position `flat` of run `run`'s grid (run numbers
  // are those the index gave, in the order runs were added). An error is
  // that chunk's (a record that cannot be read or decoded), one line naming
  // where. REQUIRES: flat < the run's chunk count.
  virtual Result<LazyTarget> Resolve(uint32_t run, uint64_t flat) const = 0;

  // The first position >= `from` and < `end` whose chunk exists (is not
  // kMissing), or nullopt. A record that cannot be read or decoded counts
  // as its first chunk only (whose Resolve reports the error). Looks at one
  // record at a time.
  virtual std::optional<uint64_t> NextPresent(uint32_t run, uint64_t from, uint64_t end) const = 0;

  // Heap bytes held now (decoded records and interned URLs).
  virtual size_t MemoryUsage() const = 0;
  // Distinct URLs met so far.
  virtual size_t url_count() const = 0;
};

}  // namespace zm
