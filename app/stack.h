// Everything between the filesystem and the network, built from the
// options: the origin, the memory, disk and shared tiers, and the read-through
// cache over them. The daemon and `zarrmount warm` build the same stack.
#pragma once

#include <atomic>
#include <memory>
#include <vector>
#include <string>

#include "base/status.h"
#include "base/thread_pool.h"
#include "cache/block_store.h"
#include "cache/shared_block_store.h"
#include "io/cloud.h"
#include "io/origin.h"
#include "cache/read_through.h"
#include "app/options.h"
#include "refs/lazy_parquet.h"
#include "refs/reference_index.h"
#include "refs/reference_loader.h"

namespace zm {

struct Stack {
  std::unique_ptr<Origin> origin;
  std::unique_ptr<BlockStore> memory;
  std::unique_ptr<PersistentBlockStore> disk;  // null: no disk cache
  std::unique_ptr<SharedBlockStore> shared;    // null: no --shared-cache
  std::unique_ptr<ReadThroughCache> cache;
  // Canonical directories local references may read (see NewFileOrigin).
  std::vector<std::string> local_roots;
  UrlMap url_map;  // --map, applied by `origin` to every URL
  // How URLs become requests (the HTTP origin's plan); catalogs add
  // unsigned bucket prefixes to it.
  std::shared_ptr<RequestPlanner> planner;
  // One line for the log on how remote URLs are reached (credentials'
  // source, region, endpoint, headers with values hidden); never a secret.
  std::string origin_summary;
};

// Builds the stack `opt` asks for, sized by ComputeSizes (app/daemon.h).
// Without an explicit --cache-dir, a cache directory that cannot be opened
// is a warning and the stack has no disk tier; with one, it is an error.
Result<Stack> BuildStack(const Options& opt);

// The stack's lower part, as BuildStack builds it: `origin` (how URLs are
// reached: --map, headers, S3/GCS signing, local roots) with `planner`,
// `url_map`, `local_roots` and `origin_summary`, and the `memory` tier.
// `receive_buffer_bytes`: each HTTP connection's receive buffer
// (HttpOptions; 0: libcurl's default). (app/origin_stack.cc, apart from the
// disk and shared tiers, so that a program needing only these does not
// link LMDB or libmemcached.)
Status BuildOriginAndMemory(const Options& opt, long receive_buffer_bytes, Stack* s);

// A stack of the origin and the memory tier only, whatever `opt` says of
// the disk and shared tiers: what a scan worker reads through
// (app/scan_worker.h).
Result<Stack> BuildMemoryStack(const Options& opt);

// Fails with one line naming the first local reference of `index` that
// lies outside `stack.local_roots`, so such a reference set is refused at
// mount instead of failing read by read. (The file origin checks again at
// every open, so a link changed later is refused too.)
Status CheckLocalReferences(const ReferenceIndex& index, const Stack& stack,
                            const std::string& source);
// True for a SOURCE that is a URL to fetch (http(s)://, s3://, gs://, ...)
// rather than a local path or file:// URL.
bool IsRemoteSource(const std::string& source);

// True for a SOURCE that is a kerchunk Parquet reference directory: a local
// directory holding ".zmetadata", or a URL whose path ends in '/'.
bool IsParquetSource(const std::string& source);

// Loads the reference set SOURCE: a local file, or a URL fetched whole
// through `origin` (so --map, credentials and headers apply) and then
// inflated and parsed like a file; relative URLs in it resolve against the
// URL's directory. A Parquet reference directory (IsParquetSource) is read
// the same way, its ".zmetadata" and every record file (refs/parquet_refs.h).
// Errors name SOURCE (redacted).
Result<ReferenceIndex> LoadSource(const std::string& source, Origin* origin,
                                  const ReferenceLoadOptions& options = {});

// Loads a Parquet reference directory SOURCE (IsParquetSource) lazily
// (refs/lazy_parquet.h): its ".zmetadata" now, fetched like LoadSource
// does; record files when first used, through `cache` (not owned; it must
// outlive the index), as `lazy` says.
Result<ReferenceIndex> LoadLazyParquetSource(const std::string& source, Origin* origin,
                                             ReadThroughCache* cache, const ReferenceLoadOptions& options,
                                             const LazyParquetOptions& lazy);

// Learns the sizes of whole-object references ([url]) of `index` with
// parallel requests (answered from the cache tiers when they can be).
Status SizeWholeObjects(ReferenceIndex* index, ReadThroughCache* cache, int threads,
                        const std::string& source);

// Asks the origin about every object of `index` (ReadThroughCache::Object)
// on `threads` threads in the background, so that reads seldom wait for the
// once-per-object version check: without it a reader walking one chunk per
// file (a pixel drill) would pay a round trip per file. Every served
// dataset has one (BuildDataset in app/daemon.h): a plain mount's for the
// mount's life, a catalog dataset's while it is loaded. Stops early when
// destroyed (waiting for the requests under way); does nothing unless
// `cache` validates. REQUIRES: `index` and `cache` outlive it.
class ObjectChecker {
 public:
  ObjectChecker(const ReferenceIndex* index, ReadThroughCache* cache, int threads);
  ~ObjectChecker();

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> next_{0};  // the next object (url id) to check
  ThreadPool pool_;  // last: its tasks use the fields above
};

}  // namespace zm
