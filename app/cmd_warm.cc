// `zarrmount warm SOURCE [PATH_PREFIX...]`: fills the disk cache (and the
// shared tier, with --shared-cache) with the chunks of a reference set,
// through the same origins a mount would use.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "app/daemon.h"
#include "app/scan_source.h"
#include "app/sources.h"
#include "app/stack.h"
#include "base/thread_pool.h"
#include "base/units.h"
#include "refs/reference_loader.h"

namespace zm {

const char kWarmUsage[] =
    "Usage: zarrmount warm [options] SOURCE [PATH_PREFIX...]\n"
    "\n"
    "Fills the disk cache with the chunks of the reference set SOURCE under the\n"
    "given path prefixes (whole arrays or groups, e.g. 'tas' or 'group/sst'; all\n"
    "of it when none), so later mounts read them without the network. A\n"
    "NetCDF/HDF5 file as SOURCE is scanned first, and its scan record kept in\n"
    "the cache directory for mounts of the file. With\n"
    "--shared-cache it fills the shared tier too (also with what the disk cache\n"
    "already holds), for other hosts. Shows a progress bar on a terminal and\n"
    "prints a summary.\n"
    "\n"
    "Options:\n"
    "  --cache-dir DIR        the cache directory (default as for mounting)\n"
    "  --cache-size SIZE      size limit of the disk cache (default: 10 GiB)\n"
    "  --max-connections N    HTTP requests in flight at once (default: 16)\n"
    "  --local-root DIR       local references may also read files under DIR\n"
    "                         (repeatable; as for mounting)\n"
    "  --map OLD=NEW, --s3-endpoint URL, --s3-region REGION, --s3-profile NAME,\n"
    "  --s3-anonymous, --header HEADER, --bearer-token-env VAR\n"
    "                         how origins are reached, as for mounting\n"
    "  --shared-cache URL, --shared-cache-key-file FILE,\n"
    "  --shared-cache-unauthenticated\n"
    "                         the shared tier to fill, as for mounting\n"
    "  --json                 print the summary as one JSON object\n"
    "  -h, --help             this text\n";

namespace {

// What to fetch: the keys under the prefixes, and their bytes together.
struct WarmPlan {
  std::vector<ReferenceIndex::FileId> keys;
  uint64_t bytes = 0;
};

// How the fetching went, updated by the workers.
struct WarmProgress {
  std::atomic<size_t> next{0};  // index into WarmPlan::keys of the next key to take
  std::atomic<uint64_t> done_bytes{0}, failed_keys{0};
  std::mutex mu;
  Status first_error;  // guarded by mu
};

// A warm's defaults: fewer connections than a daemon's, and no prefetching
// (every byte is asked for anyway).
Options WarmDefaults() {
  Options opt;
  opt.max_connections = 16;
  opt.prefetch = false;
  return opt;
}

// True if `key` lies under `prefix` ("a/b" holds "a/b" and "a/b/...").
bool UnderPrefix(const std::string& key, std::string prefix) {
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  if (prefix.empty()) return true;
  return key == prefix || (key.size() > prefix.size() && key.starts_with(prefix) &&
                           key[prefix.size()] == '/');
}

// The keys (stored in objects, not inline) under any of `prefixes`, all of
// them when none; an error names a prefix that holds no key.
Result<WarmPlan> PlanWarm(const ReferenceIndex& index, const std::string& source,
                          const std::vector<std::string>& prefixes) {
  WarmPlan plan;
  std::vector<bool> matched(prefixes.size(), false);
  // `warm` loads a Parquet directory eagerly (LoadSource): no lazy files.
  for (ReferenceIndex::FileId f = 0; f < index.eager_file_count(); ++f) {
    auto t = index.target(f);
    if (t.is_inline() || t.size == 0) continue;
    std::string key = index.FileKey(f);
    bool want = prefixes.empty();
    for (size_t p = 0; p < prefixes.size(); ++p)
      if (UnderPrefix(key, prefixes[p])) want = matched[p] = true;
    if (!want) continue;
    plan.keys.push_back(f);
    plan.bytes += t.size;
  }
  for (size_t p = 0; p < prefixes.size(); ++p)
    if (!matched[p]) return InvalidArgument(source + ": no key under '" + prefixes[p] + "'");
  return plan;
}

// One worker: takes keys until none is left and reads each through the
// cache, which stores what it fetches.
void FetchKeys(const ReferenceIndex& index, const WarmPlan& plan, ReadThroughCache* cache,
               WarmProgress* progress) {
  while (true) {
    size_t i = progress->next.fetch_add(1);
    if (i >= plan.keys.size()) return;
    auto t = index.target(plan.keys[i]);
    ByteRange region{t.offset, t.size};
    // In steps, so a huge object never sits in memory whole.
    constexpr uint64_t kStep = 64_MiB;
    for (uint64_t pos = 0; pos < t.size; pos += kStep) {
      uint64_t len = std::min(kStep, t.size - pos);
      auto r = cache->ReadSlices(index.url(t.url_id), region, pos, len);
      progress->done_bytes.fetch_add(len);
      if (!r.ok()) {
        progress->failed_keys.fetch_add(1);
        progress->done_bytes.fetch_add(t.size - pos - len);
        std::lock_guard<std::mutex> lock(progress->mu);
        if (progress->first_error.ok())
          progress->first_error =
              r.status().WithContext("key '" + index.FileKey(plan.keys[i]) + "'");
        break;
      }
    }
  }
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The reference set of SOURCE; a NetCDF/HDF5 file is scanned, its record
// written where a mount of the file looks for it (or read from there).
Result<ReferenceIndex> LoadWarmSource(const Options& opt, Stack* stack) {
  if (!IsScannableSource(opt.source)) return LoadSource(opt.source, stack->origin.get());
  SourceScanner scanner(stack->cache.get(), ScanOptionsFor(opt, ReferenceLoadOptions{}, *stack));
  return scanner.Load(opt.source);
}

// A progress bar on stderr until every byte is done (or failed).
void ShowProgress(const WarmPlan& plan, const WarmProgress& progress,
                  std::chrono::steady_clock::time_point start) {
  const uint64_t total = plan.bytes;
  while (progress.next.load() < plan.keys.size() || progress.done_bytes.load() < total) {
    double s = SecondsSince(start);
    uint64_t d = progress.done_bytes.load();
    double rate = s > 0 ? d / s : 0;
    int width = 30, filled = total ? static_cast<int>(width * double(d) / double(total)) : width;
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r[%s] %s of %s, %s/s, ETA %.0f s   ", bar.c_str(),
                 FormatSize(d).c_str(), FormatSize(total).c_str(),
                 FormatSize(static_cast<uint64_t>(rate)).c_str(),
                 rate > 0 ? double(total - d) / rate : 0.0);
    if (d >= total) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::fputc('\n', stderr);
}

void PrintSummary(const WarmPlan& plan, const WarmProgress& progress, const CacheStats& cs,
                  double seconds, bool json) {
  const uint64_t failed = progress.failed_keys.load();
  if (json) {
    std::printf("{\"keys\": %zu, \"bytes\": %llu, \"from_origin_bytes\": %llu, "
                "\"origin_requests\": %llu, \"failed_keys\": %llu, \"seconds\": %.3f}\n",
                plan.keys.size(), (unsigned long long)plan.bytes,
                (unsigned long long)cs.origin_bytes.load(),
                (unsigned long long)cs.origin_requests.load(), (unsigned long long)failed,
                seconds);
  } else {
    std::printf("warmed %zu keys (%s) in %.1f s: %s fetched in %llu requests, the rest was "
                "cached%s\n",
                plan.keys.size(), FormatSize(plan.bytes).c_str(), seconds,
                FormatSize(cs.origin_bytes.load()).c_str(),
                (unsigned long long)cs.origin_requests.load(),
                failed ? (", " + std::to_string(failed) + " keys failed").c_str() : "");
  }
}

}  // namespace

int WarmCommand(int argc, char** argv) {
  Options opt = WarmDefaults();
  std::vector<std::string> positional;
  if (int rc = ParseCommandArgs(Command::kWarm, argc, argv, kWarmUsage, &opt, &positional);
      rc >= 0)
    return rc;
  if (positional.empty()) return UsageError(kWarmUsage, "which reference set?");
  opt.source = positional[0];
  const std::vector<std::string> prefixes(positional.begin() + 1, positional.end());
  if (opt.cache_dir.empty()) opt.cache_dir = DefaultCacheDir();
  opt.shared_cache_publish_local = true;

  auto built = BuildStack(opt);
  if (!built.ok()) return Fail(built.status());
  Stack stack = std::move(built).value();
  auto loaded = LoadWarmSource(opt, &stack);
  if (!loaded.ok()) return Fail(loaded.status());
  ReferenceIndex index = std::move(loaded).value();
  if (Status st = CheckLocalReferences(index, stack, opt.source); !st.ok()) return Fail(st);
  if (Status st = SizeWholeObjects(&index, stack.cache.get(), 16, opt.source); !st.ok())
    return Fail(st);
  auto planned = PlanWarm(index, opt.source, prefixes);
  if (!planned.ok()) return Fail(planned.status());
  const WarmPlan plan = std::move(planned).value();

  WarmProgress progress;
  const auto start = std::chrono::steady_clock::now();
  // One FetchKeys per thread, each taking keys until none is left.
  ThreadPool pool(std::min<int>(opt.max_connections, static_cast<int>(plan.keys.size())));
  for (int t = 0; t < pool.threads(); ++t)
    pool.Submit([&index, &plan, cache = stack.cache.get(), &progress] {
      FetchKeys(index, plan, cache, &progress);
    });
  if (!opt.json && isatty(2)) ShowProgress(plan, progress, start);
  pool.WaitIdle();
  if (stack.disk) stack.disk->Flush();
  if (stack.shared) stack.shared->Flush();
  PrintSummary(plan, progress, stack.cache->stats(), SecondsSince(start), opt.json);
  if (!progress.first_error.ok()) return Fail(progress.first_error);
  return 0;
}

}  // namespace zm
