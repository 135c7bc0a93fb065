#include "app/option_table.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "app/listen_address.h"
#include "base/units.h"
#include "views/view_tree.h"
#include "io/cloud.h"

namespace zm {
namespace {

constexpr unsigned kMount = static_cast<unsigned>(Command::kMount);
constexpr unsigned kWarm = static_cast<unsigned>(Command::kWarm);
constexpr unsigned kCombine = static_cast<unsigned>(Command::kCombine);
constexpr unsigned kCache = static_cast<unsigned>(Command::kCache);
constexpr unsigned kStatus = static_cast<unsigned>(Command::kStatus);
constexpr unsigned kScan = static_cast<unsigned>(Command::kScan);
constexpr unsigned kConvert = static_cast<unsigned>(Command::kConvert);
constexpr unsigned kEveryCommand = kMount | kWarm | kCombine | kCache | kStatus | kScan | kConvert;
constexpr unsigned kSubcommands = kWarm | kCombine | kCache | kStatus | kScan | kConvert;
// How `warm` and `scan` reach the origins: as a mount does.
constexpr unsigned kOrigin = kMount | kWarm | kScan;
// How requests are made: every command that reads SOURCEs or inputs.
constexpr unsigned kRequests = kOrigin | kCombine | kConvert;

// The column where --help's option texts start; a longer option name is
// followed by two spaces instead.
constexpr size_t kHelpColumn = 27;

// ---- value checks shared by the table's entries ---------------------------------------

std::string Quoted(const OptionArg& a) { return "option '" + a.name + "'"; }

// An integer in [lo, hi], written in decimal and nothing else.
template <typename T>
Status IntIn(const OptionArg& a, long lo, long hi, T* out) {
  const std::string& v = a.value;
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || x < lo || x > hi)
    return InvalidArgument(Quoted(a) + ": '" + v + "' is not an integer in [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  *out = static_cast<T>(x);
  return Status();
}

// Seconds in [1, 86400], stored in milliseconds.
Status SecondsAsMs(const OptionArg& a, long* out_ms) {
  long s = 0;
  ZM_RETURN_IF_ERROR(IntIn(a, 1, 86400, &s));
  *out_ms = s * 1000;
  return Status();
}

// A size with a unit ("64M"), within [lo, hi]; `bounds` says those in the
// error ("between 4K and 64M").
Status SizeIn(const OptionArg& a, uint64_t* out, uint64_t lo = 0,
              uint64_t hi = std::numeric_limits<uint64_t>::max(), const char* bounds = "") {
  auto size = ParseSize(a.value);
  if (!size.ok()) return size.status().WithContext(Quoted(a));
  if (*size < lo || *size > hi) return InvalidArgument(Quoted(a) + " must be " + bounds);
  *out = *size;
  return Status();
}

// A value that may not be empty; `what` names it in the error ("a directory").
Status NonEmpty(const OptionArg& a, const char* what, std::string* out) {
  if (a.value.empty()) return InvalidArgument(Quoted(a) + " needs " + what);
  *out = a.value;
  return Status();
}

// Splits "a,b,c" and calls add(one) for each part; empty parts are skipped
// or, with `refuse_empty`, an error.
template <typename Add>
Status ForEachCommaPart(const OptionArg& a, bool refuse_empty, Add add) {
  std::string_view rest(a.value);
  while (true) {
    size_t comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    if (one.empty() && refuse_empty)
      return InvalidArgument(Quoted(a) + ": '" + a.value + "' has an empty name");
    if (!one.empty()) ZM_RETURN_IF_ERROR(add(one));
    if (comma == std::string_view::npos) return Status();
    rest.remove_prefix(comma + 1);
  }
}

// "90", "90s", "30m", "12h", "7d" in seconds; -1 if malformed.
int64_t ParseAge(const std::string& s) {
  if (s.empty() || s[0] == '-') return -1;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str()) return -1;
  std::string_view unit(end);
  if (unit.empty() || unit == "s") return v;
  if (unit == "m") return v * 60;
  if (unit == "h") return v * 3600;
  if (unit == "d") return v * 86400;
  return -1;
}

Status Set(bool* field) {
  *field = true;
  return Status();
}

// ---- -o: every option in mount(8)'s spelling ------------------------------------------

// Options (names without "=value") that concern mount(8), fstab or
// systemd, not the file system:
// mount(8) drops most of them before it calls a helper, but a command line
// or another mount program may still pass them on.
bool IsMountBookkeeping(std::string_view name) {
  static constexpr std::string_view kNames[] = {"auto",  "noauto", "_netdev", "nofail", "user",
                                                "nouser", "users", "owner",   "group", "defaults"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames) ||
         name.starts_with("x-") || name == "comment";
}

// Flags about access times and writing, which mean nothing on a read-only
// mount whose files never change (and some of which libfuse refuses).
bool IsMeaninglessWhenReadOnly(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "atime",   "noatime",   "relatime", "norelatime", "strictatime", "nostrictatime",
      "diratime", "nodiratime", "lazytime", "nolazytime", "sync",       "async",
      "dirsync", "iversion",  "noiversion", "mand",     "nomand",      "silent", "loud"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// Splits an -o list at the commas outside double quotes, which are removed
// (mount(8) keeps name="a,b" together the same way); empty parts are skipped.
std::vector<std::string> SplitMountOptions(std::string_view list) {
  std::vector<std::string> parts(1);
  bool quoted = false;
  for (char c : list) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      if (!parts.back().empty()) parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  if (parts.back().empty()) parts.pop_back();
  return parts;
}

// The mount's entry that -o `name` spells ("cache_dir" or "cache-dir" for
// --cache-dir), or nullptr.
const OptionSpec* OwnOptionOf(std::string_view name) {
  if (name.empty()) return nullptr;
  std::string long_name = "--" + std::string(name);
  std::replace(long_name.begin() + 2, long_name.end(), '_', '-');
  return FindOption(Command::kMount, long_name);
}

// One part of an -o list: one of zarrmount's options, an option of
// mount(8) to ignore, or one for FUSE.
Status ApplyMountOption(const std::string& one, Options* o) {
  // The mount is read-only for everyone, and the kernel checks
  // permissions (see RunFuse): no -o may say otherwise.
  if (one == "rw") return InvalidArgument("option '-o rw': the mount is read-only");
  const size_t eq = one.find('=');
  const std::string name = one.substr(0, eq);
  if (IsMountBookkeeping(name) || IsMeaninglessWhenReadOnly(one)) return Status();
  const OptionSpec* spec = OwnOptionOf(name);
  if (!spec) {
    o->fuse_options.push_back(one);
    return Status();
  }
  OptionArg given{"-o " + name, eq == std::string::npos ? "" : one.substr(eq + 1)};
  if (spec->takes_value() && eq == std::string::npos)
    return InvalidArgument("option '" + given.name + "' needs a value (" + name + "=" +
                           spec->metavar + ")");
  if (!spec->takes_value() && eq != std::string::npos)
    return InvalidArgument("option '" + given.name + "' takes no value");
  return spec->apply(given, o);
}

Status ApplyMountOptions(const OptionArg& a, Options* o) {
  for (const std::string& one : SplitMountOptions(a.value))
    ZM_RETURN_IF_ERROR(ApplyMountOption(one, o));
  return Status();
}

// ---- the table ------------------------------------------------------------------------

// clang-format off
const OptionSpec kOptions[] = {
  {"--foreground", 'f', nullptr,
   "stay in the foreground (log to stderr, or to syslog\n"
   "when stderr is not a terminal)", nullptr, kMount,
   [](const OptionArg&, Options* o) { return Set(&o->foreground); }},
  {"--debug", 'd', nullptr, "foreground, with FUSE request tracing", nullptr, kMount,
   [](const OptionArg&, Options* o) { o->debug = true; return Set(&o->foreground); }},
  {nullptr, 'o', "OPT[,OPT...]",
   "mount options: each option listed here as name=VALUE\n"
   "(a flag as name; '_' for '-': cache_dir=DIR,offline),\n"
   "and FUSE's (allow_other, nosuid, ...); ro and\n"
   "default_permissions are always set, rw is refused", nullptr, kMount,
   [](const OptionArg& a, Options* o) { return ApplyMountOptions(a, o); }},
  {"--cache-dir", 0, "DIR",
   "persistent block cache directory\n"
   "(default: $XDG_CACHE_HOME/zarrmount or ~/.cache/zarrmount)", nullptr,
   kMount | kWarm | kCache,
   [](const OptionArg& a, Options* o) { return NonEmpty(a, "a directory", &o->cache_dir); }},
  {"--cache-size", 0, "SIZE",
   "size limit of the disk cache; past 90% of it the least\n"
   "recently used blocks are evicted (default: {})",
   [](const Options& d) { return FormatSize(d.cache_size); }, kMount | kWarm,
   [](const OptionArg& a, Options* o) { return SizeIn(a, &o->cache_size); }},
  {"--memory-cache", 0, "SIZE", "size of the in-memory block cache (default: {})",
   [](const Options& d) { return FormatSize(d.memory_cache); }, kMount,
   [](const OptionArg& a, Options* o) { return SizeIn(a, &o->memory_cache); }},
  {"--no-disk-cache", 0, nullptr, "use no persistent cache", nullptr, kMount,
   [](const OptionArg&, Options* o) { o->disk_cache = false; return Status(); }},
  {"--offline", 0, nullptr,
   "serve only what the cache holds; anything else fails\n"
   "at once with EIO, and nothing is sent to the network", nullptr, kMount,
   [](const OptionArg&, Options* o) { return Set(&o->offline); }},
  {"--shared-cache", 0, "URL",
   "a cache tier shared by many hosts, read after the disk\n"
   "cache: memcached://HOST:PORT[,HOST:PORT...][?timeout_ms=50]", nullptr, kOrigin | kCache,
   [](const OptionArg& a, Options* o) { return NonEmpty(a, "a memcached:// URL", &o->shared_cache); }},
  {"--shared-cache-key-file", 0, "FILE",
   "secret the shared tier's MAC keys come from\n"
   "(16+ bytes, mode 0600, the same on every host)", nullptr, kOrigin,
   [](const OptionArg& a, Options* o) { return NonEmpty(a, "a file", &o->shared_cache_key_file); }},
  {"--shared-cache-unauthenticated", 0, nullptr,
   "share without a key\n"
   "(anyone reaching the nodes can change what is read)", nullptr, kOrigin,
   [](const OptionArg&, Options* o) { return Set(&o->shared_cache_unauthenticated); }},
  {"--block-size", 0, "SIZE", "cache block size (default: {})",
   [](const Options& d) { return FormatSize(d.block_size); }, kMount,
   [](const OptionArg& a, Options* o) {
     return SizeIn(a, &o->block_size, 4_KiB, 64_MiB, "between 4K and 64M");
   }},
  {"--threads", 0, "N", "FUSE worker threads, at most (default: {})",
   [](const Options& d) { return std::to_string(d.threads); }, kMount,
   [](const OptionArg& a, Options* o) { return IntIn(a, 1, 1024, &o->threads); }},
  {"--no-prefetch", 0, nullptr, "fetch only what is read", nullptr, kMount,
   [](const OptionArg&, Options* o) { o->prefetch = false; return Status(); }},
  {"--prefetch-threads", 0, "N",
   "concurrent prefetch requests, at most (default: {};\nnever more than --max-connections)",
   [](const Options& d) { return std::to_string(d.prefetch_threads); }, kMount,
   [](const OptionArg& a, Options* o) { return IntIn(a, 1, 256, &o->prefetch_threads); }},
  {"--prefetch-memory", 0, "SIZE", "bytes of prefetches in flight, at most (default: {})",
   [](const Options& d) { return FormatSize(d.prefetch_memory); }, kMount,
   [](const OptionArg& a, Options* o) { return SizeIn(a, &o->prefetch_memory); }},
  {"--coalesce-gap", 0, "SIZE",
   "merge prefetches of one object whose gap is at most\n"
   "this into one request (default: {})",
   [](const Options& d) { return FormatSize(d.coalesce_gap); }, kMount,
   [](const OptionArg& a, Options* o) { return SizeIn(a, &o->coalesce_gap); }},
  {"--coalesce-max", 0, "SIZE", "largest merged request (default: {})",
   [](const Options& d) { return FormatSize(d.coalesce_max); }, kMount,
   [](const OptionArg& a, Options* o) {
     return SizeIn(a, &o->coalesce_max, 1_MiB, std::numeric_limits<uint64_t>::max(),
                   "at least 1M");
   }},
  {"--connect-timeout", 0, "S", "seconds one attempt may wait for a connection (default: {})",
   [](const Options& d) { return std::to_string(d.connect_timeout_ms / 1000); }, kMount,
   [](const OptionArg& a, Options* o) { return SecondsAsMs(a, &o->connect_timeout_ms); }},
  {"--request-timeout", 0, "S",
   "seconds one attempt (one HTTP request) may take in all\n"
   "(default: {})",
   [](const Options& d) { return std::to_string(d.request_timeout_ms / 1000); }, kMount,
   [](const OptionArg& a, Options* o) { return SecondsAsMs(a, &o->request_timeout_ms); }},
  {"--low-speed-limit", 0, "SIZE",
   "abort an attempt that moves less than SIZE per second\n"
   "for --low-speed-time seconds (default: {})",
   [](const Options& d) { return FormatSize(d.low_speed_limit); }, kMount,
   [](const OptionArg& a, Options* o) {
     return SizeIn(a, &o->low_speed_limit, 1, 1_GiB, "between 1 and 1G");
   }},
  {"--low-speed-time", 0, "S", "see --low-speed-limit (default: {})",
   [](const Options& d) { return std::to_string(d.low_speed_time_s); }, kMount,
   [](const OptionArg& a, Options* o) { return IntIn(a, 1, 86400, &o->low_speed_time_s); }},
  {"--retries", 0, "N", "retries of a failed request (default: {})",
   [](const Options& d) { return std::to_string(d.retries); }, kMount,
   [](const OptionArg& a, Options* o) { return IntIn(a, 0, 100, &o->retries); }},
  {"--read-timeout", 0, "S",
   "seconds one fetch from the origin may take, all attempts\n"
   "and the pauses between them included; then the read\n"
   "fails with EIO (default: {})",
   [](const Options& d) { return std::to_string(d.read_timeout_ms / 1000); }, kMount,
   [](const OptionArg& a, Options* o) { return SecondsAsMs(a, &o->read_timeout_ms); }},
  {"--max-connections", 0, "N", "HTTP requests in flight at once, at most (default: {})",
   [](const Options& d) { return std::to_string(d.max_connections); }, kRequests,
   [](const OptionArg& a, Options* o) { return IntIn(a, 1, 1024, &o->max_connections); }},
  {"--allow-link-local", 0, nullptr,
   "let references reach link-local addresses (169.254.0.0/16,\n"
   "fe80::/10, fd00:ec2::254), where cloud metadata services\n"
   "answer; refused by default, before any connection", nullptr, kMount,
   [](const OptionArg&, Options* o) { return Set(&o->allow_link_local); }},
  {"--local-root", 0, "DIR",
   "local references may also read files under DIR\n"
   "(repeatable); by default only files under the\n"
   "reference file's own directory, links resolved", nullptr, kRequests,
   [](const OptionArg& a, Options* o) {
     std::string dir;
     ZM_RETURN_IF_ERROR(NonEmpty(a, "a directory", &dir));
     o->local_roots.push_back(std::move(dir));
     return Status();
   }},
  {"--max-generated-keys", 0, "N",
   "refuse reference sets whose 'gen' entries make more\n"
   "keys than N (default: {})",
   [](const Options& d) { return std::to_string(d.max_generated_keys); }, kMount,
   [](const OptionArg& a, Options* o) {
     const std::string& v = a.value;
     char* end = nullptr;
     unsigned long long n = std::strtoull(v.c_str(), &end, 10);
     if (v.empty() || v[0] == '-' || *end || n == 0)
       return InvalidArgument(Quoted(a) + ": '" + v + "' is not a positive integer");
     o->max_generated_keys = n;
     return Status();
   }},
  {"--map", 0, "OLD=NEW",
   "read URLs starting with OLD from NEW instead (repeatable;\n"
   "the longest OLD wins), e.g. s3://bkt/=http://mirror/bkt/", nullptr, kRequests,
   [](const OptionArg& a, Options* o) {
     UrlMap check;
     ZM_RETURN_IF_ERROR(check.Add(a.value));
     o->maps.push_back(a.value);
     return Status();
   }},
  {"--s3-endpoint", 0, "URL", "S3-compatible store, path-style (default: $AWS_ENDPOINT_URL)",
   nullptr, kRequests,
   [](const OptionArg& a, Options* o) {
     ZM_RETURN_IF_ERROR(NonEmpty(a, "a value", &o->s3_endpoint));
     if (!a.value.starts_with("http://") && !a.value.starts_with("https://"))
       return InvalidArgument(Quoted(a) + ": '" + a.value + "' must start with http:// or https://");
     return Status();
   }},
  {"--s3-region", 0, "REGION", "region of s3:// buckets (default: $AWS_REGION or us-east-1)",
   nullptr, kRequests,
   [](const OptionArg& a, Options* o) { return NonEmpty(a, "a value", &o->s3_region); }},
  {"--s3-profile", 0, "NAME", "credentials of this ~/.aws profile (default: $AWS_PROFILE)",
   nullptr, kRequests,
   [](const OptionArg& a, Options* o) { return NonEmpty(a, "a value", &o->s3_profile); }},
  {"--s3-anonymous", 0, nullptr, "send s3:// requests unsigned (public buckets)", nullptr,
   kRequests, [](const OptionArg&, Options* o) { return Set(&o->s3_anonymous); }},
  {"--header", 0, "HEADER",
   "add HEADER ('Name: value') to every request; as\n"
   "'PREFIX Name: value', to those for URLs under PREFIX", nullptr, kRequests,
   [](const OptionArg& a, Options* o) {
     ZM_RETURN_IF_ERROR(ParseHeaderRule(a.value, "--header"));
     o->headers.push_back(a.value);
     return Status();
   }},
  {"--bearer-token-env", 0, "VAR",
   "send 'Authorization: Bearer $VAR'; 'PREFIX VAR' scopes\n"
   "it to URLs under PREFIX (both repeatable)", nullptr, kRequests,
   [](const OptionArg& a, Options* o) {
     o->bearer_envs.push_back(a.value);
     return Status();
   }},
  {"--view", 0, "VIEW",
   "what the mount shows: zarr (the Zarr store, default),\n"
   "zarr-decoded (the same store with its chunks decoded\n"
   "by the daemon, so readers skip decompression), npy\n"
   "(each array as a .npy file) or netcdf (one NetCDF\n"
   "classic file per group of arrays)", nullptr, kMount,
   [](const OptionArg& a, Options* o) {
     if (!ParseViewKind(a.value).ok())
       return InvalidArgument(Quoted(a) + ": '" + a.value + "' is not zarr, zarr-decoded, npy or netcdf");
     o->view = a.value;
     return Status();
   }},
  {"--view-cache", 0, "SIZE",
   "decoded chunks kept in memory by the views that\n"
   "decode: zarr-decoded, npy, netcdf (default: {})",
   [](const Options& d) { return FormatSize(d.view_cache); }, kMount,
   [](const OptionArg& a, Options* o) {
     return SizeIn(a, &o->view_cache, 1_MiB, std::numeric_limits<uint64_t>::max(),
                   "at least 1M");
   }},
  {"--catalog-memory", 0, "SIZE",
   "catalogs: reference sets of datasets kept loaded; past\n"
   "it the least recently used are released (default: {})",
   [](const Options& d) { return FormatSize(d.catalog_memory); }, kMount,
   [](const OptionArg& a, Options* o) { return SizeIn(a, &o->catalog_memory); }},
  {"--catalog-datasets", 0, "N",
   "catalogs: datasets kept loaded, at most (default: {}, no\n"
   "limit)",
   [](const Options& d) { return std::to_string(d.catalog_datasets); }, kMount,
   [](const OptionArg& a, Options* o) { return IntIn(a, 0, 1'000'000'000, &o->catalog_datasets); }},
  {"--catalog-idle", 0, "S",
   "catalogs: release a dataset unused for S seconds\n"
   "(default: {}; 0: never)",
   [](const Options& d) { return std::to_string(d.catalog_idle_s); }, kMount,
   [](const OptionArg& a, Options* o) { return IntIn(a, 0, 100'000'000, &o->catalog_idle_s); }},
  {"--refs-memory", 0, "SIZE",
   "Parquet reference directories: decoded record files kept\n"
   "in memory; past it the least recently used are dropped\n"
   "and read again when needed (default: {})",
   [](const Options& d) { return FormatSize(d.refs_memory); }, kMount,
   [](const OptionArg& a, Options* o) { return SizeIn(a, &o->refs_memory); }},
  {"--log", 0, "FILE",
   "write the daemon's log to FILE (default: syslog, or\n"
   "stderr with -d, or with -f on a terminal)", nullptr, kMount,
   [](const OptionArg& a, Options* o) {
     o->log_file = a.value;
     return Status();
   }},
  {"--concat", 0, "DIM",
   "aggregate the SOURCEs along dimension DIM (repeatable):\n"
   "DIM's coordinate concatenated and sorted, chunk keys\n"
   "of the arrays having DIM renumbered", nullptr, kMount | kCombine | kScan,
   [](const OptionArg& a, Options* o) {
     const std::string& dim = a.value;
     if (dim.empty() || dim.find('/') != std::string::npos)
       return InvalidArgument(Quoted(a) + ": '" + dim + "' is not a dimension name");
     if (std::find(o->concat_dims.begin(), o->concat_dims.end(), dim) != o->concat_dims.end())
       return InvalidArgument(Quoted(a) + ": '" + dim + "' is given twice");
     o->concat_dims.push_back(dim);
     return Status();
   }},
  {"--identical-dims", 0, "A,B",
   "arrays that must hold the same values in every input\n"
   "(compared when small; metadata always)", nullptr, kMount | kCombine | kScan,
   [](const OptionArg& a, Options* o) {
     return ForEachCommaPart(a, true, [&](std::string_view one) {
       o->identical_dims.emplace_back(one);
       return Status();
     });
   }},
  {"--jobs", 0, "N",
   "NetCDF/HDF5 files scanned at once, each by a process\n"
   "of its own (default: the online CPUs)", nullptr, kMount | kScan,
   [](const OptionArg& a, Options* o) { return IntIn(a, 1, 1024, &o->jobs); }},
  {"--format", 0, "FORMAT",
   "what SOURCE is: zarr (a plain Zarr store: a directory,\n"
   "or a URL with consolidated metadata), references, or\n"
   "auto (default: detected from its root metadata)", nullptr, kMount,
   [](const OptionArg& a, Options* o) {
     if (a.value != "auto" && a.value != "zarr" && a.value != "references")
       return InvalidArgument(Quoted(a) + ": '" + a.value + "' is not auto, zarr or references");
     o->format = a.value;
     return Status();
   }},
  {"--check", 0, nullptr,
   "load and validate SOURCE, print a summary, do not mount\n"
   "(MOUNTPOINT is then not needed)", nullptr, kMount,
   [](const OptionArg&, Options* o) { return Set(&o->check_only); }},
  {"--metrics", 0, "HOST:PORT",
   "serve Prometheus metrics at http://HOST:PORT/metrics;\n"
   "':PORT' or 'PORT' listens on 127.0.0.1 only, 0.0.0.0\n"
   "lets every host that reaches this one read the\n"
   "counters and the origin host names", nullptr, kMount,
   [](const OptionArg& a, Options* o) {
     ZM_RETURN_IF_ERROR(ParseListenAddress(a.value));
     o->metrics_listen = a.value;
     return Status();
   }},
  // The commands' own options.
  {"--output", 'o', "FILE", "where to write (replaced atomically); '-' for stdout", nullptr,
   kCombine | kScan | kConvert,
   [](const OptionArg& a, Options* o) {
     o->output = a.value;
     return Status();
   }},
  {"--format", 0, "json|parquet",
   "what to write: 'json' (a kerchunk version 1 file) or 'parquet'\n"
   "(a directory in kerchunk's Parquet layout)", nullptr, kCombine | kConvert | kScan,
   [](const OptionArg& a, Options* o) {
     if (a.value != "json" && a.value != "parquet")
       return InvalidArgument(Quoted(a) + ": '" + a.value + "' is not 'json' or 'parquet'");
     o->output_format = a.value;
     return Status();
   }},
  {"--record-size", 0, "N", "Parquet: chunk references per record file (default: {})",
   [](const Options& d) { return std::to_string(d.record_size); }, kCombine | kConvert | kScan,
   [](const OptionArg& a, Options* o) { return IntIn(a, 1, 100'000'000, &o->record_size); }},
  {"--to", 0, "SIZE", "prune: keep at most SIZE of blocks (e.g. 2G)", nullptr, kCache,
   [](const OptionArg& a, Options* o) {
     uint64_t bytes = 0;
     ZM_RETURN_IF_ERROR(SizeIn(a, &bytes));
     o->prune_to = bytes;
     return Status();
   }},
  {"--unused-for", 0, "AGE", "prune: evict blocks not used for AGE (e.g. 90s, 30m, 12h, 7d)",
   nullptr, kCache,
   [](const OptionArg& a, Options* o) {
     o->unused_for_s = ParseAge(a.value);
     if (o->unused_for_s < 0)
       return InvalidArgument(Quoted(a) + " needs an age such as 90s, 30m, 12h or 7d");
     return Status();
   }},
  {"--inline-threshold", 0, "SIZE",
   "scan: chunks smaller than SIZE are written into the\n"
   "references (default: {}; 0: none)",
   [](const Options& d) { return std::to_string(d.inline_threshold); }, kScan,
   [](const OptionArg& a, Options* o) { return SizeIn(a, &o->inline_threshold, 0, 64_MiB, "at most 64M"); }},
  {"--json", 0, nullptr, "print the result as one JSON object", nullptr, kSubcommands,
   [](const OptionArg&, Options* o) { return Set(&o->json); }},
  {"--prometheus", 0, nullptr, "status: print the Prometheus metrics text", nullptr, kStatus,
   [](const OptionArg&, Options* o) { return Set(&o->prometheus); }},
  {"--help", 'h', nullptr, "show this help", nullptr, kEveryCommand,
   [](const OptionArg&, Options* o) { return Set(&o->help); }},
  {"--version", 'V', nullptr, "show the version", nullptr, kMount,
   [](const OptionArg&, Options* o) { return Set(&o->version); }},
};
// clang-format on

// ---- parsing --------------------------------------------------------------------------

bool Matches(const OptionSpec& spec, std::string_view name) {
  if (spec.long_name && name == spec.long_name) return true;
  return spec.short_name && name.size() == 2 && name[0] == '-' && name[1] == spec.short_name;
}

// One option argument split into name and the value written with it:
// "--name=value", or "-xvalue" for a short option that takes a value.
struct SplitArg {
  std::string name;
  std::string inline_value;
  bool has_inline_value = false;
};

SplitArg Split(Command command, std::string_view arg) {
  SplitArg s{std::string(arg), "", false};
  if (arg.starts_with("--")) {
    if (size_t eq = arg.find('='); eq != std::string_view::npos)
      s = {std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1)), true};
  } else if (arg.size() > 2) {
    const OptionSpec* spec = FindOption(command, arg.substr(0, 2));
    if (spec && spec->takes_value()) s = {std::string(arg.substr(0, 2)), std::string(arg.substr(2)), true};
  }
  return s;
}

bool IsOption(std::string_view arg) { return arg.size() > 1 && arg[0] == '-'; }

// Appends a line of --help's option list: the spelling, then `text` from
// the column (or two spaces past a long spelling).
void AppendHelpEntry(const OptionSpec& spec, const Options& defaults, std::string* out) {
  std::string head = spec.short_name ? std::string("  -") + spec.short_name : "    ";
  if (spec.long_name) head += std::string(spec.short_name ? ", " : "  ") + spec.long_name;
  if (spec.metavar) head += std::string(" ") + spec.metavar;
  head += head.size() < kHelpColumn ? std::string(kHelpColumn - head.size(), ' ') : "  ";
  std::string text = spec.help;
  if (size_t at = text.find("{}"); at != std::string::npos && spec.default_text)
    text.replace(at, 2, spec.default_text(defaults));
  std::string_view rest(text);
  *out += head;
  while (true) {
    size_t nl = rest.find('\n');
    *out += rest.substr(0, nl);
    *out += '\n';
    if (nl == std::string_view::npos) return;
    rest.remove_prefix(nl + 1);
    *out += std::string(kHelpColumn, ' ');
  }
}

}  // namespace

std::span<const OptionSpec> OptionTable() { return kOptions; }

const OptionSpec* FindOption(Command command, std::string_view name) {
  for (const OptionSpec& spec : kOptions)
    if (spec.for_command(command) && Matches(spec, name)) return &spec;
  return nullptr;
}

Result<std::vector<std::string>> ParseCommandLine(Command command, int argc, char** argv,
                                                  int first, Options* out,
                                                  std::string_view unknown_hint) {
  std::vector<std::string> positional;
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!IsOption(arg)) {
      positional.emplace_back(arg);
      continue;
    }
    SplitArg split = Split(command, arg);
    const OptionSpec* spec = FindOption(command, split.name);
    if (!spec)
      return InvalidArgument("unknown option '" + split.name + "'" + std::string(unknown_hint));
    OptionArg given{split.name, split.inline_value};
    if (!spec->takes_value() && split.has_inline_value)
      return InvalidArgument("option '" + split.name + "' takes no value");
    if (spec->takes_value() && !split.has_inline_value) {
      if (i + 1 >= argc) return InvalidArgument("option '" + split.name + "' needs a value");
      given.value = argv[++i];
    }
    ZM_RETURN_IF_ERROR(spec->apply(given, out));
    // A command's --help answers at once, whatever follows; a mount's
    // command line is still checked whole.
    if (out->help && command != Command::kMount) break;
  }
  return positional;
}

std::string OptionListText(Command command, const Options& defaults) {
  std::string out;
  for (const OptionSpec& spec : kOptions)
    if (spec.for_command(command)) AppendHelpEntry(spec, defaults, &out);
  return out;
}

}  // namespace zm
