// zarrmount: the daemon's entry point. Parses options, loads and checks the
// reference set, forks into the background (unless -f) and serves the mount.
//
// The parent process waits on a pipe until the child reports that the mount
// answers requests (exit 0) or why it could not (one line, exit 1), so a
// script can use the mount as soon as the command returns.

#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/json.h"
#include "base/log.h"
#include "base/units.h"
#include "cache/block_store.h"
#include "io/origin.h"
#include "cache/read_through.h"
#include "app/catalog_mount.h"
#include "fs/catalog_tree.h"
#include "app/commands.h"
#include "fs/filesystem.h"
#include "fuse/adapter.h"
#include "app/options.h"
#include "app/sources.h"
#include "app/stack.h"
#include "views/view_tree.h"
#include "refs/reference_loader.h"

namespace zm {
namespace {

constexpr const char* kVersion = "0.1.0";

// What `zarrmount status MOUNTPOINT` shows: counters since the mount.
std::string StatusJson(const Options& opt, uint64_t keys,
                       const ReadThroughCache& cache, PersistentBlockStore* disk,
                       std::chrono::steady_clock::time_point started) {
  const CacheStats& cs = cache.stats();
  auto n = [](uint64_t v) { return std::to_string(v); };
  uint64_t hits = cs.memory_hits.load() + cs.disk_hits.load();
  uint64_t lookups = hits + cs.misses.load();
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.4f", lookups ? double(hits) / double(lookups) : 0.0);
  std::string j = "{";
  j += "\"pid\": " + std::to_string(::getpid());
  j += ", \"version\": " + JsonQuote(kVersion);
  j += ", \"source\": " + JsonQuote(RedactUrl(opt.source));
  j += ", \"mountpoint\": " + JsonQuote(opt.mountpoint);
  j += ", \"uptime_s\": " +
       n(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
             .count());
  j += ", \"keys\": " + n(keys);
  j += ", \"hit_ratio\": " + std::string(ratio);
  j += ", \"memory_hits\": " + n(cs.memory_hits.load());
  j += ", \"memory_hit_bytes\": " + n(cs.memory_hit_bytes.load());
  j += ", \"disk_hits\": " + n(cs.disk_hits.load());
  j += ", \"disk_hit_bytes\": " + n(cs.disk_hit_bytes.load());
  j += ", \"misses\": " + n(cs.misses.load());
  j += ", \"origin_requests\": " + n(cs.origin_requests.load());
  j += ", \"origin_bytes\": " + n(cs.origin_bytes.load());
  j += ", \"origin_errors\": " + n(cs.origin_errors.load());
  j += ", \"origin_in_flight\": " + n(std::max<int64_t>(0, cs.origin_in_flight.load()));
  j += ", \"object_checks\": " + n(cs.object_checks.load());
  j += ", \"prefetch_requests\": " + n(cs.prefetch_requests.load());
  j += ", \"prefetch_bytes\": " + n(cs.prefetch_bytes.load());
  j += ", \"prefetch_dropped\": " + n(cs.prefetch_dropped.load());
  if (disk) {
    j += ", \"disk_cache\": {\"dir\": " + JsonQuote(opt.cache_dir.empty() ? DefaultCacheDir() : opt.cache_dir);
    if (auto u = disk->GetUsage(false); u.ok()) {
      j += ", \"capacity_bytes\": " + n(u->capacity_bytes);
      j += ", \"used_bytes\": " + n(u->used_bytes);
      j += ", \"blocks\": " + n(u->blocks);
    }
    j += ", \"corrupt_blocks\": " + n(disk->corrupt_blocks());
    j += ", \"dropped_writes\": " + n(disk->dropped_puts()) + "}";
  }
  return j + "}";
}

// Reports start-up to whoever waits: the parent through a pipe, or nobody in
// the foreground. Exactly one report.
class StartupReporter {
 public:
  explicit StartupReporter(int fd) : fd_(fd) {}
  void Report(const Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    if (fd_ < 0) {
      if (!st.ok()) std::fprintf(stderr, "zarrmount: %s\n", st.message().c_str());
      return;
    }
    std::string msg = st.ok() ? "OK\n" : "ERR " + st.message() + "\n";
    ssize_t ignored = ::write(fd_, msg.data(), msg.size());
    (void)ignored;
    ::close(fd_);
    fd_ = -1;
  }

 private:
  std::mutex mu_;
  int fd_;
  bool done_ = false;
};

std::string Absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

bool UnderRoots(const std::string& dir, const std::vector<std::string>& roots) {
  for (const std::string& r : roots)
    if (r == "/" || dir == r || dir.starts_with(r + "/")) return true;
  return false;
}

// SOURCE is a catalog: its documents are read now, each dataset's
// reference set when first used (fs/catalog_tree.h).
int ServeCatalog(Options opt, Stack stack, CatalogKind kind, StartupReporter* reporter,
                 const std::function<int(const Status&)>& fail) {
  auto t0 = std::chrono::steady_clock::now();
  auto read = ReadCatalog(opt.source, kind, stack.origin.get());
  if (!read.ok()) return fail(read.status());
  const Catalog catalog = std::move(read).value();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0).count();
  if (!opt.check_only)
    for (const std::string& note : catalog.notes) LogInfo(note);
  if (catalog.datasets.empty())
    return fail(InvalidArgument(RedactUrl(opt.source) + ": the catalog names no reference sets (" +
                                std::to_string(catalog.notes.size()) + " entries left out" +
                                (catalog.notes.empty() ? "" : ", first: " + catalog.notes.front()) +
                                ")"));
  // Each local reference file's directory is a local root, as a single
  // reference file's is; the file origin takes its roots when built.
  bool rebuild = false;
  for (std::string& dir : LocalReferenceDirectories(catalog))
    if (!UnderRoots(dir, stack.local_roots)) {
      opt.local_roots.push_back(std::move(dir));
      rebuild = true;
    }
  if (rebuild) {
    stack = Stack{};  // the old disk cache is closed before it is reopened
    auto built = BuildStack(opt);
    if (!built.ok()) return fail(built.status());
    stack = std::move(built).value();
  }
  const std::string kind_name = kind == CatalogKind::kStac ? "STAC" : "Intake";
  if (opt.check_only) {
    std::printf("%s catalog %s: %zu datasets, %zu directories, %zu documents read in %lld ms, "
                "%zu entries left out or options ignored\n",
                kind_name.c_str(), RedactUrl(opt.source).c_str(), catalog.datasets.size(),
                catalog.directories.size(), catalog.documents, static_cast<long long>(ms),
                catalog.notes.size());
    for (const std::string& note : catalog.notes) std::printf("  %s\n", note.c_str());
    return 0;
  }
  struct stat source_stat {};
  if (IsRemoteSource(opt.source) || ::stat(opt.source.c_str(), &source_stat) != 0)
    source_stat.st_mtime = ::time(nullptr);
  CatalogTreeOptions co;
  co.memory_budget = opt.catalog_memory;
  co.max_loaded = static_cast<size_t>(opt.catalog_datasets);
  co.idle_seconds = opt.catalog_idle_s;
  CatalogTree tree(catalog, MakeDatasetLoader(&catalog, &stack, &opt, source_stat.st_mtime), co,
                   source_stat.st_mtime);
  ReadThroughCache& cache = *stack.cache;
  PersistentBlockStore* disk = stack.disk.get();
  FuseConfig fc;
  fc.mountpoint = opt.mountpoint;
  fc.fsname = "zarrmount:" + RedactUrl(opt.source);
  for (char& c : fc.fsname)
    if (c == ',') c = '_';
  fc.options = opt.fuse_options;
  fc.debug = opt.debug;
  fc.max_threads = opt.threads;
  const auto started = std::chrono::steady_clock::now();
  fc.status = [&] {
    std::string j = StatusJson(opt, 0, cache, disk, started);
    const CatalogStats& st = tree.stats();
    auto n = [](uint64_t v) { return std::to_string(v); };
    j.pop_back();
    j += ", \"catalog\": {\"kind\": " + JsonQuote(kind_name) +
         ", \"datasets\": " + n(tree.dataset_count()) + ", \"documents\": " + n(catalog.documents) +
         ", \"loads\": " + n(st.loads.load()) + ", \"load_failures\": " + n(st.load_failures.load()) +
         ", \"shared_waits\": " + n(st.shared_waits.load()) +
         ", \"releases\": " + n(st.releases.load()) + ", \"loaded\": " + n(st.loaded.load()) +
         ", \"loaded_bytes\": " + n(st.loaded_bytes.load()) + "}}";
    return j;
  };
  LogInfo("mounting " + kind_name + " catalog " + RedactUrl(opt.source) + " (" +
          std::to_string(catalog.datasets.size()) + " datasets, " +
          std::to_string(catalog.documents) + " documents read in " + std::to_string(ms) +
          " ms, " + opt.view + " view) at " + opt.mountpoint);
  Status st = RunFuse(&tree, fc, [&](const Status& s) { reporter->Report(s); });
  cache.WaitForPrefetches();
  if (disk) disk->Flush();
  const CacheStats& cs = cache.stats();
  LogInfo("unmounted " + opt.mountpoint + ": " + std::to_string(tree.stats().loads.load()) +
          " dataset loads, " + std::to_string(cs.origin_requests.load()) + " origin requests, " +
          FormatSize(cs.origin_bytes.load()) + " from the origin");
  if (!st.ok()) {
    LogError(st.message());
    return 1;
  }
  return 0;
}

// `inputs`: the expanded SOURCEs when aggregating (--concat), else empty.
int Serve(Options opt, const std::vector<ReferenceSource>& inputs, StartupReporter* reporter) {
  auto fail = [&](const Status& st) {
    reporter->Report(st);
    // In the foreground the report already went to stderr: one line only.
    if (!LogGoesToStderr()) LogError(st.message());
    return 1;
  };
  // An aggregation's local references may read under each input's
  // directory, as a single reference file's may under its own.
  if (opt.aggregate())
    for (std::string& dir : SourceDirectories(inputs)) opt.local_roots.push_back(std::move(dir));
  // The stack first: a remote SOURCE is fetched through its origin.
  auto built = BuildStack(opt);
  if (!built.ok()) return fail(built.status());
  Stack stack = std::move(built).value();
  if (!opt.check_only) LogInfo(stack.origin_summary);
  if (!opt.aggregate()) {
    // A SOURCE that cannot be read is reported by LoadSource below, as ever.
    auto kind = DetectCatalog(opt.source, stack.origin.get());
    if (kind.ok() && *kind != CatalogKind::kNone)
      return ServeCatalog(std::move(opt), std::move(stack), *kind, reporter, fail);
  }
  ReadThroughCache& cache = *stack.cache;
  PersistentBlockStore* disk = stack.disk.get();
  ReferenceLoadOptions load_options;
  load_options.max_generated_keys = opt.max_generated_keys;
  Result<ReferenceIndex> loaded = InvalidArgument("unreachable");
  if (opt.aggregate()) {
    AggregateOptions ao;
    ao.concat_dims = opt.concat_dims;
    ao.identical_arrays = opt.identical_dims;
    auto t0 = std::chrono::steady_clock::now();
    loaded = LoadAggregation(inputs, ao, load_options, &cache);
    if (loaded.ok())
      LogInfo("aggregated " + std::to_string(inputs.size()) + " reference sets along " +
              opt.concat_dims[0] + (opt.concat_dims.size() > 1 ? ",..." : "") + " in " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - t0)
                                 .count()) +
              " ms");
  } else {
    loaded = LoadSource(opt.source, stack.origin.get(), load_options);
  }
  if (!loaded.ok()) return fail(loaded.status());
  ReferenceIndex index = std::move(loaded).value();

  if (Status st = CheckLocalReferences(index, stack, opt.source); !st.ok()) return fail(st);
  if (Status st = SizeWholeObjects(&index, &cache, opt.size_threads, opt.source); !st.ok())
    return fail(st);

  if (opt.check_only) {
    uint64_t bytes = 0;
    for (ReferenceIndex::FileId f = 0; f < index.file_count(); ++f) bytes += index.target(f).size;
    std::printf("%s%s: %zu keys, %zu directories, %zu URLs, %s referenced, index %s\n",
                opt.aggregate() ? "aggregation of " : "",
                opt.aggregate() ? (std::to_string(inputs.size()) + " reference sets").c_str()
                                : RedactUrl(opt.source).c_str(),
                index.file_count(), index.dir_count(), index.url_count(),
                FormatSize(bytes).c_str(), FormatSize(index.MemoryUsage()).c_str());
    return 0;
  }
  // Time stamps: the reference file's modification time; for a URL, the
  // time of mounting.
  struct stat source_stat {};
  const std::string stamp = opt.aggregate() ? inputs.front().path : opt.source;
  if (IsRemoteSource(stamp) || ::stat(stamp.c_str(), &source_stat) != 0)
    source_stat.st_mtime = ::time(nullptr);
  // Versions are checked in the background (one request per object), ahead
  // of the reads that would otherwise wait for them.
  ObjectChecker checker(&index, &cache, std::min(opt.max_connections, 16));
  Filesystem fs(&index, &cache, source_stat.st_mtime);
  PrefetchOptions po;
  po.enabled = opt.prefetch;
  po.max_bytes = std::max<uint64_t>(opt.prefetch_memory / 4, 1_MiB);
  Prefetcher prefetcher(&index, &cache, po);
  fs.set_prefetcher(&prefetcher);
  Tree* tree = &fs;
  std::unique_ptr<ViewFilesystem> view;
  if (opt.view != "zarr") {
    ViewOptions vo;
    vo.kind = *ParseViewKind(opt.view);
    vo.set_name = ReferenceSetName(opt.source);
    vo.chunk_cache_bytes = opt.view_cache;
    vo.decode_threads = opt.prefetch ? 2 : 0;
    vo.max_readahead = std::max<uint64_t>(opt.prefetch_memory / 4, 1_MiB);
    auto built_view = ViewFilesystem::Build(&index, &cache, vo, source_stat.st_mtime);
    if (!built_view.ok()) return fail(built_view.status().WithContext(opt.source));
    view = std::move(built_view).value();
    tree = view.get();
  }

  FuseConfig fc;
  fc.mountpoint = opt.mountpoint;
  fc.fsname = "zarrmount:" + RedactUrl(opt.source);
  for (char& c : fc.fsname)
    if (c == ',') c = '_';  // commas would split the -o list
  fc.options = opt.fuse_options;
  fc.debug = opt.debug;
  fc.max_threads = opt.threads;
  const auto started = std::chrono::steady_clock::now();
  fc.status = [&] {
    std::string j = StatusJson(opt, index.file_count(), cache, disk, started);
    if (view) {  // the decoded-chunk counters of the npy/netcdf view
      const DecodedChunkStats& vs = view->chunk_stats();
      auto n = [](uint64_t v) { return std::to_string(v); };
      j.pop_back();
      j += ", \"view\": {\"name\": " + JsonQuote(opt.view) +
           ", \"chunk_loads\": " + n(vs.loads.load()) + ", \"chunk_hits\": " + n(vs.hits.load()) +
           ", \"shared_waits\": " + n(vs.shared_waits.load()) +
           ", \"decode_ahead\": " + n(vs.prefetch_loads.load()) +
           ", \"load_errors\": " + n(vs.load_errors.load()) + "}}";
    }
    return j;
  };
  LogInfo("mounting " + RedactUrl(opt.source) + " (" + std::to_string(index.file_count()) + " keys, " +
          opt.view + " view) at " + opt.mountpoint);
  Status st = RunFuse(tree, fc, [&](const Status& s) { reporter->Report(s); });
  cache.WaitForPrefetches();
  if (disk) disk->Flush();
  const CacheStats& cs = cache.stats();
  LogInfo("unmounted " + opt.mountpoint + ": " + std::to_string(cs.origin_requests.load()) +
          " origin requests, " + FormatSize(cs.origin_bytes.load()) + " from the origin, " +
          std::to_string(cs.memory_hits.load() + cs.disk_hits.load()) + " cache hits, " +
          std::to_string(cs.prefetch_requests.load()) + " prefetch requests (" +
          FormatSize(cs.prefetch_bytes.load()) + ")");
  if (!st.ok()) {
    LogError(st.message());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace zm

int main(int argc, char** argv) {
  using namespace zm;
  // Dozens of threads allocate ~1 MiB blocks: with one heap arena per
  // thread, freed blocks pile up unused in arenas. Few arenas keep the
  // daemon's memory close to what its caches hold. Blocks come from the
  // heaps, not from mmap, and freed heap memory is kept for the next blocks
  // rather than handed back: either way each reuse would cost a page fault
  // and a zeroed page per 4 KiB, a fifth of the daemon's CPU on cold reads.
  mallopt(M_ARENA_MAX, 4);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  if (IsCommand(argc, argv)) return RunCommand(argc, argv);
  auto parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "zarrmount: %s\n", parsed.status().message().c_str());
    return 2;
  }
  Options opt = std::move(parsed).value();
  if (opt.help) {
    std::fputs(HelpText().c_str(), stdout);
    return 0;
  }
  if (opt.version) {
    std::printf("zarrmount %s\n", kVersion);
    return 0;
  }
  if (!IsRemoteSource(opt.source)) opt.source = Absolute(opt.source);
  // Expanded here, before the daemon leaves the working directory.
  std::vector<ReferenceSource> inputs;
  if (opt.aggregate()) {
    auto expanded = ExpandSources(opt.sources);
    if (!expanded.ok()) {
      std::fprintf(stderr, "zarrmount: %s\n", expanded.status().message().c_str());
      return 1;
    }
    inputs = std::move(expanded).value();
  }
  if (!opt.cache_dir.empty() && opt.cache_dir.front() != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) opt.cache_dir = std::string(cwd) + "/" + opt.cache_dir;
  }
  if (!opt.log_file.empty()) {
    if (opt.log_file.front() != '/') {
      char cwd[PATH_MAX];
      if (getcwd(cwd, sizeof cwd)) opt.log_file = std::string(cwd) + "/" + opt.log_file;
    }
    if (!SetLogFile(opt.log_file)) {
      std::fprintf(stderr, "zarrmount: cannot open log file %s: %s\n", opt.log_file.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  if (!opt.check_only) {
    struct stat st;
    if (::stat(opt.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      std::fprintf(stderr, "zarrmount: mountpoint %s: %s\n", opt.mountpoint.c_str(),
                   errno && !S_ISDIR(st.st_mode) ? std::strerror(errno) : "not a directory");
      return 1;
    }
    opt.mountpoint = Absolute(opt.mountpoint);
  }

  if (opt.foreground || opt.check_only) {
    StartupReporter reporter(-1);
    return Serve(opt, inputs, &reporter);
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("zarrmount: pipe");
    return 1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("zarrmount: fork");
    return 1;
  }
  if (pid > 0) {
    // Parent: wait for the daemon's word.
    ::close(fds[1]);
    std::string msg;
    char buf[4096];
    ssize_t r;
    while ((r = ::read(fds[0], buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
      if (r > 0) msg.append(buf, static_cast<size_t>(r));
    ::close(fds[0]);
    if (msg == "OK\n") return 0;
    if (msg.starts_with("ERR ")) {
      std::fprintf(stderr, "zarrmount: %s", msg.substr(4).c_str());
      ::waitpid(pid, nullptr, 0);
      return 1;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::fprintf(stderr, "zarrmount: the daemon exited during start-up (status %d)\n", status);
    return 1;
  }
  // Child: the daemon.
  ::close(fds[0]);
  ::setsid();
  if (opt.log_file.empty()) SetLogToSyslog(true);
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    if (devnull > 2) ::close(devnull);
  }
  // Do not keep the caller's directory busy (all paths are absolute now).
  if (::chdir("/") != 0) LogWarning("cannot change directory to /");
  StartupReporter reporter(fds[1]);
  int rc = Serve(opt, inputs, &reporter);
  return rc;
}
