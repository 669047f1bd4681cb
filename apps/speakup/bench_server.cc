#include "bench_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

namespace speakup::app {

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t end_of_name = text.rfind(')');  // the command name may hold spaces
  if (end_of_name == std::string::npos) return 0;
  std::istringstream fields(text.substr(end_of_name + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int index = 3; fields >> field; ++index) {  // field 3 is the state
    if (index == 14) utime = std::stoull(field);
    if (index == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double RssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

ThreadStats ThreadStatsOf(pid_t pid) {
  ThreadStats stats;
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
    std::ifstream in(task.path() / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        stats.context_switches += std::stod(line.substr(line.find(':') + 1));
      }
    }
    ++stats.threads;
  }
  return stats;
}

Status ChildServer::Start(size_t threads, int port, const std::vector<std::string>& extra) {
  char log_name[] = "/tmp/speakup-bench-server-XXXXXX";
  const int log_fd = mkstemp(log_name);
  if (log_fd < 0) return Status::Error("cannot create a temporary file for the server's log");
  log_path_ = log_name;
  std::vector<std::string> args = {"/proc/self/exe", "serve", "--port", std::to_string(port)};
  // The defaults for a benchmark's server, unless `extra` names the flag (serve takes each once).
  const std::pair<const char*, std::string> defaults[] = {
      {"--max-sessions", "1000"}, {"--max-sessions-per-ip", "0"}, {"--drain-seconds", "0"}};
  for (const auto& [flag, value] : defaults) {
    if (std::find(extra.begin(), extra.end(), flag) == extra.end()) args.insert(args.end(), {flag, value});
  }
  if (threads) args.insert(args.end(), {"--threads", std::to_string(threads)});
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ < 0) return Status::Error("cannot start the server (fork failed)");
  if (pid_ == 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  const std::regex listening(R"(listening on \S+:(\d+)/)");
  for (int i = 0; i < 300; ++i) {
    std::smatch match;
    const std::string log = Log();
    if (std::regex_search(log, match, listening)) {
      port_ = std::stoi(match[1]);
      return Status::Ok();
    }
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Error("the server exited at start: " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Error("the server did not start within 30 s: " + Log());
}

int ChildServer::Signal(int signal, int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

void ChildServer::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (!log_path_.empty()) std::remove(log_path_.c_str());
  log_path_.clear();
}

std::string ChildServer::Log() const {
  std::ifstream in(log_path_);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

namespace {

// GET `path` from the child server on loopback (HTTP/1.0: the answer ends when the socket closes);
// the status line's code and the body.
struct HttpAnswer {
  int status = 0;
  std::string body;
};
Expected<HttpAnswer> Get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error("cannot open a socket to read /metrics");
  timeval timeout{15, 0};  // an overloaded server answers late
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buffer[16384];
      while (true) {
        const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) {
          response.append(buffer, static_cast<size_t>(n));
        } else if (n < 0 && errno == EINTR) {
          continue;  // a signal (a child process ending), not the end of the answer
        } else {
          break;
        }
      }
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12 || body == std::string::npos) {
    return Error("the server did not answer GET " + path + " (" + std::to_string(response.size()) + " bytes)");
  }
  HttpAnswer answer;
  answer.status = std::atoi(response.c_str() + 9);
  std::string headers = response.substr(0, body);
  for (char& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (headers.find("transfer-encoding: chunked") == std::string::npos) {
    const size_t length_at = headers.find("content-length:");
    if (length_at != std::string::npos &&
        std::strtoul(headers.c_str() + length_at + 15, nullptr, 10) != response.size() - body - 4) {
      return Error(path + ": the answer was cut short (" + std::to_string(response.size() - body - 4) + " bytes)");
    }
    answer.body = response.substr(body + 4);
    return answer;
  }
  // Chunked: size line, data, CRLF, ... until a zero size.
  std::string text;
  for (size_t at = body + 4;;) {
    const size_t line_end = response.find("\r\n", at);
    if (line_end == std::string::npos) return Error(path + ": a chunked answer ended early");
    const size_t size = std::strtoul(response.c_str() + at, nullptr, 16);
    if (size == 0) {
      answer.body = text;
      return answer;
    }
    if (line_end + 2 + size > response.size()) return Error(path + ": a chunked answer ended early");
    text.append(response, line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
}

}  // namespace

// The samples of /metrics by name with labels ("speakup_cpu_seconds_total{stage=\"decode\"}").
static Expected<std::map<std::string, double>> GetMetrics(int port) {
  auto answer = Get(port, "/metrics");
  if (!answer) return Error(answer.error());
  if (answer->status != 200) return Error("GET /metrics answered " + std::to_string(answer->status));
  std::map<std::string, double> samples;
  std::istringstream lines(answer->body);
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.rfind(' ');
    if (line.empty() || line[0] == '#' || space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return samples;
}

double MaxGapMs(const loadgen::LoadReport& report) {
  double gap = 0;
  for (const auto& client : report.per_client) gap = std::max(gap, client.max_gap_ms);
  return gap;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

int HttpStatus(int port, const std::string& path) {
  auto answer = Get(port, path);
  return answer ? answer->status : 0;
}

Expected<double> FetchMetric(int port, const std::string& name) {
  auto samples = GetMetrics(port);
  if (!samples) return Error(samples.error());
  const auto found = samples->find(name);
  if (found == samples->end()) return Error("/metrics has no " + name);
  return found->second;
}

Expected<ServerCounters> FetchCounters(int port) {
  auto samples = GetMetrics(port);
  if (!samples) return Error(samples.error());
  ServerCounters counters;
  const std::pair<const char*, double ServerCounters::*> names[] = {
      {"process_cpu_seconds_total", &ServerCounters::process_cpu_s},
      {"speakup_cpu_seconds_total{stage=\"decode\"}", &ServerCounters::decode_s},
      {"speakup_cpu_seconds_total{stage=\"convert\"}", &ServerCounters::convert_s},
      {"speakup_cpu_seconds_total{stage=\"warp\"}", &ServerCounters::warp_s},
      {"speakup_cpu_seconds_total{stage=\"inference\"}", &ServerCounters::inference_s},
      {"speakup_cpu_seconds_total{stage=\"result\"}", &ServerCounters::result_s},
      {"speakup_frames_in_total", &ServerCounters::frames_in},
      {"speakup_frames_processed_total", &ServerCounters::frames_processed},
  };
  std::string missing;
  for (const auto& [name, field] : names) {
    const auto found = samples->find(name);
    if (found == samples->end()) {
      missing += std::string(missing.empty() ? "" : ", ") + name;
    } else {
      counters.*field = found->second;
    }
  }
  if (!missing.empty()) {
    return Error("/metrics (" + std::to_string(samples->size()) + " samples) lacks " + missing +
                 ": is the server this program's own version?");
  }
  return counters;
}

StageShares Difference(const ServerCounters& before, const ServerCounters& after, double divisor) {
  StageShares s;
  if (divisor <= 0) return s;
  s.decode = (after.decode_s - before.decode_s) / divisor;
  s.convert = (after.convert_s - before.convert_s) / divisor;
  s.warp = (after.warp_s - before.warp_s) / divisor;
  s.inference = (after.inference_s - before.inference_s) / divisor;
  s.result = (after.result_s - before.result_s) / divisor;
  s.total = (after.process_cpu_s - before.process_cpu_s) / divisor;
  s.webrtc_other = s.total - s.decode - s.convert - s.warp - s.inference - s.result;
  return s;
}

namespace {

Expected<std::string> VideoForCodec(const std::string& codec, const std::string& work_dir) {
  const std::string source = std::string(SPEAKUP_TEST_DATA_DIR) + "/video/face_motion.mp4";
  std::string encoder, file;
  if (codec == "vp8") return std::string(SPEAKUP_TEST_DATA_DIR) + "/video/face_motion_vp8.webm";
  if (codec == "vp9") {
    encoder = "vp9enc deadline=1 cpu-used=8 target-bitrate=1000000 keyframe-max-dist=60 lag-in-frames=0 ! webmmux";
    file = work_dir + "/face_motion_vp9.webm";
  } else if (codec == "h264") {
    encoder = "x264enc tune=zerolatency speed-preset=veryfast bitrate=1000 key-int-max=60 bframes=0 ! "
              "video/x-h264,profile=constrained-baseline ! h264parse ! mp4mux";
    file = work_dir + "/face_motion_h264.mp4";
  } else {
    return Error("unknown codec '" + codec + "' (vp8, vp9 or h264)");
  }
  const std::string command = "gst-launch-1.0 -q filesrc location='" + source + "' ! decodebin ! videoconvert ! " +
                              encoder + " ! filesink location='" + file + "' > /dev/null 2>&1";
  if (std::system(command.c_str()) != 0) {
    return Error("cannot encode the test video as " + codec + " (needs gst-launch-1.0 and GStreamer's " +
                 (codec == "vp9" ? "vp9enc" : "x264enc") + "; run `make setup`)");
  }
  return file;
}

}  // namespace

Expected<loadgen::EncodedVideo> LoadVideoForCodec(const std::string& codec) {
  char work_dir[] = "/tmp/speakup-bench-video-XXXXXX";
  if (!mkdtemp(work_dir)) return Error("cannot make a temporary folder");
  auto path = VideoForCodec(codec, work_dir);
  auto video = path ? loadgen::LoadEncodedVideo(*path) : Expected<loadgen::EncodedVideo>(Error(path.error()));
  std::filesystem::remove_all(work_dir);  // the frames are in memory now
  return video;
}

}  // namespace speakup::app
