#include "cache/origin_latency.h"

#include <cctype>

namespace zm {

std::string OriginHostOf(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || url.substr(0, scheme_end) == "file") return "local";
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  std::string host(rest);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host.empty() ? "local" : host;
}

OriginLatencies::Entry* OriginLatencies::EntryFor(const std::string& host) {
  size_t n = published_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i)
    if (entries_[i]->host == host) return entries_[i].get();
  // A full table's last entry is "other": hosts beyond it go there, lock-free.
  if (n == kMaxHosts) return entries_[n - 1].get();
  std::lock_guard<std::mutex> lock(add_mu_);
  n = published_.load(std::memory_order_relaxed);  // another may have added it meanwhile
  for (size_t i = 0; i < n; ++i)
    if (entries_[i]->host == host) return entries_[i].get();
  if (n == kMaxHosts) return entries_[n - 1].get();
  auto entry = std::make_unique<Entry>();
  entry->host = n + 1 < kMaxHosts ? host : "other";
  entries_[n] = std::move(entry);
  published_.store(n + 1, std::memory_order_release);
  return entries_[n].get();
}

void OriginLatencies::Record(std::string_view url, bool ok, std::chrono::nanoseconds elapsed) {
  Entry* e = EntryFor(OriginHostOf(url));
  (ok ? e->ok : e->error).Record(elapsed);
}

void OriginLatencies::ForEach(
    const std::function<void(const std::string&, const char*, const LatencyHistogram&)>& fn) const {
  const size_t n = published_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    fn(entries_[i]->host, "ok", entries_[i]->ok);
    fn(entries_[i]->host, "error", entries_[i]->error);
  }
}

}  // namespace zm
