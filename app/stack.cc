#include "app/stack.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "app/daemon.h"
#include "base/log.h"
#include "base/thread_pool.h"
#include "io/cloud.h"
#include "refs/lazy_parquet.h"
#include "base/files.h"
#include "refs/parquet_refs.h"

namespace zm {
namespace {

// The --shared-cache tier, or null without one. Refused without a key
// file unless the user chose --shared-cache-unauthenticated.
Result<std::unique_ptr<SharedBlockStore>> OpenSharedTier(const Options& opt) {
  if (opt.shared_cache.empty()) {
    if (!opt.shared_cache_key_file.empty() || opt.shared_cache_unauthenticated)
      return InvalidArgument("option '--shared-cache-key-file' and '--shared-cache-unauthenticated' "
                             "need --shared-cache URL");
    return std::unique_ptr<SharedBlockStore>();
  }
  // --offline promises that nothing reaches the network; the nodes are on it.
  if (opt.offline)
    return InvalidArgument("option '--offline' sends nothing to the network: it cannot be used with "
                           "--shared-cache");
  ZM_ASSIGN_OR_RETURN(SharedCacheOptions so, ParseSharedCacheUrl(opt.shared_cache, "--shared-cache"));
  if (!opt.shared_cache_key_file.empty()) {
    ZM_ASSIGN_OR_RETURN(so.mac_key, ReadSharedCacheKey(opt.shared_cache_key_file));
  } else if (!opt.shared_cache_unauthenticated) {
    return InvalidArgument(
        "option '--shared-cache' needs --shared-cache-key-file FILE (16+ secret bytes, mode 0600, the "
        "same on every host, e.g. head -c 32 /dev/urandom > FILE), or --shared-cache-unauthenticated "
        "to trust whatever the nodes hold");
  }
  return OpenMemcachedBlockStore(so);
}

}  // namespace

Result<Stack> BuildStack(const Options& opt) {
  Stack s;
  const DaemonSizes sizes = ComputeSizes(opt);
  ZM_RETURN_IF_ERROR(BuildOriginAndMemory(opt, sizes.http_receive_buffer_bytes, &s));
  if (opt.disk_cache && !opt.check_only) {
    std::string dir = opt.cache_dir.empty() ? DefaultCacheDir() : opt.cache_dir;
    LmdbOptions lo;
    lo.capacity_bytes = opt.cache_size;
    auto store = OpenLmdbBlockStore(dir, lo);
    if (!store.ok()) {
      if (!opt.cache_dir.empty()) return store.status();
      LogWarning(store.status().message() + "; continuing without a disk cache");
    } else {
      s.disk = std::move(store).value();
    }
  }
  ZM_ASSIGN_OR_RETURN(s.shared, OpenSharedTier(opt));
  if (s.shared && !opt.check_only) LogInfo(s.shared->Describe());
  ReadThroughOptions ro = sizes.read_through;
  // Cached blocks are served only while the origin still has the object they
  // came from (checked once per object); offline, the cache is trusted.
  ro.validate = !opt.offline;
  // `warm` fills the shared tier with what the disk already holds too.
  ro.share_local_hits = s.shared && opt.shared_cache_publish_local;
  s.cache = std::make_unique<ReadThroughCache>(s.origin.get(), s.memory.get(), s.disk.get(), ro,
                                               s.shared.get());
  return s;
}

Status CheckLocalReferences(const ReferenceIndex& index, const Stack& stack,
                            const std::string& source) {
  // Each URL is checked once; the first key that names a refused one is
  // reported, since keys are what the user knows the reference set by.
  // Lazy chunks' URLs are not known yet: the file origin refuses a path
  // outside the roots when it is read.
  std::vector<int8_t> verdict(index.url_count(), -1);  // -1 unchecked, 0 ok, 1 refused
  for (ReferenceIndex::FileId f = 0; f < index.eager_file_count(); ++f) {
    auto t = index.target(f);
    if (t.is_inline() || verdict[t.url_id] == 0) continue;
    const std::string url = stack.url_map.Apply(index.url(t.url_id));
    if (url.find("://") != std::string::npos && !url.starts_with("file://")) {
      verdict[t.url_id] = 0;
      continue;
    }
    Status st = CheckLocalAccess(url, stack.local_roots);
    verdict[t.url_id] = st.ok() ? 0 : 1;
    if (!st.ok()) return st.WithContext(source + ": key '" + index.FileKey(f) + "'");
  }
  return Status::Ok();

}

bool IsRemoteSource(const std::string& source) {
  return source.find("://") != std::string::npos && !source.starts_with("file://");
}

namespace {

// A remote Parquet reference directory: its files fetched through the
// origin, fresh on every mount like a JSON reference set.
Result<ReferenceIndex> LoadRemoteParquetReferences(const std::string& dir, Origin* origin,
                                                   const ReferenceLoadOptions& options) {
  const std::string query = dir.find('?') == std::string::npos ? "" : dir.substr(dir.find('?'));
  const std::string base = dir.substr(0, dir.find('?'));
  auto read = [&](const std::string& rel) -> Result<std::string> {
    const std::string url = base + rel + query;
    auto info = origin->Stat(url);
    if (!info.ok()) return info.status();
    if (info->size > options.max_decompressed_bytes)
      return InvalidArgument("larger than " + FormatSize(options.max_decompressed_bytes) + "; refusing");
    return origin->Read(url, ByteRange{0, info->size});
  };
  std::string shown = RedactUrl(base);
  if (shown.ends_with("/")) shown.pop_back();
  return LoadParquetReferences(read, shown, base, options);
}

}  // namespace

bool IsParquetSource(const std::string& source) {
  if (IsRemoteSource(source)) {
    std::string path = source.substr(0, source.find('?'));
    return path.ends_with("/");
  }
  return IsParquetReferenceDir(source.starts_with("file://") ? source.substr(7) : source);
}

Result<ReferenceIndex> LoadSource(const std::string& source, Origin* origin,
                                  const ReferenceLoadOptions& options) {
  if (!IsRemoteSource(source)) {
    const std::string path = source.starts_with("file://") ? source.substr(7) : source;
    if (IsParquetReferenceDir(path)) return LoadParquetReferenceDir(path, options);
    struct stat sb;
    if (::stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode))
      return InvalidArgument(path + ": a directory without .zmetadata (not a Parquet reference set)");
    return LoadReferenceFile(path, options);
  }
  if (IsParquetSource(source)) return LoadRemoteParquetReferences(source, origin, options);
  const std::string shown = RedactUrl(source);
  // Fetched fresh on every mount, never from the block cache: the reference
  // set is what says which objects (and versions) the mount serves.
  auto info = origin->Stat(source);
  if (!info.ok()) return info.status().WithContext("cannot fetch the reference set");
  if (info->size > options.max_decompressed_bytes)
    return InvalidArgument(shown + ": larger than " + FormatSize(options.max_decompressed_bytes) +
                           "; refusing");
  auto data = origin->Read(source, ByteRange{0, info->size});
  if (!data.ok()) return data.status().WithContext("cannot fetch the reference set");
  // Relative URLs resolve against the URL's "directory"; a query string
  // (a signed URL) is not part of it.
  std::string base = source.substr(0, source.find('?'));
  base = base.substr(0, base.rfind('/') + 1);
  return LoadReferenceData(std::move(data).value(), shown, base, options);
}

Result<ReferenceIndex> LoadLazyParquetSource(const std::string& source, Origin* origin,
                                             ReadThroughCache* cache, const ReferenceLoadOptions& options,
                                             const LazyParquetOptions& lazy) {
  const bool remote = IsRemoteSource(source);
  std::string base, query, shown;
  if (remote) {
    query = source.find('?') == std::string::npos ? "" : source.substr(source.find('?'));
    base = source.substr(0, source.find('?'));
    shown = RedactUrl(base);
    if (shown.ends_with("/")) shown.pop_back();
  } else {
    shown = source.starts_with("file://") ? source.substr(7) : source;
    while (shown.size() > 1 && shown.back() == '/') shown.pop_back();
    base = shown + "/";
  }
  const uint64_t max_bytes = options.max_decompressed_bytes;
  // ".zmetadata" says what the mount serves: fetched fresh, as a JSON
  // reference set is. Record files are objects like any other: through the
  // cache, so an evicted record is read again from the block cache.
  auto read_metadata = [&](const std::string& rel) -> Result<std::string> {
    if (!remote) return ReadLocalFile(base + rel, max_bytes);
    const std::string url = base + rel + query;
    auto info = origin->Stat(url);
    if (!info.ok()) return info.status();
    if (info->size > max_bytes) return InvalidArgument("larger than " + FormatSize(max_bytes) + "; refusing");
    return origin->Read(url, ByteRange{0, info->size});
  };
  auto read_record = [cache, base, query, max_bytes](const std::string& rel) -> Result<std::string> {
    const std::string url = base + rel + query;
    // Read whole next: the size comes with the first block.
    auto info = cache->ObjectForReading(url);
    if (!info.ok()) return info.status();
    if (info->size > max_bytes) return InvalidArgument("larger than " + FormatSize(max_bytes) + "; refusing");
    return cache->Read(url, ByteRange{0, info->size}, 0, info->size);
  };
  return LoadLazyParquetReferences(read_metadata, read_record, shown, base, options, lazy);
}

Status SizeWholeObjects(ReferenceIndex* index, ReadThroughCache* cache, int threads,
                        const std::string& source) {
  std::vector<ReferenceIndex::FileId> todo = index->UnsizedFiles();
  if (todo.empty()) return Status::Ok();
  std::atomic<size_t> next{0};
  std::mutex mu;  // guards first_error
  Status first_error;
  auto worker = [&] {
    while (true) {
      size_t i = next.fetch_add(1);
      if (i >= todo.size()) return;
      auto f = todo[i];
      const std::string& url = index->url(index->target(f).url_id);
      auto size = cache->Size(url);
      std::lock_guard<std::mutex> lock(mu);
      if (!size.ok()) {
        if (first_error.ok())
          first_error = size.status().WithContext(source + ": key '" + index->FileKey(f) +
                                                  "': cannot learn the size of the object");
        next = todo.size();
        return;
      }
      // The same bound as for ranges in a reference set: no real object
      // comes near it, and a file that large could not be read anyway.
      if (*size > (uint64_t{1} << 50)) {
        if (first_error.ok())
          first_error = IoError(source + ": key '" + index->FileKey(f) + "': the origin says " +
                                RedactUrl(url) + " has " + std::to_string(*size) + " bytes, beyond 1 PiB");
        next = todo.size();
        return;
      }
      index->SetSize(f, *size);
    }
  };
  // One draining worker per thread: the queue holds `n` tasks, not one per
  // object, however many objects there are.
  const int n = std::min<int>(threads, static_cast<int>(todo.size()));
  ThreadPool pool(n);
  for (int t = 0; t < n; ++t) pool.Submit(worker);
  pool.WaitIdle();
  return first_error;
}

namespace {

// No threads when nothing is to be checked (the cache does not validate),
// and never more threads than objects.
int CheckerThreads(const ReferenceIndex& index, const ReadThroughCache& cache, int threads) {
  if (!cache.options().validate) return 0;
  return std::min<int>(threads, static_cast<int>(index.url_count()));
}

}  // namespace

ObjectChecker::ObjectChecker(const ReferenceIndex* index, ReadThroughCache* cache, int threads)
    : pool_(CheckerThreads(*index, *cache, threads)) {
  const uint32_t n = static_cast<uint32_t>(index->url_count());
  // Each task drains the shared cursor until the objects run out or the
  // checker stops.
  for (int t = 0; t < pool_.threads(); ++t)
    pool_.Submit([this, index, cache, n] {
      for (uint32_t i; !stop_.load() && (i = next_.fetch_add(1)) < n;)
        (void)cache->Object(index->url(i));  // a failure is met again by the read
    });
}

ObjectChecker::~ObjectChecker() {
  // The running tasks see stop_ after the request they are in; Shutdown
  // waits for them (and drops any not yet started).
  stop_ = true;
  pool_.Shutdown();
}

}  // namespace zm
