// OriginLatencies: how long origin data requests take, one latency
// histogram per origin host and result (ok, error).
//
// The host is all a metric may show of a URL: no scheme, path, query or
// credentials. Hosts are kept in a fixed table of kMaxHosts; later hosts
// share the entry "other", so a reference set naming thousands of hosts
// cannot grow the table or the metrics without bound.
//
// Thread-safety: Record and ForEach are safe from any thread. Recording
// takes no lock once a host is known (a scan of the table's published
// entries); a new host takes `add_mu_`, once.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/metrics.h"

namespace zm {

// The host (and port) of `url` in lower case, without credentials; "local"
// for a path or file:// URL.
std::string OriginHostOf(std::string_view url);

class OriginLatencies {
 public:
  static constexpr size_t kMaxHosts = 32;

  void Record(std::string_view url, bool ok, std::chrono::nanoseconds elapsed);

  // Calls `fn` for each (host, result) that has recorded, in the order the
  // hosts were first seen; result is "ok" or "error".
  void ForEach(const std::function<void(const std::string& host, const char* result,
                                        const LatencyHistogram&)>& fn) const;

 private:
  struct Entry {
    std::string host;  // written before the entry is published, then constant
    LatencyHistogram ok;
    LatencyHistogram error;
  };
  Entry* EntryFor(const std::string& host);

  std::array<std::unique_ptr<Entry>, kMaxHosts> entries_;
  std::atomic<size_t> published_{0};  // entries_[0, published_) are set
  std::mutex add_mu_;                 // serializes adding entries
};

}  // namespace zm
