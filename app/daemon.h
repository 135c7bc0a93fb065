// The daemon's assembly: one factory for every kind of mount.
//
// SOURCE is a reference set, an aggregation of reference sets (--concat) or
// a catalog (Intake, STAC) whose datasets load when first used; the mount
// shows the store's keys (zarr) or decoded arrays (npy, netcdf). Whatever
// the kind, the daemon is one Stack (origin, cache tiers, read-through
// cache; app/stack.h) and, per dataset, what BuildDataset makes over it:
//
//   options --MakeDaemonConfig--> DaemonConfig (sizes computed once)
//   index --CheckIndex--> confined, sized --BuildDataset--> ServedDataset
//           (version checker, prefetcher, tree)
//
// A plain mount serves one ServedDataset; a catalog builds one per dataset
// when the CatalogTree loads it and drops it when the tree releases it
// (app/catalog_mount.h), so both get the same prefetch, views and
// background version checks.
//
// Thread-safety: the functions here are called by one thread at a time per
// dataset; what they build is safe for concurrent reads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "cache/read_through.h"
#include "fs/catalog_tree.h"
#include "fs/prefetcher.h"
#include "fs/tree.h"
#include "app/options.h"
#include "app/scan_source.h"
#include "app/sources.h"
#include "app/stack.h"
#include "refs/reference_index.h"
#include "refs/reference_loader.h"
#include "views/decoded_zarr_view.h"
#include "views/view_tree.h"

namespace zm {

inline constexpr char kVersion[] = "0.1.0";

// Every size and count the daemon is built with, derived from the options
// in one place.
struct DaemonSizes {
  uint64_t memory_cache_bytes = 0;  // the memory tier of the stack
  // The read-through cache's blocks, coalescing, and background prefetch
  // (threads, bytes queued or in flight); `validate` is not a size and is
  // left at its default.
  ReadThroughOptions read_through;
  // Each HTTP connection's receive buffer, kept while the connection lives
  // (at most --max-connections of them).
  long http_receive_buffer_bytes = 0;
  int fuse_threads = 0;     // FUSE worker threads, at most
  int size_threads = 0;     // parallel size requests for whole-object references
  int checker_threads = 0;  // background version checks, per dataset
  PrefetchOptions prefetch;        // pattern prefetch of a zarr view, per dataset
  uint64_t view_cache_bytes = 0;   // decoded chunks kept, per npy/netcdf view
  int view_decode_threads = 0;     // decode-ahead threads, per view
  uint64_t view_readahead_bytes = 0;  // file bytes decoded ahead, per view
  CatalogTreeOptions catalog;      // how many catalog datasets stay loaded
};

DaemonSizes ComputeSizes(const Options& opt);

// How the datasets of a mount are built; derived once from the options.
struct DaemonConfig {
  DaemonSizes sizes;
  ViewKind view = ViewKind::kZarr;
  ReferenceLoadOptions load;  // limits on loading a reference set
  // Whole objects of unknown size stay unsized until first used (a Zarr
  // store's chunk keys): neither sized by CheckIndex nor checked in the
  // background by BuildDataset.
  bool lazy_sizes = false;
};

// REQUIRES: `opt.view` names a view (ParseOptions checks it).
DaemonConfig MakeDaemonConfig(const Options& opt);

// One dataset as served: its index, the tree over it and what the tree
// uses. Members are destroyed in reverse order: the tree first, then the
// prefetcher, then the checker (whose threads stop early), the index last.
struct ServedDataset {
  ReferenceIndex index;
  std::unique_ptr<ObjectChecker> checker;  // versions checked in the background
  std::unique_ptr<Prefetcher> prefetcher;  // the zarr view's only
  std::unique_ptr<Tree> tree;
  // The decoded chunks' counters of the views that decode (npy, netcdf,
  // zarr-decoded); null for the zarr view.
  const DecodedChunkStats* view_stats = nullptr;
};

// How NetCDF/HDF5 inputs are scanned for a mount (or `warm`) of `opt` over
// `stack`: their scan records kept in the cache directory when the stack
// has a disk tier, references loaded within `load`.
SourceScanOptions ScanOptionsFor(const Options& opt, const ReferenceLoadOptions& load, const Stack& stack);

// Refuses local references of `index` outside the stack's local roots and
// learns the sizes of its whole-object references; errors name `shown`.
Status CheckIndex(ReferenceIndex* index, Stack* stack, const DaemonConfig& config,
                  const std::string& shown);

// Builds the served dataset over `index` (passed through CheckIndex): starts
// the background version checker, then builds the tree the config asks for
// (`set_name` is the root group's name in npy/netcdf views; `mtime` the
// time stamp of every entry). Errors are the view's, without context.
// REQUIRES: `stack` outlives the result.
Result<std::unique_ptr<ServedDataset>> BuildDataset(ReferenceIndex index, Stack* stack,
                                                    const DaemonConfig& config,
                                                    const std::string& set_name, int64_t mtime);

// Runs the mount `opt` describes until it is unmounted (or, with
// --check-only, checks SOURCE and prints what it found). `inputs`: the
// expanded SOURCEs when aggregating (--concat), else the files of a
// collection (ExpandFileCollection), else empty. `report` is
// called once, when the mount answers requests (Ok) or with why it could
// not start. Returns the process's exit code.
int RunDaemon(Options opt, const std::vector<ReferenceSource>& inputs,
              const std::function<void(const Status&)>& report);

}  // namespace zm
