// FakeOrigin: an in-memory Origin for tests. Serves objects put with Set(),
// records every request (url, range) in order, counts them, and injects
// failures per URL:
//   FailAlways(url, status)        every Read/Size of url fails with status
//   FailTimes(url, n, status)      the next n Reads of url fail, then succeed
//   FailIf(pred, status)           Reads for which pred(request) is true fail
//   ReturnWrongLength(url, delta)  Reads of url return length + delta bytes
//                                  (violating the Origin contract on purpose)
//   SetVersion(url, v)             Stat and ReadHead report version v for url
// ReadHead is one request (recorded as a Read of the first bytes, counted
// in head_calls), not Stat's Size and a Read.
//   HoldIf(pred) / ReleaseHeld()   Reads for which pred(request) is true wait
//                                  (recorded, but unanswered) until released
// Reads past the end of an object give kOutOfRange, unknown URLs kNotFound,
// as the Origin contract says.
//
// Thread-safe (one mutex), so it can back concurrent tests too.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "io/origin.h"

namespace zm::testing {

struct OriginRequest {
  std::string url;
  ByteRange range;
  bool operator==(const OriginRequest&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const OriginRequest& r) {
  return os << "{" << r.url << ", " << r.range.offset << "+" << r.range.length << "}";
}

class FakeOrigin : public Origin {
 public:
  void Set(const std::string& url, std::string data) {
    std::lock_guard<std::mutex> lock(mu_);
    objects_[url] = std::move(data);
  }
  void FailAlways(const std::string& url, Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_[url] = Failure{st, -1};
  }
  void FailTimes(const std::string& url, int n, Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_[url] = Failure{st, n};
  }
  void FailIf(std::function<bool(const OriginRequest&)> pred, Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    predicates_.emplace_back(std::move(pred), std::move(st));
  }
  void ReturnWrongLength(const std::string& url, int64_t delta) {
    std::lock_guard<std::mutex> lock(mu_);
    wrong_length_[url] = delta;
  }
  void HoldIf(std::function<bool(const OriginRequest&)> pred) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = std::move(pred);
    released_ = false;
  }
  void ReleaseHeld() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }
  size_t held_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }
  void ClearFailures() {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.clear();
    predicates_.clear();
    wrong_length_.clear();
  }

  Result<std::string> Read(const std::string& url, ByteRange range) override {
    std::unique_lock<std::mutex> lock(mu_);
    requests_.push_back(OriginRequest{url, range});
    if (hold_ && hold_(requests_.back())) {
      ++held_;
      cv_.wait(lock, [this] { return released_; });
      --held_;
    }
    if (auto st = InjectedFailure(url); !st.ok()) return st;
    for (const auto& [pred, st] : predicates_)
      if (pred(requests_.back())) return st;
    auto it = objects_.find(url);
    if (it == objects_.end()) return NotFound(url + ": no such object");
    const std::string& obj = it->second;
    if (range.offset > obj.size() || range.length > obj.size() - range.offset)
      return Status(Code::kOutOfRange, url + ": range past the end");
    std::string out = obj.substr(range.offset, range.length);
    if (auto w = wrong_length_.find(url); w != wrong_length_.end()) {
      if (w->second < 0)
        out.resize(out.size() - std::min<uint64_t>(out.size(), -w->second));
      else
        out.append(static_cast<size_t>(w->second), 'X');
    }
    return out;
  }

  // Stat answers `version` for url from now on (default "").
  void SetVersion(const std::string& url, std::string version) {
    std::lock_guard<std::mutex> lock(mu_);
    versions_[url] = std::move(version);
  }
  Result<ObjectInfo> Stat(const std::string& url) override {
    ZM_ASSIGN_OR_RETURN(uint64_t size, Size(url));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = versions_.find(url);
    return ObjectInfo{size, it == versions_.end() ? "" : it->second};
  }

  Result<Head> ReadHead(const std::string& url, uint64_t length) override {
    Head head;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++head_calls_;
      auto it = objects_.find(url);
      if (it != objects_.end()) head.info.size = it->second.size();
      if (auto v = versions_.find(url); v != versions_.end()) head.info.version = v->second;
    }
    ZM_ASSIGN_OR_RETURN(head.bytes, Read(url, ByteRange{0, std::min(length, head.info.size)}));
    return head;
  }

  Result<uint64_t> Size(const std::string& url) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++size_calls_;
    if (auto st = InjectedFailure(url); !st.ok()) return st;
    auto it = objects_.find(url);
    if (it == objects_.end()) return NotFound(url + ": no such object");
    return static_cast<uint64_t>(it->second.size());
  }

  std::vector<OriginRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  size_t request_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }
  size_t size_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return size_calls_;
  }
  size_t head_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return head_calls_;
  }
  void ClearRequests() {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.clear();
  }

 private:
  struct Failure {
    Status status;
    int remaining;  // -1: forever
  };
  // REQUIRES: mu_ held.
  Status InjectedFailure(const std::string& url) {
    auto f = failures_.find(url);
    if (f == failures_.end()) return Status::Ok();
    if (f->second.remaining == 0) return Status::Ok();
    if (f->second.remaining > 0) --f->second.remaining;
    return f->second.status;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::function<bool(const OriginRequest&)> hold_;
  bool released_ = false;
  size_t held_ = 0;
  std::map<std::string, std::string> objects_;
  std::map<std::string, std::string> versions_;
  std::map<std::string, Failure> failures_;
  std::vector<std::pair<std::function<bool(const OriginRequest&)>, Status>> predicates_;
  std::map<std::string, int64_t> wrong_length_;
  std::vector<OriginRequest> requests_;
  size_t size_calls_ = 0;
  size_t head_calls_ = 0;
};

// Deterministic pseudo-random bytes.
inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

}  // namespace zm::testing
