#pragma once
// A latency histogram with fixed buckets, written by one shard and summed by the scraper.
// Recording is a handful of relaxed loads and stores: no locks, no allocation.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace ringgate {

class LatencyHistogram {
 public:
  // Upper bounds in microseconds (Prometheus `le`), then +Inf.
  // From 25 µs (a direct answer, a cache hit) to 10 s.
  static constexpr uint64_t kBoundsUs[] = {25,     50,     100,     250,     500,     1000,
                                           2500,   5000,   10000,   25000,   50000,   100000,
                                           250000, 500000, 1000000, 2500000, 5000000, 10000000};
  static constexpr size_t kBuckets = sizeof kBoundsUs / sizeof kBoundsUs[0] + 1;

  void record(uint64_t us) {
    size_t i = 0;
    while (i < kBuckets - 1 && us > kBoundsUs[i]) {
      ++i;
    }
    add(buckets_[i], 1);
    add(sum_us_, us);
  }

  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t sum_us() const { return sum_us_.load(std::memory_order_relaxed); }

 private:
  static void add(std::atomic<uint64_t>& c, uint64_t by) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  std::atomic<uint64_t> buckets_[kBuckets] = {};  // not cumulative
  std::atomic<uint64_t> sum_us_{0};
};

// Appends `name`_bucket (cumulative, `le` in seconds), _sum (seconds) and _count lines for the
// sum of `parts`, each line labelled with `labels` (e.g. `upstream="api"`).
template <typename Range>
void render_histogram(std::string& out, std::string_view name, std::string_view labels,
                      const Range& parts) {
  uint64_t cumulative = 0;
  uint64_t sum_us = 0;
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    for (const LatencyHistogram* h : parts) {
      cumulative += h->bucket(i);
    }
    out.append(name).append("_bucket{").append(labels).append(",le=\"");
    if (i + 1 < LatencyHistogram::kBuckets) {
      char le[32];
      const uint64_t us = LatencyHistogram::kBoundsUs[i];
      snprintf(le, sizeof le, "%g", static_cast<double>(us) / 1e6);
      out.append(le);
    } else {
      out.append("+Inf");
    }
    out.append("\"} ").append(std::to_string(cumulative)).append("\n");
  }
  for (const LatencyHistogram* h : parts) {
    sum_us += h->sum_us();
  }
  char sum[32];
  snprintf(sum, sizeof sum, "%.6f", static_cast<double>(sum_us) / 1e6);
  out.append(name).append("_sum{").append(labels).append("} ").append(sum).append("\n");
  out.append(name).append("_count{").append(labels).append("} ").append(std::to_string(cumulative));
  out.append("\n");
}

}  // namespace ringgate
