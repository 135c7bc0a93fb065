// Everything between the filesystem and the network, built from the
// options: the origin, the memory and disk tiers, and the read-through cache
// over them. The daemon and `zarrmount warm` build the same stack.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "cache/block_store.h"
#include "cache/origin.h"
#include "cache/read_through.h"
#include "fs/options.h"
#include "refs/reference_index.h"

namespace zm {

struct Stack {
  std::unique_ptr<Origin> origin;
  std::unique_ptr<BlockStore> memory;
  std::unique_ptr<PersistentBlockStore> disk;  // null: no disk cache
  std::unique_ptr<ReadThroughCache> cache;
};

// Builds the stack `opt` asks for. Without an explicit --cache-dir, a cache
// directory that cannot be opened is a warning and the stack has no disk
// tier; with one, it is an error.
Result<Stack> BuildStack(const Options& opt);

// Learns the sizes of whole-object references ([url]) of `index` with
// parallel requests (answered from the cache tiers when they can be).
Status SizeWholeObjects(ReferenceIndex* index, ReadThroughCache* cache, int threads,
                        const std::string& source);

}  // namespace zm
