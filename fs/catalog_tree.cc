#include "fs/catalog_tree.h"

#include <algorithm>

#include "base/log.h"

namespace zm {
namespace {

constexpr uint64_t kInnerMask = (uint64_t{1} << CatalogTree::kDatasetShift) - 1;

// An empty string that a ReadSlices result can point its keep-alive block
// at: the block's control block is the dataset tree's.
const std::string kKeepAlive;

}  // namespace

CatalogTree::CatalogTree(const Catalog& catalog, DatasetLoader load,
                         const CatalogTreeOptions& options, int64_t mtime)
    : options_(options), mtime_(mtime), load_(std::move(load)) {
  std::map<std::vector<std::string>, uint32_t> dirs;
  nodes_.emplace_back();  // the root
  dirs[{}] = 0;
  // Parents come before children in `directories`; a dataset or directory
  // whose parent is not listed gets one made on the way.
  auto ensure = [&](auto&& self, const std::vector<std::string>& path) -> uint32_t {
    if (auto it = dirs.find(path); it != dirs.end()) return it->second;
    std::vector<std::string> up(path.begin(), path.end() - 1);
    uint32_t parent = self(self, up);
    uint32_t n = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
    nodes_[n].parent = parent;
    nodes_[parent].children.push_back(Child{path.back(), false, n});
    dirs[path] = n;
    return n;
  };
  for (const auto& d : catalog.directories)
    if (!d.empty()) ensure(ensure, d);
  for (size_t i = 0; i < catalog.datasets.size(); ++i) {
    const auto& path = catalog.datasets[i].path;
    auto slot = std::make_unique<Slot>();
    std::vector<std::string> up(path.begin(), path.end() - 1);
    slot->parent = ensure(ensure, up);
    for (const std::string& p : path) slot->path += (slot->path.empty() ? "" : "/") + p;
    nodes_[slot->parent].children.push_back(Child{path.back(), true, static_cast<uint32_t>(i)});
    slots_.push_back(std::move(slot));
  }
  for (Node& n : nodes_)
    std::sort(n.children.begin(), n.children.end(),
              [](const Child& a, const Child& b) { return a.name < b.name; });
  if (options_.idle_seconds > 0) {
    idle_thread_ = std::thread([this] {
      const auto idle = std::chrono::milliseconds(options_.idle_seconds * 1000);
      const auto period = std::clamp<std::chrono::milliseconds>(idle / 4, std::chrono::milliseconds(100),
                                                                std::chrono::milliseconds(10'000));
      std::unique_lock<std::mutex> lock(idle_mu_);
      while (!idle_cv_.wait_for(lock, period, [this] { return stop_; })) {
        lock.unlock();
        ReleaseIdle(idle);
        lock.lock();
      }
    });
  }
}

CatalogTree::~CatalogTree() {
  {
    std::lock_guard<std::mutex> lock(idle_mu_);
    stop_ = true;
  }
  idle_cv_.notify_all();
  if (idle_thread_.joinable()) idle_thread_.join();
}

int64_t CatalogTree::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               epoch_)
      .count();
}

Attr CatalogTree::NodeAttr(uint32_t n) const {
  Attr a;
  a.ino = kRootIno + n;
  a.is_dir = true;
  // Every entry of a catalog directory is a directory.
  a.nlink = 2 + static_cast<uint32_t>(nodes_[n].children.size());
  return a;
}

Attr CatalogTree::DatasetRootAttr(size_t d) const {
  Attr a;
  a.ino = DatasetBase(d) + kRootIno;
  a.is_dir = true;
  // The count of subdirectories is unknown until loaded; 1 tells tools
  // like find not to infer it (and stays the same once loaded).
  a.nlink = 1;
  return a;
}

Attr CatalogTree::ChildAttr(const Child& c) const {
  return c.dataset ? DatasetRootAttr(c.id) : NodeAttr(c.id);
}

bool CatalogTree::loaded(size_t d) const {
  std::lock_guard<std::mutex> lock(slots_[d]->mu);
  return slots_[d]->tree != nullptr;
}

Result<std::shared_ptr<const Tree>> CatalogTree::Acquire(size_t d) const {
  Slot& s = *slots_[d];
  std::promise<Result<std::shared_ptr<const Tree>>> promise;
  std::shared_future<Result<std::shared_ptr<const Tree>>> wait;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.last_used_ms = NowMs();
    if (s.tree) return s.tree;
    if (s.loading.valid()) {
      wait = s.loading;
    } else {
      if (!s.failure.ok() && std::chrono::steady_clock::now() < s.retry_at) return s.failure;
      s.loading = promise.get_future().share();
    }
  }
  if (wait.valid()) {
    ++stats_.shared_waits;
    return wait.get();
  }
  // This thread loads; others wait on the future, and no lock is held
  // across the load, so other datasets are served meanwhile.
  Result<std::shared_ptr<const Tree>> result = IoError("unreachable");
  uint64_t bytes = 0;
  auto loaded = load_(d);
  if (loaded.ok() && !loaded->tree) loaded = IoError("the loader returned no tree");
  if (loaded.ok()) {
    struct statvfs sv;
    loaded->tree->StatFs(&sv);
    if (sv.f_files + 2 > kInnerMask) loaded = IoError("too many files for one dataset of a catalog");
  }
  if (loaded.ok()) {
    bytes = loaded->bytes;
    result = loaded->tree;
  } else {
    result = IoError("dataset '" + s.path + "': " + loaded.status().message());
  }
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.loading = {};
    if (result.ok()) {
      s.tree = *result;
      s.bytes = bytes;
      s.failure = Status::Ok();
      s.last_used_ms = NowMs();
    } else {
      s.failure = result.status();
      s.retry_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.retry_ms);
    }
  }
  promise.set_value(result);
  if (!result.ok()) {
    ++stats_.load_failures;
    LogWarning(result.status().message());
    return result;
  }
  ++stats_.loads;
  {
    std::lock_guard<std::mutex> lock(lru_mu_);
    loaded_.emplace_back(d, bytes);
    loaded_bytes_ += bytes;
    stats_.loaded = loaded_.size();
    stats_.loaded_bytes = loaded_bytes_;
  }
  Evict(d);
  return result;
}

void CatalogTree::Evict(size_t keep) const {
  std::vector<size_t> victims;
  {
    std::lock_guard<std::mutex> lock(lru_mu_);
    auto over = [&] {
      return loaded_bytes_ > options_.memory_budget ||
             (options_.max_loaded && loaded_.size() > options_.max_loaded);
    };
    while (over() && loaded_.size() > 1) {
      size_t best = loaded_.size();
      int64_t oldest = INT64_MAX;
      for (size_t i = 0; i < loaded_.size(); ++i) {
        if (loaded_[i].first == keep) continue;
        int64_t t = slots_[loaded_[i].first]->last_used_ms.load();
        if (t < oldest) oldest = t, best = i;
      }
      if (best == loaded_.size()) break;
      victims.push_back(loaded_[best].first);
      loaded_bytes_ -= loaded_[best].second;
      loaded_[best] = loaded_.back();
      loaded_.pop_back();
    }
    stats_.loaded = loaded_.size();
    stats_.loaded_bytes = loaded_bytes_;
  }
  Release(victims);
}

void CatalogTree::ReleaseIdle(std::chrono::milliseconds idle) const {
  std::vector<size_t> victims;
  const int64_t cutoff = NowMs() - idle.count();
  {
    std::lock_guard<std::mutex> lock(lru_mu_);
    for (size_t i = 0; i < loaded_.size();) {
      if (slots_[loaded_[i].first]->last_used_ms.load() < cutoff) {
        victims.push_back(loaded_[i].first);
        loaded_bytes_ -= loaded_[i].second;
        loaded_[i] = loaded_.back();
        loaded_.pop_back();
      } else {
        ++i;
      }
    }
    stats_.loaded = loaded_.size();
    stats_.loaded_bytes = loaded_bytes_;
  }
  Release(victims);
}

void CatalogTree::Release(const std::vector<size_t>& victims) const {
  // The trees are destroyed here, after their slots' locks are dropped (or
  // later, by the last read still using one): destroying a view joins its
  // decode threads.
  std::vector<std::shared_ptr<const Tree>> doomed;
  for (size_t v : victims) {
    Slot& s = *slots_[v];
    std::lock_guard<std::mutex> lock(s.mu);
    doomed.push_back(std::move(s.tree));
    s.tree.reset();
    s.bytes = 0;
    ++stats_.releases;
  }
  if (!victims.empty())
    LogDebug("released " + std::to_string(victims.size()) + " dataset(s) of the catalog");
}

Result<Attr> CatalogTree::Lookup(uint64_t parent, std::string_view name) const {
  if (parent < DatasetBase(0)) {
    if (parent < kRootIno || parent - kRootIno >= nodes_.size()) return NotFound("no such directory");
    const uint32_t n = static_cast<uint32_t>(parent - kRootIno);
    if (name == ".") return NodeAttr(n);
    if (name == "..") return NodeAttr(nodes_[n].parent);
    const auto& ch = nodes_[n].children;
    auto it = std::lower_bound(ch.begin(), ch.end(), name,
                               [](const Child& c, std::string_view k) { return c.name < k; });
    if (it == ch.end() || it->name != name) return NotFound(std::string(name));
    return ChildAttr(*it);
  }
  const size_t d = (parent >> kDatasetShift) - 1;
  const uint64_t inner = parent & kInnerMask;
  if (d >= slots_.size()) return NotFound("no such directory");
  if (inner == kRootIno && name == "..") return NodeAttr(slots_[d]->parent);
  if (inner == kRootIno && name == ".") return DatasetRootAttr(d);
  ZM_ASSIGN_OR_RETURN(std::shared_ptr<const Tree> tree, Acquire(d));
  ZM_ASSIGN_OR_RETURN(Attr a, tree->Lookup(inner, name));
  if (a.ino == kRootIno) return DatasetRootAttr(d);
  a.ino += DatasetBase(d);
  return a;
}

Result<Attr> CatalogTree::GetAttr(uint64_t ino) const {
  if (ino < DatasetBase(0)) {
    if (ino < kRootIno || ino - kRootIno >= nodes_.size()) return NotFound("inode " + std::to_string(ino));
    return NodeAttr(static_cast<uint32_t>(ino - kRootIno));
  }
  const size_t d = (ino >> kDatasetShift) - 1;
  const uint64_t inner = ino & kInnerMask;
  if (d >= slots_.size()) return NotFound("inode " + std::to_string(ino));
  // The dataset's directory is known without loading it: stat'ing every
  // entry of a catalog directory (ls -l) loads nothing.
  if (inner == kRootIno) return DatasetRootAttr(d);
  ZM_ASSIGN_OR_RETURN(std::shared_ptr<const Tree> tree, Acquire(d));
  ZM_ASSIGN_OR_RETURN(Attr a, tree->GetAttr(inner));
  a.ino += DatasetBase(d);
  return a;
}

Status CatalogTree::ReadDir(
    uint64_t ino, uint64_t offset,
    const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const {
  if (ino < DatasetBase(0)) {
    if (ino < kRootIno || ino - kRootIno >= nodes_.size()) return NotFound("no such directory");
    const uint32_t n = static_cast<uint32_t>(ino - kRootIno);
    const auto& ch = nodes_[n].children;
    for (uint64_t pos = offset; pos < 2 + ch.size(); ++pos) {
      bool more = pos == 0   ? emit(".", NodeAttr(n), pos + 1)
                  : pos == 1 ? emit("..", NodeAttr(nodes_[n].parent), pos + 1)
                             : emit(ch[pos - 2].name, ChildAttr(ch[pos - 2]), pos + 1);
      if (!more) break;
    }
    return Status::Ok();
  }
  const size_t d = (ino >> kDatasetShift) - 1;
  const uint64_t inner = ino & kInnerMask;
  if (d >= slots_.size()) return NotFound("no such directory");
  ZM_ASSIGN_OR_RETURN(std::shared_ptr<const Tree> tree, Acquire(d));
  const uint64_t base = DatasetBase(d);
  return tree->ReadDir(inner, offset, [&](std::string_view name, const Attr& a, uint64_t next) {
    if (inner == kRootIno && name == "..") return emit(name, NodeAttr(slots_[d]->parent), next);
    if (a.ino == kRootIno) return emit(name, DatasetRootAttr(d), next);
    Attr t = a;
    t.ino += base;
    return emit(name, t, next);
  });
}

Status CatalogTree::Open(uint64_t ino) const {
  if (ino < DatasetBase(0)) {
    if (ino < kRootIno || ino - kRootIno >= nodes_.size()) return NotFound("inode " + std::to_string(ino));
    return InvalidArgument("is a directory");
  }
  const size_t d = (ino >> kDatasetShift) - 1;
  if (d >= slots_.size()) return NotFound("inode " + std::to_string(ino));
  if ((ino & kInnerMask) == kRootIno) return InvalidArgument("is a directory");
  ZM_ASSIGN_OR_RETURN(std::shared_ptr<const Tree> tree, Acquire(d));
  return tree->Open(ino & kInnerMask);
}

Result<Slices> CatalogTree::ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const {
  if (ino < DatasetBase(0)) return InvalidArgument("is a directory");
  const size_t d = (ino >> kDatasetShift) - 1;
  if (d >= slots_.size()) return NotFound("no such file");
  ZM_ASSIGN_OR_RETURN(std::shared_ptr<const Tree> tree, Acquire(d));
  ZM_ASSIGN_OR_RETURN(Slices slices, tree->ReadSlices(ino & kInnerMask, offset, size));
  // Pieces may point into the dataset (inline references, view headers):
  // the result keeps the tree alive until the reply is sent, even if the
  // dataset is released meanwhile.
  slices.buffers.push_back(SharedBuffer(tree, &kKeepAlive));
  return slices;
}

void CatalogTree::StatFs(struct statvfs* st) const {
  *st = {};
  st->f_bsize = 4096;
  st->f_frsize = 4096;
  st->f_files = nodes_.size() + slots_.size();
  st->f_namemax = 255;
  st->f_flag = ST_RDONLY;
}

}  // namespace zm
