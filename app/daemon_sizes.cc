// ComputeSizes (app/daemon.h): apart from the daemon's assembly, so that
// the scan worker, which sizes its stack the same way, does not link it.

#include <algorithm>

#include "app/daemon.h"
#include "base/units.h"

namespace zm {

DaemonSizes ComputeSizes(const Options& opt) {
  DaemonSizes s;
  s.memory_cache_bytes = opt.memory_cache;
  s.read_through.block_size = opt.block_size;
  // A fast reader's walk at 20 ms per request is bound by how many of its
  // fetches are in flight: one reader reading the drill benchmark's 512
  // chunk files in turn (and dropping them) took 0.45 s with 32 threads,
  // 0.36-0.43 s with 64. More threads than connections would only wait
  // for one.
  s.read_through.prefetch_threads = opt.prefetch ? std::min(opt.prefetch_threads, opt.max_connections) : 0;
  s.read_through.prefetch_budget = opt.prefetch_memory;
  s.read_through.coalesce_gap = opt.coalesce_gap;
  s.read_through.coalesce_max = opt.coalesce_max;
  // libcurl takes 16 KiB off the socket per receive by default: a 380 KiB
  // chunk in some 24 system calls and write callbacks. 128 KiB per
  // connection cut the daemon's CPU for cold reads by 5-10% (bulk reads at
  // 0 ms: 1.21-1.29 s against 1.30-1.41 s; 256 and 512 KiB gained nothing
  // more), and costs at most --max-connections x 128 KiB (8 MiB by default).
  s.http_receive_buffer_bytes = 128 * 1024;
  s.fuse_threads = opt.threads;
  s.size_threads = opt.size_threads;
  // Version checks are one small request per object: a few connections
  // suffice, and leave the rest to readers.
  s.checker_threads = std::min(opt.max_connections, 16);
  // A pattern's prefetch window, and a view's decode-ahead, may each use a
  // quarter of the prefetch budget, so several walks can share it.
  const uint64_t ahead_bytes = std::max<uint64_t>(opt.prefetch_memory / 4, 1_MiB);
  s.prefetch.enabled = opt.prefetch;
  s.prefetch.max_bytes = ahead_bytes;
  s.view_cache_bytes = opt.view_cache;
  s.view_decode_threads = opt.prefetch ? 2 : 0;
  s.view_readahead_bytes = ahead_bytes;
  s.catalog.memory_budget = opt.catalog_memory;
  s.catalog.max_loaded = static_cast<size_t>(opt.catalog_datasets);
  s.catalog.idle_seconds = opt.catalog_idle_s;
  return s;
}

}  // namespace zm
