// Unit tests of cache/origin_latency.h: what of a URL becomes a metric
// label, and the bounded per-host table.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cache/origin_latency.h"

namespace zm {
namespace {

TEST(OriginHostOf, KeepsOnlyTheHostAndPort) {
  EXPECT_EQ(OriginHostOf("https://Data.Example.org/a/b.nc?X-Amz-Signature=abc#f"),
            "data.example.org");
  EXPECT_EQ(OriginHostOf("http://user:secret@127.0.0.1:8080/x?token=t"), "127.0.0.1:8080");
  EXPECT_EQ(OriginHostOf("http://host?query=only"), "host");
  EXPECT_EQ(OriginHostOf("s3://bucket/key"), "bucket");
  EXPECT_EQ(OriginHostOf("http://[::1]:9000/k"), "[::1]:9000");
}

TEST(OriginHostOf, LocalFilesAreLocal) {
  EXPECT_EQ(OriginHostOf("/data/x.nc"), "local");
  EXPECT_EQ(OriginHostOf("file:///data/x.nc"), "local");
  EXPECT_EQ(OriginHostOf("relative/x.nc"), "local");
}

// host -> (ok count, error count), from ForEach.
std::map<std::string, std::pair<uint64_t, uint64_t>> Counts(const OriginLatencies& l) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  l.ForEach([&](const std::string& host, const char* result, const LatencyHistogram& h) {
    uint64_t n = 0;
    for (uint64_t c : h.Read().counts) n += c;
    (std::string(result) == "ok" ? out[host].first : out[host].second) += n;
  });
  return out;
}

TEST(OriginLatencies, CountsByHostAndResult) {
  OriginLatencies l;
  l.Record("http://a.example/x", true, std::chrono::milliseconds(2));
  l.Record("http://a.example/y?sig=1", false, std::chrono::milliseconds(3));
  l.Record("http://b.example/x", true, std::chrono::milliseconds(1));
  auto counts = Counts(l);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts["a.example"], std::make_pair(uint64_t{1}, uint64_t{1}));
  EXPECT_EQ(counts["b.example"], std::make_pair(uint64_t{1}, uint64_t{0}));
}

TEST(OriginLatencies, HostsBeyondTheTableShareOther) {
  OriginLatencies l;
  const size_t hosts = OriginLatencies::kMaxHosts + 10;
  for (size_t i = 0; i < hosts; ++i)
    l.Record("http://h" + std::to_string(i) + ".example/x", true, std::chrono::microseconds(5));
  auto counts = Counts(l);
  EXPECT_EQ(counts.size(), OriginLatencies::kMaxHosts);
  EXPECT_EQ(counts["other"].first, hosts - (OriginLatencies::kMaxHosts - 1));
  EXPECT_EQ(counts["h0.example"].first, 1u);
}

TEST(OriginLatencies, ConcurrentRecordsOfNewHostsAreAllCounted) {
  OriginLatencies l;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&l] {
      for (int i = 0; i < 2000; ++i)
        l.Record("http://h" + std::to_string(i % 8) + "/x", i % 3 != 0,
                 std::chrono::microseconds(i));
    });
  for (auto& t : threads) t.join();
  uint64_t total = 0;
  for (const auto& [host, c] : Counts(l)) total += c.first + c.second;
  EXPECT_EQ(Counts(l).size(), 8u);
  EXPECT_EQ(total, 8000u);
}

}  // namespace
}  // namespace zm
