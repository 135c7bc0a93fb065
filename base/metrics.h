// Metrics in the Prometheus text exposition format (version 0.0.4), and the
// lock-free latency histogram the data path records into.
//
// Exposition collects samples and prints them grouped by family, each
// family once with its # HELP and # TYPE lines, whatever order the samples
// were added in. LatencyHistogram counts durations into fixed buckets with
// relaxed atomic adds: no lock, safe to record from any thread while
// another reads it.
//
// Thread-safety: Exposition is not thread-safe (one per scrape);
// LatencyHistogram is safe for concurrent Record and Read.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zm {

enum class MetricType { kCounter, kGauge, kHistogram };

// A metric family: its name (with its unit: _bytes, _seconds, _total), type
// and one line of help. Families are constants; samples point at them.
struct MetricFamily {
  std::string_view name;
  MetricType type;
  std::string_view help;
};

// A sample's labels, in the order printed: {{"tier", "memory"}, ...}.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A histogram's state: per-bucket (not cumulative) counts; counts has one
// more entry than upper_bounds, the observations above the last bound.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;  // seconds, increasing
  std::vector<uint64_t> counts;
  double sum = 0;  // of every observation, seconds
};

// Durations counted into buckets from 100 us to 10 s. Record is two relaxed
// atomic adds after a scan of 16 bounds: cheap enough for every read.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 16> kUpperBoundsSeconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};

  void Record(std::chrono::nanoseconds elapsed);
  // Every observation recorded before the call, and maybe some recorded
  // during it (a bucket may count one that the sum does not yet hold).
  HistogramSnapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, kUpperBoundsSeconds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// `value` escaped for a label value: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);

class Exposition {
 public:
  // A counter's or gauge's sample. REQUIRES: family.type is not kHistogram;
  // `family` outlives this object.
  void Add(const MetricFamily& family, MetricLabels labels, double value);
  // A histogram's samples: _bucket (cumulative, le="+Inf" last), _sum and
  // _count. REQUIRES: family.type == kHistogram; counts.size() ==
  // upper_bounds.size() + 1.
  void AddHistogram(const MetricFamily& family, MetricLabels labels,
                    const HistogramSnapshot& histogram);

  // The exposition: families in the order first added, each followed by
  // its samples in the order added; ends with a newline (or is empty).
  std::string Text() const;

 private:
  struct Family {
    const MetricFamily* family;
    std::string samples;  // formatted sample lines
  };
  Family* FamilyOf(const MetricFamily& family);

  std::vector<Family> families_;
};

}  // namespace zm
