// The Zarr v3 "sharding_indexed" codec: a shard (one stored object per
// outer chunk) holds many inner chunks, each encoded with the inner codecs,
// and an index of (offset, nbytes) pairs, one per inner chunk in C order of
// the shard's inner grid, at the start or the end of the shard. Offsets
// count from the shard's first byte. A pair of two 2^64-1 marks an inner
// chunk that is not stored (it reads as the fill value). The index is
// encoded by its own codecs: "bytes" (little- or big-endian uint64), then
// optionally "crc32c" (4 bytes after it), so its size is fixed.
//
// This file owns reading the index; fetching bytes is the caller's.
//
// Thread-safety: ShardingSpec is a value; the functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "codecs/pipeline.h"

namespace zm {

struct ShardingSpec {
  std::vector<uint64_t> inner_chunks;      // the inner chunk shape
  std::vector<uint64_t> chunks_per_shard;  // shard shape / inner chunk shape
  std::vector<CodecConfig> codecs;         // of each inner chunk (v3 chain)
  bool index_at_end = true;                // "index_location": "end" (default) or "start"
  bool index_big_endian = false;           // the index codecs' "bytes" endian
  bool index_crc32c = false;               // a crc32c codec follows "bytes"
  // Why the inner chunks cannot be read (a configuration that is not
  // valid, index codecs other than bytes and crc32c, codecs around
  // sharding_indexed), one line naming the codec; "" when they can.
  std::string unsupported;

  // Inner chunks per shard: the product of chunks_per_shard.
  uint64_t inner_count() const;
  // Bytes of the encoded index: 16 per inner chunk, plus 4 with crc32c.
  uint64_t index_bytes() const;
  // Where the index lies in a shard of `shard_bytes`: its first byte.
  // kCorruption when the shard is shorter than the index.
  Result<uint64_t> IndexOffset(uint64_t shard_bytes) const;
  // The C-order position within its shard of the inner chunk at grid index
  // `inner_index` (of the array's inner grid), and the grid index of that
  // shard. REQUIRES: inner_index.size() == chunks_per_shard.size().
  uint64_t PositionInShard(const std::vector<uint64_t>& inner_index) const;
  std::vector<uint64_t> ShardOf(const std::vector<uint64_t>& inner_index) const;
  // The decode spec of one inner chunk of an array whose spec is `outer`.
  ChunkSpec InnerSpec(const ChunkSpec& outer) const;
};

// One inner chunk's place in its shard.
struct ShardEntry {
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  uint64_t offset = kEmpty;
  uint64_t nbytes = kEmpty;
  bool empty() const { return offset == kEmpty && nbytes == kEmpty; }
};

// Decodes the index of a shard of `shard_bytes` from its encoded bytes
// (exactly spec.index_bytes()), checking the crc32c and that every stored
// inner chunk lies inside the shard. kCorruption naming the problem
// (checksum, an entry past the shard's end, half an empty marker) with the
// entry's position; `where` (e.g. "shard 'a/c/0/1'") starts the message.
Result<std::vector<ShardEntry>> DecodeShardIndex(const ShardingSpec& spec, std::string_view encoded,
                                                 uint64_t shard_bytes, std::string_view where);

}  // namespace zm
