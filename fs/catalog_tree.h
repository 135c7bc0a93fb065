// CatalogTree: one mount for a catalog of datasets (see refs/catalog.h).
// The catalog's directories are fixed at mount; each dataset is a directory
// whose contents are another Tree (the dataset's zarr or legacy view),
// loaded on first access below it and released when unused.
//
// Laziness: listing or stat'ing a dataset's directory loads nothing; a
// lookup, readdir, open or read below it loads the dataset (once, however
// many readers ask at the same time; the others wait for that load).
// Loading does I/O without holding any lock another dataset needs.
//
// Release: loaded datasets are charged `LoadedDataset::bytes`; while the
// total is above `memory_budget` (or more than `max_loaded` are loaded),
// the least recently used ones other than the one just loaded are released;
// datasets unused for `idle_seconds` are released by a background thread.
// A released dataset is reloaded on its next access. Reads in progress keep
// what they read alive (ReadSlices results own a reference to the tree).
//
// Inodes: the catalog's directories are 1 (the root) .. N. Dataset d
// (0-based) owns [(d + 1) << kDatasetShift, (d + 2) << kDatasetShift): its
// tree's inode x is ((d + 1) << kDatasetShift) + x, so its directory is
// ((d + 1) << kDatasetShift) + 1, and a reloaded dataset (whose tree numbers
// its inodes the same way) gets the same inodes back: the kernel may keep
// inode numbers across a release. REQUIRES: a dataset tree's inodes are
// below 2^kDatasetShift (checked at load).
//
// Failure: a dataset that cannot be loaded fails every access below it
// with kIoError naming the dataset and the reason (EIO), logged once per
// attempt; the attempt is retried after `retry_ms`. The rest of the mount
// is unaffected.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "base/units.h"
#include "fs/tree.h"
#include "refs/catalog.h"

namespace zm {

struct LoadedDataset {
  std::shared_ptr<const Tree> tree;  // owns everything the tree reads
  uint64_t bytes = 0;                // charged against the memory budget
};

// Loads dataset `d` of the catalog; does I/O; called without locks held,
// from any thread, at most once at a time per dataset.
using DatasetLoader = std::function<Result<LoadedDataset>(size_t d)>;

struct CatalogTreeOptions {
  uint64_t memory_budget = 1_GiB;  // bytes of loaded datasets kept
  size_t max_loaded = 0;           // datasets kept loaded; 0: no limit
  int64_t idle_seconds = 600;      // release after this long unused; 0: never
  int64_t retry_ms = 30'000;       // a failed load is retried after this
};

struct CatalogStats {
  std::atomic<uint64_t> loads{0};          // successful loads (reloads included)
  std::atomic<uint64_t> load_failures{0};
  std::atomic<uint64_t> shared_waits{0};   // accesses that waited for another's load
  std::atomic<uint64_t> releases{0};
  std::atomic<uint64_t> loaded{0};         // datasets loaded now
  std::atomic<uint64_t> loaded_bytes{0};
};

class CatalogTree : public Tree {
 public:
  static constexpr int kDatasetShift = 40;

  // `catalog` gives the layout (copied); `load` builds dataset d's tree.
  CatalogTree(const Catalog& catalog, DatasetLoader load, const CatalogTreeOptions& options,
              int64_t mtime);
  // Stops the idle thread; loaded datasets are released.
  ~CatalogTree() override;

  int64_t mtime() const override { return mtime_; }
  Result<Attr> Lookup(uint64_t parent, std::string_view name) const override;
  Result<Attr> GetAttr(uint64_t ino) const override;
  Status ReadDir(uint64_t ino, uint64_t offset,
                 const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit)
      const override;
  Status Open(uint64_t ino) const override;
  Result<Slices> ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const override;
  void StatFs(struct statvfs* st) const override;

  size_t dataset_count() const { return slots_.size(); }
  // "a/b/name": dataset d's path in the mount.
  const std::string& dataset_path(size_t d) const { return slots_[d]->path; }
  bool loaded(size_t d) const;
  const CatalogStats& stats() const { return stats_; }
  // Releases datasets unused for `idle` (the idle thread calls this).
  void ReleaseIdle(std::chrono::milliseconds idle) const;

 private:
  struct Child {
    std::string name;
    bool dataset = false;
    uint32_t id = 0;  // node index, or dataset index
  };
  struct Node {
    uint32_t parent = 0;
    std::vector<Child> children;  // sorted by name
  };
  struct Slot {
    std::string path;
    uint32_t parent = 0;  // the node holding its directory
    std::mutex mu;        // guards the fields below; a leaf lock
    std::shared_ptr<const Tree> tree;  // null: not loaded
    uint64_t bytes = 0;
    std::shared_future<Result<std::shared_ptr<const Tree>>> loading;  // valid: a load is under way
    Status failure;
    std::chrono::steady_clock::time_point retry_at;
    std::atomic<int64_t> last_used_ms{0};  // read without `mu` by eviction
  };

  uint64_t DatasetBase(size_t d) const { return uint64_t(d + 1) << kDatasetShift; }
  Attr NodeAttr(uint32_t n) const;
  Attr DatasetRootAttr(size_t d) const;
  Attr ChildAttr(const Child& c) const;
  // The dataset's tree, loaded if need be (see the file comment).
  Result<std::shared_ptr<const Tree>> Acquire(size_t d) const;
  // Releases least recently used datasets (never `keep`) while over budget.
  void Evict(size_t keep) const;
  void Release(const std::vector<size_t>& victims) const;
  int64_t NowMs() const;

  const CatalogTreeOptions options_;
  const int64_t mtime_;
  const DatasetLoader load_;
  std::vector<Node> nodes_;                    // inode = index + 1; the root first
  std::vector<std::unique_ptr<Slot>> slots_;
  const std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  mutable CatalogStats stats_;

  // Lock order: lru_mu_ and a Slot's mu are never held together.
  mutable std::mutex lru_mu_;  // guards loaded_; never held across I/O
  mutable std::vector<std::pair<size_t, uint64_t>> loaded_;  // (dataset, bytes)
  mutable uint64_t loaded_bytes_ = 0;

  std::mutex idle_mu_;  // guards stop_
  std::condition_variable idle_cv_;
  bool stop_ = false;
  std::thread idle_thread_;  // last: started after the rest exists
};

}  // namespace zm
