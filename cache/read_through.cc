#include "cache/read_through.h"

#include <algorithm>
#include <condition_variable>

#include "base/log.h"

namespace zm {
namespace {

// Blocks of an object are kept under keys that include its version, so a
// changed object's old blocks are never found.
BlockKey KeyOf(const std::string& url, const std::string& version, ByteRange range) {
  if (version.empty()) return MakeBlockKey(url, range);
  return MakeBlockKey(url + '\n' + version, range);
}

PrefetchQueueOptions PrefetchQueueOptionsOf(const ReadThroughOptions& o) {
  PrefetchQueueOptions q;
  q.threads = o.prefetch_threads;
  q.budget_bytes = o.prefetch_budget;
  q.coalesce_gap = o.coalesce_gap;
  q.coalesce_max = o.coalesce_max;
  return q;
}

}  // namespace

// The result of one origin request, shared by everyone who waits for any of
// its blocks.
struct ReadThroughCache::Flight {
  std::mutex mu;  // guards the fields below
  std::condition_variable cv;
  bool done = false;
  Status status;
  std::unordered_map<BlockKey, Block, BlockKeyHash> blocks;

  // Waits for the flight; returns the block or the flight's error.
  Result<Block> Wait(const BlockKey& key) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return done; });
    auto it = blocks.find(key);
    if (it != blocks.end()) return it->second;
    if (!status.ok()) return status;
    return IoError("block missing from a completed request");
  }

  // Releases the waiters: every request of the flight has ended.
  void Complete() {
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_all();
  }
};

// Block i of a region is region bytes [i*B, (i+1)*B), kept under the key of
// the object's version.
struct ReadThroughCache::RegionBlocks {
  const std::string& url;
  const std::string& version;
  ByteRange region;
  uint64_t block_size;

  uint64_t count() const { return (region.length + block_size - 1) / block_size; }
  ByteRange range(uint64_t i) const {
    return ByteRange{region.offset + i * block_size, std::min(block_size, region.length - i * block_size)};
  }
  BlockKey key(uint64_t i) const { return KeyOf(url, version, range(i)); }
};

ReadThroughCache::ReadThroughCache(Origin* origin, BlockStore* memory, BlockStore* disk,
                                   const ReadThroughOptions& options, BlockStore* shared)
    : origin_(origin),
      tiers_{memory, disk, shared},
      options_(options),
      records_(origin, tiers_, options.validate, &stats_),
      prefetch_(this, PrefetchQueueOptionsOf(options), &stats_) {}

ReadThroughCache::~ReadThroughCache() {
  // Before anything else goes: running prefetches call back into this.
  prefetch_.Shutdown();
}

void ReadThroughCache::CountHit(const BlockKey& key, const Block& b, BlockTiers::Hit hit) {
  if (hit == BlockTiers::Hit::kMemory) {
    stats_.memory_hits.fetch_add(1, std::memory_order_relaxed);
    stats_.memory_hit_bytes.fetch_add(b->size(), std::memory_order_relaxed);
  } else if (hit == BlockTiers::Hit::kDisk) {
    stats_.disk_hits.fetch_add(1, std::memory_order_relaxed);
    stats_.disk_hit_bytes.fetch_add(b->size(), std::memory_order_relaxed);
  } else if (hit == BlockTiers::Hit::kShared) {
    stats_.shared_hits.fetch_add(1, std::memory_order_relaxed);
    stats_.shared_hit_bytes.fetch_add(b->size(), std::memory_order_relaxed);
  }
  if (options_.share_local_hits && tiers_.shared && (hit == BlockTiers::Hit::kMemory || hit == BlockTiers::Hit::kDisk))
    tiers_.shared->Put(key, b);
}

Status ReadThroughCache::Fetch(const std::string& url, const Span& span,
                               const std::shared_ptr<Flight>& flight) {
  stats_.origin_requests.fetch_add(1, std::memory_order_relaxed);
  // The origin cuts the response into the blocks as it arrives: no copy.
  // A coalesced span may have gaps between its blocks; they get pieces of
  // their own, thrown away.
  std::vector<uint64_t> lengths;
  std::vector<size_t> piece_of;  // block i is piece piece_of[i]
  lengths.reserve(span.blocks.size());
  uint64_t at = span.range.offset;
  for (const auto& kb : span.blocks) {
    if (kb.second.offset > at) lengths.push_back(kb.second.offset - at);
    piece_of.push_back(lengths.size());
    lengths.push_back(kb.second.length);
    at = kb.second.end();
  }
  if (at < span.range.end()) lengths.push_back(span.range.end() - at);
  stats_.origin_in_flight.fetch_add(1, std::memory_order_relaxed);
  const auto sent = std::chrono::steady_clock::now();
  auto data = origin_->ReadPieces(url, span.range, lengths);
  const auto took = std::chrono::steady_clock::now() - sent;
  stats_.origin_in_flight.fetch_sub(1, std::memory_order_relaxed);
  Status status = data.status();
  if (status.ok()) {
    // Origins promise the exact shape; a broken promise is never cached.
    bool shaped = data->size() == lengths.size();
    for (size_t i = 0; shaped && i < lengths.size(); ++i) shaped = (*data)[i].size() == lengths[i];
    if (!shaped) status = Corruption(url + ": origin returned pieces of the wrong sizes");
  }
  stats_.origin_latency.Record(url, status.ok(), took);
  std::vector<std::pair<BlockKey, Block>> made;
  if (status.ok()) {
    stats_.origin_bytes.fetch_add(span.range.length, std::memory_order_relaxed);
    made.reserve(span.blocks.size());
    for (size_t i = 0; i < span.blocks.size(); ++i) {
      const BlockKey& key = span.blocks[i].first;
      auto block = std::make_shared<const std::string>(std::move((*data)[piece_of[i]]));
      // Into the tiers before the flight is released: a reader that no
      // longer finds the flight finds the block.
      tiers_.Put(key, block);
      made.emplace_back(key, std::move(block));
    }
  } else {
    stats_.origin_errors.fetch_add(1, std::memory_order_relaxed);
  }
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    for (const auto& kb : span.blocks) {
      auto it = inflight_.find(kb.first);
      if (it != inflight_.end() && it->second == flight) inflight_.erase(it);
    }
    if (!status.ok() && options_.failure_memory_ms > 0) {
      auto now = std::chrono::steady_clock::now();
      if (failures_.size() > 4096)  // bounded: forget what has expired
        std::erase_if(failures_, [&](const auto& kv) { return kv.second.until <= now; });
      auto until = now + std::chrono::milliseconds(options_.failure_memory_ms);
      for (const auto& kb : span.blocks) failures_.insert_or_assign(kb.first, Failure{status, until});
    }
  }
  {
    std::lock_guard<std::mutex> lock(flight->mu);
    for (auto& kb : made) flight->blocks.insert(std::move(kb));
    if (!status.ok() && flight->status.ok()) flight->status = status;
  }
  return status;
}

Status ReadThroughCache::RecentFailure(const BlockKey& key) {
  std::lock_guard<std::mutex> lock(inflight_mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return Status::Ok();
  if (it->second.until <= std::chrono::steady_clock::now()) {
    failures_.erase(it);
    return Status::Ok();
  }
  return it->second.status;
}

Result<std::string> ReadThroughCache::Read(const std::string& url, ByteRange region, uint64_t pos,
                                           uint64_t len) {
  ZM_ASSIGN_OR_RETURN(Slices slices, ReadSlices(url, region, pos, len));
  return slices.ToString();
}

Result<ReadThroughCache::Slices> ReadThroughCache::ReadSlices(const std::string& url,
                                                              ByteRange region, uint64_t pos,
                                                              uint64_t len) {
  if (pos >= region.length || len == 0) return Slices{};
  len = std::min(len, region.length - pos);
  const uint64_t B = options_.block_size;
  const uint64_t first = pos / B, last = (pos + len - 1) / B;
  ZM_ASSIGN_OR_RETURN(const std::string version, records_.Version(url));
  const RegionBlocks rb{url, version, region, B};

  std::vector<BlockKey> keys;
  keys.reserve(last - first + 1);
  for (uint64_t i = first; i <= last; ++i) keys.push_back(rb.key(i));
  // The local tiers only: the shared tier is asked by whoever claims the
  // missing blocks (FillMissing), so concurrent readers of one block ask it
  // once.
  std::vector<BlockTiers::Hit> hits;
  std::vector<Block> blocks = LocalTiers().GetMany(keys, &hits);
  bool any_missing = false;
  for (size_t k = 0; k < keys.size(); ++k) {
    CountHit(keys[k], blocks[k], hits[k]);
    if (!blocks[k]) any_missing = true;
  }
  if (any_missing) ZM_RETURN_IF_ERROR(FillMissing(rb, first, last, blocks));

  Slices out;
  for (uint64_t i = first; i <= last; ++i) {
    const std::string& b = *blocks[i - first];
    uint64_t start = i * B;  // region-relative
    uint64_t from = std::max(pos, start) - start;
    uint64_t to = std::min(pos + len, start + b.size()) - start;
    out.pieces.emplace_back(std::string_view(b).substr(from, to - from));
  }
  out.buffers = std::move(blocks);
  return out;
}

void ReadThroughCache::DropFromMemory(const std::string& url, ByteRange region) {
  if (!tiers_.memory) return;
  auto version = records_.Version(url);
  if (!version.ok()) return;  // nothing of it was read
  const RegionBlocks rb{url, *version, region, options_.block_size};
  std::lock_guard<std::mutex> lock(inflight_mu_);
  for (uint64_t i = 0; i < rb.count(); ++i) {
    const BlockKey key = rb.key(i);
    tiers_.memory->Drop(key);
    if (!dropped_.insert(key).second) continue;
    dropped_order_.push_back(key);
    if (dropped_order_.size() > kDroppedRemembered) {
      dropped_.erase(dropped_order_.front());
      dropped_order_.pop_front();
    }
  }
}

Status ReadThroughCache::FillMissing(const RegionBlocks& rb, uint64_t first, uint64_t last,
                                     std::vector<Block>& blocks) {
  // Which blocks to fetch: the missing ones; for a small region, all of it
  // (the reader will want the rest of the chunk).
  uint64_t lo = first, hi = last;
  if (rb.region.length <= options_.whole_fetch_limit) {
    lo = 0;
    hi = rb.count() - 1;
  }
  for (uint64_t i = first; i <= last; ++i)
    if (!blocks[i - first]) ZM_RETURN_IF_ERROR(RecentFailure(rb.key(i)));
  auto mine = std::make_shared<Flight>();
  std::vector<std::pair<uint64_t, std::shared_ptr<Flight>>> others;  // block, flight
  std::vector<uint64_t> claimed;
  std::vector<uint64_t> landed;  // wanted blocks a fetch put in memory since the lookup
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    for (uint64_t i = lo; i <= hi; ++i) {
      bool wanted = i >= first && i <= last;
      if (wanted && blocks[i - first]) continue;
      BlockKey key = rb.key(i);
      auto it = inflight_.find(key);
      if (it != inflight_.end()) {
        if (wanted) others.emplace_back(i, it->second);
        continue;
      }
      // A fetch may have finished between the lookup and this lock: its
      // block is in memory before its flight is released, so look again
      // rather than fetch it twice.
      if (wanted && tiers_.memory) {
        if (Block b = tiers_.memory->Get(key)) {
          blocks[i - first] = std::move(b);
          landed.push_back(i);
          continue;
        }
      }
      inflight_.emplace(key, mine);
      claimed.push_back(i);
      dropped_.erase(key);  // read again: prefetches may fetch it (its order entry expires)
    }
  }
  for (uint64_t i : landed) CountHit(rb.key(i), blocks[i - first], BlockTiers::Hit::kMemory);
  TakeFromTiers(rb, first, last, mine, claimed);
  stats_.misses.fetch_add(claimed.size(), std::memory_order_relaxed);
  // Fetch each run of adjacent claimed blocks with one request.
  Status first_error;
  for (size_t a = 0; a < claimed.size();) {
    size_t b = a;
    while (b + 1 < claimed.size() && claimed[b + 1] == claimed[b] + 1) ++b;
    Span span;
    span.range = ByteRange{rb.range(claimed[a]).offset,
                           rb.range(claimed[b]).end() - rb.range(claimed[a]).offset};
    for (size_t k = a; k <= b; ++k) span.blocks.emplace_back(rb.key(claimed[k]), rb.range(claimed[k]));
    Status st = Fetch(rb.url, span, mine);
    // Blocks outside the requested span were only a bonus.
    bool needed = !(claimed[b] < first || claimed[a] > last);
    if (!st.ok() && needed && first_error.ok()) first_error = st;
    a = b + 1;
  }
  mine->Complete();
  if (!first_error.ok()) return first_error;
  {
    std::lock_guard<std::mutex> lock(mine->mu);
    for (uint64_t i = first; i <= last; ++i)
      if (!blocks[i - first]) {
        auto it = mine->blocks.find(rb.key(i));
        if (it != mine->blocks.end()) blocks[i - first] = it->second;
      }
  }
  for (auto& [i, flight] : others) {
    stats_.inflight_waits.fetch_add(1, std::memory_order_relaxed);
    // The fetch we joined had its retries and its deadline: its failure
    // is ours, not a reason to start over.
    ZM_ASSIGN_OR_RETURN(blocks[i - first], flight->Wait(rb.key(i)));
  }
  return Status::Ok();
}

void ReadThroughCache::TakeFromTiers(const RegionBlocks& rb, uint64_t first, uint64_t last,
                                     const std::shared_ptr<Flight>& flight, std::vector<uint64_t>& claimed) {
  std::vector<BlockKey> keys;
  keys.reserve(claimed.size());
  for (uint64_t i : claimed) keys.push_back(rb.key(i));
  // The wanted blocks were just missed in the local tiers; the bonus ones
  // (the rest of a small region) were never looked for.
  std::vector<Block> found(keys.size());
  std::vector<BlockTiers::Hit> hits(keys.size(), BlockTiers::Hit::kNone);
  for (size_t k = 0; k < keys.size(); ++k)
    if (claimed[k] < first || claimed[k] > last) found[k] = LocalTiers().Get(keys[k], &hits[k]);
  tiers_.FillFromShared(keys, found, hits);
  // Found blocks leave the claim as fetched ones do: in the tiers before the
  // flight lets go of them, into the flight for its waiters.
  std::vector<uint64_t> rest;
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    for (size_t k = 0; k < keys.size(); ++k) {
      if (!found[k]) {
        rest.push_back(claimed[k]);
        continue;
      }
      auto it = inflight_.find(keys[k]);
      if (it != inflight_.end() && it->second == flight) inflight_.erase(it);
    }
  }
  {
    std::lock_guard<std::mutex> lock(flight->mu);
    for (size_t k = 0; k < keys.size(); ++k)
      if (found[k]) flight->blocks.emplace(keys[k], found[k]);
  }
  for (size_t k = 0; k < keys.size(); ++k)
    if (found[k]) CountHit(keys[k], found[k], hits[k]);
  claimed = std::move(rest);
}

void ReadThroughCache::Prefetch(std::vector<PrefetchTarget> targets) {
  prefetch_.Prefetch(std::move(targets));
}

void ReadThroughCache::WaitForPrefetches() { prefetch_.WaitIdle(); }

// The blocks of every target are looked up together, in slices of
// kLookupSlice: the shared tier answers a slice in a round trip per node,
// and each slice's hits land in memory (where readers find them) before the
// next slice is asked for.
void ReadThroughCache::AppendUncached(const std::vector<PrefetchTarget>& targets,
                                      std::vector<std::vector<PrefetchQueue::KeyedRange>>* out) {
  constexpr size_t kLookupSlice = 16;
  struct Wanted {
    size_t target;
    BlockKey key;
    ByteRange range;
  };
  std::vector<Wanted> wanted;
  const uint64_t B = options_.block_size;
  for (size_t n = 0; n < targets.size(); ++n) {
    PrefetchTarget t = targets[n];
    if (t.region.length == kUnknownObjectLength) {
      // Wanting its start, the first block comes with the size: a
      // prefetched block like the others.
      bool fetched_first = false;
      const ObjectRecords::Asker with_first_block = [&] {
        fetched_first = true;
        return AskWithFirstBlock(t.url);
      };
      auto info = t.pos < B ? records_.Object(t.url, with_first_block) : records_.Object(t.url);
      if (!info.ok()) continue;  // not there (a missing chunk) or unreachable: nothing to fetch
      if (fetched_first) {
        stats_.prefetch_requests.fetch_add(1, std::memory_order_relaxed);
        stats_.prefetch_bytes.fetch_add(std::min(B, info->size), std::memory_order_relaxed);
      }
      t.region = ByteRange{0, info->size};
    }
    if (t.pos >= t.region.length) continue;
    auto version = records_.Version(t.url);
    if (!version.ok()) continue;  // a prefetch that cannot be planned is dropped
    const RegionBlocks rb{t.url, *version, t.region, B};
    uint64_t end = t.len > t.region.length - t.pos ? t.region.length : t.pos + t.len;
    for (uint64_t i = t.pos / B; i * B < end; ++i) wanted.push_back({n, rb.key(i), rb.range(i)});
  }
  for (size_t at = 0; at < wanted.size(); at += kLookupSlice) {
    const size_t stop = std::min(wanted.size(), at + kLookupSlice);
    std::vector<BlockKey> keys;
    for (size_t k = at; k < stop; ++k) keys.push_back(wanted[k].key);
    std::vector<BlockTiers::Hit> hits;
    std::vector<Block> found = LocalTiers().GetMany(keys, &hits);
    // Blocks being fetched are someone else's to find (in the shared tier
    // too): asking for them again would fetch them twice.
    std::vector<bool> in_flight(keys.size());
    {
      std::lock_guard<std::mutex> lock(inflight_mu_);
      for (size_t k = 0; k < keys.size(); ++k) in_flight[k] = !found[k] && inflight_.count(keys[k]) > 0;
    }
    tiers_.FillFromShared(keys, found, hits, [&](size_t k) { return !in_flight[k]; });
    for (size_t k = at; k < stop; ++k) {
      CountHit(wanted[k].key, found[k - at], hits[k - at]);
      // A disk or shared hit is promoted to memory: prefetched.
      if (!found[k - at]) (*out)[wanted[k].target].emplace_back(wanted[k].key, wanted[k].range);
    }
  }
}

void ReadThroughCache::RemoveInFlight(std::vector<PrefetchQueue::KeyedRange>* blocks) {
  std::lock_guard<std::mutex> lock(inflight_mu_);
  std::erase_if(*blocks, [this](const PrefetchQueue::KeyedRange& kb) { return inflight_.count(kb.first) > 0; });
}

// Blocks are claimed only now that the request is about to go out, so a
// demand read never waits for a prefetch that is merely queued: until this
// point it fetches the block itself.
void ReadThroughCache::FetchUnclaimed(const std::string& url, BlockSpan span) {
  auto flight = std::make_shared<Flight>();
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    std::vector<std::pair<BlockKey, ByteRange>> mine;
    for (const auto& kb : span.blocks) {
      if (inflight_.count(kb.first)) continue;
      if (tiers_.memory && tiers_.memory->Get(kb.first)) continue;  // a demand read got there first
      if (dropped_.count(kb.first)) continue;  // read and dropped since it was planned
      inflight_.emplace(kb.first, flight);
      mine.push_back(kb);
    }
    span.blocks = std::move(mine);
  }
  if (!span.blocks.empty()) {
    uint64_t lo = span.blocks.front().second.offset, hi = span.blocks.back().second.end();
    span.range = ByteRange{lo, hi - lo};
    stats_.prefetch_requests.fetch_add(1, std::memory_order_relaxed);
    stats_.prefetch_bytes.fetch_add(span.range.length, std::memory_order_relaxed);
    Fetch(url, span, flight);
  }
  flight->Complete();
}

Result<Origin::ObjectInfo> ReadThroughCache::ObjectForReading(const std::string& url) {
  return records_.Object(url, [&] { return AskWithFirstBlock(url); });
}

Result<Origin::ObjectInfo> ReadThroughCache::AskWithFirstBlock(const std::string& url) {
  const uint64_t B = options_.block_size;
  ZM_ASSIGN_OR_RETURN(Origin::Head head, origin_->ReadHead(url, B));
  const uint64_t first = std::min(B, head.info.size);
  // Origins promise the exact shape; a broken promise is never cached.
  if (head.bytes.size() != first)
    return Corruption(RedactUrl(url) + ": origin returned " + std::to_string(head.bytes.size()) +
                      " bytes for the first " + std::to_string(first) + " of the object");
  if (first > 0) {
    stats_.origin_bytes.fetch_add(first, std::memory_order_relaxed);
    const RegionBlocks rb{url, head.info.version, ByteRange{0, head.info.size}, B};
    tiers_.Put(rb.key(0), std::make_shared<const std::string>(std::move(head.bytes)));
  }
  return head.info;
}

Result<uint64_t> ReadThroughCache::Size(const std::string& url) {
  ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, records_.Object(url));
  return info.size;
}

Result<Origin::ObjectInfo> ReadThroughCache::Object(const std::string& url) {
  return records_.Object(url);
}

}  // namespace zm
