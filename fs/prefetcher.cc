#include "fs/prefetcher.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

namespace zm {

struct Prefetcher::Array {
  ReferenceIndex::DirId dir;
  ZarrArrayMeta meta;
  std::vector<uint64_t> grid;
  uint64_t total = 0;  // chunks in the grid

  std::mutex mu;  // guards the pattern state below; a leaf lock
  int64_t last = -1;
  int64_t step = 0;
  uint64_t window = 0;
  int64_t prefetched_to = -1;  // last linear index prefetched along `step`
};

Prefetcher::Prefetcher(const ReferenceIndex* index, ReadThroughCache* cache,
                       const PrefetchOptions& options)
    : index_(index), cache_(cache), options_(options) {}

Prefetcher::~Prefetcher() = default;

std::shared_ptr<Prefetcher::Array> Prefetcher::LoadArray(ReferenceIndex::DirId d) {
  auto f = index_->FindFile(d, ".zarray");
  if (!f) return nullptr;
  auto t = index_->target(*f);
  std::string json;
  if (t.is_inline()) {
    json = std::string(index_->inline_data(*f));
  } else {
    // Metadata is small; a reference claiming more is not worth a fetch.
    constexpr uint64_t kMaxZarrayBytes = 1 << 20;
    if (t.size > kMaxZarrayBytes) return nullptr;
    auto r = cache_->Read(index_->url(t.url_id), ByteRange{t.offset, t.size}, 0, t.size);
    if (!r.ok()) return nullptr;
    json = std::move(r).value();
  }
  auto meta = ParseZarrArray(json);
  if (!meta.ok() || meta->shape.empty()) return nullptr;
  auto a = std::make_shared<Array>();
  a->dir = d;
  a->meta = std::move(meta).value();
  a->grid = a->meta.GridShape();
  a->total = 1;
  for (uint64_t g : a->grid) {
    if (g == 0 || __builtin_mul_overflow(a->total, g, &a->total)) return nullptr;
  }
  return a;
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

namespace {
bool ParseIndex(std::string_view s, std::vector<uint64_t>* out) {
  uint64_t v;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
  out->push_back(v);
  return true;
}
}  // namespace

Prefetcher::Array* Prefetcher::ArrayOf(ReferenceIndex::FileId f, uint64_t* linear) {
  std::string_view name = index_->file_name(f);
  ReferenceIndex::DirId d = index_->file_dir(f);
  std::vector<uint64_t> idx;
  std::shared_ptr<Array> a;
  // "0.1.2" keys: the array is the file's directory.
  bool dotted = true;
  for (size_t start = 0;;) {
    size_t dot = name.find('.', start);
    if (!ParseIndex(name.substr(start, dot == std::string_view::npos ? name.npos : dot - start), &idx)) {
      dotted = false;
      break;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (dotted) {
    a = GetArray(d);
    if (a && (a->meta.separator != '.' && idx.size() > 1)) a = nullptr;
  }
  // "0/1/2" keys: climb while directory names are indices.
  if (!a && ParseIndex(name, &(idx = {}))) {
    ReferenceIndex::DirId ad = d;
    while (ad != ReferenceIndex::kRootDir && !index_->FindFile(ad, ".zarray")) {
      if (!ParseIndex(index_->dir_name(ad), &idx)) return nullptr;
      ad = index_->dir_parent(ad);
    }
    std::reverse(idx.begin(), idx.end());
    a = GetArray(ad);
    if (a && a->meta.separator != '/') a = nullptr;
  }
  if (!a || idx.size() != a->grid.size()) return nullptr;
  uint64_t l = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    if (idx[i] >= a->grid[i]) return nullptr;
    l = l * a->grid[i] + idx[i];
  }
  *linear = l;
  return a.get();  // arrays_ keeps it alive for the Prefetcher's lifetime
}

void Prefetcher::OnChunk(Array* a, uint64_t linear) {
  std::vector<int64_t> want;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    int64_t l = static_cast<int64_t>(linear);
    if (a->last >= 0 && l != a->last) {
      int64_t step = l - a->last;
      if (step != a->step) {
        // A new step prefetches nothing until it repeats: random readers
        // must not pay for speculation.
        a->step = step;
        a->window = 0;
        a->prefetched_to = l;
      } else {
        a->window = a->window ? std::min<uint64_t>(a->window * 2, options_.max_chunks)
                              : kInitialWindow;
      }
      // Along the step from wherever prefetch has got to, up to the window;
      // but only once less than half the window is left ahead, so requests
      // go out in batches that can be coalesced.
      int64_t ahead = (a->prefetched_to - l) / a->step;
      if (ahead < 0) ahead = 0;
      int64_t from = ahead * 2 > static_cast<int64_t>(a->window) ? a->window : ahead;
      for (int64_t k = from + 1; k <= static_cast<int64_t>(a->window); ++k) {
        int64_t next = l + k * a->step;
        if (next < 0 || next >= static_cast<int64_t>(a->total)) break;
        want.push_back(next);
      }
      if (!want.empty()) a->prefetched_to = want.back();
    }
    a->last = l;
  }
  if (want.empty()) return;

  std::vector<PrefetchTarget> targets;
  uint64_t bytes = 0;
  std::string key;
  for (int64_t l : want) {
    // Linear index back to chunk indices, then to the key.
    std::vector<uint64_t> idx(a->grid.size());
    uint64_t rest = static_cast<uint64_t>(l);
    for (size_t i = a->grid.size(); i-- > 0;) {
      idx[i] = rest % a->grid[i];
      rest /= a->grid[i];
    }
    key.clear();
    for (size_t i = 0; i < idx.size(); ++i) {
      if (i) key += a->meta.separator;
      key += std::to_string(idx[i]);
    }
    std::optional<ReferenceIndex::FileId> f;
    if (a->meta.separator == '.') {
      f = index_->FindFile(a->dir, key);
    } else {
      std::string full = index_->DirPath(a->dir);
      f = index_->FindKey(full.empty() ? key : full + "/" + key);
    }
    if (!f) continue;  // a missing chunk: the reader uses the fill value
    auto t = index_->target(*f);
    if (t.is_inline() || t.size == 0) continue;
    if (bytes + t.size > options_.max_bytes) break;
    bytes += t.size;
    targets.push_back(PrefetchTarget{index_->url(t.url_id), ByteRange{t.offset, t.size}, 0, t.size});
  }
  cache_->Prefetch(std::move(targets));
}

void Prefetcher::OnSequential(ReferenceIndex::FileId f, uint64_t offset, uint64_t size) {
  auto t = index_->target(f);
  // Small files are fetched whole on their first read anyway.
  if (t.is_inline() || t.size <= cache_->options().whole_fetch_limit) return;
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
  cache_->Prefetch({PrefetchTarget{index_->url(t.url_id), ByteRange{t.offset, t.size}, from, to - from}});
}

void Prefetcher::OnRead(ReferenceIndex::FileId f, uint64_t offset, uint64_t size) {
  if (!options_.enabled) return;
  if (offset == 0) {
    uint64_t linear;
    if (Array* a = ArrayOf(f, &linear)) OnChunk(a, linear);
  }
  OnSequential(f, offset, size);
}

}  // namespace zm
