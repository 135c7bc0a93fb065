#include "app/status.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "app/daemon.h"
#include "base/json.h"
#include "base/log.h"

namespace zm {

// ---- StatusReport -------------------------------------------------------------

StatusReport::StatusReport() : json_("{"), open_{Open{}} {}

void StatusReport::Key(std::string_view key) {
  if (open_.back().has_members) json_ += ", ";
  open_.back().has_members = true;
  if (!open_.back().is_array) json_ += JsonQuote(key) + ": ";
}

void StatusReport::Flag(std::string_view key, const MetricFamily* family, MetricLabels labels,
                        bool value) {
  Key(key);
  json_ += value ? "true" : "false";
  if (family) metrics_.Add(*family, std::move(labels), value ? 1.0 : 0.0);
}

void StatusReport::Text(std::string_view key, std::string_view value) {
  Key(key);
  json_ += JsonQuote(value);
}

void StatusReport::Number(std::string_view key, const MetricFamily* family, MetricLabels labels,
                          uint64_t value) {
  if (!key.empty()) {
    Key(key);
    json_ += std::to_string(value);
  }
  if (family) metrics_.Add(*family, std::move(labels), static_cast<double>(value));
}

void StatusReport::Ratio(std::string_view key, const MetricFamily& family, double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", value);
  Key(key);
  json_ += text;
  metrics_.Add(family, {}, value);
}

void StatusReport::Histogram(const MetricFamily& family, MetricLabels labels,
                             const HistogramSnapshot& h) {
  metrics_.AddHistogram(family, std::move(labels), h);
}

void StatusReport::BeginObject(std::string_view key) {
  Key(key);
  json_ += "{";
  open_.push_back(Open{});
}

void StatusReport::EndObject() {
  json_ += "}";
  open_.pop_back();
}

void StatusReport::BeginArray(std::string_view key) {
  Key(key);
  json_ += "[";
  open_.push_back(Open{true, false});
}

void StatusReport::EndArray() {
  json_ += "]";
  open_.pop_back();
}

std::string StatusReport::Json() const { return json_ + "}"; }

// ---- the metric families ------------------------------------------------------
// Names carry their unit (_bytes, _seconds) and counters end in _total, as
// Prometheus' conventions (and `promtool check metrics`) ask.

namespace {

using T = MetricType;
constexpr MetricFamily kBuildInfo{"zarrmount_build_info", T::kGauge,
                                  "Always 1; the daemon's version as a label."};
constexpr MetricFamily kUptime{"zarrmount_uptime_seconds", T::kGauge, "Seconds since the mount."};
constexpr MetricFamily kKeys{"zarrmount_keys", T::kGauge, "Keys of the mounted reference set."};
constexpr MetricFamily kHitRatio{"zarrmount_cache_hit_ratio", T::kGauge,
                                 "Block lookups answered by the memory or disk tier, as a fraction."};
constexpr MetricFamily kLookups{"zarrmount_cache_lookups_total", T::kCounter,
                                "Block lookups, by result and by the tier that answered a hit."};
constexpr MetricFamily kTierBytes{
    "zarrmount_cache_bytes_total", T::kCounter,
    "Bytes of blocks read from the memory and disk tiers, and fetched from the origin."};
constexpr MetricFamily kOriginRequests{"zarrmount_origin_requests_total", T::kCounter,
                                       "Origin data requests (ranged GETs), failed ones included."};
constexpr MetricFamily kOriginErrors{"zarrmount_origin_errors_total", T::kCounter,
                                     "Origin requests that failed (data and checks)."};
constexpr MetricFamily kOriginInFlight{"zarrmount_origin_requests_in_flight", T::kGauge,
                                       "Origin data requests under way now."};
constexpr MetricFamily kObjectChecks{"zarrmount_object_checks_total", T::kCounter,
                                     "Requests for an object's size and version."};
constexpr MetricFamily kPrefetchRequests{"zarrmount_prefetch_requests_total", T::kCounter,
                                         "Background prefetch requests sent to the origin."};
constexpr MetricFamily kPrefetchBytes{"zarrmount_prefetch_bytes_total", T::kCounter,
                                      "Bytes fetched by background prefetch requests."};
constexpr MetricFamily kPrefetchDropped{"zarrmount_prefetch_dropped_total", T::kCounter,
                                        "Prefetches dropped for want of prefetch memory."};
constexpr MetricFamily kDiskCapacity{"zarrmount_disk_cache_capacity_bytes", T::kGauge,
                                     "Capacity of the disk cache."};
constexpr MetricFamily kDiskUsed{"zarrmount_disk_cache_used_bytes", T::kGauge,
                                 "Bytes of blocks in the disk cache."};
constexpr MetricFamily kDiskBlocks{"zarrmount_disk_cache_blocks", T::kGauge,
                                   "Blocks in the disk cache."};
constexpr MetricFamily kDiskCorrupt{"zarrmount_disk_cache_corrupt_blocks_total", T::kCounter,
                                    "Disk cache blocks that failed their checksum and were dropped."};
constexpr MetricFamily kDiskDropped{"zarrmount_disk_cache_dropped_writes_total", T::kCounter,
                                    "Blocks not written to the disk cache (writer behind)."};
constexpr MetricFamily kReadLatency{"zarrmount_fuse_read_duration_seconds", T::kHistogram,
                                    "Time from a FUSE read request to its reply, by result."};
constexpr MetricFamily kFuseOpens{"zarrmount_fuse_opens_total", T::kCounter,
                                  "FUSE open requests answered (the kernel stops sending them once it may)."};
constexpr MetricFamily kOriginLatency{
    "zarrmount_origin_request_duration_seconds", T::kHistogram,
    "Time of an origin request (data, or size and version check), by origin host and result."};
constexpr MetricFamily kSharedMisses{"zarrmount_shared_cache_misses_total", T::kCounter,
                                     "Blocks looked up in the shared tier and not found."};
constexpr MetricFamily kSharedErrors{"zarrmount_shared_cache_errors_total", T::kCounter,
                                     "Shared-tier requests that failed or timed out."};
constexpr MetricFamily kSharedRejected{"zarrmount_shared_cache_rejected_total", T::kCounter,
                                       "Shared-tier values refused by their envelope checks."};
constexpr MetricFamily kSharedPuts{"zarrmount_shared_cache_writes_total", T::kCounter,
                                   "Blocks written to the shared tier."};
constexpr MetricFamily kSharedPutBytes{"zarrmount_shared_cache_written_bytes_total", T::kCounter,
                                       "Bytes of blocks written to the shared tier."};
constexpr MetricFamily kSharedDrops{"zarrmount_shared_cache_queue_drops_total", T::kCounter,
                                    "Blocks not written to the shared tier: its queue was full."};
constexpr MetricFamily kSharedAuthenticated{"zarrmount_shared_cache_authenticated", T::kGauge,
                                            "1 if shared-tier values carry an HMAC."};
constexpr MetricFamily kSharedNodeUp{"zarrmount_shared_cache_node_up", T::kGauge,
                                     "1 while a shared-tier node is in use, 0 while skipped."};
constexpr MetricFamily kSharedNodeErrors{"zarrmount_shared_cache_node_errors_total", T::kCounter,
                                         "Failed requests to one shared-tier node."};
constexpr MetricFamily kViewLoads{"zarrmount_view_chunk_loads_total", T::kCounter,
                                  "Chunks fetched and decoded by a view (demand or ahead)."};
constexpr MetricFamily kViewHits{"zarrmount_view_chunk_hits_total", T::kCounter,
                                 "Reads of a view answered by a decoded chunk kept in memory."};
constexpr MetricFamily kViewWaits{"zarrmount_view_shared_waits_total", T::kCounter,
                                  "Reads of a view that waited for another reader's chunk load."};
constexpr MetricFamily kViewAhead{"zarrmount_view_decode_ahead_total", T::kCounter,
                                  "Chunks a view decoded ahead of its readers."};
constexpr MetricFamily kViewErrors{"zarrmount_view_load_errors_total", T::kCounter,
                                   "Chunk loads of a view that failed."};
constexpr MetricFamily kCatalogDatasets{"zarrmount_catalog_datasets", T::kGauge,
                                        "Datasets the catalog names."};
constexpr MetricFamily kCatalogDocuments{"zarrmount_catalog_documents", T::kGauge,
                                         "Catalog documents read at mount."};
constexpr MetricFamily kCatalogLoads{"zarrmount_catalog_loads_total", T::kCounter,
                                     "Reference sets of catalog datasets loaded."};
constexpr MetricFamily kCatalogFailures{"zarrmount_catalog_load_failures_total", T::kCounter,
                                        "Catalog dataset loads that failed."};
constexpr MetricFamily kCatalogWaits{"zarrmount_catalog_shared_waits_total", T::kCounter,
                                     "Accesses that waited for another's dataset load."};
constexpr MetricFamily kCatalogReleases{"zarrmount_catalog_releases_total", T::kCounter,
                                        "Catalog datasets released to free memory."};
constexpr MetricFamily kCatalogLoaded{"zarrmount_catalog_loaded_datasets", T::kGauge,
                                      "Catalog datasets loaded now."};
constexpr MetricFamily kCatalogLoadedBytes{"zarrmount_catalog_loaded_bytes", T::kGauge,
                                           "Memory of the catalog datasets loaded now."};

uint64_t Load(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

// The cache's tiers and its origin requests: the counters of
// cache/cache_stats.h that `zarrmount status` shows.
void AddCacheStatus(const CacheStats& cs, bool shared, StatusReport* r) {
  const uint64_t memory_hits = Load(cs.memory_hits), disk_hits = Load(cs.disk_hits);
  const uint64_t shared_hits = Load(cs.shared_hits);
  const uint64_t misses = Load(cs.misses);
  const uint64_t hits = memory_hits + disk_hits + shared_hits;
  r->Ratio("hit_ratio", kHitRatio, hits + misses ? double(hits) / double(hits + misses) : 0);
  r->Number("memory_hits", &kLookups, {{"result", "hit"}, {"tier", "memory"}}, memory_hits);
  r->Number("memory_hit_bytes", &kTierBytes, {{"tier", "memory"}}, Load(cs.memory_hit_bytes));
  r->Number("disk_hits", &kLookups, {{"result", "hit"}, {"tier", "disk"}}, disk_hits);
  r->Number("disk_hit_bytes", &kTierBytes, {{"tier", "disk"}}, Load(cs.disk_hit_bytes));
  if (shared) {
    r->Number("shared_hits", &kLookups, {{"result", "hit"}, {"tier", "shared"}}, shared_hits);
    r->Number("shared_hit_bytes", &kTierBytes, {{"tier", "shared"}}, Load(cs.shared_hit_bytes));
  }
  r->Number("misses", &kLookups, {{"result", "miss"}}, misses);
  r->Number("origin_requests", &kOriginRequests, {}, Load(cs.origin_requests));
  r->Number("origin_bytes", &kTierBytes, {{"tier", "origin"}}, Load(cs.origin_bytes));
  r->Number("origin_errors", &kOriginErrors, {}, Load(cs.origin_errors));
  r->Number("origin_in_flight", &kOriginInFlight, {},
            static_cast<uint64_t>(std::max<int64_t>(0, cs.origin_in_flight.load())));
  r->Number("object_checks", &kObjectChecks, {}, Load(cs.object_checks));
  r->Number("prefetch_requests", &kPrefetchRequests, {}, Load(cs.prefetch_requests));
  r->Number("prefetch_bytes", &kPrefetchBytes, {}, Load(cs.prefetch_bytes));
  r->Number("prefetch_dropped", &kPrefetchDropped, {}, Load(cs.prefetch_dropped));
}

void AddDiskStatus(const Options& opt, PersistentBlockStore* disk, StatusReport* r) {
  r->BeginObject("disk_cache");
  r->Text("dir", opt.cache_dir.empty() ? DefaultCacheDir() : opt.cache_dir);
  if (auto u = disk->GetUsage(false); u.ok()) {
    r->Number("capacity_bytes", &kDiskCapacity, {}, u->capacity_bytes);
    r->Number("used_bytes", &kDiskUsed, {}, u->used_bytes);
    r->Number("blocks", &kDiskBlocks, {}, u->blocks);
  }
  r->Number("corrupt_blocks", &kDiskCorrupt, {}, disk->corrupt_blocks());
  r->Number("dropped_writes", &kDiskDropped, {}, disk->dropped_puts());
  r->EndObject();
}

// The shared tier's own counters and each node's state, as "shared_cache".
void AddSharedStatus(const SharedBlockStore& shared, StatusReport* r) {
  const SharedCacheStats s = shared.stats();
  r->BeginObject("shared_cache");
  r->Flag("authenticated", &kSharedAuthenticated, {}, shared.authenticated());
  r->Number("shared_misses", &kSharedMisses, {}, s.misses);
  r->Number("shared_errors", &kSharedErrors, {}, s.errors);
  r->Number("shared_rejected", &kSharedRejected, {}, s.rejected);
  r->Number("shared_puts", &kSharedPuts, {}, s.puts);
  r->Number("shared_put_bytes", &kSharedPutBytes, {}, s.put_bytes);
  r->Number("shared_queue_drops", &kSharedDrops, {}, s.queue_drops);
  r->BeginArray("nodes");
  for (const auto& node : s.nodes) {
    r->BeginObject("");
    r->Text("name", node.name);
    r->Text("state", node.up ? "up" : "down");
    r->Number("", &kSharedNodeUp, {{"node", node.name}}, node.up ? 1 : 0);
    r->Number("errors", &kSharedNodeErrors, {{"node", node.name}}, node.errors);
    r->EndObject();
  }
  r->EndArray();
  r->EndObject();
}

void AddLatencies(const FuseStats* fuse, const OriginLatencies& origins, StatusReport* r) {
  if (fuse) {
    r->Number("fuse_opens", &kFuseOpens, {}, fuse->opens.load(std::memory_order_relaxed));
    r->Histogram(kReadLatency, {{"result", "ok"}}, fuse->read_ok.Read());
    r->Histogram(kReadLatency, {{"result", "error"}}, fuse->read_error.Read());
  }
  origins.ForEach([r](const std::string& host, const char* result, const LatencyHistogram& h) {
    r->Histogram(kOriginLatency, {{"origin", host}, {"result", result}}, h.Read());
  });
}

}  // namespace

// ---- what a mount reports -------------------------------------------------------

void AddMountStatus(const MountStatusSources& from, StatusReport* r) {
  const Options& opt = *from.opt;
  r->Number("pid", nullptr, {}, static_cast<uint64_t>(::getpid()));
  r->Text("version", kVersion);
  r->Number("", &kBuildInfo, {{"version", kVersion}}, 1);
  r->Text("source", RedactUrl(opt.source));
  r->Text("mountpoint", opt.mountpoint);
  const auto up = std::chrono::steady_clock::now() - from.started;
  r->Number("uptime_s", &kUptime, {},
            static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(up).count()));
  r->Number("keys", &kKeys, {}, from.keys);
  AddCacheStatus(from.cache->stats(), from.shared != nullptr, r);
  if (from.disk) AddDiskStatus(opt, from.disk, r);
  if (from.shared) AddSharedStatus(*from.shared, r);
  AddLatencies(from.fuse, from.cache->stats().origin_latency, r);
}

void AddViewStatus(const std::string& view_name, const DecodedChunkStats& vs, StatusReport* r) {
  const MetricLabels label{{"view", view_name}};
  r->BeginObject("view");
  r->Text("name", view_name);
  r->Number("chunk_loads", &kViewLoads, label, Load(vs.loads));
  r->Number("chunk_hits", &kViewHits, label, Load(vs.hits));
  r->Number("shared_waits", &kViewWaits, label, Load(vs.shared_waits));
  r->Number("decode_ahead", &kViewAhead, label, Load(vs.prefetch_loads));
  r->Number("load_errors", &kViewErrors, label, Load(vs.load_errors));
  r->EndObject();
}

void AddCatalogStatus(const std::string& kind_name, const CatalogTree& tree,
                      const Catalog& catalog, StatusReport* r) {
  const CatalogStats& st = tree.stats();
  r->BeginObject("catalog");
  r->Text("kind", kind_name);
  r->Number("datasets", &kCatalogDatasets, {}, tree.dataset_count());
  r->Number("documents", &kCatalogDocuments, {}, catalog.documents);
  r->Number("loads", &kCatalogLoads, {}, Load(st.loads));
  r->Number("load_failures", &kCatalogFailures, {}, Load(st.load_failures));
  r->Number("shared_waits", &kCatalogWaits, {}, Load(st.shared_waits));
  r->Number("releases", &kCatalogReleases, {}, Load(st.releases));
  r->Number("loaded", &kCatalogLoaded, {}, Load(st.loaded));
  r->Number("loaded_bytes", &kCatalogLoadedBytes, {}, Load(st.loaded_bytes));
  r->EndObject();
}

}  // namespace zm
