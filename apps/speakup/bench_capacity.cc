// `speakup bench capacity`: how many live cameras this machine serves. Starts `speakup serve` as a
// child process, then runs the load generator (in this process) with 2, 4, 6, ... clients until a
// step no longer holds: fewer than 95% of frames answered, or p95 latency above 100 ms (a failed
// step is run once more before it counts: the machine is shared). Reports the largest N that held,
// the server's CPU per stream and its memory per session, from /proc.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "speakup/loadgen.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

struct CapacityOptions {
  std::string video = std::string(SPEAKUP_TEST_DATA_DIR) + "/video/face_motion_vp8.webm";
  int start = 2, step = 2, max_clients = 64;
  double duration_s = 10;
  size_t threads = 0;  // the server's inference threads; 0 = its default (one per core)
  double min_answered = 0.95, max_p95_ms = 100;
  bool json = false;
} options;

// CPU seconds (user + system) a process has used, from /proc/PID/stat.
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

// `speakup serve` on a free loopback port, its output in a temporary file.
class ChildServer {
 public:
  ~ChildServer() { Stop(); }

  Status Start(size_t threads) {
    char log_name[] = "/tmp/speakup-capacity-XXXXXX";
    const int log_fd = mkstemp(log_name);
    if (log_fd < 0) return Status::Error("cannot create a temporary file for the server's log");
    log_path_ = log_name;
    std::vector<std::string> args = {"/proc/self/exe", "serve", "--port", "0", "--max-sessions", "1000",
                                     "--max-sessions-per-ip", "0"};
    if (threads) args.insert(args.end(), {"--threads", std::to_string(threads)});
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

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (!log_path_.empty()) std::remove(log_path_.c_str());
    log_path_.clear();
  }

  std::string Log() const {
    std::ifstream in(log_path_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  pid_t pid() const { return pid_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

struct Step {
  int clients = 0;
  double answered = 0, p50_ms = 0, p95_ms = 0;
  double server_cpu_pct = 0;  // percent of one core, over the measured window
  double loadgen_cpu_pct = 0;
  double server_rss_mib = 0;  // at the end of the window
  bool held = false;
};

Expected<Step> RunStep(const loadgen::EncodedVideo& video, const ChildServer& server, int clients) {
  loadgen::LoadOptions load;
  load.server_url = server.url();
  load.clients = clients;
  load.duration_s = options.duration_s;
  load.quiet = true;
  Step step;
  step.clients = clients;
  double server_cpu = 0, own_cpu = 0;
  auto window_start = std::chrono::steady_clock::now();
  load.on_window = [&](bool opened) {
    const auto now = std::chrono::steady_clock::now();
    if (opened) {
      window_start = now;
      server_cpu = CpuSeconds(server.pid());
      own_cpu = CpuSeconds(getpid());
      return;
    }
    const double seconds = std::chrono::duration<double>(now - window_start).count();
    step.server_cpu_pct = 100 * (CpuSeconds(server.pid()) - server_cpu) / seconds;
    step.loadgen_cpu_pct = 100 * (CpuSeconds(getpid()) - own_cpu) / seconds;
    step.server_rss_mib = RssMiB(server.pid());
  };
  auto report = loadgen::RunLoad(video, load);
  if (!report) return Error(report.error());
  step.answered = report->answered_fraction();
  step.p50_ms = report->latency.p50_ms;
  step.p95_ms = report->latency.p95_ms;
  step.held = report->clients_streamed == clients && step.answered >= options.min_answered &&
              step.p95_ms <= options.max_p95_ms;
  return step;
}

}  // namespace

void AddCapacityOptions(CLI::App* capacity) {
  capacity->add_option("--video", options.video, "Video each client sends (looped)")->capture_default_str();
  capacity->add_option("--start", options.start, "Clients in the first step")->check(CLI::Range(1, 500))->capture_default_str();
  capacity->add_option("--step", options.step, "Clients added per step")->check(CLI::Range(1, 100))->capture_default_str();
  capacity->add_option("--max-clients", options.max_clients, "Stop ramping here")->check(CLI::Range(1, 500))
      ->capture_default_str();
  capacity->add_option("--duration", options.duration_s, "Seconds measured per step")->check(CLI::Range(2.0, 600.0))
      ->capture_default_str();
  capacity->add_option("--threads", options.threads, "The server's inference threads (0: one per core)")
      ->capture_default_str();
  capacity->add_flag("--json", options.json, "Print JSON instead of text");
}

int RunCapacityBench() {
  auto video = loadgen::LoadEncodedVideo(options.video);
  if (!video) {
    std::cerr << "speakup bench capacity: " << video.error() << "\n";
    return 1;
  }
  ChildServer server;
  if (Status started = server.Start(options.threads); !started.ok()) {
    std::cerr << "speakup bench capacity: " << started.message() << "\n";
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double idle_rss = RssMiB(server.pid());
  if (!options.json) {
    std::printf("%s: %dx%d %s at %.0f fps per client; a step holds with >= %.0f%% answered and p95 <= %.0f ms\n",
                options.video.c_str(), video->width, video->height, video->codec.c_str(), video->fps,
                100 * options.min_answered, options.max_p95_ms);
    std::printf("clients  answered  p50 ms  p95 ms  server CPU  loadgen CPU  server RSS\n");
  }
  std::vector<Step> steps;
  const Step* best = nullptr;
  for (int clients = options.start; clients <= options.max_clients; clients += options.step) {
    Expected<Step> step = Error("not run");
    for (int attempt = 0; attempt < 2; ++attempt) {  // a failed step gets a second chance
      step = RunStep(*video, server, clients);
      if (!step || step->held) break;
    }
    if (!step) {
      std::cerr << "speakup bench capacity: " << step.error() << "\n";
      return 1;
    }
    steps.push_back(*step);
    if (!options.json) {
      std::printf("%7d  %7.1f%%  %6.1f  %6.1f  %9.0f%%  %10.0f%%  %7.0f MiB  %s\n", step->clients, 100 * step->answered,
                  step->p50_ms, step->p95_ms, step->server_cpu_pct, step->loadgen_cpu_pct, step->server_rss_mib,
                  step->held ? "held" : "did not hold");
      std::fflush(stdout);
    }
    if (!step->held) break;
    best = &steps.back();
    std::this_thread::sleep_for(std::chrono::seconds(1));  // sessions close
  }
  const int max_clients = best ? best->clients : 0;
  const double per_stream_cpu = best ? best->server_cpu_pct / best->clients : 0;
  const double rss_per_session = best ? (best->server_rss_mib - idle_rss) / best->clients : 0;
  const unsigned cores = std::thread::hardware_concurrency();
  if (options.json) {
    nlohmann::json out = {{"max_clients", max_clients},
                          {"per_stream_cpu_pct", per_stream_cpu},
                          {"rss_mb_per_session", rss_per_session},
                          {"idle_rss_mb", idle_rss},
                          {"cores", cores},
                          {"steps", nlohmann::json::array()}};
    for (const Step& step : steps) {
      out["steps"].push_back({{"clients", step.clients}, {"answered", step.answered}, {"p50_ms", step.p50_ms},
                              {"p95_ms", step.p95_ms}, {"server_cpu_pct", step.server_cpu_pct},
                              {"loadgen_cpu_pct", step.loadgen_cpu_pct}, {"server_rss_mb", step.server_rss_mib},
                              {"held", step.held}});
    }
    std::cout << out.dump() << "\n";
  } else {
    std::printf("capacity: %d concurrent clients held (%u cores, load generator on the same machine); server CPU "
                "%.1f%% of a core per stream, memory %.1f MiB per session (idle server %.0f MiB)\n",
                max_clients, cores, per_stream_cpu, rss_per_session, idle_rss);
  }
  return 0;
}

}  // namespace speakup::app
