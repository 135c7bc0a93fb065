#include "cache/read_through.h"

#include <cstring>
#include <vector>

namespace zm {

ReadThroughCache::ReadThroughCache(Origin* origin, BlockStore* memory, BlockStore* disk,
                                   const ReadThroughOptions& options)
    : origin_(origin), memory_(memory), disk_(disk), options_(options) {}

Block ReadThroughCache::Lookup(const BlockKey& key) {
  if (memory_) {
    if (Block b = memory_->Get(key)) {
      stats_.memory_hits.fetch_add(1, std::memory_order_relaxed);
      return b;
    }
  }
  if (disk_) {
    if (Block b = disk_->Get(key)) {
      stats_.disk_hits.fetch_add(1, std::memory_order_relaxed);
      if (memory_) memory_->Put(key, b);
      return b;
    }
  }
  return nullptr;
}

Result<uint64_t> ReadThroughCache::Size(const std::string& url) {
  // A range no block can have: offset 2^64-1, length 0.
  const BlockKey key = MakeBlockKey(url, ByteRange{~uint64_t{0}, 0});
  if (Block b = Lookup(key); b && b->size() == sizeof(uint64_t)) {
    uint64_t size;
    std::memcpy(&size, b->data(), sizeof size);
    return size;
  }
  stats_.origin_requests.fetch_add(1, std::memory_order_relaxed);
  auto size = origin_->Size(url);
  if (!size.ok()) {
    stats_.origin_errors.fetch_add(1, std::memory_order_relaxed);
    return size;
  }
  uint64_t v = *size;
  auto block = std::make_shared<const std::string>(reinterpret_cast<const char*>(&v), sizeof v);
  if (memory_) memory_->Put(key, block);
  if (disk_) disk_->Put(key, block);
  return size;
}

Result<std::string> ReadThroughCache::Read(const std::string& url, ByteRange region, uint64_t pos,
                                           uint64_t len) {
  if (pos >= region.length || len == 0) return std::string();
  len = std::min(len, region.length - pos);
  const uint64_t B = options_.block_size;
  const uint64_t nblocks = (region.length + B - 1) / B;
  uint64_t first = pos / B, last = (pos + len - 1) / B;
  auto block_range = [&](uint64_t i) {
    return ByteRange{region.offset + i * B, std::min(B, region.length - i * B)};
  };

  std::vector<Block> blocks(last - first + 1);
  std::vector<uint64_t> missing;
  for (uint64_t i = first; i <= last; ++i) {
    blocks[i - first] = Lookup(MakeBlockKey(url, block_range(i)));
    if (!blocks[i - first]) missing.push_back(i);
  }

  if (!missing.empty()) {
    stats_.misses.fetch_add(missing.size(), std::memory_order_relaxed);
    // Small regions are fetched whole: the reader will want the rest.
    uint64_t lo = missing.front(), hi = missing.back();
    if (region.length <= options_.whole_fetch_limit) {
      lo = 0;
      hi = nblocks - 1;
    }
    // Fetch maximal runs of blocks in [lo, hi] that are not already held.
    uint64_t i = lo;
    while (i <= hi) {
      bool have = i >= first && i <= last && blocks[i - first];
      if (have) {
        ++i;
        continue;
      }
      uint64_t j = i;
      while (j + 1 <= hi && !(j + 1 >= first && j + 1 <= last && blocks[j + 1 - first])) ++j;
      ByteRange r{region.offset + i * B, block_range(j).end() - (region.offset + i * B)};
      stats_.origin_requests.fetch_add(1, std::memory_order_relaxed);
      auto data = origin_->Read(url, r);
      if (!data.ok()) {
        stats_.origin_errors.fetch_add(1, std::memory_order_relaxed);
        // Blocks outside the requested span were only a bonus.
        bool needed = !(j < first || i > last);
        if (needed) return data.status();
        i = j + 1;
        continue;
      }
      if (data->size() != r.length)
        return Corruption(url + ": origin returned " + std::to_string(data->size()) +
                          " bytes for a " + std::to_string(r.length) + "-byte range");
      stats_.origin_bytes.fetch_add(r.length, std::memory_order_relaxed);
      for (uint64_t b = i; b <= j; ++b) {
        ByteRange br = block_range(b);
        auto block = std::make_shared<const std::string>(data->substr(br.offset - r.offset, br.length));
        BlockKey key = MakeBlockKey(url, br);
        if (memory_) memory_->Put(key, block);
        if (disk_) disk_->Put(key, block);
        if (b >= first && b <= last) blocks[b - first] = std::move(block);
      }
      i = j + 1;
    }
  }

  std::string out;
  out.reserve(len);
  for (uint64_t i = first; i <= last; ++i) {
    const std::string& b = *blocks[i - first];
    uint64_t start = i * B;  // region-relative
    uint64_t from = std::max(pos, start) - start;
    uint64_t to = std::min(pos + len, start + b.size()) - start;
    out.append(b, from, to - from);
  }
  return out;
}

}  // namespace zm
