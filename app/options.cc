#include "app/options.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string_view>

#include "io/cloud.h"

namespace zm {

std::string DefaultCacheDir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/zarrmount";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/zarrmount";
  return "/var/cache/zarrmount";
}

std::string HelpText() {
  Options d;
  std::ostringstream o;
  o << "Usage: zarrmount [OPTIONS] SOURCE MOUNTPOINT\n"
       "       zarrmount [OPTIONS] --concat DIM [--concat DIM2] SOURCE... MOUNTPOINT\n"
       "       zarrmount combine --concat DIM [OPTIONS] SOURCE... -o OUT.json\n"
       "                                                          write an aggregation\n"
       "       zarrmount warm [OPTIONS] SOURCE [PATH_PREFIX...]   fill the disk cache\n"
       "       zarrmount status MOUNTPOINT [--json]               a daemon's counters\n"
       "       zarrmount cache stats|verify|clear|prune [OPTIONS] maintain a cache\n"
       "       (each command has its own --help)\n"
       "\n"
       "Mounts the kerchunk reference set SOURCE (JSON, version 0 or 1, optionally\n"
       "gzip- or zstd-compressed) read-only at MOUNTPOINT as a Zarr directory tree.\n"
       "SOURCE may also be a catalog: an Intake catalog (YAML) or a STAC catalog,\n"
       "collection or item (JSON); each of its reference sets is then a directory,\n"
       "loaded on first access.\n"
       "SOURCE may be a path or an http(s)://, s3:// or gs:// URL. Reads fetch the\n"
       "referenced byte ranges from http(s)://, s3://, gs:// URLs or local files,\n"
       "through a memory cache and a persistent on-disk block cache.\n"
       "With --concat, the SOURCEs (reference files, directories of them, quoted\n"
       "globs, zip archives of them or text files listing them) are aggregated\n"
       "along DIM at mount time, as kerchunk's MultiZarrToZarr does.\n"
       "Without -f, zarrmount returns once the mount is serving and the daemon\n"
       "continues in the background; unmount with 'fusermount3 -u MOUNTPOINT'.\n"
       "\n"
       "Options:\n"
       "  -f, --foreground         stay in the foreground (log to stderr)\n"
       "  -d, --debug              foreground, with FUSE request tracing\n"
       "  -o OPT[,OPT...]          FUSE mount options, e.g. allow_other\n"
       "                           (ro and default_permissions are always set; rw is refused)\n"
       "      --cache-dir DIR      persistent block cache directory\n"
       "                           (default: $XDG_CACHE_HOME/zarrmount or ~/.cache/zarrmount)\n"
       "      --cache-size SIZE    size limit of the disk cache; past 90% of it the least\n"
       "                           recently used blocks are evicted (default: "
    << FormatSize(d.cache_size) << ")\n"
    << "      --memory-cache SIZE  size of the in-memory block cache (default: "
    << FormatSize(d.memory_cache) << ")\n"
    << "      --no-disk-cache      use no persistent cache\n"
       "      --offline            serve only what the cache holds; anything else fails\n"
       "                           at once with EIO, and nothing is sent to the network\n"
       "      --block-size SIZE    cache block size (default: "
    << FormatSize(d.block_size) << ")\n"
    << "      --threads N          FUSE worker threads, at most (default: " << d.threads << ")\n"
    << "      --no-prefetch        fetch only what is read\n"
    << "      --prefetch-threads N concurrent prefetch requests, at most (default: "
    << d.prefetch_threads << ")\n"
    << "      --prefetch-memory SIZE  bytes of prefetches in flight, at most (default: "
    << FormatSize(d.prefetch_memory) << ")\n"
    << "      --coalesce-gap SIZE  merge prefetches of one object whose gap is at most\n"
       "                           this into one request (default: "
    << FormatSize(d.coalesce_gap) << ")\n"
    << "      --coalesce-max SIZE  largest merged request (default: " << FormatSize(d.coalesce_max)
    << ")\n"
    << "      --connect-timeout S  seconds one attempt may wait for a connection (default: "
    << d.connect_timeout_ms / 1000 << ")\n"
    << "      --request-timeout S  seconds one attempt (one HTTP request) may take in all\n"
       "                           (default: "
    << d.request_timeout_ms / 1000 << ")\n"
    << "      --low-speed-limit SIZE  abort an attempt that moves less than SIZE per second\n"
       "                           for --low-speed-time seconds (default: "
    << FormatSize(d.low_speed_limit) << ")\n"
    << "      --low-speed-time S   see --low-speed-limit (default: " << d.low_speed_time_s << ")\n"
    << "      --retries N          retries of a failed request (default: " << d.retries << ")\n"
    << "      --read-timeout S     seconds one fetch from the origin may take, all attempts\n"
       "                           and the pauses between them included; then the read\n"
       "                           fails with EIO (default: "
    << d.read_timeout_ms / 1000 << ")\n"
    << "      --max-connections N  HTTP requests in flight at once, at most (default: "
    << d.max_connections << ")\n"
    << "      --allow-link-local   let references reach link-local addresses (169.254.0.0/16,\n"
       "                           fe80::/10, fd00:ec2::254), where cloud metadata services\n"
       "                           answer; refused by default, before any connection\n"
    << "      --local-root DIR     local references may also read files under DIR\n"
       "                           (repeatable); by default only files under the\n"
       "                           reference file's own directory, links resolved\n"
       "      --max-generated-keys N  refuse reference sets whose 'gen' entries make more\n"
       "                           keys than N (default: "
    << d.max_generated_keys << ")\n"
       "      --map OLD=NEW        read URLs starting with OLD from NEW instead (repeatable;\n"
       "                           the longest OLD wins), e.g. s3://bkt/=http://mirror/bkt/\n"
       "      --s3-endpoint URL    S3-compatible store, path-style (default: $AWS_ENDPOINT_URL)\n"
       "      --s3-region REGION   region of s3:// buckets (default: $AWS_REGION or us-east-1)\n"
       "      --s3-profile NAME    credentials of this ~/.aws profile (default: $AWS_PROFILE)\n"
       "      --s3-anonymous       send s3:// requests unsigned (public buckets)\n"
       "      --header HEADER      add HEADER ('Name: value') to every request; as\n"
       "                           'PREFIX Name: value', to those for URLs under PREFIX\n"
       "      --bearer-token-env VAR  send 'Authorization: Bearer $VAR'; 'PREFIX VAR' scopes\n"
       "                           it to URLs under PREFIX (both repeatable)\n"
    << "      --view VIEW          what the mount shows: zarr (the Zarr store, default),\n"
       "                           npy (each array as a .npy file) or netcdf (one\n"
       "                           NetCDF classic file per group of arrays)\n"
       "      --view-cache SIZE    decoded chunks kept in memory by the npy and netcdf\n"
       "                           views (default: "
    << FormatSize(d.view_cache) << ")\n"
    << "      --catalog-memory SIZE  catalogs: reference sets of datasets kept loaded; past\n"
       "                           it the least recently used are released (default: "
    << FormatSize(d.catalog_memory) << ")\n"
    << "      --catalog-datasets N catalogs: datasets kept loaded, at most (default: 0, no\n"
       "                           limit)\n"
       "      --catalog-idle S     catalogs: release a dataset unused for S seconds\n"
       "                           (default: "
    << d.catalog_idle_s << "; 0: never)\n"
    << "      --log FILE           write the daemon's log to FILE (default: syslog when\n"
       "                           in the background, stderr with -f)\n"
       "      --concat DIM         aggregate the SOURCEs along dimension DIM (repeatable):\n"
       "                           DIM's coordinate concatenated and sorted, chunk keys\n"
       "                           of the arrays having DIM renumbered\n"
       "      --identical-dims A,B arrays that must hold the same values in every input\n"
       "                           (compared when small; metadata always)\n"
       "      --check              load and validate SOURCE, print a summary, do not mount\n"
       "                           (MOUNTPOINT is then not needed)\n"
       "  -h, --help               show this help\n"
       "  -V, --version            show the version\n"
       "\n"
       "SIZE takes a unit: 512K, 64M, 20G, 1T (powers of 1024).\n"
       "Exit status: 0 once the mount serves (or --check passed); 1 with one line\n"
       "on stderr naming what is wrong otherwise; 2 for a usage error.\n";
  return o.str();
}

Result<Options> ParseOptions(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (arg.starts_with("--") && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_inline_value = true;
    }
    auto need = [&](const std::string& name) -> Result<std::string> {
      if (has_inline_value) return value;
      if (i + 1 >= argc) return InvalidArgument("option '" + name + "' needs a value");
      return std::string(argv[++i]);
    };
    auto need_int = [&](const std::string& name, long lo, long hi) -> Result<long> {
      ZM_ASSIGN_OR_RETURN(std::string v, need(name));
      char* end = nullptr;
      long x = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || x < lo || x > hi)
        return InvalidArgument("option '" + name + "': '" + v + "' is not an integer in [" +
                               std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return x;
    };
    static const char* kFlags[] = {"--help", "--version", "--foreground", "--debug", "--check",
                                   "--no-disk-cache", "--no-prefetch", "--offline",
                                   "--allow-link-local", "--s3-anonymous"};
    for (const char* flag : kFlags)
      if (has_inline_value && arg == flag)
        return InvalidArgument("option '" + arg + "' takes no value");
    if (arg == "-h" || arg == "--help") {
      o.help = true;
    } else if (arg == "-V" || arg == "--version") {
      o.version = true;
    } else if (arg == "-f" || arg == "--foreground") {
      o.foreground = true;
    } else if (arg == "-d" || arg == "--debug") {
      o.debug = o.foreground = true;
    } else if (arg == "--check") {
      o.check_only = true;
    } else if (arg == "--no-disk-cache") {
      o.disk_cache = false;
    } else if (arg == "--no-prefetch") {
      o.prefetch = false;
    } else if (arg == "--offline") {
      o.offline = true;
    } else if (arg == "--allow-link-local") {
      o.allow_link_local = true;
    } else if (arg == "--s3-anonymous") {
      o.s3_anonymous = true;
    } else if (arg == "--map") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      UrlMap check;
      ZM_RETURN_IF_ERROR(check.Add(v));
      o.maps.push_back(v);
    } else if (arg == "--header") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      ZM_RETURN_IF_ERROR(ParseHeaderRule(v, "--header"));
      o.headers.push_back(v);
    } else if (arg == "--bearer-token-env") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      o.bearer_envs.push_back(v);
    } else if (arg == "--s3-endpoint" || arg == "--s3-region" || arg == "--s3-profile") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      if (v.empty()) return InvalidArgument("option '" + arg + "' needs a value");
      if (arg == "--s3-endpoint" && !v.starts_with("http://") && !v.starts_with("https://"))
        return InvalidArgument("option '--s3-endpoint': '" + v +
                               "' must start with http:// or https://");
      (arg == "--s3-endpoint" ? o.s3_endpoint : arg == "--s3-region" ? o.s3_region
                                                                     : o.s3_profile) = v;
    } else if (arg == "-o" || arg.starts_with("-o")) {
      std::string opts;
      if (arg == "-o") {
        if (i + 1 >= argc) return InvalidArgument("option '-o' needs a value");
        opts = argv[++i];
      } else {
        opts = arg.substr(2);
      }
      std::string_view rest(opts);
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view one = rest.substr(0, comma);
        // The mount is read-only for everyone, and the kernel checks
        // permissions (see RunFuse): no -o may say otherwise.
        if (one == "rw")
          return InvalidArgument("option '-o rw': the mount is read-only");
        if (!one.empty()) o.fuse_options.emplace_back(one);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (arg == "--cache-dir") {
      ZM_ASSIGN_OR_RETURN(o.cache_dir, need(arg));
      if (o.cache_dir.empty()) return InvalidArgument("option '--cache-dir' needs a directory");
    } else if (arg == "--prefetch-memory" || arg == "--coalesce-gap" || arg == "--coalesce-max") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      auto size = ParseSize(v);
      if (!size.ok()) return size.status().WithContext("option '" + arg + "'");
      if (arg == "--prefetch-memory") o.prefetch_memory = *size;
      else if (arg == "--coalesce-gap") o.coalesce_gap = *size;
      else {
        if (*size < 1_MiB) return InvalidArgument("option '--coalesce-max' must be at least 1M");
        o.coalesce_max = *size;
      }
    } else if (arg == "--prefetch-threads") {
      ZM_ASSIGN_OR_RETURN(long n, need_int(arg, 1, 256));
      o.prefetch_threads = static_cast<int>(n);
    } else if (arg == "--cache-size" || arg == "--memory-cache" || arg == "--block-size") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      auto size = ParseSize(v);
      if (!size.ok()) return size.status().WithContext("option '" + arg + "'");
      if (arg == "--cache-size") o.cache_size = *size;
      else if (arg == "--memory-cache") o.memory_cache = *size;
      else {
        if (*size < 4_KiB || *size > 64_MiB)
          return InvalidArgument("option '--block-size' must be between 4K and 64M");
        o.block_size = *size;
      }
    } else if (arg == "--threads") {
      ZM_ASSIGN_OR_RETURN(long n, need_int(arg, 1, 1024));
      o.threads = static_cast<int>(n);
    } else if (arg == "--connect-timeout" || arg == "--request-timeout" ||
               arg == "--read-timeout") {
      ZM_ASSIGN_OR_RETURN(long s, need_int(arg, 1, 86400));
      (arg == "--connect-timeout"   ? o.connect_timeout_ms
       : arg == "--request-timeout" ? o.request_timeout_ms
                                    : o.read_timeout_ms) = s * 1000;
    } else if (arg == "--low-speed-time") {
      ZM_ASSIGN_OR_RETURN(o.low_speed_time_s, need_int(arg, 1, 86400));
    } else if (arg == "--low-speed-limit") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      auto size = ParseSize(v);
      if (!size.ok()) return size.status().WithContext("option '" + arg + "'");
      if (*size < 1 || *size > 1_GiB)
        return InvalidArgument("option '--low-speed-limit' must be between 1 and 1G");
      o.low_speed_limit = *size;
    } else if (arg == "--max-connections") {
      ZM_ASSIGN_OR_RETURN(long n, need_int(arg, 1, 1024));
      o.max_connections = static_cast<int>(n);
    } else if (arg == "--retries") {
      ZM_ASSIGN_OR_RETURN(long n, need_int(arg, 0, 100));
      o.retries = static_cast<int>(n);
    } else if (arg == "--local-root") {
      ZM_ASSIGN_OR_RETURN(std::string dir, need(arg));
      if (dir.empty()) return InvalidArgument("option '--local-root' needs a directory");
      o.local_roots.push_back(dir);
    } else if (arg == "--max-generated-keys") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      char* end = nullptr;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || v[0] == '-' || *end || n == 0)
        return InvalidArgument("option '--max-generated-keys': '" + v + "' is not a positive integer");
      o.max_generated_keys = n;
    } else if (arg == "--view") {
      ZM_ASSIGN_OR_RETURN(o.view, need(arg));
      if (o.view != "zarr" && o.view != "npy" && o.view != "netcdf")
        return InvalidArgument("option '--view': '" + o.view + "' is not zarr, npy or netcdf");
    } else if (arg == "--view-cache") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      auto size = ParseSize(v);
      if (!size.ok()) return size.status().WithContext("option '" + arg + "'");
      if (*size < 1_MiB) return InvalidArgument("option '--view-cache' must be at least 1M");
      o.view_cache = *size;
    } else if (arg == "--catalog-memory") {
      ZM_ASSIGN_OR_RETURN(std::string v, need(arg));
      auto size = ParseSize(v);
      if (!size.ok()) return size.status().WithContext("option '" + arg + "'");
      o.catalog_memory = *size;
    } else if (arg == "--catalog-datasets") {
      ZM_ASSIGN_OR_RETURN(long n, need_int(arg, 0, 1'000'000'000));
      o.catalog_datasets = n;
    } else if (arg == "--catalog-idle") {
      ZM_ASSIGN_OR_RETURN(long n, need_int(arg, 0, 100'000'000));
      o.catalog_idle_s = n;
    } else if (arg == "--concat") {
      ZM_ASSIGN_OR_RETURN(std::string dim, need(arg));
      if (dim.empty() || dim.find('/') != std::string::npos)
        return InvalidArgument("option '--concat': '" + dim + "' is not a dimension name");
      if (std::find(o.concat_dims.begin(), o.concat_dims.end(), dim) != o.concat_dims.end())
        return InvalidArgument("option '--concat': '" + dim + "' is given twice");
      o.concat_dims.push_back(dim);
    } else if (arg == "--identical-dims") {
      ZM_ASSIGN_OR_RETURN(std::string list, need(arg));
      std::string_view rest(list);
      while (true) {
        size_t comma = rest.find(',');
        std::string_view one = rest.substr(0, comma);
        if (one.empty())
          return InvalidArgument("option '--identical-dims': '" + list + "' has an empty name");
        o.identical_dims.emplace_back(one);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (arg == "--log") {
      ZM_ASSIGN_OR_RETURN(o.log_file, need(arg));
    } else if (arg.size() > 1 && arg[0] == '-') {
      return InvalidArgument("unknown option '" + arg + "' (see --help)");
    } else {
      positional.push_back(arg);
    }
  }
  if (o.help || o.version) return o;
  size_t want = o.check_only ? 1 : 2;
  if (positional.size() < want)
    return InvalidArgument(o.check_only ? "expected SOURCE (see --help)"
                                        : "expected SOURCE and MOUNTPOINT (see --help)");
  if (!o.check_only) {
    o.mountpoint = positional.back();
    positional.pop_back();
  }
  o.sources = positional;
  o.source = positional[0];
  if (!o.aggregate()) {
    if (o.check_only && positional.size() == 2) {
      o.mountpoint = positional[1];  // not needed, but allowed
      o.sources.pop_back();
    } else if (positional.size() > 1)
      return InvalidArgument(o.check_only ? "several SOURCEs need --concat DIM (see --help)"
                                          : "expected SOURCE and MOUNTPOINT; several SOURCEs need "
                                            "--concat DIM (see --help)");
    if (!o.identical_dims.empty())
      return InvalidArgument("option '--identical-dims' needs --concat DIM");
  }
  return o;
}

}  // namespace zm
