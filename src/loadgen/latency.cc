#include "latency.h"

#include <algorithm>
#include <cmath>

namespace speakup::loadgen {

LatencySummary Summarize(std::vector<double> latencies_ms) {
  LatencySummary summary;
  if (latencies_ms.empty()) return summary;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  // Nearest rank: the smallest sample with at least p of all samples at or below it.
  auto rank = [&](double p) {
    const size_t index = static_cast<size_t>(std::ceil(p * latencies_ms.size()));
    return latencies_ms[std::clamp<size_t>(index, 1, latencies_ms.size()) - 1];
  };
  summary.p50_ms = rank(0.50);
  summary.p95_ms = rank(0.95);
  summary.p99_ms = rank(0.99);
  summary.max_ms = latencies_ms.back();
  return summary;
}

}  // namespace speakup::loadgen
