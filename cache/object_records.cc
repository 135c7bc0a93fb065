#include "cache/object_records.h"

#include <chrono>
#include <cstring>
#include <optional>

#include "base/log.h"

namespace zm {
namespace {

// The record of an object's size and version: under a range no block can
// have (offset 2^64-1, length 0).
BlockKey RecordKey(const std::string& url) { return MakeBlockKey(url, ByteRange{~uint64_t{0}, 0}); }

// A record is the size (8 bytes, host order) followed by the version.
std::optional<Origin::ObjectInfo> ParseRecord(const Block& record) {
  if (!record || record->size() < sizeof(uint64_t)) return std::nullopt;
  Origin::ObjectInfo info;
  std::memcpy(&info.size, record->data(), sizeof info.size);
  info.version = record->substr(sizeof info.size);
  return info;
}

}  // namespace

ObjectRecords::ObjectRecords(Origin* origin, BlockTiers tiers, bool validate, CacheStats* stats)
    : origin_(origin), tiers_(tiers), validate_(validate), stats_(stats) {}

Result<Origin::ObjectInfo> ObjectRecords::Object(const std::string& url) {
  return Object(url, [&] { return origin_->Stat(url); });
}

Result<Origin::ObjectInfo> ObjectRecords::Object(const std::string& url, const Asker& ask) {
  std::promise<Result<Origin::ObjectInfo>> promise;
  std::shared_future<Result<Origin::ObjectInfo>> future;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(url);
    if (it != objects_.end()) {
      future = it->second;
    } else {
      objects_.emplace(url, promise.get_future().share());
    }
  }
  if (future.valid()) return future.get();  // learned, or being learned by another thread
  Result<Origin::ObjectInfo> info = Learn(url, ask);
  if (!info.ok()) {
    // Not remembered: the next caller asks again.
    std::lock_guard<std::mutex> lock(mu_);
    objects_.erase(url);
  }
  promise.set_value(info);
  return info;
}

Result<Origin::ObjectInfo> ObjectRecords::Learn(const std::string& url, const Asker& ask) {
  std::optional<Origin::ObjectInfo> recorded = ParseRecord(tiers_.Get(RecordKey(url)));
  if (recorded && !validate_) return *recorded;
  stats_->object_checks.fetch_add(1, std::memory_order_relaxed);
  const auto sent = std::chrono::steady_clock::now();
  auto info = ask();
  stats_->origin_latency.Record(url, info.ok(), std::chrono::steady_clock::now() - sent);
  if (!info.ok()) {
    stats_->origin_errors.fetch_add(1, std::memory_order_relaxed);
    // Unreachable is not changed: serve what was cached of the object. A
    // definite answer (gone, forbidden) is believed.
    if (recorded && info.status().code() != Code::kNotFound &&
        info.status().code() != Code::kPermissionDenied) {
      LogWarning(info.status().message() + "; using the cached copy without checking it");
      return *recorded;
    }
    return info.status();
  }
  if (!recorded || recorded->size != info->size || recorded->version != info->version) {
    if (recorded)
      LogWarning(RedactUrl(url) + " has changed since it was cached (" +
                 (recorded->version.empty() ? "size" : recorded->version) + " -> " +
                 (info->version.empty() ? "size" : info->version) +
                 "): its cached blocks are not used");
    Record(url, *info);
  }
  return info;
}

void ObjectRecords::Record(const std::string& url, const Origin::ObjectInfo& info) {
  std::string record(sizeof info.size, '\0');
  std::memcpy(record.data(), &info.size, sizeof info.size);
  record += info.version;
  tiers_.Put(RecordKey(url), std::make_shared<const std::string>(std::move(record)));
}

Result<std::string> ObjectRecords::Version(const std::string& url) {
  if (validate_) {
    ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, Object(url));
    return info.version;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = versions_.find(url); it != versions_.end()) return it->second;
  }
  // Trusting the cache: the version recorded, with no question to the origin.
  std::string version;
  if (auto recorded = ParseRecord(tiers_.Get(RecordKey(url)))) version = std::move(recorded->version);
  std::lock_guard<std::mutex> lock(mu_);
  versions_.emplace(url, version);
  return version;
}

}  // namespace zm
