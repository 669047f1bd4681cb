// What the server benchmarks share: `speakup serve` as a child process on a loopback port, its CPU
// and memory from /proc, its own per-stage CPU counters from /metrics, and the test video in the
// codec a benchmark asks for.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "speakup/loadgen.h"
#include "speakup/status.h"

namespace speakup::app {

// CPU seconds (user + system) a process has used, from /proc/PID/stat.
double CpuSeconds(pid_t pid);
double RssMiB(pid_t pid);
// Context switches (voluntary + involuntary) of all of a process's threads now alive, and their count.
struct ThreadStats {
  double context_switches = 0;
  int threads = 0;
};
ThreadStats ThreadStatsOf(pid_t pid);

// `speakup serve` on a free loopback port, its output in a temporary file.
class ChildServer {
 public:
  ChildServer() = default;
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;
  ~ChildServer() { Stop(); }

  // port 0: any free one. `extra`: more `serve` flags, each "--flag", "value" (a flag named there
  // replaces the benchmark's default for it).
  Status Start(size_t threads, int port = 0, const std::vector<std::string>& extra = {});
  void Stop();
  // Sends `signal` and waits up to `timeout_ms` for the exit; its status (-1: still running or gone).
  int Signal(int signal, int timeout_ms);
  std::string Log() const;
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

// The server's CPU counters at one moment (/metrics).
struct ServerCounters {
  double process_cpu_s = 0;
  double decode_s = 0, convert_s = 0, warp_s = 0, inference_s = 0, result_s = 0;
  double frames_in = 0, frames_processed = 0;
};
Expected<ServerCounters> FetchCounters(int port);
// One unlabelled sample of /metrics (e.g. speakup_sessions_active).
Expected<double> FetchMetric(int port, const std::string& name);
// The longest time any client of a load run went without a result (streaming or not).
double MaxGapMs(const loadgen::LoadReport& report);
// A loopback TCP port nobody listens on now (bound and released: take it at once). 0: none found.
int FreeLoopbackPort();
// The HTTP status of GET `path` on loopback:port (0: no answer).
int HttpStatus(int port, const std::string& path);

// CPU per stage between two readings, in percent of one core per stream (capacity) or in ms per
// frame (stream cost); "webrtc_other" is the process's CPU the stages do not account for: RTP,
// SRTP/DTLS, the jitter buffer, GLib and GStreamer scheduling, signaling.
struct StageShares {
  double decode = 0, convert = 0, warp = 0, inference = 0, result = 0, webrtc_other = 0, total = 0;
};
StageShares Difference(const ServerCounters& before, const ServerCounters& after, double divisor);

// The face video the load generator sends, loaded: tests/data/video/face_motion_vp8.webm for "vp8";
// for "vp9" and "h264", the same video encoded as a browser would send it (no frames held back, a
// key frame every 2 s, ~1 Mbit/s).
Expected<loadgen::EncodedVideo> LoadVideoForCodec(const std::string& codec);

}  // namespace speakup::app
