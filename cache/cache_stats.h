// CacheStats: the counters of one ReadThroughCache, shared by its parts
// (the read-through core, the object records, the prefetch queue).
//
// Thread-safety: every counter is an atomic, updated with relaxed order;
// the latency histograms are lock-free too (cache/origin_latency.h).
#pragma once

#include <atomic>
#include <cstdint>

#include "cache/origin_latency.h"

namespace zm {

struct CacheStats {
  std::atomic<uint64_t> memory_hits{0};
  std::atomic<uint64_t> memory_hit_bytes{0};
  std::atomic<uint64_t> disk_hits{0};
  std::atomic<uint64_t> disk_hit_bytes{0};
  std::atomic<uint64_t> shared_hits{0};  // blocks other hosts (or this one) put in the shared tier
  std::atomic<uint64_t> shared_hit_bytes{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> inflight_waits{0};  // reads served by another's request
  std::atomic<uint64_t> origin_requests{0};
  std::atomic<uint64_t> origin_bytes{0};
  std::atomic<uint64_t> origin_errors{0};
  std::atomic<int64_t> origin_in_flight{0};  // requests under way now
  std::atomic<uint64_t> object_checks{0};    // requests for sizes and versions (Stat, or ReadHead with a first block)
  std::atomic<uint64_t> prefetch_requests{0};
  std::atomic<uint64_t> prefetch_bytes{0};
  std::atomic<uint64_t> prefetch_dropped{0};
  // Each origin request timed, by host and result: the data requests
  // (origin_requests) and the size and version checks (object_checks);
  // the failed ones are origin_errors.
  OriginLatencies origin_latency;
};

}  // namespace zm
