#include "fs/stack.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "cache/cloud.h"

namespace zm {

Result<Stack> BuildStack(const Options& opt) {
  HttpOptions http;
  http.connect_timeout_ms = opt.connect_timeout_ms;
  http.request_timeout_ms = opt.request_timeout_ms;
  http.low_speed_bytes = static_cast<long>(opt.low_speed_limit);
  http.low_speed_time_s = opt.low_speed_time_s;
  http.deadline_ms = opt.read_timeout_ms;
  http.max_attempts = opt.retries + 1;
  http.max_connections = opt.max_connections;
  http.allow_link_local = opt.allow_link_local;
  Stack s;
  // Remote origins: s3:// and gs:// resolve to https, headers and signing
  // per URL. Credentials are read once, here, from the environment and
  // ~/.aws: a daemon keeps what it started with.
  const EnvLookup env = ProcessEnv();
  S3Config s3 = LoadS3Config(
      S3Options{opt.s3_endpoint, opt.s3_region, opt.s3_profile, opt.s3_anonymous}, env);
  std::vector<HeaderRule> rules;
  for (const std::string& h : opt.headers) {
    ZM_ASSIGN_OR_RETURN(HeaderRule rule, ParseHeaderRule(h, "--header"));
    rules.push_back(std::move(rule));
  }
  for (const std::string& b : opt.bearer_envs) {
    ZM_ASSIGN_OR_RETURN(HeaderRule rule, BearerRuleFromEnv(b, env));
    rules.push_back(std::move(rule));
  }
  auto planner = std::make_shared<const RequestPlanner>(std::move(s3), std::move(rules));
  s.origin_summary = planner->Describe();
  http.plan = [planner](const std::string& url) { return planner->Plan(url); };
  UrlMap map;
  for (const std::string& m : opt.maps) ZM_RETURN_IF_ERROR(map.Add(m));
  // Offline, nothing reaches the network: every miss fails at once.
  s.origin = opt.offline ? NewOfflineOrigin()
                         : NewRoutingOrigin(NewHttpOrigin(http), NewFileOrigin());
  // Mapping comes first, so a mapped URL may change scheme (s3:// to file://).
  if (!map.empty()) s.origin = NewMappingOrigin(std::move(map), std::move(s.origin));
  s.memory = NewMemoryBlockStore(opt.memory_cache);
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
  ReadThroughOptions ro;
  ro.block_size = opt.block_size;
  ro.prefetch_threads = opt.prefetch ? opt.prefetch_threads : 0;
  ro.prefetch_budget = opt.prefetch_memory;
  ro.coalesce_gap = opt.coalesce_gap;
  ro.coalesce_max = opt.coalesce_max;
  // Cached blocks are served only while the origin still has the object they
  // came from (checked once per object); offline, the cache is trusted.
  ro.validate = !opt.offline;
  s.cache = std::make_unique<ReadThroughCache>(s.origin.get(), s.memory.get(), s.disk.get(), ro);
  return s;
}

bool IsRemoteSource(const std::string& source) {
  return source.find("://") != std::string::npos && !source.starts_with("file://");
}

Result<ReferenceIndex> LoadSource(const std::string& source, Origin* origin,
                                  const ReferenceLoadOptions& options) {
  if (!IsRemoteSource(source))
    return LoadReferenceFile(source.starts_with("file://") ? source.substr(7) : source, options);
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
                                url + " has " + std::to_string(*size) + " bytes, beyond 1 PiB");
        next = todo.size();
        return;
      }
      index->SetSize(f, *size);
    }
  };
  std::vector<std::thread> pool;
  int n = std::min<int>(threads, static_cast<int>(todo.size()));
  for (int t = 0; t < n; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  return first_error;
}

ObjectChecker::ObjectChecker(const ReferenceIndex* index, ReadThroughCache* cache, int threads) {
  if (!cache->options().validate) return;
  const uint32_t n = static_cast<uint32_t>(index->url_count());
  threads = std::min<int>(threads, static_cast<int>(n));
  for (int t = 0; t < threads; ++t)
    threads_.emplace_back([this, index, cache, n] {
      for (uint32_t i; !stop_.load() && (i = next_.fetch_add(1)) < n;)
        (void)cache->Object(index->url(i));  // a failure is met again by the read
    });
}

ObjectChecker::~ObjectChecker() {
  stop_ = true;
  for (auto& t : threads_) t.join();
}

}  // namespace zm
