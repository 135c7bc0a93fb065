// Unit tests of app/status.h: one call names a counter for both the status
// object and the metrics.
#include <gtest/gtest.h>

#include <string>

#include "app/status.h"

namespace zm {
namespace {

constexpr MetricFamily kHits{"t_hits_total", MetricType::kCounter, "Hits."};
constexpr MetricFamily kRatio{"t_ratio", MetricType::kGauge, "A ratio."};
constexpr MetricFamily kLatency{"t_seconds", MetricType::kHistogram, "Latency."};

TEST(StatusReport, EachNumberIsAMemberAndASample) {
  StatusReport r;
  r.Number("pid", nullptr, {}, 42);  // status only
  r.Text("source", "a \"b\"");
  r.Number("memory_hits", &kHits, {{"tier", "memory"}}, 7);
  r.Number("", &kHits, {{"tier", "disk"}}, 1);  // metric only
  r.Ratio("hit_ratio", kRatio, 0.875);
  r.BeginObject("disk_cache");
  r.Text("dir", "/c");
  r.Number("corrupt_blocks", &kHits, {{"tier", "disk_check"}}, 2);
  r.EndObject();
  HistogramSnapshot h;
  h.upper_bounds = {1};
  h.counts = {1, 0};
  h.sum = 0.5;
  r.Histogram(kLatency, {}, h);
  EXPECT_EQ(r.Json(),
            "{\"pid\": 42, \"source\": \"a \\\"b\\\"\", \"memory_hits\": 7, \"hit_ratio\": 0.8750, "
            "\"disk_cache\": {\"dir\": \"/c\", \"corrupt_blocks\": 2}}");
  EXPECT_EQ(r.PrometheusText(),
            "# HELP t_hits_total Hits.\n"
            "# TYPE t_hits_total counter\n"
            "t_hits_total{tier=\"memory\"} 7\n"
            "t_hits_total{tier=\"disk\"} 1\n"
            "t_hits_total{tier=\"disk_check\"} 2\n"
            "# HELP t_ratio A ratio.\n"
            "# TYPE t_ratio gauge\n"
            "t_ratio 0.875\n"
            "# HELP t_seconds Latency.\n"
            "# TYPE t_seconds histogram\n"
            "t_seconds_bucket{le=\"1\"} 1\n"
            "t_seconds_bucket{le=\"+Inf\"} 1\n"
            "t_seconds_sum 0.5\n"
            "t_seconds_count 1\n");
}

TEST(StatusReport, EmptyIsAnEmptyObject) {
  StatusReport r;
  EXPECT_EQ(r.Json(), "{}");
  EXPECT_EQ(r.PrometheusText(), "");
}

}  // namespace
}  // namespace zm
