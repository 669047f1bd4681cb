#include "metrics.h"

#include <cstdio>

namespace speakup::server {

void Histogram::Observe(double ms) {
  size_t bucket = 0;
  while (bucket < kBoundsMs.size() && ms > kBoundsMs[bucket]) ++bucket;
  buckets_[bucket]++;
  count_++;
  sum_us_ += static_cast<uint64_t>(ms * 1000 + 0.5);
}

void Histogram::Render(std::string& out, const std::string& name, const std::string& help) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  char line[160];
  for (size_t i = 0; i <= kBoundsMs.size(); ++i) {
    cumulative += buckets_[i];
    if (i < kBoundsMs.size()) {
      std::snprintf(line, sizeof(line), "%s_bucket{le=\"%g\"} %llu\n", name.c_str(), kBoundsMs[i] / 1000,
                    static_cast<unsigned long long>(cumulative));
    } else {
      std::snprintf(line, sizeof(line), "%s_bucket{le=\"+Inf\"} %llu\n", name.c_str(),
                    static_cast<unsigned long long>(cumulative));
    }
    out += line;
  }
  std::snprintf(line, sizeof(line), "%s_sum %.6f\n%s_count %llu\n", name.c_str(), sum_us_ / 1e6, name.c_str(),
                static_cast<unsigned long long>(count_.load()));
  out += line;
}

RecoveryTotals& RecoveryTotals::operator+=(const RecoveryTotals& other) {
  packets_lost += other.packets_lost;
  retransmission_requests += other.retransmission_requests;
  retransmitted_received += other.retransmitted_received;
  key_frame_requests += other.key_frame_requests;
  key_frame_requests_held += other.key_frame_requests_held;
  frames_undecoded += other.frames_undecoded;
  return *this;
}

std::string Metrics::Render(const MetricsGauges& gauges, double process_cpu_seconds) const {
  std::string out;
  auto counter = [&](const char* name, const char* help, uint64_t value, const char* type = "counter") {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(value) + "\n";
  };
  counter("speakup_sessions_active", "Sessions (clients that have offered) now.", gauges.active_sessions, "gauge");
  counter("speakup_sessions_pending", "Signaling connections that have not offered yet.", gauges.pending_sessions, "gauge");
  counter("speakup_sessions_capacity", "Sessions this node takes at most (--max-sessions).", gauges.capacity, "gauge");
  counter("speakup_draining", "1 while the node drains before stopping (no new sessions).", gauges.draining, "gauge");
  counter("speakup_ready", "1 while the node admits new sessions (/readyz answers 200).", gauges.ready, "gauge");
  counter("speakup_connections_open", "Client TCP connections now.", gauges.open_connections, "gauge");
  counter("speakup_connections_max", "Most client TCP connections at once (--max-connections).", gauges.max_connections, "gauge");
  counter("speakup_connections_refused_total", "Connections closed at once: too many in all or from one address.",
          connections_refused);
  counter("speakup_requests_refused_total", "Requests refused before reaching a handler: a body, oversized headers.",
          requests_refused);
  counter("speakup_accept_errors_total", "Failed accepts (out of file descriptors); accepting resumes 100 ms later.",
          accept_errors);
  if (gauges.open_fds >= 0) {
    counter("process_open_fds", "Number of open file descriptors.", static_cast<uint64_t>(gauges.open_fds), "gauge");
  }
  if (gauges.max_fds >= 0) {
    counter("process_max_fds", "Maximum number of open file descriptors.", static_cast<uint64_t>(gauges.max_fds), "gauge");
  }
  counter("speakup_sessions_started_total", "Sessions started.", sessions_started);
  counter("speakup_sessions_refused_total", "Clients refused because the server was full.", sessions_refused);
  counter("speakup_frames_in_total", "Decoded frames received from clients.", frames_in);
  counter("speakup_frames_processed_total", "Frames run through the face pipeline.", frames_processed);
  const RecoveryTotals& recovery = gauges.recovery;
  counter("speakup_rtp_packets_lost_total",
          "Incoming RTP packets lost for good: not arrived, nor retransmitted within the jitter buffer's latency.",
          recovery.packets_lost);
  counter("speakup_rtp_nacks_sent_total", "Incoming RTP packets asked for again (NACK) after a gap.",
          recovery.retransmission_requests);
  counter("speakup_rtp_retransmitted_packets_received_total", "Retransmitted RTP packets (RTX) received.",
          recovery.retransmitted_received);
  counter("speakup_keyframe_requests_total",
          "Key-frame requests sent for clients' video (at the start, after a loss that could not be repaired, on "
          "decoder errors); at most one per 300 ms while none has come.",
          recovery.key_frame_requests);
  counter("speakup_keyframe_requests_held_total",
          "Key-frame requests held back because one was pending (the depayloader asks per packet and frame it "
          "cannot use).",
          recovery.key_frame_requests_held);
  counter("speakup_frames_undecoded_total",
          "Frames that arrived incomplete or corrupt and were never decoded: no result is sent for them.",
          recovery.frames_undecoded);
  counter("speakup_frames_dropped_total", "Frames replaced by a newer one before a worker took them.", frames_dropped);
  counter("speakup_results_sent_total", "Result messages sent on data channels.", results_sent);
  counter("speakup_rtcp_congestion_feedback_total",
          "RTCP transport-wide congestion feedback packets (PT 205, FMT 15) sent to clients' browsers.",
          congestion_feedback_sent->load());
  queue.Render(out, "speakup_queue_seconds", "Frame decoded to processing started.");
  detect.Render(out, "speakup_detect_seconds", "Face detection per frame (0 when tracking).");
  landmarks.Render(out, "speakup_landmarks_seconds", "Warp and landmarks (and blendshapes) per frame.");
  geometry.Render(out, "speakup_geometry_seconds", "Head pose per frame.");
  total.Render(out, "speakup_frame_seconds", "Frame decoded to result sent.");
  decode.Render(out, "speakup_decode_seconds", "Video decoder CPU time per frame.");
  convert.Render(out, "speakup_convert_seconds", "CPU time per frame from the decoder's output to an RGB frame.");
  char line[160];
  if (process_cpu_seconds >= 0) {
    out += "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
           "# TYPE process_cpu_seconds_total counter\n";
    std::snprintf(line, sizeof(line), "process_cpu_seconds_total %.6f\n", process_cpu_seconds);
    out += line;
  }
  out += "# HELP speakup_cpu_seconds_total CPU time per frame stage, all sessions (the rest of the process's CPU "
         "is WebRTC, signaling and other).\n# TYPE speakup_cpu_seconds_total counter\n";
  for (int stage = 0; stage < StageCpu::kCount; ++stage) {
    std::snprintf(line, sizeof(line), "speakup_cpu_seconds_total{stage=\"%s\"} %.6f\n", StageCpu::kNames[stage],
                  cpu.seconds(static_cast<StageCpu::Stage>(stage)));
    out += line;
  }
  return out;
}

}  // namespace speakup::server
