// Unit tests of base/metrics.h: the Prometheus text exposition (families,
// label escaping, histograms) and the lock-free latency histogram.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/metrics.h"

namespace zm {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr MetricFamily kHits{"test_hits_total", MetricType::kCounter, "Hits, by tier."};
constexpr MetricFamily kUsed{"test_used_bytes", MetricType::kGauge, "Bytes used."};
constexpr MetricFamily kLatency{"test_latency_seconds", MetricType::kHistogram,
                                "Latency of a thing."};

TEST(EscapeLabelValue, EscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("plain host.example:8080"), "plain host.example:8080");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), "two\\nlines");
  EXPECT_EQ(EscapeLabelValue(""), "");
}

TEST(Exposition, EmptyIsEmpty) { EXPECT_EQ(Exposition().Text(), ""); }

TEST(Exposition, GroupsSamplesUnderOneHelpAndType) {
  Exposition e;
  e.Add(kHits, {{"tier", "memory"}}, 3);
  e.Add(kUsed, {}, 1024);
  e.Add(kHits, {{"tier", "disk"}}, 0);
  EXPECT_EQ(e.Text(),
            "# HELP test_hits_total Hits, by tier.\n"
            "# TYPE test_hits_total counter\n"
            "test_hits_total{tier=\"memory\"} 3\n"
            "test_hits_total{tier=\"disk\"} 0\n"
            "# HELP test_used_bytes Bytes used.\n"
            "# TYPE test_used_bytes gauge\n"
            "test_used_bytes 1024\n");
}

TEST(Exposition, LabelValuesAreEscapedInSamples) {
  Exposition e;
  e.Add(kUsed, {{"path", "C:\\x \"y\"\nz"}, {"b", "2"}}, 1);
  EXPECT_NE(e.Text().find("test_used_bytes{path=\"C:\\\\x \\\"y\\\"\\nz\",b=\"2\"} 1\n"),
            std::string::npos)
      << e.Text();
}

TEST(Exposition, ValuesIntegralOrShortestFixed) {
  Exposition e;
  e.Add(kUsed, {{"v", "big"}}, 12345678901234.0);
  e.Add(kUsed, {{"v", "ratio"}}, 0.25);
  e.Add(kUsed, {{"v", "neg"}}, -2);
  const std::string t = e.Text();
  EXPECT_NE(t.find("{v=\"big\"} 12345678901234\n"), std::string::npos) << t;
  EXPECT_NE(t.find("{v=\"ratio\"} 0.25\n"), std::string::npos) << t;
  EXPECT_NE(t.find("{v=\"neg\"} -2\n"), std::string::npos) << t;
}

TEST(Exposition, HistogramBucketsAreCumulativeEndWithInfAndCount) {
  HistogramSnapshot h;
  h.upper_bounds = {0.001, 0.5, 2};
  h.counts = {2, 0, 3, 1};  // 1 above the last bound
  h.sum = 4.75;
  Exposition e;
  e.AddHistogram(kLatency, {{"origin", "a.example"}}, h);
  EXPECT_EQ(e.Text(),
            "# HELP test_latency_seconds Latency of a thing.\n"
            "# TYPE test_latency_seconds histogram\n"
            "test_latency_seconds_bucket{origin=\"a.example\",le=\"0.001\"} 2\n"
            "test_latency_seconds_bucket{origin=\"a.example\",le=\"0.5\"} 2\n"
            "test_latency_seconds_bucket{origin=\"a.example\",le=\"2\"} 5\n"
            "test_latency_seconds_bucket{origin=\"a.example\",le=\"+Inf\"} 6\n"
            "test_latency_seconds_sum{origin=\"a.example\"} 4.75\n"
            "test_latency_seconds_count{origin=\"a.example\"} 6\n");
}

TEST(Exposition, TwoHistogramsOfOneFamilyShareTheHeader) {
  HistogramSnapshot h;
  h.upper_bounds = {1};
  h.counts = {0, 0};
  Exposition e;
  e.AddHistogram(kLatency, {{"result", "ok"}}, h);
  e.AddHistogram(kLatency, {{"result", "error"}}, h);
  const std::string t = e.Text();
  EXPECT_EQ(t.find("# TYPE"), t.rfind("# TYPE")) << t;
  EXPECT_NE(t.find("test_latency_seconds_bucket{result=\"error\",le=\"+Inf\"} 0\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("test_latency_seconds_count{result=\"ok\"} 0\n"), std::string::npos) << t;
}

TEST(LatencyHistogram, CountsEachDurationInItsBucket) {
  LatencyHistogram h;
  h.Record(microseconds(50));    // <= 100 us: the first bucket
  h.Record(microseconds(100));   // on a bound: that bucket
  h.Record(milliseconds(3));     // (2.5 ms, 5 ms]
  h.Record(seconds(60));         // above 10 s
  h.Record(std::chrono::nanoseconds(-5));  // a clock step back counts as 0
  HistogramSnapshot s = h.Read();
  ASSERT_EQ(s.counts.size(), s.upper_bounds.size() + 1);
  EXPECT_EQ(s.counts.front(), 3u);
  EXPECT_EQ(s.counts[5], 1u);
  EXPECT_DOUBLE_EQ(s.upper_bounds[5], 0.005);
  EXPECT_EQ(s.counts.back(), 1u);
  uint64_t total = 0;
  for (uint64_t c : s.counts) total += c;
  EXPECT_EQ(total, 5u);
  EXPECT_NEAR(s.sum, 60.00315, 1e-9);
}

TEST(LatencyHistogram, ConcurrentRecordsAreAllCounted) {
  LatencyHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10000; ++i) h.Record(microseconds(t * 1000 + i % 7));
    });
  for (auto& t : threads) t.join();
  uint64_t total = 0;
  for (uint64_t c : h.Read().counts) total += c;
  EXPECT_EQ(total, 40000u);
}

}  // namespace
}  // namespace zm
