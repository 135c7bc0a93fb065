#include "cache/read_through.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "base/log.h"

namespace zm {
namespace {

// Blocks of an object are kept under keys that include its version, so a
// changed object's old blocks are never found.
BlockKey KeyOf(const std::string& url, const std::string& version, ByteRange range) {
  if (version.empty()) return MakeBlockKey(url, range);
  return MakeBlockKey(url + '\n' + version, range);
}

// The record of an object's size and version: under a range no block can
// have (offset 2^64-1, length 0).
BlockKey ObjectRecordKey(const std::string& url) {
  return MakeBlockKey(url, ByteRange{~uint64_t{0}, 0});
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
};

ReadThroughCache::ReadThroughCache(Origin* origin, BlockStore* memory, BlockStore* disk,
                                   const ReadThroughOptions& options)
    : origin_(origin), memory_(memory), disk_(disk), options_(options) {
  for (int i = 0; i < options_.prefetch_threads; ++i)
    workers_.emplace_back([this] { PrefetchWorker(); });
}

ReadThroughCache::~ReadThroughCache() {
  stopping_ = true;
  {
    // Queued tasks see stopping_ and return at once: they hold no claims.
    std::lock_guard<std::mutex> lock(queue_mu_);
  }
  queue_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

Block ReadThroughCache::Lookup(const BlockKey& key) {
  if (memory_) {
    if (Block b = memory_->Get(key)) {
      stats_.memory_hits.fetch_add(1, std::memory_order_relaxed);
      stats_.memory_hit_bytes.fetch_add(b->size(), std::memory_order_relaxed);
      return b;
    }
  }
  if (disk_) {
    if (Block b = disk_->Get(key)) {
      stats_.disk_hits.fetch_add(1, std::memory_order_relaxed);
      stats_.disk_hit_bytes.fetch_add(b->size(), std::memory_order_relaxed);
      if (memory_) memory_->Put(key, b);
      return b;
    }
  }
  return nullptr;
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
  auto data = origin_->ReadPieces(url, span.range, lengths);
  stats_.origin_in_flight.fetch_sub(1, std::memory_order_relaxed);
  Status status = data.status();
  if (status.ok()) {
    // Origins promise the exact shape; a broken promise is never cached.
    bool shaped = data->size() == lengths.size();
    for (size_t i = 0; shaped && i < lengths.size(); ++i) shaped = (*data)[i].size() == lengths[i];
    if (!shaped) status = Corruption(url + ": origin returned pieces of the wrong sizes");
  }
  std::vector<std::pair<BlockKey, Block>> made;
  if (status.ok()) {
    stats_.origin_bytes.fetch_add(span.range.length, std::memory_order_relaxed);
    made.reserve(span.blocks.size());
    for (size_t i = 0; i < span.blocks.size(); ++i) {
      const BlockKey& key = span.blocks[i].first;
      auto block = std::make_shared<const std::string>(std::move((*data)[piece_of[i]]));
      // Into the tiers before the flight is released: a reader that no
      // longer finds the flight finds the block.
      if (memory_) memory_->Put(key, block);
      if (disk_) disk_->Put(key, block);
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
  const uint64_t nblocks = (region.length + B - 1) / B;
  const uint64_t first = pos / B, last = (pos + len - 1) / B;
  auto block_range = [&](uint64_t i) {
    return ByteRange{region.offset + i * B, std::min(B, region.length - i * B)};
  };
  ZM_ASSIGN_OR_RETURN(const std::string version, Version(url));
  auto key_of = [&](uint64_t i) { return KeyOf(url, version, block_range(i)); };

  std::vector<Block> blocks(last - first + 1);
  bool any_missing = false;
  for (uint64_t i = first; i <= last; ++i) {
    blocks[i - first] = Lookup(key_of(i));
    if (!blocks[i - first]) any_missing = true;
  }

  if (any_missing) {
    // Which blocks to fetch: the missing ones; for a small region, all of
    // it (the reader will want the rest of the chunk).
    uint64_t lo = first, hi = last;
    if (region.length <= options_.whole_fetch_limit) {
      lo = 0;
      hi = nblocks - 1;
    }
    for (uint64_t i = first; i <= last; ++i)
      if (!blocks[i - first]) ZM_RETURN_IF_ERROR(RecentFailure(key_of(i)));
    auto mine = std::make_shared<Flight>();
    std::vector<std::pair<uint64_t, std::shared_ptr<Flight>>> others;  // block, flight
    std::vector<uint64_t> claimed;
    {
      std::lock_guard<std::mutex> lock(inflight_mu_);
      for (uint64_t i = lo; i <= hi; ++i) {
        bool wanted = i >= first && i <= last;
        if (wanted && blocks[i - first]) continue;
        BlockKey key = key_of(i);
        auto it = inflight_.find(key);
        if (it != inflight_.end()) {
          if (wanted) others.emplace_back(i, it->second);
          continue;
        }
        inflight_.emplace(key, mine);
        claimed.push_back(i);
      }
    }
    stats_.misses.fetch_add(claimed.size(), std::memory_order_relaxed);
    // Fetch each run of adjacent claimed blocks with one request.
    Status first_error;
    bool have_error = false;
    for (size_t a = 0; a < claimed.size();) {
      size_t b = a;
      while (b + 1 < claimed.size() && claimed[b + 1] == claimed[b] + 1) ++b;
      Span span;
      span.range = ByteRange{block_range(claimed[a]).offset,
                             block_range(claimed[b]).end() - block_range(claimed[a]).offset};
      for (size_t k = a; k <= b; ++k) span.blocks.emplace_back(key_of(claimed[k]), block_range(claimed[k]));
      Status st = Fetch(url, span, mine);
      // Blocks outside the requested span were only a bonus.
      bool needed = !(claimed[b] < first || claimed[a] > last);
      if (!st.ok() && needed && !have_error) {
        first_error = st;
        have_error = true;
      }
      a = b + 1;
    }
    {
      std::lock_guard<std::mutex> lock(mine->mu);
      mine->done = true;
    }
    mine->cv.notify_all();
    if (have_error) return first_error;
    for (uint64_t i : claimed) {
      if (i < first || i > last) continue;
      std::lock_guard<std::mutex> lock(mine->mu);
      blocks[i - first] = mine->blocks[key_of(i)];
    }
    for (auto& [i, flight] : others) {
      stats_.inflight_waits.fetch_add(1, std::memory_order_relaxed);
      // The fetch we joined had its retries and its deadline: its failure
      // is ours, not a reason to start over.
      ZM_ASSIGN_OR_RETURN(blocks[i - first], flight->Wait(key_of(i)));
    }
  }

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

void ReadThroughCache::Prefetch(std::vector<PrefetchTarget> targets) {
  if (targets.empty() || workers_.empty()) return;
  if (prefetch_pending_bytes_.load() >= options_.prefetch_budget) {
    stats_.prefetch_dropped.fetch_add(targets.size(), std::memory_order_relaxed);
    return;
  }
  // Planning looks blocks up in the tiers (disk reads): do it on a prefetch
  // thread, not on the caller's, which is serving a read.
  Enqueue([this, targets = std::move(targets)] { PlanPrefetch(targets); });
}

void ReadThroughCache::Enqueue(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.push_back(std::move(task));
  }
  queue_cv_.notify_one();
}

void ReadThroughCache::PlanPrefetch(const std::vector<PrefetchTarget>& targets) {
  const uint64_t B = options_.block_size;
  struct Want {
    BlockKey key;
    ByteRange range;
  };
  std::map<std::string, std::vector<Want>> by_url;
  for (const auto& t : targets) {
    if (t.pos >= t.region.length) continue;
    uint64_t end = t.len > t.region.length - t.pos ? t.region.length : t.pos + t.len;
    for (uint64_t i = t.pos / B; i * B < end; ++i) {
      ByteRange br{t.region.offset + i * B, std::min(B, t.region.length - i * B)};
      auto version = Version(t.url);
      if (!version.ok()) break;  // a prefetch that cannot be planned is dropped
      BlockKey key = KeyOf(t.url, *version, br);
      if (Lookup(key)) continue;  // a disk hit is promoted to memory: prefetched
      by_url[t.url].push_back(Want{key, br});
    }
  }
  for (auto& [url, wants] : by_url) {
    std::sort(wants.begin(), wants.end(),
              [](const Want& a, const Want& b) { return a.range.offset < b.range.offset; });
    std::vector<Span> spans;
    {
      std::lock_guard<std::mutex> lock(inflight_mu_);
      for (const Want& w : wants) {
        if (inflight_.count(w.key)) continue;
        if (prefetch_pending_bytes_.load() + w.range.length > options_.prefetch_budget) {
          stats_.prefetch_dropped.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        prefetch_pending_bytes_.fetch_add(w.range.length);
        // Coalesce with the previous span when close enough.
        if (!spans.empty()) {
          Span& s = spans.back();
          bool near = w.range.offset >= s.range.end() &&
                      w.range.offset - s.range.end() <= options_.coalesce_gap;
          if (near && w.range.end() - s.range.offset <= options_.coalesce_max) {
            s.range.length = w.range.end() - s.range.offset;
            s.blocks.emplace_back(w.key, w.range);
            continue;
          }
        }
        spans.push_back(Span{w.range, {{w.key, w.range}}});
      }
    }
    // One task per span, so the spans of one batch go out in parallel.
    for (auto& span : spans) {
      Enqueue([this, url = url, span = std::move(span)]() mutable {
        uint64_t planned = 0;
        for (const auto& kb : span.blocks) planned += kb.second.length;
        if (!stopping_.load()) RunPrefetchSpan(url, std::move(span));
        prefetch_pending_bytes_.fetch_sub(planned);
      });
    }
  }
}

// Blocks are claimed only now that the request is about to go out, so a
// demand read never waits for a prefetch that is merely queued: until this
// point it fetches the block itself.
void ReadThroughCache::RunPrefetchSpan(const std::string& url, Span span) {
  auto flight = std::make_shared<Flight>();
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    std::vector<std::pair<BlockKey, ByteRange>> mine;
    for (const auto& kb : span.blocks) {
      if (inflight_.count(kb.first)) continue;
      if (memory_ && memory_->Get(kb.first)) continue;  // a demand read got there first
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
  {
    std::lock_guard<std::mutex> lock(flight->mu);
    flight->done = true;
  }
  flight->cv.notify_all();
}

void ReadThroughCache::PrefetchWorker() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  while (true) {
    queue_cv_.wait(lock, [this] { return stopping_.load() || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every queued task has run
    auto task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    task();
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) idle_cv_.notify_all();
  }
}

void ReadThroughCache::WaitForPrefetches() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

Result<uint64_t> ReadThroughCache::Size(const std::string& url) {
  ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, Object(url));
  return info.size;
}

Result<Origin::ObjectInfo> ReadThroughCache::Object(const std::string& url) {
  std::promise<Result<Origin::ObjectInfo>> promise;
  std::shared_future<Result<Origin::ObjectInfo>> future;
  {
    std::lock_guard<std::mutex> lock(objects_mu_);
    auto it = objects_.find(url);
    if (it != objects_.end()) {
      future = it->second;
    } else {
      objects_.emplace(url, promise.get_future().share());
    }
  }
  if (future.valid()) return future.get();  // learned, or being learned by another thread
  Result<Origin::ObjectInfo> info = LearnObject(url);
  if (!info.ok()) {
    // Not remembered: the next caller asks again.
    std::lock_guard<std::mutex> lock(objects_mu_);
    objects_.erase(url);
  }
  promise.set_value(info);
  return info;
}

// An object's record, from the tiers, without counting it as a block hit.
Block ReadThroughCache::LookupRecord(const BlockKey& key) {
  if (memory_)
    if (Block b = memory_->Get(key)) return b;
  if (disk_) {
    if (Block b = disk_->Get(key)) {
      if (memory_) memory_->Put(key, b);
      return b;
    }
  }
  return nullptr;
}

Result<Origin::ObjectInfo> ReadThroughCache::LearnObject(const std::string& url) {
  const BlockKey key = ObjectRecordKey(url);
  std::optional<Origin::ObjectInfo> recorded;
  if (Block b = LookupRecord(key); b && b->size() >= sizeof(uint64_t)) {
    Origin::ObjectInfo r;
    std::memcpy(&r.size, b->data(), sizeof r.size);
    r.version = b->substr(sizeof r.size);
    recorded = r;
  }
  if (recorded && !options_.validate) return *recorded;
  stats_.object_checks.fetch_add(1, std::memory_order_relaxed);
  auto info = origin_->Stat(url);
  if (!info.ok()) {
    stats_.origin_errors.fetch_add(1, std::memory_order_relaxed);
    // Unreachable is not changed: serve what was cached of the object. A
    // definite answer (gone, forbidden) is believed.
    if (recorded && info.status().code() != Code::kNotFound &&
        info.status().code() != Code::kPermissionDenied) {
      LogWarning(info.status().message() + "; using the cached copy without checking it");
      return *recorded;
    }
    return info.status();
  }
  if (!recorded || recorded->size != info->size || recorded->version != info->version) {
    if (recorded)
      LogWarning(RedactUrl(url) + " has changed since it was cached (" +
                 (recorded->version.empty() ? "size" : recorded->version) + " -> " +
                 (info->version.empty() ? "size" : info->version) +
                 "): its cached blocks are not used");
    std::string record(sizeof info->size, '\0');
    std::memcpy(record.data(), &info->size, sizeof info->size);
    record += info->version;
    auto block = std::make_shared<const std::string>(std::move(record));
    if (memory_) memory_->Put(key, block);
    if (disk_) disk_->Put(key, block);
  }
  return info;
}

Result<std::string> ReadThroughCache::Version(const std::string& url) {
  if (options_.validate) {
    ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, Object(url));
    return info.version;
  }
  {
    std::lock_guard<std::mutex> lock(objects_mu_);
    if (auto it = versions_.find(url); it != versions_.end()) return it->second;
  }
  // Trusting the cache: the version recorded, with no question to the origin.
  std::string version;
  if (Block b = LookupRecord(ObjectRecordKey(url)); b && b->size() >= sizeof(uint64_t))
    version = b->substr(sizeof(uint64_t));
  std::lock_guard<std::mutex> lock(objects_mu_);
  versions_.emplace(url, version);
  return version;
}

}  // namespace zm
