// Server-wide counters and latency histograms, rendered in Prometheus' text format at /metrics.
// Updated from any thread (atomics); read by the HTTP handler on the main loop.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstddef>
#include <memory>
#include <string>

namespace speakup::server {

// A latency histogram with fixed bucket bounds in milliseconds (Prometheus "le" buckets).
class Histogram {
 public:
  static constexpr std::array<double, 12> kBoundsMs = {0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 35, 60, 100};
  void Observe(double ms);
  // Appends the _bucket, _sum and _count lines of `name` (bounds in seconds, as Prometheus wants).
  void Render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsMs.size() + 1> buckets_{};  // last: +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

// How sessions' video recovered from the network (media::PeerStats summed over every session: those
// that ended and those running), for /metrics.
struct RecoveryTotals {
  uint64_t packets_lost = 0;             // RTP packets given up by the jitter buffer
  uint64_t retransmission_requests = 0;  // packets asked for again (NACK)
  uint64_t retransmitted_received = 0;   // retransmitted packets (RTX) that arrived
  uint64_t key_frame_requests = 0;       // key-frame requests (PLI/FIR) sent to clients
  uint64_t key_frame_requests_held = 0;  // held back while one was pending
  uint64_t frames_undecoded = 0;         // frames that arrived incomplete or corrupt: no result for them

  RecoveryTotals& operator+=(const RecoveryTotals& other);
};

// What /metrics shows besides the counters, read on the main loop when it is asked for.
struct MetricsGauges {
  size_t active_sessions = 0;   // sessions that have offered
  size_t pending_sessions = 0;  // open signaling sockets that have not offered yet
  size_t open_connections = 0;  // client TCP connections
  size_t max_connections = 0;
  long open_fds = -1, max_fds = -1;  // the process's descriptors (-1: unknown)
  size_t capacity = 0;          // sessions the node takes at most (--max-sessions)
  bool draining = false;        // SIGTERM received: no new sessions
  bool ready = false;           // admits a session now (/readyz 200)
  RecoveryTotals recovery;      // counters, kept by the server over sessions that come and go
};

// CPU time spent per stage of a frame, summed over all sessions (microseconds; CPU of the thread that
// ran the stage, so other threads competing for the cores do not inflate it).
class StageCpu {
 public:
  enum Stage { kDecode, kConvert, kWarp, kInference, kResult, kCount };
  static constexpr std::array<const char*, kCount> kNames = {"decode", "convert", "warp", "inference", "result"};
  void Add(Stage stage, double ms) { micros_[stage] += static_cast<uint64_t>(std::max(0.0, ms) * 1000 + 0.5); }
  double seconds(Stage stage) const { return static_cast<double>(micros_[stage].load()) / 1e6; }

 private:
  std::array<std::atomic<uint64_t>, kCount> micros_{};
};

struct Metrics {
  std::atomic<uint64_t> sessions_started{0}, sessions_refused{0};
  // Connections refused at accept (too many), requests refused before libsoup (a body, huge
  // headers), failed accepts (out of descriptors).
  std::atomic<uint64_t> connections_refused{0}, requests_refused{0}, accept_errors{0};
  std::atomic<uint64_t> frames_in{0}, frames_processed{0}, frames_dropped{0}, results_sent{0};
  // RTCP transport-wide congestion feedback packets sent to clients (shared with every session's
  // WebRTC peer, media::WebRtcOptions::congestion_feedback_total).
  std::shared_ptr<std::atomic<uint64_t>> congestion_feedback_sent = std::make_shared<std::atomic<uint64_t>>(0);
  Histogram queue, detect, landmarks, geometry, total;
  Histogram decode, convert;  // CPU per frame of the video decoder and of the conversion to RGB
  StageCpu cpu;

  // The whole exposition; `process_cpu_seconds` < 0 leaves process_cpu_seconds_total out.
  std::string Render(const MetricsGauges& gauges, double process_cpu_seconds = -1) const;
};

}  // namespace speakup::server
