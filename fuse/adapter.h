// The FUSE low-level adapter: unpacks requests, calls the Tree, replies
// exactly once. No state of its own beyond the session.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "base/status.h"
#include "fs/tree.h"

namespace zm {

// What the FUSE requests cost: the time reads take, by result, and the
// opens the daemon was asked to answer. Lock-free (base/metrics.h).
struct FuseStats {
  LatencyHistogram read_ok;
  LatencyHistogram read_error;
  std::atomic<uint64_t> opens{0};
};

struct FuseConfig {
  std::string mountpoint;
  std::string fsname;                // shown in /proc/mounts
  std::vector<std::string> options;  // extra -o options
  bool debug = false;
  int max_threads = 16;
  uint32_t max_read = 1 << 20;
  // The kernel's readahead window (what a page fault of an mmap'd file
  // reads around it, and how far sequential readers are read ahead).
  // Where every byte costs a decode, a wide window decodes chunks no reader
  // needs; where bytes are cheap, it batches requests.
  uint32_t readahead = 1 << 20;
  // The daemon's status as one JSON object, read by `zarrmount status` as
  // the extended attribute kStatusXattr of the mount's root. May be empty.
  std::function<std::string()> status;
  // The same counters in the Prometheus text format, served as the
  // extended attribute kMetricsXattr of the mount's root. May be empty.
  std::function<std::string()> metrics;
  // Where each read's time, from the request to its reply, and each open
  // are counted. May be null; else it outlives RunFuse.
  FuseStats* stats = nullptr;
};

inline constexpr char kStatusXattr[] = "user.zarrmount.status";
inline constexpr char kMetricsXattr[] = "user.zarrmount.metrics";

// Mounts `fs` and serves it until unmounted (fusermount3 -u) or SIGINT,
// SIGTERM or SIGHUP. `on_ready` is called once: with OK when the mount
// answers requests, or with the error that prevented mounting. Returns OK on
// a clean unmount.
Status RunFuse(Tree* fs, const FuseConfig& config,
               const std::function<void(const Status&)>& on_ready);

}  // namespace zm
