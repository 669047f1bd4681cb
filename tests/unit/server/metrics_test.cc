// /metrics in Prometheus' text format: counters, a gauge and cumulative histograms.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "metrics.h"

namespace speakup::server {
namespace {

TEST(Metrics, CountersAndGaugeInTextFormat) {
  Metrics metrics;
  metrics.frames_in += 7;
  metrics.sessions_refused++;
  const std::string text = metrics.Render({.active_sessions = 3, .pending_sessions = 2, .open_fds = 40, .max_fds = 1024, .recovery = {}});
  EXPECT_NE(text.find("# TYPE speakup_sessions_active gauge\nspeakup_sessions_active 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("speakup_sessions_pending 2\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE process_open_fds gauge\nprocess_open_fds 40\n"), std::string::npos);
  EXPECT_NE(text.find("process_max_fds 1024\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE speakup_frames_in_total counter\nspeakup_frames_in_total 7\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_sessions_refused_total 1\n"), std::string::npos);
  // Every line is a comment or "name[{labels}] value".
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# ", 0) == 0) continue;
    EXPECT_EQ(std::count(line.begin(), line.end(), ' '), 1) << line;
  }
}

TEST(Metrics, HistogramBucketsAreCumulativeInSeconds) {
  Metrics metrics;
  for (double ms : {0.5, 2.5, 2.5, 40.0, 500.0}) metrics.total.Observe(ms);
  const std::string text = metrics.Render({});
  EXPECT_EQ(text.find("process_open_fds"), std::string::npos) << "unknown descriptor counts are left out";
  EXPECT_NE(text.find("speakup_frame_seconds_bucket{le=\"0.00025\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("speakup_frame_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("speakup_frame_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("speakup_frame_seconds_bucket{le=\"0.003\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_frame_seconds_bucket{le=\"0.06\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_frame_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_frame_seconds_count 5\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_frame_seconds_sum 0.545500\n"), std::string::npos);
}

TEST(Metrics, StageCpuAndProcessCpuAreCounters) {
  Metrics metrics;
  metrics.cpu.Add(StageCpu::kDecode, 1.5);
  metrics.cpu.Add(StageCpu::kDecode, 0.25);
  metrics.cpu.Add(StageCpu::kInference, 1000);
  metrics.cpu.Add(StageCpu::kWarp, -3);  // a clock that went backwards counts nothing
  metrics.decode.Observe(0.3);
  const std::string text = metrics.Render({}, 12.5);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.500000\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("speakup_cpu_seconds_total{stage=\"decode\"} 0.001750\n"), std::string::npos) << text;
  EXPECT_NE(text.find("speakup_cpu_seconds_total{stage=\"inference\"} 1.000000\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_cpu_seconds_total{stage=\"warp\"} 0.000000\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_cpu_seconds_total{stage=\"convert\"} 0.000000\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_decode_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("speakup_convert_seconds_count 0\n"), std::string::npos);
  EXPECT_EQ(metrics.Render({}).find("process_cpu_seconds_total"), std::string::npos);
  // Long values are not cut (a fixed line buffer once dropped the sample past 100 s of CPU).
  EXPECT_NE(metrics.Render({}, 123456.75).find("\nprocess_cpu_seconds_total 123456.750000\n"), std::string::npos);
}

}  // namespace
}  // namespace speakup::server
