#include "app/commands.h"

#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <map>
#include <set>
#include <string_view>
#include <algorithm>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/units.h"
#include "cache/block_store.h"
#include "fuse/adapter.h"
#include "app/options.h"
#include "app/sources.h"
#include "app/stack.h"
#include "refs/aggregate.h"
#include "refs/reference_loader.h"

namespace zm {
namespace {

constexpr char kCacheUsage[] =
    "Usage: zarrmount cache stats|verify|clear|prune [options]\n"
    "\n"
    "Maintains a cache directory; safe while daemons use it.\n"
    "  stats    what the cache holds: size, blocks, age of the oldest and newest use\n"
    "  verify   reads every block and checks its key and checksum; bad blocks are\n"
    "           deleted (a daemon would fetch them again). Exit status 1 if any\n"
    "  clear    deletes every block\n"
    "  prune    evicts least recently used blocks: --to SIZE and/or --unused-for AGE\n"
    "\n"
    "Options:\n"
    "  --cache-dir DIR    the cache directory (default $XDG_CACHE_HOME/zarrmount or\n"
    "                     ~/.cache/zarrmount)\n"
    "  --to SIZE          prune: keep at most SIZE of blocks (e.g. 2G)\n"
    "  --unused-for AGE   prune: evict blocks not used for AGE (e.g. 90s, 30m, 12h, 7d)\n"
    "  --json             print the result as one JSON object\n"
    "  -h, --help         this text\n";

constexpr char kStatusUsage[] =
    "Usage: zarrmount status MOUNTPOINT [--json]\n"
    "\n"
    "Shows a running daemon's counters since it mounted: cache hit ratio, bytes\n"
    "served from memory, disk and the origin, origin requests in flight, errors.\n"
    "  --json       print the daemon's status object as it is\n"
    "  -h, --help   this text\n";

constexpr char kWarmUsage[] =
    "Usage: zarrmount warm [options] SOURCE [PATH_PREFIX...]\n"
    "\n"
    "Fills the disk cache with the chunks of the reference set SOURCE under the\n"
    "given path prefixes (whole arrays or groups, e.g. 'tas' or 'group/sst'; all\n"
    "of it when none), so later mounts read them without the network. Shows a\n"
    "progress bar on a terminal and prints a summary.\n"
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
    "  --json                 print the summary as one JSON object\n"
    "  -h, --help             this text\n";

constexpr char kCombineUsage[] =
    "Usage: zarrmount combine --concat DIM [options] SOURCE... -o OUT.json\n"
    "\n"
    "Aggregates the reference sets SOURCE... along DIM, as a mount with --concat\n"
    "would present them, and writes the result as one kerchunk version 1\n"
    "reference file (URLs absolute, each written once as a template). A SOURCE\n"
    "is a reference file, a directory of them (*.json, *.json.gz, *.json.zst),\n"
    "a quoted glob, a zip archive of them, or a text file listing them.\n"
    "\n"
    "Options:\n"
    "  --concat DIM           dimension to concatenate along (repeatable)\n"
    "  --identical-dims A,B   arrays that must hold the same values in every input\n"
    "  -o, --output FILE      where to write (replaced atomically); '-' for stdout\n"
    "  --local-root DIR       local references may also read files under DIR\n"
    "                         (repeatable; as for mounting)\n"
    "  --json                 print the summary as one JSON object\n"
    "  -h, --help             this text\n";

// One line: the problem and where the usage is.
int Usage(const char* text, const std::string& error) {
  std::string command = text + std::strlen("Usage: ");
  command = command.substr(0, command.find(' ', command.find(' ') + 1));
  std::fprintf(stderr, "zarrmount: %s (see '%s --help')\n", error.c_str(), command.c_str());
  return 2;
}

// The arguments of one command (argv[2...]): -h/--help and --json for all,
// the command's own options that take a value, and positional arguments.
struct CommandArgs {
  bool json = false;
  std::set<std::string> flags;                              // flag options given
  std::map<std::string, std::vector<std::string>> values;  // option -> its values, in order
  std::vector<std::string> positional;
  // The last value given, or "".
  std::string value(const std::string& option) const {
    auto it = values.find(option);
    return it == values.end() ? "" : it->second.back();
  }
};

// Parses into `out`; returns the exit code to stop with (0 after --help, 2
// after a one-line usage error), or -1 to go on.
int ParseCommandArgs(int argc, char** argv, const char* usage,
                     std::initializer_list<std::string_view> value_options, CommandArgs* out,
                     std::initializer_list<std::string_view> flag_options = {}) {
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      return 0;
    } else if (a == "--json") {
      out->json = true;
    } else if (std::find(value_options.begin(), value_options.end(), a) != value_options.end()) {
      if (i + 1 >= argc) return Usage(usage, a + " needs a value");
      out->values[a].push_back(argv[++i]);
    } else if (std::find(flag_options.begin(), flag_options.end(), a) != flag_options.end()) {
      out->flags.insert(a);
    } else if (a.starts_with("-")) {
      return Usage(usage, "unknown option '" + a + "'");
    } else {
      out->positional.push_back(a);
    }
  }
  return -1;
}

// "90", "90s", "30m", "12h", "7d" in seconds; -1 if malformed.
int64_t ParseAge(const std::string& s) {
  if (s.empty()) return -1;
  size_t end = 0;
  long long v;
  try {
    v = std::stoll(s, &end);
  } catch (...) {
    return -1;
  }
  if (v < 0) return -1;
  std::string unit = s.substr(end);
  if (unit.empty() || unit == "s") return v;
  if (unit == "m") return v * 60;
  if (unit == "h") return v * 3600;
  if (unit == "d") return v * 86400;
  return -1;
}

std::string Age(int64_t unix_s) {
  if (unix_s == 0) return "-";
  int64_t d = std::time(nullptr) - unix_s;
  if (d < 120) return std::to_string(std::max<int64_t>(d, 0)) + " s ago";
  if (d < 7200) return std::to_string(d / 60) + " min ago";
  if (d < 172800) return std::to_string(d / 3600) + " h ago";
  return std::to_string(d / 86400) + " days ago";
}

int CacheCommand(int argc, char** argv) {
  CommandArgs args;
  if (int rc = ParseCommandArgs(argc, argv, kCacheUsage, {"--cache-dir", "--to", "--unused-for"},
                                &args);
      rc >= 0)
    return rc;
  if (args.positional.size() > 1)
    return Usage(kCacheUsage, "unexpected argument '" + args.positional[1] + "'");
  const std::string action = args.positional.empty() ? "" : args.positional[0];
  std::string dir = args.value("--cache-dir"), to = args.value("--to");
  const bool json = args.json;
  int64_t unused_for = -1;
  if (args.values.count("--unused-for") && (unused_for = ParseAge(args.value("--unused-for"))) < 0)
    return Usage(kCacheUsage, "--unused-for needs an age such as 90s, 30m, 12h or 7d");
  if (action != "stats" && action != "verify" && action != "clear" && action != "prune")
    return Usage(kCacheUsage, action.empty() ? "which cache command?"
                                             : "unknown cache command '" + action + "'");
  uint64_t target = ~uint64_t{0};
  if (!to.empty()) {
    auto s = ParseSize(to);
    if (!s.ok()) return Usage(kCacheUsage, "--to: " + s.status().message());
    target = *s;
  }
  if (action == "prune" && to.empty() && unused_for < 0)
    return Usage(kCacheUsage, "prune needs --to SIZE or --unused-for AGE");
  if (dir.empty()) dir = DefaultCacheDir();
  if (access((dir + "/data.mdb").c_str(), F_OK) != 0) {
    std::fprintf(stderr, "zarrmount: cache directory %s: no cache there\n", dir.c_str());
    return 1;
  }
  LmdbOptions lo;
  lo.capacity_bytes = 0;  // as it is
  auto opened = OpenLmdbBlockStore(dir, lo);
  if (!opened.ok()) {
    std::fprintf(stderr, "zarrmount: %s\n", opened.status().message().c_str());
    return 1;
  }
  auto& store = *opened;
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "zarrmount: %s\n", st.message().c_str());
    return 1;
  };
  const std::string jdir = "\"dir\": " + JsonQuote(dir);
  if (action == "stats") {
    auto u = store->GetUsage(true);
    if (!u.ok()) return fail(u.status());
    if (json) {
      std::printf("{%s, \"capacity_bytes\": %llu, \"used_bytes\": %llu, \"blocks\": %llu, "
                  "\"file_bytes\": %llu, \"oldest_use\": %lld, \"newest_use\": %lld}\n",
                  jdir.c_str(), (unsigned long long)u->capacity_bytes,
                  (unsigned long long)u->used_bytes, (unsigned long long)u->blocks,
                  (unsigned long long)u->file_bytes, (long long)u->oldest_use,
                  (long long)u->newest_use);
    } else {
      std::printf("cache %s\n  blocks     %llu\n  used       %s of %s (%.1f%%)\n  on disk    %s\n"
                  "  oldest use %s\n  newest use %s\n",
                  dir.c_str(), (unsigned long long)u->blocks, FormatSize(u->used_bytes).c_str(),
                  FormatSize(u->capacity_bytes).c_str(),
                  u->capacity_bytes ? 100.0 * double(u->used_bytes) / double(u->capacity_bytes) : 0.0,
                  FormatSize(u->file_bytes).c_str(), Age(u->oldest_use).c_str(),
                  Age(u->newest_use).c_str());
    }
    return 0;
  }
  if (action == "verify") {
    const bool tty = !json && isatty(2);
    auto r = store->Verify([&](uint64_t done, uint64_t total) {
      if (tty) std::fprintf(stderr, "\rverifying: %llu of %llu blocks", (unsigned long long)done,
                            (unsigned long long)total);
    });
    if (tty) std::fputc('\n', stderr);
    if (!r.ok()) return fail(r.status());
    if (json)
      std::printf("{%s, \"checked\": %llu, \"bad\": %llu, \"bytes\": %llu}\n", jdir.c_str(),
                  (unsigned long long)r->checked, (unsigned long long)r->bad,
                  (unsigned long long)r->bytes);
    else
      std::printf("%llu blocks checked (%s), %llu bad%s\n", (unsigned long long)r->checked,
                  FormatSize(r->bytes).c_str(), (unsigned long long)r->bad,
                  r->bad ? " (deleted; they will be fetched again)" : "");
    return r->bad ? 1 : 0;
  }
  if (action == "clear") {
    auto before = store->GetUsage(false);
    if (Status st = store->Clear(); !st.ok()) return fail(st);
    uint64_t n = before.ok() ? before->blocks : 0;
    if (json)
      std::printf("{%s, \"deleted_blocks\": %llu}\n", jdir.c_str(), (unsigned long long)n);
    else
      std::printf("deleted %llu blocks from %s\n", (unsigned long long)n, dir.c_str());
    return 0;
  }
  // prune
  int64_t since = unused_for < 0 ? 0 : static_cast<int64_t>(std::time(nullptr)) - unused_for;
  auto before = store->GetUsage(false);
  auto freed = store->Prune(target, since);
  if (!freed.ok()) return fail(freed.status());
  auto after = store->GetUsage(false);
  uint64_t evicted = before.ok() && after.ok() ? before->blocks - after->blocks : 0;
  if (json)
    std::printf("{%s, \"evicted_blocks\": %llu, \"freed_bytes\": %llu, \"used_bytes\": %llu}\n",
                jdir.c_str(), (unsigned long long)evicted, (unsigned long long)*freed,
                (unsigned long long)(after.ok() ? after->used_bytes : 0));
  else
    std::printf("evicted %llu blocks (%s); %s left\n", (unsigned long long)evicted,
                FormatSize(*freed).c_str(),
                after.ok() ? FormatSize(after->used_bytes).c_str() : "?");
  return 0;
}

// A number field of a flat JSON object; 0 if absent.
double JsonNumber(const std::string& json, const std::string& name) {
  size_t at = json.find("\"" + name + "\": ");
  if (at == std::string::npos) return 0;
  return std::strtod(json.c_str() + at + name.size() + 4, nullptr);
}

int StatusCommand(int argc, char** argv) {
  CommandArgs args;
  if (int rc = ParseCommandArgs(argc, argv, kStatusUsage, {}, &args); rc >= 0) return rc;
  if (args.positional.size() > 1)
    return Usage(kStatusUsage, "unexpected argument '" + args.positional[1] + "'");
  const std::string mountpoint = args.positional.empty() ? "" : args.positional[0];
  const bool json = args.json;
  if (mountpoint.empty()) return Usage(kStatusUsage, "which mount point?");
  std::string value;
  for (int tries = 0; tries < 5; ++tries) {  // the status may grow between the two calls
    ssize_t n = ::getxattr(mountpoint.c_str(), kStatusXattr, nullptr, 0);
    if (n >= 0) {
      value.resize(static_cast<size_t>(n) + 256);
      n = ::getxattr(mountpoint.c_str(), kStatusXattr, value.data(), value.size());
    }
    if (n >= 0) {
      value.resize(static_cast<size_t>(n));
      break;
    }
    if (errno == ERANGE) continue;
    std::fprintf(stderr, "zarrmount: %s: %s\n", mountpoint.c_str(),
                 errno == ENODATA || errno == ENOTSUP ? "not a zarrmount mount point"
                                                      : std::strerror(errno));
    return 1;
  }
  if (json) {
    std::printf("%s\n", value.c_str());
    return 0;
  }
  auto num = [&](const char* k) { return JsonNumber(value, k); };
  auto size = [&](const char* k) { return FormatSize(static_cast<uint64_t>(num(k))); };
  std::printf("%s (pid %.0f, up %.0f s, %.0f keys)\n", mountpoint.c_str(), num("pid"),
              num("uptime_s"), num("keys"));
  std::printf("  hit ratio          %.1f%%\n", 100 * num("hit_ratio"));
  std::printf("  from memory        %s (%.0f blocks)\n", size("memory_hit_bytes").c_str(),
              num("memory_hits"));
  std::printf("  from disk cache    %s (%.0f blocks)\n", size("disk_hit_bytes").c_str(),
              num("disk_hits"));
  std::printf("  from the origin    %s (%.0f requests, %.0f in flight, %.0f failed)\n",
              size("origin_bytes").c_str(), num("origin_requests"), num("origin_in_flight"),
              num("origin_errors"));
  std::printf("  objects checked    %.0f (size and version, once per object)\n",
              num("object_checks"));
  std::printf("  prefetched         %s (%.0f requests, %.0f dropped)\n",
              size("prefetch_bytes").c_str(), num("prefetch_requests"), num("prefetch_dropped"));
  if (value.find("\"disk_cache\"") != std::string::npos)
    std::printf("  disk cache         %s of %s used, %.0f corrupt blocks dropped, %.0f writes "
                "dropped\n",
                size("used_bytes").c_str(), size("capacity_bytes").c_str(),
                num("corrupt_blocks"), num("dropped_writes"));
  return 0;
}


// True if `key` lies under `prefix` ("a/b" holds "a/b" and "a/b/...").
bool UnderPrefix(const std::string& key, std::string prefix) {
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  if (prefix.empty()) return true;
  return key == prefix || (key.size() > prefix.size() && key.starts_with(prefix) &&
                           key[prefix.size()] == '/');
}

int WarmCommand(int argc, char** argv) {
  CommandArgs args;
  if (int rc = ParseCommandArgs(argc, argv, kWarmUsage,
                                {"--cache-dir", "--cache-size", "--max-connections", "--local-root",
                                 "--map", "--s3-endpoint", "--s3-region", "--s3-profile",
                                 "--header", "--bearer-token-env"},
                                &args, {"--s3-anonymous"});
      rc >= 0)
    return rc;
  Options opt;
  opt.max_connections = 16;
  opt.prefetch = false;
  opt.cache_dir = args.value("--cache-dir");
  // The origin options mean what they mean for mounting.
  auto all = [&](const char* option) {
    auto it = args.values.find(option);
    return it == args.values.end() ? std::vector<std::string>{} : it->second;
  };
  opt.local_roots = all("--local-root");
  opt.maps = all("--map");
  opt.headers = all("--header");
  opt.bearer_envs = all("--bearer-token-env");
  opt.s3_endpoint = args.value("--s3-endpoint");
  opt.s3_region = args.value("--s3-region");
  opt.s3_profile = args.value("--s3-profile");
  opt.s3_anonymous = args.flags.count("--s3-anonymous") > 0;
  const bool json = args.json;
  if (args.values.count("--cache-size")) {
    auto size = ParseSize(args.value("--cache-size"));
    if (!size.ok()) return Usage(kWarmUsage, "--cache-size: " + size.status().message());
    opt.cache_size = *size;
  }
  if (args.values.count("--max-connections")) {
    long n = std::strtol(args.value("--max-connections").c_str(), nullptr, 10);
    if (n < 1 || n > 1024) return Usage(kWarmUsage, "--max-connections needs a number in [1, 1024]");
    opt.max_connections = static_cast<int>(n);
  }
  std::vector<std::string> prefixes;
  if (!args.positional.empty()) {
    opt.source = args.positional[0];
    prefixes.assign(args.positional.begin() + 1, args.positional.end());
  }
  if (opt.source.empty()) return Usage(kWarmUsage, "which reference set?");
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "zarrmount: %s\n", st.message().c_str());
    return 1;
  };
  opt.cache_dir = opt.cache_dir.empty() ? DefaultCacheDir() : opt.cache_dir;
  auto built = BuildStack(opt);
  if (!built.ok()) return fail(built.status());
  Stack stack = std::move(built).value();
  auto loaded = LoadSource(opt.source, stack.origin.get());
  if (!loaded.ok()) return fail(loaded.status());
  ReferenceIndex index = std::move(loaded).value();
  if (Status st = CheckLocalReferences(index, stack, opt.source); !st.ok()) return fail(st);
  if (Status st = SizeWholeObjects(&index, stack.cache.get(), 16, opt.source); !st.ok())
    return fail(st);

  std::vector<ReferenceIndex::FileId> todo;
  uint64_t total = 0;
  std::vector<bool> matched(prefixes.size(), false);
  for (ReferenceIndex::FileId f = 0; f < index.file_count(); ++f) {
    auto t = index.target(f);
    if (t.is_inline() || t.size == 0) continue;
    std::string key = index.FileKey(f);
    bool want = prefixes.empty();
    for (size_t p = 0; p < prefixes.size(); ++p)
      if (UnderPrefix(key, prefixes[p])) want = matched[p] = true;
    if (!want) continue;
    todo.push_back(f);
    total += t.size;
  }
  for (size_t p = 0; p < prefixes.size(); ++p)
    if (!matched[p])
      return fail(InvalidArgument(opt.source + ": no key under '" + prefixes[p] + "'"));

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done_bytes{0}, failed{0};
  std::mutex mu;  // guards first_error
  Status first_error;
  const auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    while (true) {
      size_t i = next.fetch_add(1);
      if (i >= todo.size()) return;
      auto t = index.target(todo[i]);
      ByteRange region{t.offset, t.size};
      // In steps, so a huge object never sits in memory whole.
      constexpr uint64_t kStep = 64_MiB;
      for (uint64_t pos = 0; pos < t.size; pos += kStep) {
        uint64_t len = std::min(kStep, t.size - pos);
        auto r = stack.cache->ReadSlices(index.url(t.url_id), region, pos, len);
        done_bytes.fetch_add(len);
        if (!r.ok()) {
          failed.fetch_add(1);
          done_bytes.fetch_add(t.size - pos - len);
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.ok())
            first_error = r.status().WithContext("key '" + index.FileKey(todo[i]) + "'");
          break;
        }
      }
    }
  };
  std::vector<std::thread> pool;
  int threads = std::min<int>(opt.max_connections, static_cast<int>(todo.size()));
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  if (!json && isatty(2)) {
    while (next.load() < todo.size() || done_bytes.load() < total) {
      double s = seconds(), rate = s > 0 ? done_bytes.load() / s : 0;
      uint64_t d = done_bytes.load();
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
  for (auto& t : pool) t.join();
  if (stack.disk) stack.disk->Flush();
  const CacheStats& cs = stack.cache->stats();
  double s = seconds();
  if (json) {
    std::printf("{\"keys\": %zu, \"bytes\": %llu, \"from_origin_bytes\": %llu, "
                "\"origin_requests\": %llu, \"failed_keys\": %llu, \"seconds\": %.3f}\n",
                todo.size(), (unsigned long long)total,
                (unsigned long long)cs.origin_bytes.load(),
                (unsigned long long)cs.origin_requests.load(), (unsigned long long)failed.load(), s);
  } else {
    std::printf("warmed %zu keys (%s) in %.1f s: %s fetched in %llu requests, the rest was "
                "cached%s\n",
                todo.size(), FormatSize(total).c_str(), s,
                FormatSize(cs.origin_bytes.load()).c_str(),
                (unsigned long long)cs.origin_requests.load(),
                failed.load() ? (", " + std::to_string(failed.load()) + " keys failed").c_str() : "");
  }
  if (!first_error.ok()) return fail(first_error);
  return 0;
}

}  // namespace

int CombineCommand(int argc, char** argv) {
  // -o is this command's only short option: spelled out before the parser.
  std::vector<std::string> rewritten(argv, argv + argc);
  for (auto& a : rewritten)
    if (a == "-o") a = "--output";
  std::vector<char*> av;
  for (auto& a : rewritten) av.push_back(a.data());
  CommandArgs args;
  if (int rc = ParseCommandArgs(static_cast<int>(av.size()), av.data(), kCombineUsage,
                                {"--concat", "--identical-dims", "--output", "--local-root"}, &args);
      rc >= 0)
    return rc;
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "zarrmount: %s\n", st.message().c_str());
    return 1;
  };
  // The same option rules as for mounting.
  std::vector<std::string> mount_args = {"zarrmount", "--check"};
  for (const char* o : {"--concat", "--identical-dims"})
    if (args.values.count(o))
      for (const auto& v : args.values.at(o)) mount_args.insert(mount_args.end(), {o, v});
  for (const auto& p : args.positional) mount_args.push_back(p);
  std::vector<char*> mav;
  for (auto& a : mount_args) mav.push_back(a.data());
  if (!args.values.count("--concat")) return Usage(kCombineUsage, "--concat DIM is needed");
  if (args.positional.empty()) return Usage(kCombineUsage, "which reference sets?");
  std::string out = args.value("--output");
  if (out.empty()) return Usage(kCombineUsage, "-o OUT.json is needed");
  auto parsed = ParseOptions(static_cast<int>(mav.size()), mav.data());
  if (!parsed.ok()) return Usage(kCombineUsage, parsed.status().message());
  Options opt = std::move(parsed).value();
  opt.disk_cache = false;
  opt.prefetch = false;
  if (args.values.count("--local-root")) opt.local_roots = args.values.at("--local-root");

  auto t0 = std::chrono::steady_clock::now();
  auto inputs = ExpandSources(opt.sources);
  if (!inputs.ok()) return fail(inputs.status());
  for (std::string& dir : SourceDirectories(*inputs)) opt.local_roots.push_back(std::move(dir));
  auto built = BuildStack(opt);
  if (!built.ok()) return fail(built.status());
  AggregateOptions ao;
  ao.concat_dims = opt.concat_dims;
  ao.identical_arrays = opt.identical_dims;
  auto index = LoadAggregation(*inputs, ao, ReferenceLoadOptions{}, built->cache.get());
  if (!index.ok()) return fail(index.status());
  auto text = WriteReferencesV1(*index);
  if (!text.ok()) return fail(text.status());
  if (out == "-") {
    std::fwrite(text->data(), 1, text->size(), stdout);
  } else {
    // Written beside the target and renamed: a reader never sees half a file.
    std::string tmp = out + ".tmp" + std::to_string(::getpid());
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) return fail(IoError(out + ": " + std::strerror(errno)));
    bool ok = std::fwrite(text->data(), 1, text->size(), f) == text->size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok || std::rename(tmp.c_str(), out.c_str()) != 0) {
      Status st = IoError(out + ": " + std::strerror(errno));
      std::remove(tmp.c_str());
      return fail(st);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  FILE* summary = out == "-" ? stderr : stdout;
  if (args.json) {
    std::fprintf(summary,
                 "{\"inputs\": %zu, \"keys\": %zu, \"urls\": %zu, \"bytes\": %zu, "
                 "\"seconds\": %.3f, \"output\": %s}\n",
                 inputs->size(), index->file_count(), index->url_count(), text->size(), secs,
                 JsonQuote(out).c_str());
  } else {
    std::fprintf(summary, "combined %zu reference sets: %zu keys, %zu URLs, %s written to %s in %.2f s\n",
                 inputs->size(), index->file_count(), index->url_count(),
                 FormatSize(text->size()).c_str(), out.c_str(), secs);
  }
  return 0;
}

bool IsCommand(int argc, char** argv) {
  if (argc < 2) return false;
  std::string c = argv[1];
  return c == "cache" || c == "status" || c == "warm" || c == "combine";
}

int RunCommand(int argc, char** argv) {
  std::string c = argv[1];
  if (c == "cache") return CacheCommand(argc, argv);
  if (c == "warm") return WarmCommand(argc, argv);
  if (c == "combine") return CombineCommand(argc, argv);
  return StatusCommand(argc, argv);
}

}  // namespace zm
