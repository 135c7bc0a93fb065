#include "app/daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <utility>

#include "base/json.h"
#include "base/log.h"
#include "base/units.h"
#include "cache/block_store.h"
#include "fs/filesystem.h"
#include "fuse/adapter.h"
#include "app/catalog_mount.h"
#include "app/metrics_server.h"
#include "app/scan_source.h"
#include "app/scan_workers.h"
#include "app/status.h"
#include "app/store_source.h"
#include "refs/catalog.h"

namespace zm {

DaemonConfig MakeDaemonConfig(const Options& opt) {
  DaemonConfig c;
  c.sizes = ComputeSizes(opt);
  auto view = ParseViewKind(opt.view);
  c.view = view.ok() ? *view : ViewKind::kZarr;
  c.load.max_generated_keys = opt.max_generated_keys;
  return c;
}

Status CheckIndex(ReferenceIndex* index, Stack* stack, const DaemonConfig& config,
                  const std::string& shown) {
  ZM_RETURN_IF_ERROR(CheckLocalReferences(*index, *stack, shown));
  if (config.lazy_sizes) return Status::Ok();
  return SizeWholeObjects(index, stack->cache.get(), config.sizes.size_threads, shown);
}

Result<std::unique_ptr<ServedDataset>> BuildDataset(ReferenceIndex index, Stack* stack,
                                                    const DaemonConfig& config,
                                                    const std::string& set_name, int64_t mtime) {
  const DaemonSizes& sizes = config.sizes;
  ReadThroughCache* cache = stack->cache.get();
  auto ds = std::make_unique<ServedDataset>();
  ds->index = std::move(index);
  // Versions are checked in the background (one request per object), ahead
  // of the reads that would otherwise wait for them.
  // Lazily sized objects are checked as they are sized, when first used.
  if (!config.lazy_sizes)
    ds->checker = std::make_unique<ObjectChecker>(&ds->index, cache, sizes.checker_threads);
  if (config.view == ViewKind::kZarr) {
    ds->prefetcher = std::make_unique<Prefetcher>(&ds->index, cache, sizes.prefetch);
    auto fs = std::make_unique<Filesystem>(&ds->index, cache, mtime);
    fs->set_prefetcher(ds->prefetcher.get());
    ds->tree = std::move(fs);
    return ds;
  }
  DecodedArraysOptions arrays;
  arrays.root_name = set_name;
  arrays.chunk_cache_bytes = sizes.view_cache_bytes;
  arrays.decode_threads = sizes.view_decode_threads;
  if (config.view == ViewKind::kZarrDecoded) {
    ZM_ASSIGN_OR_RETURN(std::unique_ptr<DecodedZarrView> view,
                        DecodedZarrView::Build(&ds->index, cache, arrays, mtime));
    ds->view_stats = &view->chunk_stats();
    ds->tree = std::move(view);
    return ds;
  }
  ViewOptions vo;
  vo.kind = config.view;
  vo.arrays = arrays;
  vo.max_readahead = sizes.view_readahead_bytes;
  ZM_ASSIGN_OR_RETURN(std::unique_ptr<ViewFilesystem> view,
                      ViewFilesystem::Build(&ds->index, cache, vo, mtime));
  ds->view_stats = &view->chunk_stats();
  ds->tree = std::move(view);
  return ds;
}

// NetCDF/HDF5 inputs are scanned; their records live in the disk cache's
// directory, so without a disk cache every mount scans.
SourceScanOptions ScanOptionsFor(const Options& opt, const ReferenceLoadOptions& load, const Stack& stack) {
  SourceScanOptions so;
  if (stack.disk) so.cache_dir = opt.cache_dir.empty() ? DefaultCacheDir() : opt.cache_dir;
  so.scan.inline_threshold_bytes = opt.inline_threshold;
  so.load = load;
  return so;
}

namespace {

using Report = std::function<void(const Status&)>;

int Fail(const Status& st, const Report& report) {
  report(st);
  // In the foreground the report already went to stderr: one line only.
  if (!LogGoesToStderr()) LogError(st.message());
  return 1;
}

// The FUSE settings every kind of mount shares; the caller adds `status`.
FuseConfig MountConfig(const Options& opt, const DaemonConfig& config) {
  FuseConfig fc;
  fc.mountpoint = opt.mountpoint;
  fc.fsname = "zarrmount:" + RedactUrl(opt.source);
  for (char& c : fc.fsname)
    if (c == ',') c = '_';  // commas would split the -o list
  fc.options = opt.fuse_options;
  fc.debug = opt.debug;
  fc.max_threads = config.sizes.fuse_threads;
  // The npy and netcdf views decode every byte they serve: a page fault of
  // an mmap'd .npy must not decode the chunks of 1 MiB around it (4 chunks
  // for a drill point where 1 or 2 hold it). Their own chunk-walk and
  // sequential decode-ahead fetch what readers go on to read, on both
  // cores. (A zarr-decoded chunk file is one chunk: read whole.)
  if (config.view == ViewKind::kNpy || config.view == ViewKind::kNetcdf) fc.readahead = 128 << 10;
  return fc;
}

// Sets the status and metrics of `fc` from what `gather` reports, and the
// FUSE requests to be counted in `fuse`.
void SetStatus(std::function<StatusReport()> gather, FuseStats* fuse, FuseConfig* fc) {
  fc->stats = fuse;
  fc->status = [gather] { return gather().Json(); };
  fc->metrics = [gather] { return gather().PrometheusText(); };
}

// Serves `tree` until unmounted (and /metrics meanwhile, with --metrics),
// then lets background fetches finish and the disk tier reach the disk.
Status ServeTree(Tree* tree, const Options& opt, const FuseConfig& fc, Stack* stack,
                 const Report& report) {
  std::unique_ptr<MetricsServer> metrics;
  if (!opt.metrics_listen.empty()) {
    auto started = MetricsServer::Start(opt.metrics_listen, fc.metrics);
    if (!started.ok()) {
      report(started.status());
      return started.status();
    }
    metrics = std::move(started).value();
    const ListenAddress at = ParseListenAddress(opt.metrics_listen).value();  // checked by Start
    const std::string host = at.host.find(':') == std::string::npos ? at.host : "[" + at.host + "]";
    LogInfo("serving metrics at http://" + host + ":" + std::to_string(at.port) + "/metrics");
  }
  Status st = RunFuse(tree, fc, report);
  metrics.reset();
  stack->cache->WaitForPrefetches();
  if (stack->disk) stack->disk->Flush();
  return st;
}

int ExitCode(const Status& st) {
  if (st.ok()) return 0;
  LogError(st.message());
  return 1;
}

// Time stamps: the modification time of the local file `stamp`; for a URL
// (or a file that cannot be stat'ed), the time of mounting.
int64_t StampTime(const std::string& stamp) {
  struct stat sb {};
  if (IsRemoteSource(stamp) || ::stat(stamp.c_str(), &sb) != 0) return ::time(nullptr);
  return sb.st_mtime;
}

int64_t MillisecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
      .count();
}

// ---- a reference set or an aggregation --------------------------------------

void LogScans(const SourceScanner& scanner, std::chrono::steady_clock::time_point t0) {
  if (scanner.scanned() + scanner.reused() == 0) return;
  LogInfo("NetCDF/HDF5 inputs: " + std::to_string(scanner.scanned()) + " scanned, " +
          std::to_string(scanner.reused()) + " from scan records (" +
          std::to_string(MillisecondsSince(t0)) + " ms in all)");
}

Result<ReferenceIndex> LoadIndex(const Options& opt, const std::vector<ReferenceSource>& inputs,
                                 const DaemonConfig& config, Stack* stack, bool zarr_store) {
  if (zarr_store)
    return LoadZarrStore(opt.source, stack->origin.get());
  auto t0 = std::chrono::steady_clock::now();
  SourceScanner scanner(stack->cache.get(), ScanOptionsFor(opt, config.load, *stack));
  if (!opt.aggregate()) {
    // A Parquet directory is served lazily: its record files are read and
    // decoded as chunks are used, within --refs-memory.
    if (IsParquetSource(opt.source)) {
      LazyParquetOptions lazy;
      lazy.memory_bytes = opt.refs_memory;
      lazy.log_errors = !opt.check_only;  // --check reports the first itself
      return LoadLazyParquetSource(opt.source, stack->origin.get(), stack->cache.get(), config.load, lazy);
    }
    if (!IsScannableSource(opt.source)) return LoadSource(opt.source, stack->origin.get(), config.load);
    auto scanned = scanner.Load(opt.source);
    LogScans(scanner, t0);
    return scanned;
  }
  std::vector<std::string> urls;
  for (const ReferenceSource& in : inputs)
    if (in.zip_entry.empty()) urls.push_back(in.path);
  // Nothing else is fetched yet: every connection may ask a version.
  // With more than one job, the local files without records are scanned
  // by worker processes.
  const int jobs = ScanJobs(opt);
  scanner.Prepare(urls, opt.max_connections);
  if (jobs > 1)
    if (Status st = scanner.ScanInWorkers(urls, jobs, ScanWorkerCommand(opt, jobs)); !st.ok()) return st;
  AggregateOptions ao;
  ao.concat_dims = opt.concat_dims;
  ao.identical_arrays = opt.identical_dims;
  auto loaded = LoadAggregation(inputs, ao, config.load, stack->cache.get(),
                                [&scanner](const std::string& path) { return scanner.Load(path); });
  LogScans(scanner, t0);
  if (loaded.ok())
    LogInfo("aggregated " + std::to_string(inputs.size()) + " reference sets along " +
            opt.concat_dims[0] + (opt.concat_dims.size() > 1 ? ",..." : "") + " in " +
            std::to_string(MillisecondsSince(t0)) + " ms");
  return loaded;
}

// What --check learns of the lazy chunks (refs/lazy_refs.h): every record
// is decoded, one at a time through the resolver's bounded LRU.
struct LazyChunkCheck {
  uint64_t chunks = 0;  // that exist
  uint64_t bytes = 0;   // of ranges
  Status first_error;
};

LazyChunkCheck CheckLazyChunks(const ReferenceIndex& index) {
  LazyChunkCheck c;
  for (uint32_t r = 0; r < index.lazy_run_count(); ++r) {
    const ReferenceIndex::LazyRun& run = index.lazy_run(r);
    for (auto flat = index.NextLazyChunk(r, 0); flat; flat = index.NextLazyChunk(r, *flat + 1)) {
      ++c.chunks;
      auto t = index.Resolve(run.first + *flat);
      if (!t.ok() && c.first_error.ok()) c.first_error = t.status();
      if (t.ok() && t->size != ReferenceIndex::kUnknownSize) c.bytes += t->size;
    }
  }
  return c;
}

Status PrintIndexCheck(const Options& opt, const std::vector<ReferenceSource>& inputs,
                       const ReferenceIndex& index) {
  uint64_t bytes = 0;
  for (ReferenceIndex::FileId f = 0; f < index.eager_file_count(); ++f)
    if (index.target(f).size != ReferenceIndex::kUnknownSize) bytes += index.target(f).size;
  const LazyChunkCheck lazy = CheckLazyChunks(index);
  if (!lazy.first_error.ok()) return lazy.first_error;
  bytes += lazy.bytes;
  std::printf("%s%s: %zu keys, %zu directories, %zu URLs, %s referenced, index %s\n",
              opt.aggregate() ? "aggregation of " : "",
              opt.aggregate() ? (std::to_string(inputs.size()) + " reference sets").c_str()
                              : RedactUrl(opt.source).c_str(),
              static_cast<size_t>(index.eager_file_count() + lazy.chunks), index.dir_count(),
              index.url_count() + (index.resolver() ? index.resolver()->url_count() : 0), FormatSize(bytes).c_str(), FormatSize(index.MemoryUsage()).c_str());
  return Status::Ok();
}

// `zarr_store`: SOURCE is a plain Zarr store (app/store_source.h).
int ServeReferenceSet(const Options& opt, const DaemonConfig& config,
                      const std::vector<ReferenceSource>& inputs, Stack* stack,
                      const Report& report, bool zarr_store = false) {
  auto loaded = LoadIndex(opt, inputs, config, stack, zarr_store);
  if (!loaded.ok()) return Fail(loaded.status(), report);
  ReferenceIndex index = std::move(loaded).value();
  // A store's chunk keys are sized on first use (app/store_source.h).
  DaemonConfig store_config = config;
  store_config.lazy_sizes = zarr_store;
  if (Status st = CheckIndex(&index, stack, store_config, opt.source); !st.ok()) return Fail(st, report);
  if (opt.check_only) {
    if (Status st = PrintIndexCheck(opt, inputs, index); !st.ok()) return Fail(st, report);
    return 0;
  }
  const int64_t mtime = StampTime(opt.aggregate() ? inputs.front().path : opt.source);
  std::string name_source = opt.source;
  while (name_source.size() > 1 && name_source.back() == '/') name_source.pop_back();
  // A scanned file's views are named by its stem: x.nc gives x.nc, not x.nc.nc.
  if (!opt.aggregate() && IsScanName(name_source) && IsScannableSource(opt.source))
    name_source.erase(name_source.rfind('.'));
  auto built = BuildDataset(std::move(index), stack, store_config, ReferenceSetName(name_source), mtime);
  if (!built.ok()) return Fail(built.status().WithContext(opt.source), report);
  const std::unique_ptr<ServedDataset> ds = std::move(built).value();

  FuseConfig fc = MountConfig(opt, config);
  FuseStats fuse;
  const MountStatusSources sources{&opt, ds->index.file_count(), stack->cache.get(),
                                   stack->disk.get(), stack->shared.get(), &fuse,
                                   std::chrono::steady_clock::now()};
  SetStatus(
      [&] {
        StatusReport r;
        AddMountStatus(sources, &r);
        if (ds->view_stats) AddViewStatus(opt.view, *ds->view_stats, &r);
        return r;
      },
      &fuse, &fc);
  const uint64_t lazy = ds->index.file_count() - ds->index.eager_file_count();
  LogInfo("mounting " + RedactUrl(opt.source) + " (" + std::to_string(ds->index.eager_file_count()) + " keys" +
          (lazy ? " and " + std::to_string(lazy) + " chunk places looked up when used" : "") + ", " + opt.view +
          " view) at " + opt.mountpoint);
  Status st = ServeTree(ds->tree.get(), opt, fc, stack, report);
  const CacheStats& cs = stack->cache->stats();
  LogInfo("unmounted " + opt.mountpoint + ": " + std::to_string(cs.origin_requests.load()) +
          " origin requests, " + FormatSize(cs.origin_bytes.load()) + " from the origin, " +
          std::to_string(cs.memory_hits.load() + cs.disk_hits.load() + cs.shared_hits.load()) +
          " cache hits, " +
          std::to_string(cs.prefetch_requests.load()) + " prefetch requests (" +
          FormatSize(cs.prefetch_bytes.load()) + ")");
  return ExitCode(st);
}

// ---- a catalog ---------------------------------------------------------------

bool UnderRoots(const std::string& dir, const std::vector<std::string>& roots) {
  for (const std::string& r : roots)
    if (r == "/" || dir == r || dir.starts_with(r + "/")) return true;
  return false;
}

// Reads the catalog; one naming no reference set is an error.
Result<Catalog> ReadServedCatalog(const Options& opt, CatalogKind kind, Stack* stack) {
  ZM_ASSIGN_OR_RETURN(Catalog catalog, ReadCatalog(opt.source, kind, stack->origin.get()));
  if (!opt.check_only)
    for (const std::string& note : catalog.notes) LogInfo(note);
  if (catalog.datasets.empty())
    return InvalidArgument(RedactUrl(opt.source) + ": the catalog names no reference sets (" +
                           std::to_string(catalog.notes.size()) + " entries left out" +
                           (catalog.notes.empty() ? "" : ", first: " + catalog.notes.front()) + ")");
  return catalog;
}

// Each local reference file's directory is a local root, as a single
// reference file's is; the file origin takes its roots when built, so the
// stack is rebuilt when the catalog adds any.
Status AddCatalogRoots(const Catalog& catalog, Options* opt, Stack* stack) {
  bool rebuild = false;
  for (std::string& dir : LocalReferenceDirectories(catalog))
    if (!UnderRoots(dir, stack->local_roots)) {
      opt->local_roots.push_back(std::move(dir));
      rebuild = true;
    }
  if (!rebuild) return Status::Ok();
  *stack = Stack{};  // the old disk cache is closed before it is reopened
  ZM_ASSIGN_OR_RETURN(*stack, BuildStack(*opt));
  return Status::Ok();
}

void PrintCatalogCheck(const Options& opt, const std::string& kind_name, const Catalog& catalog,
                       int64_t read_ms) {
  std::printf("%s catalog %s: %zu datasets, %zu directories, %zu documents read in %lld ms, "
              "%zu entries left out or options ignored\n",
              kind_name.c_str(), RedactUrl(opt.source).c_str(), catalog.datasets.size(),
              catalog.directories.size(), catalog.documents, static_cast<long long>(read_ms),
              catalog.notes.size());
  for (const std::string& note : catalog.notes) std::printf("  %s\n", note.c_str());
}

// Serves `catalog`'s datasets, each loaded by `loader` when first used
// (fs/catalog_tree.h). `kind_name` names the catalog in the status;
// `mounting` is the log line's description of the mount.
int ServeDatasets(const Options& opt, const DaemonConfig& config, Stack* stack, const Catalog& catalog,
                  const std::string& kind_name, DatasetLoader loader, int64_t mtime,
                  const std::string& mounting, const Report& report) {
  CatalogTree tree(catalog, std::move(loader), config.sizes.catalog, mtime);
  FuseConfig fc = MountConfig(opt, config);
  FuseStats fuse;
  const MountStatusSources sources{&opt, 0, stack->cache.get(), stack->disk.get(),
                                   stack->shared.get(), &fuse, std::chrono::steady_clock::now()};
  SetStatus(
      [&] {
        StatusReport r;
        AddMountStatus(sources, &r);
        AddCatalogStatus(kind_name, tree, catalog, &r);
        return r;
      },
      &fuse, &fc);
  LogInfo("mounting " + mounting + " at " + opt.mountpoint);
  Status st = ServeTree(&tree, opt, fc, stack, report);
  const CacheStats& cs = stack->cache->stats();
  LogInfo("unmounted " + opt.mountpoint + ": " + std::to_string(tree.stats().loads.load()) +
          " dataset loads, " + std::to_string(cs.origin_requests.load()) + " origin requests, " +
          FormatSize(cs.origin_bytes.load()) + " from the origin");
  return ExitCode(st);
}

// Scans the datasets that are NetCDF/HDF5 files when they are loaded (a
// file's record reused while still valid), one at a time: libhdf5 is the
// serial build.
DatasetScanner ScanningDatasets(const Options& opt, const DaemonConfig& config, Stack* stack) {
  struct Scanning {
    Scanning(ReadThroughCache* cache, SourceScanOptions options) : scanner(cache, std::move(options)) {}
    std::mutex mu;  // guards scanner
    SourceScanner scanner;
  };
  auto s = std::make_shared<Scanning>(stack->cache.get(), ScanOptionsFor(opt, config.load, *stack));
  return [s](const CatalogDataset& ds) {
    std::lock_guard<std::mutex> lock(s->mu);
    return s->scanner.Load(ds.references);
  };
}

// SOURCE is a catalog: its documents are read now, each dataset's
// reference set when first used.
int ServeCatalog(Options opt, const DaemonConfig& config, Stack* stack, CatalogKind kind,
                 const Report& report) {
  auto t0 = std::chrono::steady_clock::now();
  auto read = ReadServedCatalog(opt, kind, stack);
  if (!read.ok()) return Fail(read.status(), report);
  const Catalog catalog = std::move(read).value();
  const int64_t ms = MillisecondsSince(t0);
  if (Status st = AddCatalogRoots(catalog, &opt, stack); !st.ok()) return Fail(st, report);
  const std::string kind_name = kind == CatalogKind::kStac ? "STAC" : "Intake";
  if (opt.check_only) {
    PrintCatalogCheck(opt, kind_name, catalog, ms);
    return 0;
  }
  const int64_t mtime = StampTime(opt.source);
  return ServeDatasets(opt, config, stack, catalog, kind_name,
                       MakeDatasetLoader(&catalog, stack, &config, mtime, ScanningDatasets(opt, config, stack)),
                       mtime,
                       kind_name + " catalog " + RedactUrl(opt.source) + " (" +
                           std::to_string(catalog.datasets.size()) + " datasets, " +
                           std::to_string(catalog.documents) + " documents read in " + std::to_string(ms) +
                           " ms, " + opt.view + " view)",
                       report);
}

// SOURCE names a collection of NetCDF/HDF5 files (ExpandFileCollection):
// each is a directory named by the file, scanned when first used (its
// record reused if still valid), as a catalog's datasets are loaded.
int ServeCollection(Options opt, const DaemonConfig& config, const std::vector<ReferenceSource>& files,
                    Stack* stack, const Report& report) {
  Catalog catalog;
  catalog.datasets.reserve(files.size());
  for (const ReferenceSource& f : files) {
    CatalogDataset d;
    d.path = {CollectionEntryName(f)};
    d.references = f.path;
    d.where = f.path;
    d.scan = true;
    catalog.datasets.push_back(std::move(d));
  }
  // Each local file's references read that file: its directory is a root.
  if (Status st = AddCatalogRoots(catalog, &opt, stack); !st.ok()) return Fail(st, report);
  if (opt.check_only) {
    std::printf("collection of %zu NetCDF/HDF5 files, each scanned when first used\n", files.size());
    return 0;
  }
  const int64_t mtime = StampTime(opt.source);
  return ServeDatasets(opt, config, stack, catalog, "NetCDF/HDF5 files",
                       MakeDatasetLoader(&catalog, stack, &config, mtime, ScanningDatasets(opt, config, stack)),
                       mtime,
                       std::to_string(files.size()) + " NetCDF/HDF5 files, each scanned when first used (" +
                           opt.view + " view)",
                       report);
}

}  // namespace

int RunDaemon(Options opt, const std::vector<ReferenceSource>& inputs, const Report& report) {
  const DaemonConfig config = MakeDaemonConfig(opt);
  // An aggregation's local references may read under each input's
  // directory, as a single reference file's may under its own.
  if (opt.aggregate())
    for (std::string& dir : SourceDirectories(inputs)) opt.local_roots.push_back(std::move(dir));
  // The stack first: a remote SOURCE is fetched through its origin.
  auto built = BuildStack(opt);
  if (!built.ok()) return Fail(built.status(), report);
  Stack stack = std::move(built).value();
  if (!opt.check_only) LogInfo(stack.origin_summary);
  if (!opt.aggregate() && !inputs.empty()) return ServeCollection(std::move(opt), config, inputs, &stack, report);
  // Scanned files first (by their magic bytes), then a plain store: its
  // root metadata tells it from a Parquet reference directory, which has a
  // ".zmetadata" too (a .zmetadata with "record_size" is not a store).
  const bool scanned = IsScannableSource(opt.source);
  if (!opt.aggregate() && !scanned &&
      IsZarrStoreSource(opt.source, opt.format, stack.origin.get()))
    return ServeReferenceSet(opt, config, inputs, &stack, report, /*zarr_store=*/true);
  if (!opt.aggregate() && !scanned && !IsParquetSource(opt.source)) {
    // A SOURCE that cannot be read is reported by LoadSource, as ever.
    auto kind = DetectCatalog(opt.source, stack.origin.get());
    if (kind.ok() && *kind != CatalogKind::kNone)
      return ServeCatalog(std::move(opt), config, &stack, *kind, report);
  }
  return ServeReferenceSet(opt, config, inputs, &stack, report);
}

}  // namespace zm
