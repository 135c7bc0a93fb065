#include "fs/prefetcher.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "fs/zarr_node.h"

namespace zm {

static_assert(ReferenceIndex::kUnknownSize == kUnknownObjectLength,
              "an unsized whole object is one to the index and to the prefetch queue");

struct Prefetcher::Array {
  Array(ReferenceIndex::DirId d, ZarrArrayMeta m, ChunkGrid g, const ChunkWalkOptions& w)
      : dir(d), meta(std::move(m)), grid(std::move(g)), walk(grid.grid_shape(), w) {}
  const ReferenceIndex::DirId dir;
  const ZarrArrayMeta meta;
  const ChunkGrid grid;

  std::mutex mu;  // guards walk; a leaf lock
  ChunkWalk walk;
  std::atomic<int> reads_in_flight{0};
};

Prefetcher::Prefetcher(const ReferenceIndex* index, ReadThroughCache* cache,
                       const PrefetchOptions& options)
    : index_(index), cache_(cache), options_(options) {}

Prefetcher::~Prefetcher() = default;

std::shared_ptr<Prefetcher::Array> Prefetcher::LoadArray(ReferenceIndex::DirId d) {
  // Metadata is small; a reference claiming more is not worth a fetch.
  constexpr uint64_t kMaxMetadataBytes = 1 << 20;
  auto node = LoadZarrNode(*index_, cache_, d, kMaxMetadataBytes);
  if (!node.ok() || node->kind != ZarrNode::Kind::kArray) return nullptr;
  // A 0-d array has one chunk: nothing to walk.
  if (node->array.shape.empty()) return nullptr;
  auto grid = node->array.Grid();
  if (!grid.ok() || grid->chunk_count() == 0) return nullptr;
  ChunkWalkOptions walk;
  walk.max_window = std::max<uint64_t>(options_.max_chunks, 1);
  walk.initial_window = std::min(walk.initial_window, walk.max_window);
  return std::make_shared<Array>(d, std::move(node->array), std::move(grid).value(), walk);
}

std::shared_ptr<Prefetcher::Array> Prefetcher::GetArray(ReferenceIndex::DirId d) {
  {
    std::lock_guard<std::mutex> lock(arrays_mu_);
    auto it = arrays_.find(d);
    if (it != arrays_.end()) return it->second;
  }
  // Loaded outside the lock (it may read through the cache); two threads
  // may both load it, and the first stored wins.
  auto a = LoadArray(d);
  std::lock_guard<std::mutex> lock(arrays_mu_);
  return arrays_.emplace(d, std::move(a)).first->second;
}

Prefetcher::Array* Prefetcher::ArrayOf(ReferenceIndex::FileId f, uint64_t* linear) {
  // A chunk's array is the nearest directory above it with array metadata;
  // its key relative to the array is the file name after the directories
  // in between ("0.1" in the array's own directory, "0/1" or "c/0/1" below).
  std::string key = index_->FileName(f);
  for (ReferenceIndex::DirId d = index_->file_dir(f);;) {
    if (std::shared_ptr<Array> a = GetArray(d)) {
      auto index = a->meta.ParseChunkKey(key);
      auto l = index ? a->grid.LinearIndex(*index) : std::nullopt;
      if (!l) return nullptr;
      *linear = *l;
      return a.get();  // arrays_ keeps it alive for the Prefetcher's lifetime
    }
    if (d == ReferenceIndex::kRootDir) return nullptr;
    key.insert(0, std::string(index_->dir_name(d)) + "/");
    d = index_->dir_parent(d);
  }
}

ReferenceIndex::DirId Prefetcher::GroupOf(const Array& a) const {
  return a.dir == ReferenceIndex::kRootDir ? a.dir : index_->dir_parent(a.dir);
}

void Prefetcher::OnChunk(Array* a, uint64_t linear, bool overlapping) {
  // A sibling's walk is worth following only while fresh: a reader going
  // through the group's variables one after another.
  constexpr auto kFresh = std::chrono::seconds(10);
  const auto now = std::chrono::steady_clock::now();
  const ReferenceIndex::DirId group = GroupOf(*a);
  std::optional<ChunkWalk::Walk> sibling;
  {
    std::lock_guard<std::mutex> lock(groups_mu_);
    auto it = group_walks_.find(group);
    if (it != group_walks_.end() && it->second.array != a && now - it->second.when < kFresh &&
        it->second.array->grid.grid_shape() == a->grid.grid_shape())
      sibling = it->second.walk;
  }
  std::vector<std::vector<uint64_t>> batches;
  std::optional<ChunkWalk::Walk> walked;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    if (sibling) a->walk.Adopt(*sibling);
    batches = a->walk.OnRead({linear}, overlapping);
    walked = a->walk.LatestWalk();
  }
  if (walked) {
    std::lock_guard<std::mutex> lock(groups_mu_);
    group_walks_[group] = GroupWalk{a, std::move(*walked), now};
  }
  // One batch per walk: the cache coalesces within a batch, and the chunks
  // of one walk are the ones worth fetching in one request.
  for (const auto& want : batches) cache_->Prefetch(ChunkTargets(*a, want));
}

std::vector<PrefetchTarget> Prefetcher::ChunkTargets(const Array& a,
                                                     const std::vector<uint64_t>& want) const {
  const std::string dir = index_->DirPath(a.dir);
  std::vector<PrefetchTarget> targets;
  uint64_t bytes = 0;
  for (uint64_t l : want) {
    const std::string key = a.meta.ChunkKey(a.grid.GridIndex(l));
    // A key without '/' is a file of the array's own directory.
    auto f = key.find('/') == std::string::npos
                 ? index_->FindFile(a.dir, key)
                 : index_->FindKey(dir.empty() ? key : dir + "/" + key);
    if (!f) continue;  // a missing chunk: the reader uses the fill value
    auto resolved = index_->Resolve(*f);
    if (!resolved.ok() || resolved->missing()) continue;  // the read reports a bad one
    const auto& t = *resolved;
    if (t.is_inline() || t.size == 0) continue;
    if (t.size == ReferenceIndex::kUnknownSize) {
      // A whole object not sized yet (a plain store's chunk key): planning
      // sizes it (a missing one is skipped), and the read that follows
      // shares that answer. Its bytes are bounded by the prefetch budget.
      targets.push_back(PrefetchTarget{*t.url, ByteRange{0, kUnknownObjectLength}});
      continue;
    }
    if (bytes + t.size > options_.max_bytes) break;
    bytes += t.size;
    targets.push_back(PrefetchTarget{*t.url, ByteRange{t.offset, t.size}, 0, t.size});
  }
  return targets;
}

void Prefetcher::OnSequential(ReferenceIndex::FileId f, uint64_t offset, uint64_t size) {
  auto resolved = index_->Resolve(f);  // a lazy chunk's record is in the LRU: the read just resolved it
  if (!resolved.ok() || resolved->missing()) return;
  const auto& t = *resolved;
  // Small files are fetched whole on their first read anyway.
  if (t.is_inline() || t.size <= cache_->options().whole_fetch_limit ||
      t.size == ReferenceIndex::kUnknownSize)
    return;
  uint64_t from = 0, to = 0;
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    FileStream& s = streams_[f % kStreams];
    if (s.file == f && offset == s.next) {
      s.window = s.window ? std::min<uint64_t>(s.window * 2, options_.max_bytes) : 2_MiB;
      from = std::max(offset + size, s.prefetched_to);
      to = std::min(offset + size + s.window, t.size);
      if (to > from) s.prefetched_to = to;
    } else {
      s = FileStream{f, 0, 0, 0};
    }
    s.next = offset + size;
  }
  if (to <= from) return;
  cache_->Prefetch({PrefetchTarget{*t.url, ByteRange{t.offset, t.size}, from, to - from}});
}

Prefetcher::ReadTicket Prefetcher::OnRead(ReferenceIndex::FileId f, uint64_t offset, uint64_t size) {
  ReadTicket ticket;
  if (!options_.enabled) return ticket;
  if (offset == 0) {
    uint64_t linear;
    if (Array* a = ArrayOf(f, &linear)) {
      // Another chunk read of the array in flight: a pool of readers.
      const bool overlapping = a->reads_in_flight.fetch_add(1) > 0;
      ticket.array = a;
      OnChunk(a, linear, overlapping);
    }
  }
  OnSequential(f, offset, size);
  return ticket;
}

void Prefetcher::OnReadDone(ReadTicket ticket) {
  if (ticket.array) ticket.array->reads_in_flight.fetch_sub(1);
}

}  // namespace zm
