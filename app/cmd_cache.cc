// `zarrmount cache stats|verify|clear|prune`: maintenance of a cache
// directory, safe while daemons use it.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "app/scan_source.h"
#include "base/json.h"
#include "base/units.h"
#include "cache/block_store.h"
#include "cache/shared_block_store.h"

namespace zm {

const char kCacheUsage[] =
    "Usage: zarrmount cache stats|verify|clear|prune [options]\n"
    "\n"
    "Maintains a cache directory; safe while daemons use it.\n"
    "  stats    what the cache holds: size, blocks, age of the oldest and newest use,\n"
    "           scan records of NetCDF/HDF5 files (scans/)\n"
    "  verify   reads every block and scan record and checks its key and checksum;\n"
    "           bad ones are deleted (a daemon would fetch or scan them again).\n"
    "           Exit status 1 if any\n"
    "  clear    deletes every block and scan record\n"
    "  prune    evicts least recently used blocks: --to SIZE and/or --unused-for AGE\n"
    "\n"
    "With --shared-cache URL, stats reports the shared tier's nodes instead of a\n"
    "directory: up or down, items and bytes held, evictions, hits and misses.\n"
    "Exit status 1 if a node is down. The other actions do not apply to the\n"
    "shared tier (other hosts' blocks are there).\n"
    "\n"
    "Options:\n"
    "  --cache-dir DIR    the cache directory (default $XDG_CACHE_HOME/zarrmount or\n"
    "                     ~/.cache/zarrmount)\n"
    "  --shared-cache URL the shared tier, memcached://HOST:PORT[,HOST:PORT...]\n"
    "  --to SIZE          prune: keep at most SIZE of blocks (e.g. 2G)\n"
    "  --unused-for AGE   prune: evict blocks not used for AGE (e.g. 90s, 30m, 12h, 7d)\n"
    "  --json             print the result as one JSON object\n"
    "  -h, --help         this text\n";

namespace {

// How long ago a unix time was, for people.
std::string Age(int64_t unix_s) {
  if (unix_s == 0) return "-";
  int64_t d = std::time(nullptr) - unix_s;
  if (d < 120) return std::to_string(std::max<int64_t>(d, 0)) + " s ago";
  if (d < 7200) return std::to_string(d / 60) + " min ago";
  if (d < 172800) return std::to_string(d / 3600) + " h ago";
  return std::to_string(d / 86400) + " days ago";
}

// The action and its options, checked; the exit code of a usage error, or -1.
int CheckCacheArgs(const std::vector<std::string>& positional, const Options& opt) {
  if (positional.size() > 1)
    return UsageError(kCacheUsage, "unexpected argument '" + positional[1] + "'");
  const std::string action = positional.empty() ? "" : positional[0];
  if (action != "stats" && action != "verify" && action != "clear" && action != "prune")
    return UsageError(kCacheUsage, action.empty() ? "which cache command?"
                                                  : "unknown cache command '" + action + "'");
  if (action == "prune" && !opt.prune_to && opt.unused_for_s < 0)
    return UsageError(kCacheUsage, "prune needs --to SIZE or --unused-for AGE");
  if (!opt.shared_cache.empty() && action != "stats")
    return UsageError(kCacheUsage, action + " does not apply to the shared tier (--shared-cache)");
  if (!opt.shared_cache.empty() && !opt.cache_dir.empty())
    return UsageError(kCacheUsage, "stats reports --shared-cache or --cache-dir, not both at once");
  return -1;
}

// The shared tier's nodes as they report themselves; 1 if one is down.
int SharedStats(const std::string& url, bool json) {
  auto o = ParseSharedCacheUrl(url, "--shared-cache");
  if (!o.ok()) return Fail(o.status());
  const std::vector<SharedNodeReport> nodes = ReportSharedNodes(*o);
  bool all_up = true;
  if (json) {
    std::string s = "{\"shared_cache\": {\"nodes\": [";
    for (size_t i = 0; i < nodes.size(); ++i) {
      const SharedNodeReport& n = nodes[i];
      char counters[400];
      std::snprintf(counters, sizeof counters,
                    ", \"items\": %llu, \"bytes\": %llu, \"limit_bytes\": %llu, \"evictions\": %llu, "
                    "\"get_hits\": %llu, \"get_misses\": %llu, \"uptime_s\": %llu",
                    (unsigned long long)n.items, (unsigned long long)n.bytes, (unsigned long long)n.limit_bytes,
                    (unsigned long long)n.evictions, (unsigned long long)n.get_hits,
                    (unsigned long long)n.get_misses, (unsigned long long)n.uptime_s);
      s += std::string(i ? ", " : "") + "{\"name\": " + JsonQuote(n.name) + ", \"up\": " + (n.up ? "true" : "false") +
           (n.up ? std::string(counters) : ", \"error\": " + JsonQuote(n.error)) + "}";
      all_up &= n.up;
    }
    std::printf("%s]}}\n", s.c_str());
  } else {
    std::printf("shared cache, %zu node%s\n", nodes.size(), nodes.size() == 1 ? "" : "s");
    for (const SharedNodeReport& n : nodes) {
      all_up &= n.up;
      if (!n.up) {
        std::printf("  %-22s down: %s\n", n.name.c_str(), n.error.c_str());
        continue;
      }
      std::printf("  %-22s up (started %s), %llu items, %s of %s, %llu evicted, %llu hits, %llu misses\n",
                  n.name.c_str(),
                  Age(static_cast<int64_t>(std::time(nullptr) - n.uptime_s)).c_str(), (unsigned long long)n.items,
                  FormatSize(n.bytes).c_str(), FormatSize(n.limit_bytes).c_str(), (unsigned long long)n.evictions,
                  (unsigned long long)n.get_hits, (unsigned long long)n.get_misses);
    }
  }
  return all_up ? 0 : 1;
}

int Stats(PersistentBlockStore& store, const std::string& dir, bool json) {
  auto u = store.GetUsage(true);
  if (!u.ok()) return Fail(u.status());
  const ScanRecordUsage scans = GetScanRecordUsage(dir);
  if (json) {
    std::printf("{\"dir\": %s, \"capacity_bytes\": %llu, \"used_bytes\": %llu, \"blocks\": %llu, "
                "\"file_bytes\": %llu, \"oldest_use\": %lld, \"newest_use\": %lld, "
                "\"scan_records\": %llu, \"scan_record_bytes\": %llu}\n",
                JsonQuote(dir).c_str(), (unsigned long long)u->capacity_bytes,
                (unsigned long long)u->used_bytes, (unsigned long long)u->blocks,
                (unsigned long long)u->file_bytes, (long long)u->oldest_use,
                (long long)u->newest_use, (unsigned long long)scans.records,
                (unsigned long long)scans.bytes);
  } else {
    std::printf("cache %s\n  blocks     %llu\n  used       %s of %s (%.1f%%)\n  on disk    %s\n"
                "  oldest use %s\n  newest use %s\n  scan records %llu (%s)\n",
                dir.c_str(), (unsigned long long)u->blocks, FormatSize(u->used_bytes).c_str(),
                FormatSize(u->capacity_bytes).c_str(),
                u->capacity_bytes ? 100.0 * double(u->used_bytes) / double(u->capacity_bytes) : 0.0,
                FormatSize(u->file_bytes).c_str(), Age(u->oldest_use).c_str(),
                Age(u->newest_use).c_str(), (unsigned long long)scans.records,
                FormatSize(scans.bytes).c_str());
  }
  return 0;
}

int Verify(PersistentBlockStore& store, const std::string& dir, bool json) {
  const bool tty = !json && isatty(2);
  auto r = store.Verify([&](uint64_t done, uint64_t total) {
    if (tty)
      std::fprintf(stderr, "\rverifying: %llu of %llu blocks", (unsigned long long)done,
                   (unsigned long long)total);
  });
  if (tty) std::fputc('\n', stderr);
  if (!r.ok()) return Fail(r.status());
  auto scans = VerifyScanRecords(dir);
  if (!scans.ok()) return Fail(scans.status());
  if (json) {
    std::printf("{\"dir\": %s, \"checked\": %llu, \"bad\": %llu, \"bytes\": %llu, "
                "\"scan_records_checked\": %llu, \"scan_records_bad\": %llu}\n",
                JsonQuote(dir).c_str(), (unsigned long long)r->checked,
                (unsigned long long)r->bad, (unsigned long long)r->bytes,
                (unsigned long long)scans->checked, (unsigned long long)scans->bad);
  } else {
    std::printf("%llu blocks checked (%s), %llu bad%s\n", (unsigned long long)r->checked,
                FormatSize(r->bytes).c_str(), (unsigned long long)r->bad,
                r->bad ? " (deleted; they will be fetched again)" : "");
    std::printf("%llu scan records checked, %llu bad%s\n", (unsigned long long)scans->checked,
                (unsigned long long)scans->bad, scans->bad ? " (deleted; their files will be scanned again)" : "");
  }
  return r->bad || scans->bad ? 1 : 0;
}

int Clear(PersistentBlockStore& store, const std::string& dir, bool json) {
  auto before = store.GetUsage(false);
  if (Status st = store.Clear(); !st.ok()) return Fail(st);
  uint64_t n = before.ok() ? before->blocks : 0;
  auto scans = ClearScanRecords(dir);
  if (!scans.ok()) return Fail(scans.status());
  if (json)
    std::printf("{\"dir\": %s, \"deleted_blocks\": %llu, \"deleted_scan_records\": %llu}\n",
                JsonQuote(dir).c_str(), (unsigned long long)n, (unsigned long long)*scans);
  else
    std::printf("deleted %llu blocks and %llu scan records from %s\n", (unsigned long long)n,
                (unsigned long long)*scans, dir.c_str());
  return 0;
}

int Prune(PersistentBlockStore& store, const std::string& dir, const Options& opt) {
  const uint64_t target = opt.prune_to.value_or(~uint64_t{0});
  const int64_t since =
      opt.unused_for_s < 0 ? 0 : static_cast<int64_t>(std::time(nullptr)) - opt.unused_for_s;
  auto before = store.GetUsage(false);
  auto freed = store.Prune(target, since);
  if (!freed.ok()) return Fail(freed.status());
  auto after = store.GetUsage(false);
  uint64_t evicted = before.ok() && after.ok() ? before->blocks - after->blocks : 0;
  if (opt.json)
    std::printf("{\"dir\": %s, \"evicted_blocks\": %llu, \"freed_bytes\": %llu, "
                "\"used_bytes\": %llu}\n",
                JsonQuote(dir).c_str(), (unsigned long long)evicted, (unsigned long long)*freed,
                (unsigned long long)(after.ok() ? after->used_bytes : 0));
  else
    std::printf("evicted %llu blocks (%s); %s left\n", (unsigned long long)evicted,
                FormatSize(*freed).c_str(),
                after.ok() ? FormatSize(after->used_bytes).c_str() : "?");
  return 0;
}

}  // namespace

int CacheCommand(int argc, char** argv) {
  Options opt;
  std::vector<std::string> positional;
  if (int rc = ParseCommandArgs(Command::kCache, argc, argv, kCacheUsage, &opt, &positional);
      rc >= 0)
    return rc;
  if (int rc = CheckCacheArgs(positional, opt); rc >= 0) return rc;
  const std::string& action = positional[0];
  if (!opt.shared_cache.empty()) return SharedStats(opt.shared_cache, opt.json);
  const std::string dir = opt.cache_dir.empty() ? DefaultCacheDir() : opt.cache_dir;
  if (access((dir + "/data.mdb").c_str(), F_OK) != 0) {
    std::fprintf(stderr, "zarrmount: cache directory %s: no cache there\n", dir.c_str());
    return 1;
  }
  LmdbOptions lo;
  lo.capacity_bytes = 0;  // as it is
  auto opened = OpenLmdbBlockStore(dir, lo);
  if (!opened.ok()) return Fail(opened.status());
  PersistentBlockStore& store = **opened;
  if (action == "stats") return Stats(store, dir, opt.json);
  if (action == "verify") return Verify(store, dir, opt.json);
  if (action == "clear") return Clear(store, dir, opt.json);
  return Prune(store, dir, opt);
}

}  // namespace zm
