// ObjectRecords: the size and version of each object a cache reads, as the
// cache uses them.
//
// An object's record (size and version) is kept in the block tiers like a
// block, so a mount whose blocks are all cached needs no origin. Validating,
// the origin is asked once per object (per ObjectRecords, that is per
// mount) and its answer wins: a changed version is recorded and logged.
// Not validating, the recorded answer is trusted and the origin is asked only
// for an object with no record.
//
// Thread-safety: safe for concurrent use. Concurrent first questions about
// one object share one origin request.
#pragma once

#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/status.h"
#include "cache/block_tiers.h"
#include "cache/cache_stats.h"
#include "io/origin.h"

namespace zm {

class ObjectRecords {
 public:
  // None are owned; `stats` counts object_checks and origin_errors.
  // REQUIRES: all outlive this.
  ObjectRecords(Origin* origin, BlockTiers tiers, bool validate, CacheStats* stats);

  // The object's size and version: when validating, the origin's answer
  // (asked once, then remembered); otherwise the recorded one, else the
  // origin's. If the origin cannot be asked (it is unreachable) the recorded
  // answer is used; a definite answer (not found, forbidden) is believed.
  // A failure is not remembered: the next call asks again.
  Result<Origin::ObjectInfo> Object(const std::string& url);

  // Object, with `ask` asking the origin instead of its Stat: an asker may
  // fetch more with the answer (a first block, Origin::ReadHead). Callers
  // waiting on the same object share whichever asks first.
  using Asker = std::function<Result<Origin::ObjectInfo>()>;
  Result<Origin::ObjectInfo> Object(const std::string& url, const Asker& ask);

  // The version the object's blocks are kept under ("" when unknown): when
  // validating, Object's; otherwise the recorded one, looked up once per
  // object, without asking the origin.
  Result<std::string> Version(const std::string& url);

 private:
  Result<Origin::ObjectInfo> Learn(const std::string& url, const Asker& ask);
  void Record(const std::string& url, const Origin::ObjectInfo& info);

  Origin* const origin_;
  const BlockTiers tiers_;
  const bool validate_;
  CacheStats* const stats_;

  std::mutex mu_;  // guards the maps below; a leaf lock, never held across I/O
  // Per object, its info once learned (or being learned by one thread).
  std::unordered_map<std::string, std::shared_future<Result<Origin::ObjectInfo>>> objects_;
  std::unordered_map<std::string, std::string> versions_;  // not validating: as recorded
};

}  // namespace zm
