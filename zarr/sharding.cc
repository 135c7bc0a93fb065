#include "zarr/sharding.h"

#include "codecs/checksum.h"

namespace zm {

namespace {

uint64_t LoadU64(const char* p, bool big_endian) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    const int at = big_endian ? i : 7 - i;
    v = (v << 8) | static_cast<unsigned char>(p[at]);
  }
  return v;
}

uint32_t LoadU32Le(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

uint64_t ShardingSpec::inner_count() const {
  uint64_t n = 1;
  for (uint64_t c : chunks_per_shard) n *= c;
  return n;
}

uint64_t ShardingSpec::index_bytes() const { return inner_count() * 16 + (index_crc32c ? 4 : 0); }

Result<uint64_t> ShardingSpec::IndexOffset(uint64_t shard_bytes) const {
  if (shard_bytes < index_bytes())
    return Corruption(std::to_string(shard_bytes) + " bytes, shorter than its " +
                      std::to_string(index_bytes()) + "-byte index");
  return index_at_end ? shard_bytes - index_bytes() : 0;
}

uint64_t ShardingSpec::PositionInShard(const std::vector<uint64_t>& inner_index) const {
  uint64_t pos = 0;
  for (size_t i = 0; i < chunks_per_shard.size(); ++i)
    pos = pos * chunks_per_shard[i] + inner_index[i] % chunks_per_shard[i];
  return pos;
}

std::vector<uint64_t> ShardingSpec::ShardOf(const std::vector<uint64_t>& inner_index) const {
  std::vector<uint64_t> shard(inner_index.size());
  for (size_t i = 0; i < shard.size(); ++i) shard[i] = inner_index[i] / chunks_per_shard[i];
  return shard;
}

ChunkSpec ShardingSpec::InnerSpec(const ChunkSpec& outer) const {
  ChunkSpec inner = outer;
  inner.chunk_shape = inner_chunks;
  inner.codecs = codecs;
  return inner;
}

Result<std::vector<ShardEntry>> DecodeShardIndex(const ShardingSpec& spec, std::string_view encoded,
                                                 uint64_t shard_bytes, std::string_view where) {
  const std::string at(where);
  if (encoded.size() != spec.index_bytes())
    return Corruption(at + ": index of " + std::to_string(encoded.size()) + " bytes, expected " +
                      std::to_string(spec.index_bytes()));
  const uint64_t n = spec.inner_count();
  const std::string_view pairs = encoded.substr(0, n * 16);
  if (spec.index_crc32c) {
    const uint32_t stored = LoadU32Le(encoded.data() + n * 16);
    if (Crc32c(pairs) != stored) return Corruption(at + ": index fails its crc32c checksum");
  }
  std::vector<ShardEntry> entries(n);
  for (uint64_t i = 0; i < n; ++i) {
    ShardEntry& e = entries[i];
    e.offset = LoadU64(pairs.data() + 16 * i, spec.index_big_endian);
    e.nbytes = LoadU64(pairs.data() + 16 * i + 8, spec.index_big_endian);
    if (e.empty()) continue;
    if (e.offset == ShardEntry::kEmpty || e.nbytes == ShardEntry::kEmpty)
      return Corruption(at + ": index entry " + std::to_string(i) + " is half an empty marker");
    if (e.offset > shard_bytes || e.nbytes > shard_bytes - e.offset)
      return Corruption(at + ": inner chunk " + std::to_string(i) + " at bytes [" +
                        std::to_string(e.offset) + ", +" + std::to_string(e.nbytes) +
                        ") lies past the shard's " + std::to_string(shard_bytes) + " bytes");
  }
  return entries;
}

}  // namespace zm
