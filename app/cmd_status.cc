// `zarrmount status MOUNTPOINT`: a running daemon's counters, read from the
// extended attribute its root serves (fuse/adapter.h, kStatusXattr; with
// --prometheus, kMetricsXattr).

#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "base/units.h"
#include "fuse/adapter.h"

namespace zm {

const char kStatusUsage[] =
    "Usage: zarrmount status MOUNTPOINT [--json | --prometheus]\n"
    "\n"
    "Shows a running daemon's counters since it mounted: cache hit ratio, bytes\n"
    "served from memory, disk, the shared tier and the origin, origin requests\n"
    "in flight, errors, the shared tier's nodes.\n"
    "  --json       print the daemon's status object as it is\n"
    "  --prometheus print the same counters in the Prometheus text format\n"
    "               (for node exporter's textfile collector)\n"
    "  -h, --help   this text\n";

namespace {

// A number field of a flat JSON object; 0 if absent.
double JsonNumber(const std::string& json, const std::string& name) {
  size_t at = json.find("\"" + name + "\": ");
  if (at == std::string::npos) return 0;
  return std::strtod(json.c_str() + at + name.size() + 4, nullptr);
}

// The attribute `name` (the status object, or the metrics) of the daemon
// serving `mountpoint`; false after printing why there is none.
bool ReadStatus(const std::string& mountpoint, const char* name, std::string* value) {
  for (int tries = 0; tries < 5; ++tries) {  // the status may grow between the two calls
    ssize_t n = ::getxattr(mountpoint.c_str(), name, nullptr, 0);
    if (n >= 0) {
      value->resize(static_cast<size_t>(n) + 1024);
      n = ::getxattr(mountpoint.c_str(), name, value->data(), value->size());
    }
    if (n >= 0) {
      value->resize(static_cast<size_t>(n));
      return true;
    }
    if (errno == ERANGE) continue;
    std::fprintf(stderr, "zarrmount: %s: %s\n", mountpoint.c_str(),
                 errno == ENODATA || errno == ENOTSUP ? "not a zarrmount mount point"
                                                      : std::strerror(errno));
    return false;
  }
  return true;  // it grew five times in a row: show what the last try got
}

// The shared tier's counters and each node's state ("a:11211 up, b:11211
// down (3 errors)").
void PrintSharedCache(const std::string& status) {
  const size_t list = status.find("\"nodes\": [");
  const std::string value = status.substr(0, status.find(']', list));
  auto num = [&](const char* k) { return JsonNumber(value, k); };
  std::printf("  shared cache       %.0f misses, %.0f errors, %.0f values refused, %.0f written "
              "(%s), %.0f writes dropped%s\n",
              num("shared_misses"), num("shared_errors"), num("shared_rejected"), num("shared_puts"),
              FormatSize(static_cast<uint64_t>(num("shared_put_bytes"))).c_str(),
              num("shared_queue_drops"),
              value.find("\"authenticated\": false") != std::string::npos ? " (unauthenticated)" : "");
  std::string nodes;
  for (size_t at = value.find("{\"name\": \"", list); at != std::string::npos;
       at = value.find("{\"name\": \"", at + 1)) {
    size_t name_at = at + 10, name_end = value.find('"', name_at);
    size_t state_at = value.find("\"state\": \"", name_end);
    if (name_end == std::string::npos || state_at == std::string::npos) break;
    state_at += 10;
    std::string state = value.substr(state_at, value.find('"', state_at) - state_at);
    const double errors = JsonNumber(value.substr(state_at), "errors");
    nodes += (nodes.empty() ? "" : ", ") + value.substr(name_at, name_end - name_at) + " " + state;
    if (errors > 0) nodes += " (" + std::to_string(static_cast<uint64_t>(errors)) + " errors)";
  }
  std::printf("  shared nodes       %s\n", nodes.c_str());
}

void PrintStatus(const std::string& mountpoint, const std::string& value) {
  auto num = [&](const char* k) { return JsonNumber(value, k); };
  auto size = [&](const char* k) { return FormatSize(static_cast<uint64_t>(num(k))); };
  std::printf("%s (pid %.0f, up %.0f s, %.0f keys)\n", mountpoint.c_str(), num("pid"),
              num("uptime_s"), num("keys"));
  std::printf("  hit ratio          %.1f%%\n", 100 * num("hit_ratio"));
  std::printf("  from memory        %s (%.0f blocks)\n", size("memory_hit_bytes").c_str(),
              num("memory_hits"));
  std::printf("  from disk cache    %s (%.0f blocks)\n", size("disk_hit_bytes").c_str(),
              num("disk_hits"));
  if (value.find("\"shared_cache\"") != std::string::npos)
    std::printf("  from shared cache  %s (%.0f blocks)\n", size("shared_hit_bytes").c_str(),
                num("shared_hits"));
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
  if (value.find("\"shared_cache\"") != std::string::npos) PrintSharedCache(value);
}

}  // namespace

int StatusCommand(int argc, char** argv) {
  Options opt;
  std::vector<std::string> positional;
  if (int rc = ParseCommandArgs(Command::kStatus, argc, argv, kStatusUsage, &opt, &positional);
      rc >= 0)
    return rc;
  if (positional.size() > 1)
    return UsageError(kStatusUsage, "unexpected argument '" + positional[1] + "'");
  const std::string mountpoint = positional.empty() ? "" : positional[0];
  if (mountpoint.empty()) return UsageError(kStatusUsage, "which mount point?");
  if (opt.json && opt.prometheus)
    return UsageError(kStatusUsage, "--json and --prometheus exclude each other");
  std::string value;
  if (!ReadStatus(mountpoint, opt.prometheus ? kMetricsXattr : kStatusXattr, &value)) return 1;
  if (opt.prometheus) {
    std::fwrite(value.data(), 1, value.size(), stdout);
    return 0;
  }
  if (opt.json) {
    std::printf("%s\n", value.c_str());
    return 0;
  }
  PrintStatus(mountpoint, value);
  return 0;
}

}  // namespace zm
