#include "refs/reference_index.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <unordered_map>

namespace zm {

// ---- ReferenceIndex -------------------------------------------------------

std::string_view ReferenceIndex::dir_name(DirId d) const {
  return std::string_view(names_).substr(dirs_[d].name_off, dirs_[d].name_len);
}

std::string ReferenceIndex::DirPath(DirId d) const {
  std::vector<DirId> chain;
  for (DirId x = d; x != kRootDir; x = dirs_[x].parent) chain.push_back(x);
  std::string path;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!path.empty()) path += '/';
    path += dir_name(*it);
  }
  return path;
}

std::span<const ReferenceIndex::DirId> ReferenceIndex::subdirs(DirId d) const {
  return std::span<const DirId>(subdir_ids_.data() + dirs_[d].first_subdir,
                                dirs_[d].subdir_count);
}

std::string_view ReferenceIndex::file_name(FileId f) const {
  return std::string_view(names_).substr(files_[f].name_off, files_[f].name_len);
}

std::string ReferenceIndex::FileName(FileId f) const {
  if (!is_lazy(f)) return std::string(file_name(f));
  const LazyRun& run = lazy_runs_[lazy_run_of(f)];
  return run.encoding.Key(run.grid.GridIndex(f - run.first));
}

ReferenceIndex::DirId ReferenceIndex::file_dir(FileId f) const {
  if (is_lazy(f)) return lazy_runs_[lazy_run_of(f)].dir;
  // Files are grouped by directory in id order, so first_file is
  // non-decreasing: the last directory starting at or before f holds it.
  auto it = std::upper_bound(dirs_.begin(), dirs_.end(), f,
                             [](FileId v, const Dir& d) { return v < d.first_file; });
  return static_cast<DirId>(it - dirs_.begin() - 1);
}

std::string ReferenceIndex::FileKey(FileId f) const {
  std::string dir = DirPath(file_dir(f));
  if (!dir.empty()) dir += '/';
  dir += FileName(f);
  return dir;
}

ReferenceIndex::Target ReferenceIndex::target(FileId f) const {
  const File& e = files_[f];
  return Target{e.url_id, e.offset, e.size};
}

std::string_view ReferenceIndex::inline_data(FileId f) const {
  const File& e = files_[f];
  return std::string_view(inline_data_).substr(e.offset, e.size);
}

Result<ReferenceIndex::ResolvedTarget> ReferenceIndex::Resolve(FileId f) const {
  ResolvedTarget r;
  if (!is_lazy(f)) {
    const File& e = files_[f];
    if (e.url_id == kInlineUrl) {
      r.kind = ResolvedTarget::Kind::kInline;
      r.inline_bytes = std::string_view(inline_data_).substr(e.offset, e.size);
      r.size = e.size;
      return r;
    }
    // A whole object sized at mount is the range of all its bytes.
    r.kind = e.size == kUnknownSize ? ResolvedTarget::Kind::kWhole : ResolvedTarget::Kind::kRange;
    r.url = &urls_[e.url_id];
    r.offset = e.offset;
    r.size = e.size;
    return r;
  }
  const uint32_t run = lazy_run_of(f);
  ZM_ASSIGN_OR_RETURN(LazyTarget t, resolver_->Resolve(run, f - lazy_runs_[run].first));
  r.kind = t.kind;
  r.url = t.url;
  r.offset = t.offset;
  r.size = t.kind == ResolvedTarget::Kind::kWhole ? kUnknownSize : t.size;
  if (t.kind == ResolvedTarget::Kind::kInline) {
    r.inline_bytes = *t.inline_bytes;
    r.size = t.inline_bytes->size();
    r.inline_owner = std::move(t.inline_bytes);
  }
  return r;
}

std::optional<uint32_t> ReferenceIndex::dir_lazy_run(DirId d) const {
  auto it = std::lower_bound(run_by_dir_.begin(), run_by_dir_.end(), std::make_pair(d, uint32_t{0}));
  if (it != run_by_dir_.end() && it->first == d) return it->second;
  return std::nullopt;
}

uint32_t ReferenceIndex::lazy_run_of(FileId f) const {
  auto it = std::upper_bound(lazy_runs_.begin(), lazy_runs_.end(), f,
                             [](FileId v, const LazyRun& r) { return v < r.first; });
  return static_cast<uint32_t>(it - lazy_runs_.begin() - 1);
}

std::optional<uint64_t> ReferenceIndex::NextLazyChunk(uint32_t r, uint64_t from) const {
  const uint64_t end = lazy_runs_[r].grid.chunk_count();
  if (from >= end) return std::nullopt;
  return resolver_->NextPresent(r, from, end);
}

std::optional<ReferenceIndex::DirId> ReferenceIndex::FindDir(DirId parent,
                                                             std::string_view name) const {
  auto kids = subdirs(parent);
  auto it = std::lower_bound(kids.begin(), kids.end(), name,
                             [this](DirId d, std::string_view n) { return dir_name(d) < n; });
  if (it != kids.end() && dir_name(*it) == name) return *it;
  return std::nullopt;
}

std::optional<ReferenceIndex::FileId> ReferenceIndex::FindFile(DirId parent,
                                                               std::string_view name) const {
  FileId lo = dirs_[parent].first_file, hi = lo + dirs_[parent].file_count;
  while (lo < hi) {
    FileId mid = lo + (hi - lo) / 2;
    if (file_name(mid) < name)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < dirs_[parent].first_file + dirs_[parent].file_count && file_name(lo) == name)
    return lo;
  if (run_by_dir_.empty()) return std::nullopt;
  auto r = dir_lazy_run(parent);
  if (!r) return std::nullopt;
  const LazyRun& run = lazy_runs_[*r];
  auto index = run.encoding.Parse(name, run.grid.rank());
  auto flat = index ? run.grid.LinearIndex(*index) : std::nullopt;
  if (!flat) return std::nullopt;
  return run.first + *flat;
}

std::optional<ReferenceIndex::FileId> ReferenceIndex::FindKey(std::string_view key) const {
  if (dirs_.empty()) return std::nullopt;
  DirId d = kRootDir;
  while (true) {
    size_t slash = key.find('/');
    if (slash == std::string_view::npos) return FindFile(d, key);
    auto sub = FindDir(d, key.substr(0, slash));
    if (!sub) return std::nullopt;
    d = *sub;
    key.remove_prefix(slash + 1);
  }
}

std::vector<ReferenceIndex::FileId> ReferenceIndex::UnsizedFiles() const {
  std::vector<FileId> out;
  for (FileId f = 0; f < files_.size(); ++f)
    if (files_[f].url_id != kInlineUrl && files_[f].size == kUnknownSize) out.push_back(f);
  return out;
}

size_t ReferenceIndex::MemoryUsage() const {
  // names_ may have unused room (reserved by the builder, never touched).
  size_t n = names_.size() + inline_data_.capacity() + dirs_.capacity() * sizeof(Dir) +
             subdir_ids_.capacity() * sizeof(DirId) + files_.capacity() * sizeof(File);
  for (const auto& u : urls_) n += sizeof(u) + u.capacity();
  n += lazy_runs_.capacity() * sizeof(LazyRun) + run_by_dir_.capacity() * sizeof(run_by_dir_[0]);
  if (resolver_) n += resolver_->MemoryUsage();
  return n;
}

// ---- ReferenceIndexBuilder ------------------------------------------------

struct ReferenceIndexBuilder::Impl {
  struct Pending {
    uint64_t key_off;
    uint32_t key_len;
    uint32_t url_id;
    uint64_t offset;
    uint64_t size;
  };
  std::string keys;  // arena of full keys
  std::string inline_data;
  std::vector<Pending> pending;
  std::vector<std::string> urls;
  std::unordered_map<std::string, uint32_t> url_ids;
  struct PendingRun {
    std::string dir;
    ChunkGrid grid;
    ChunkKeyEncoding encoding;
  };
  std::vector<PendingRun> runs;
  std::shared_ptr<const LazyChunkResolver> resolver;

  std::string_view key(const Pending& p) const {
    return std::string_view(keys).substr(p.key_off, p.key_len);
  }
  void Add(std::string_view k, uint32_t url_id, uint64_t offset, uint64_t size) {
    pending.push_back(Pending{keys.size(), static_cast<uint32_t>(k.size()), url_id, offset, size});
    keys.append(k);
  }
};

ReferenceIndexBuilder::ReferenceIndexBuilder() : impl_(new Impl) {}
ReferenceIndexBuilder::~ReferenceIndexBuilder() { delete impl_; }

Status ReferenceIndexBuilder::ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgument("empty key");
  if (key.size() > 4096) return InvalidArgument("key longer than 4096 bytes");
  if (key.front() == '/') return InvalidArgument("key is an absolute path");
  if (key.find('\0') != std::string_view::npos) return InvalidArgument("key contains a NUL byte");
  size_t start = 0;
  while (true) {
    size_t slash = key.find('/', start);
    std::string_view part = key.substr(start, slash == std::string_view::npos ? key.npos : slash - start);
    if (part.empty()) return InvalidArgument("key has an empty path component");
    if (part == "..") return InvalidArgument("key contains a '..' component");
    if (part == ".") return InvalidArgument("key contains a '.' component");
    if (part.size() > 255) return InvalidArgument("key has a component longer than 255 bytes");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

uint32_t ReferenceIndexBuilder::InternUrl(std::string_view url) {
  auto [it, inserted] =
      impl_->url_ids.try_emplace(std::string(url), static_cast<uint32_t>(impl_->urls.size()));
  if (inserted) impl_->urls.emplace_back(url);
  return it->second;
}

void ReferenceIndexBuilder::RewriteUrl(uint32_t id, std::string url) {
  impl_->urls[id] = std::move(url);
}

size_t ReferenceIndexBuilder::url_count() const { return impl_->urls.size(); }
const std::string& ReferenceIndexBuilder::url(uint32_t id) const { return impl_->urls[id]; }
size_t ReferenceIndexBuilder::entry_count() const { return impl_->pending.size(); }

void ReferenceIndexBuilder::AddInline(std::string_view key, std::string_view data) {
  uint64_t off = impl_->inline_data.size();
  impl_->inline_data.append(data);
  impl_->Add(key, ReferenceIndex::kInlineUrl, off, data.size());
}

void ReferenceIndexBuilder::AddRange(std::string_view key, uint32_t url_id, uint64_t offset,
                                     uint64_t size) {
  impl_->Add(key, url_id, offset, size);
}

void ReferenceIndexBuilder::AddLazyRun(std::string_view dir, ChunkGrid grid, ChunkKeyEncoding encoding) {
  impl_->runs.push_back(Impl::PendingRun{std::string(dir), std::move(grid), std::move(encoding)});
}

void ReferenceIndexBuilder::SetLazyResolver(std::shared_ptr<const LazyChunkResolver> resolver) {
  impl_->resolver = std::move(resolver);
}

void ReferenceIndexBuilder::AddWhole(std::string_view key, uint32_t url_id) {
  impl_->Add(key, url_id, 0, ReferenceIndex::kUnknownSize);
}

namespace {
std::string_view DirOf(std::string_view key) {
  size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : key.substr(0, slash);
}
std::string_view BaseOf(std::string_view key) {
  size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? key : key.substr(slash + 1);
}
}  // namespace

void ReferenceIndexBuilder::Reserve(size_t entries, size_t key_bytes) {
  impl_->pending.reserve(entries);
  impl_->keys.reserve(key_bytes);
}

// Lazy runs take the ids after the eager files, in the order added.
Status ReferenceIndexBuilder::AttachLazyRuns(ReferenceIndex* idx) {
  Impl& b = *impl_;
  if (b.runs.empty()) return Status::Ok();
  if (!b.resolver) return InvalidArgument("lazy chunk runs without a resolver");
  ReferenceIndex::FileId next = idx->files_.size();
  for (auto& run : b.runs) {
    std::optional<ReferenceIndex::DirId> d = ReferenceIndex::kRootDir;
    std::string_view path = run.dir;
    while (d && !path.empty()) {
      size_t slash = path.find('/');
      d = idx->FindDir(*d, path.substr(0, slash));
      path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    }
    if (!d) return InvalidArgument("lazy chunks of '" + run.dir + "': no such directory");
    if (idx->dir_lazy_run(*d)) return InvalidArgument("lazy chunks of '" + run.dir + "' added twice");
    const uint64_t count = run.grid.chunk_count();
    if (count > (uint64_t{1} << 48) - next) return InvalidArgument("lazy chunks of '" + run.dir + "': too many");
    const auto r = static_cast<uint32_t>(idx->lazy_runs_.size());
    idx->lazy_runs_.push_back(ReferenceIndex::LazyRun{*d, next, std::move(run.grid), std::move(run.encoding)});
    idx->run_by_dir_.insert(std::upper_bound(idx->run_by_dir_.begin(), idx->run_by_dir_.end(), std::make_pair(*d, r)),
                            std::make_pair(*d, r));
    next += count;
  }
  idx->lazy_file_count_ = next - idx->files_.size();
  idx->resolver_ = std::move(b.resolver);
  return Status::Ok();
}

// Memory is the constraint here (an index of 100 million keys is built on
// machines with a few GiB): the temporaries are the entries (32 bytes a
// key), their keys, and a 16-byte sort record a key; the files are gathered
// into the index once sorted, and the keys' text becomes the index's name
// arena (names point at the basename within each key) instead of being
// copied.
Result<ReferenceIndex> ReferenceIndexBuilder::Finish() && {
  Impl& b = *impl_;
  ReferenceIndex idx;
  const size_t n = b.pending.size();
  if (n > std::numeric_limits<uint32_t>::max())
    return InvalidArgument("more than " + std::to_string(std::numeric_limits<uint32_t>::max()) +
                           " keys");

  // 1. Every directory path, with all its ancestors. Views point into b.keys.
  std::unordered_map<std::string_view, uint32_t> dir_index;
  std::vector<std::string_view> dir_paths;
  auto add_dir = [&](std::string_view path) {
    while (true) {
      auto [it, inserted] = dir_index.try_emplace(path, 0);
      if (!inserted) return;
      dir_paths.push_back(path);
      if (path.empty()) return;
      path = DirOf(path);
    }
  };
  add_dir(std::string_view());
  for (const auto& p : b.pending) add_dir(DirOf(b.key(p)));

  // 2. Deterministic directory ids: sorted by full path, so the root is 0.
  std::sort(dir_paths.begin(), dir_paths.end());
  for (uint32_t i = 0; i < dir_paths.size(); ++i) dir_index[dir_paths[i]] = i;

  // 3. Files ordered by (directory, name); of equal keys the later entry
  //    (larger position) wins and is the one kept. Each entry is sorted by a
  //    16-byte record holding its directory and the first 8 bytes of its
  //    name, so most comparisons never touch the keys' text.
  struct SortKey {
    uint64_t name8;  // the name's first 8 bytes, big-endian, zero-padded
    uint32_t dir;
    uint32_t entry;
  };
  std::vector<SortKey> order(n);
  for (size_t i = 0; i < n; ++i) {
    std::string_view key = b.key(b.pending[i]);
    std::string_view name = BaseOf(key);
    uint64_t name8 = 0;
    for (size_t j = 0; j < 8; ++j)
      name8 = (name8 << 8) | (j < name.size() ? static_cast<unsigned char>(name[j]) : 0);
    order[i] = SortKey{name8, dir_index[DirOf(key)], static_cast<uint32_t>(i)};
  }
  const auto same_name = [&](const SortKey& x, const SortKey& y) {
    return x.dir == y.dir && x.name8 == y.name8 &&
           BaseOf(b.key(b.pending[x.entry])) == BaseOf(b.key(b.pending[y.entry]));
  };
  std::sort(order.begin(), order.end(), [&](const SortKey& x, const SortKey& y) {
    if (x.dir != y.dir) return x.dir < y.dir;
    if (x.name8 != y.name8) return x.name8 < y.name8;
    std::string_view nx = BaseOf(b.key(b.pending[x.entry]));
    std::string_view ny = BaseOf(b.key(b.pending[y.entry]));
    if (nx != ny) return nx < ny;
    return x.entry < y.entry;
  });
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n && same_name(order[i], order[i + 1])) continue;
    order[kept++] = order[i];
  }
  order.resize(kept);

  // 4. Directories, named by offsets into the keys' text.
  const auto offset_in_keys = [&](std::string_view v) -> uint64_t {
    return v.empty() ? 0 : static_cast<uint64_t>(v.data() - b.keys.data());
  };
  idx.dirs_.resize(dir_paths.size());
  for (uint32_t d = 0; d < dir_paths.size(); ++d) {
    auto& dir = idx.dirs_[d];
    std::string_view name = BaseOf(dir_paths[d]);
    dir.parent = d == 0 ? 0 : dir_index[DirOf(dir_paths[d])];
    dir.name_off = offset_in_keys(name);
    dir.name_len = static_cast<uint32_t>(name.size());
    dir.first_subdir = dir.subdir_count = 0;
    dir.first_file = dir.file_count = 0;
  }
  std::vector<uint32_t> by_parent(dir_paths.size() > 0 ? dir_paths.size() - 1 : 0);
  std::iota(by_parent.begin(), by_parent.end(), 1);
  std::stable_sort(by_parent.begin(), by_parent.end(), [&](uint32_t x, uint32_t y) {
    return idx.dirs_[x].parent < idx.dirs_[y].parent;
  });
  idx.subdir_ids_ = by_parent;
  for (uint32_t i = 0; i < by_parent.size(); ++i) {
    auto& parent = idx.dirs_[idx.dirs_[by_parent[i]].parent];
    if (parent.subdir_count == 0) parent.first_subdir = i;
    ++parent.subdir_count;
  }

  // 5. Each directory's run of files (files are in directory order), then
  //    the files themselves, gathered in sorted order.
  for (const SortKey& k : order) ++idx.dirs_[k.dir].file_count;
  std::vector<uint32_t> sorted(kept);  // entries in file order, a quarter the size
  for (size_t i = 0; i < kept; ++i) sorted[i] = order[i].entry;
  std::vector<SortKey>().swap(order);
  for (uint32_t d = 1; d < idx.dirs_.size(); ++d)
    idx.dirs_[d].first_file = idx.dirs_[d - 1].first_file + idx.dirs_[d - 1].file_count;
  idx.files_.reserve(kept);
  for (uint32_t e : sorted) {
    const auto& p = b.pending[e];
    std::string_view name = BaseOf(b.key(p));
    idx.files_.push_back(ReferenceIndex::File{offset_in_keys(name), static_cast<uint32_t>(name.size()),
                                              p.url_id, p.offset, p.size});
  }
  std::vector<uint32_t>().swap(sorted);
  decltype(b.pending)().swap(b.pending);
  idx.names_ = std::move(b.keys);

  // 6. A name may not be both a file and a directory.
  for (uint32_t d = 1; d < idx.dirs_.size(); ++d) {
    if (idx.FindFile(idx.dirs_[d].parent, idx.dir_name(d)))
      return InvalidArgument("key '" + idx.DirPath(d) + "' is both a file and a directory");
  }

  idx.inline_data_ = std::move(b.inline_data);
  idx.inline_data_.shrink_to_fit();
  idx.urls_ = std::move(b.urls);
  b.keys.clear();
  ZM_RETURN_IF_ERROR(AttachLazyRuns(&idx));
  return idx;
}

}  // namespace zm
