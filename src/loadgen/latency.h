// Latency percentiles for the load generator's reports. Pure.
#pragma once

#include <vector>

#include "speakup/loadgen.h"

namespace speakup::loadgen {

// Nearest-rank percentiles (p50, p95, p99) and the maximum; all zero for no samples.
LatencySummary Summarize(std::vector<double> latencies_ms);

}  // namespace speakup::loadgen
