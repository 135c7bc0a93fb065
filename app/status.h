// The daemon's status, gathered in one place: each counter is read once and
// named once, with both its member of the status object (`zarrmount status
// --json`, the root's attribute kStatusXattr) and its metric (the
// Prometheus exposition served by --metrics and printed by `zarrmount
// status --prometheus`), so the two always agree.
//
// Thread-safety: a StatusReport is one thread's; the Add*Status functions
// read atomic counters (and the disk tier's usage) and may run on any
// thread while the mount serves reads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "app/options.h"
#include "base/metrics.h"
#include "cache/block_store.h"
#include "cache/read_through.h"
#include "cache/shared_block_store.h"
#include "fs/catalog_tree.h"
#include "fuse/adapter.h"
#include "refs/catalog.h"
#include "views/view_tree.h"

namespace zm {

class StatusReport {
 public:
  StatusReport();

  // A string member of the status object, with no metric.
  void Text(std::string_view key, std::string_view value);
  // A count or a level as member `key` (none if empty) and as a sample of
  // `family` (none if null).
  void Number(std::string_view key, const MetricFamily* family, MetricLabels labels,
              uint64_t value);
  // A yes/no as member `key` and as a 0/1 sample of `family` (none if null).
  void Flag(std::string_view key, const MetricFamily* family, MetricLabels labels, bool value);
  // A fraction in [0, 1]: the member has four decimals.
  void Ratio(std::string_view key, const MetricFamily& family, double value);
  // A histogram: a metric only.
  void Histogram(const MetricFamily& family, MetricLabels labels, const HistogramSnapshot& h);
  // Members until the matching EndObject go into the object member `key`
  // (an element, when inside an array: `key` is then ignored).
  void BeginObject(std::string_view key);
  void EndObject();
  // Objects until the matching EndArray are the elements of member `key`.
  void BeginArray(std::string_view key);
  void EndArray();

  // REQUIRES: every BeginObject was ended.
  std::string Json() const;
  std::string PrometheusText() const { return metrics_.Text(); }

 private:
  void Key(std::string_view key);

  std::string json_;
  struct Open {
    bool is_array = false;
    bool has_members = false;
  };
  std::vector<Open> open_;  // the open objects and arrays, innermost last
  Exposition metrics_;
};

// What every mount reports: the process, the read-through cache's tiers
// and origin requests, the disk tier if any, and the latencies of FUSE
// reads and of origin requests.
struct MountStatusSources {
  const Options* opt = nullptr;
  uint64_t keys = 0;  // of the reference set; 0 for a catalog
  const ReadThroughCache* cache = nullptr;
  PersistentBlockStore* disk = nullptr;  // may be null
  const SharedBlockStore* shared = nullptr;  // may be null
  const FuseStats* fuse = nullptr;       // may be null
  std::chrono::steady_clock::time_point started;
};
void AddMountStatus(const MountStatusSources& from, StatusReport* report);

// The decoded-chunk counters of a view that decodes (npy, netcdf,
// zarr-decoded), as the member "view".
void AddViewStatus(const std::string& view_name, const DecodedChunkStats& vs,
                   StatusReport* report);

// A catalog's counters, as the member "catalog".
void AddCatalogStatus(const std::string& kind_name, const CatalogTree& tree,
                      const Catalog& catalog, StatusReport* report);

}  // namespace zm
