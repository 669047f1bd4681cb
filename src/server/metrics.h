// Server-wide counters and latency histograms, rendered in Prometheus' text format at /metrics.
// Updated from any thread (atomics); read by the HTTP handler on the main loop.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace speakup::server {

// A latency histogram with fixed bucket bounds in milliseconds (Prometheus "le" buckets).
class Histogram {
 public:
  static constexpr std::array<double, 10> kBoundsMs = {1, 2, 3, 5, 8, 13, 20, 35, 60, 100};
  void Observe(double ms);
  // Appends the _bucket, _sum and _count lines of `name` (bounds in seconds, as Prometheus wants).
  void Render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsMs.size() + 1> buckets_{};  // last: +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

struct Metrics {
  std::atomic<uint64_t> sessions_started{0}, sessions_refused{0};
  std::atomic<uint64_t> frames_in{0}, frames_processed{0}, frames_dropped{0}, results_sent{0};
  Histogram queue, detect, landmarks, geometry, total;

  // The whole exposition; `active_sessions` is read by the caller on the main loop.
  std::string Render(size_t active_sessions) const;
};

}  // namespace speakup::server
