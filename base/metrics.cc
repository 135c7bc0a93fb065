#include "base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace zm {

void LatencyHistogram::Record(std::chrono::nanoseconds elapsed) {
  const int64_t ns = std::max<int64_t>(elapsed.count(), 0);
  const double seconds = static_cast<double>(ns) / 1e9;
  size_t bucket = 0;
  while (bucket < kUpperBoundsSeconds.size() && seconds > kUpperBoundsSeconds[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

HistogramSnapshot LatencyHistogram::Read() const {
  HistogramSnapshot s;
  s.upper_bounds.assign(kUpperBoundsSeconds.begin(), kUpperBoundsSeconds.end());
  for (const auto& c : counts_) s.counts.push_back(c.load(std::memory_order_relaxed));
  s.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

// Integers as integers (counters read as counts, not 1e+06); other values
// in the shortest fixed-point form that reads back the same (le="0.0001",
// not le="1e-04").
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9.0e15) return std::to_string(static_cast<int64_t>(v));
  char buf[400];  // a fixed-point double has at most ~330 digits
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string FormatLabels(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ',';
    out += name + "=\"" + EscapeLabelValue(value) + "\"";
  }
  return out + "}";
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// Help text escaped as the format asks: backslash and newline.
std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

}  // namespace

Exposition::Family* Exposition::FamilyOf(const MetricFamily& family) {
  for (Family& f : families_)
    if (f.family->name == family.name) return &f;
  families_.push_back(Family{&family, ""});
  return &families_.back();
}

void Exposition::Add(const MetricFamily& family, MetricLabels labels, double value) {
  FamilyOf(family)->samples +=
      std::string(family.name) + FormatLabels(labels) + " " + FormatValue(value) + "\n";
}

void Exposition::AddHistogram(const MetricFamily& family, MetricLabels labels,
                              const HistogramSnapshot& h) {
  std::string& out = FamilyOf(family)->samples;
  const std::string name(family.name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    MetricLabels with_le = labels;
    with_le.emplace_back("le", i < h.upper_bounds.size() ? FormatValue(h.upper_bounds[i]) : "+Inf");
    out += name + "_bucket" + FormatLabels(with_le) + " " + std::to_string(cumulative) + "\n";
  }
  // The count is the +Inf bucket's, so the two always agree.
  out += name + "_sum" + FormatLabels(labels) + " " + FormatValue(h.sum) + "\n";
  out += name + "_count" + FormatLabels(labels) + " " + std::to_string(cumulative) + "\n";
}

std::string Exposition::Text() const {
  std::string out;
  for (const Family& f : families_) {
    out += "# HELP " + std::string(f.family->name) + " " + EscapeHelp(f.family->help) + "\n";
    out += "# TYPE " + std::string(f.family->name) + " " + TypeName(f.family->type) + "\n";
    out += f.samples;
  }
  return out;
}

}  // namespace zm
