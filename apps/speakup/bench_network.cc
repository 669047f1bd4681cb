// `speakup bench network`: how the service degrades on real networks. Each step starts its own
// `speakup serve` on loopback and runs loadgen clients against it through one kind of path:
//   direct              nothing in the way;
//   loss2/loss5/loss10  that share of the clients' RTP packets dropped (seeded: runs repeat);
//   jitter30            every packet delayed by 0-60 ms (30 ms mean, +-30 ms);
//   relay               all media through Debian's coturn (deploy/coturn/turnserver.conf) on loopback;
//   cap600              the clients' uplink held to 600 kbit/s by a tbf queue, in a network namespace
//                       made for the step (`unshare -n`; needs root), results and signaling unshaped
//                       (the same shaping as tests/e2e/bandwidth_cap.mjs);
//   cap600_browser      the same cap with headless Chromium as the client (bench/e2e.mjs), which adapts
//                       its bitrate to the server's congestion feedback; measured after 10 s to settle.
// Per step: frames answered, latency p50/p95, the longest gap a client saw without results, and the
// video bitrate each client sent. loadgen sends its file as it is (it has no encoder to adapt), so
// cap600 shows what a sender that cannot slow down gets, and cap600_browser what a browser gets.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_server.h"
#include "speakup/loadgen.h"
#include "speakup/webrtc.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

struct NetworkOptions {
  int clients = 2;
  double seconds = 10;
  unsigned seed = 1;
  std::vector<std::string> steps;  // empty: all
  bool json = false;
  bool in_namespace = false;  // internal: this process is the cap step, already inside its namespace
} options;

struct Step {
  const char* name;
  double loss_pct = 0;
  int delay_ms = 0, jitter_ms = 0;
  bool relay = false;
  int cap_kbps = 0;
  bool browser = false;  // one headless Chromium instead of the loadgen clients
};
const Step kSteps[] = {
    {"direct"},
    {"loss2", 2},
    {"loss5", 5},
    {"loss10", 10},
    {"jitter30", 0, 30, 30},
    {"relay", 0, 0, 0, true},
    {"cap600", 0, 0, 0, false, 600},
    {"cap600_browser", 0, 0, 0, false, 600, true},
};
constexpr double kBrowserSettleS = 10;  // the bound for the browser's bitrate to settle under a cap

// The server's media ports in the cap step: the uplink is whatever goes to them. One block of 32
// aligned ports, which a u32 filter matches with a mask (the kernel here has no range classifier).
constexpr int kMediaPortMin = 20000, kMediaPortMax = 20031;
static_assert(kMediaPortMin % 32 == 0 && kMediaPortMax == kMediaPortMin + 31);
constexpr const char* kTurnSecret = "speakup-bench-network";

void Sleep(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// coturn on loopback, from the deployment's config with the bench's overrides (as tests/e2e/coturn.mjs).
class Coturn {
 public:
  ~Coturn() { Stop(); }
  Status Start(const std::string& work, int port) {
    port_ = port;
    const std::string log = work + "/turnserver.log";
    pid_ = fork();
    if (pid_ < 0) return Status::Error("cannot start coturn (fork failed)");
    if (pid_ == 0) {
      const std::string config = std::string(SPEAKUP_SOURCE_DIR) + "/deploy/coturn/turnserver.conf";
      std::vector<std::string> args = {"turnserver", "-c", config, "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
                                       "--listening-port=" + std::to_string(port),
                                       std::string("--static-auth-secret=") + kTurnSecret, "--realm=speakup",
                                       "--no-tls", "--no-dtls", "--min-port=21000", "--max-port=21099",
                                       "--allow-loopback-peers", "--no-cli", "--log-file=" + log,
                                       "--simple-log", "--pidfile=" + work + "/turnserver.pid",
                                       "--userdb=" + work + "/turndb"};
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      std::freopen("/dev/null", "w", stdout);
      std::freopen("/dev/null", "w", stderr);
      execvp("turnserver", argv.data());
      _exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (ReadFile(log).find("Total General servers") != std::string::npos) return Status::Ok();
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return Status::Error("coturn did not start (is it installed? `make setup` installs it): " + ReadFile(log));
      }
      Sleep(0.1);
    }
    return Status::Error("coturn did not start within 10 s: " + ReadFile(log));
  }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 30 && waitpid(pid_, nullptr, WNOHANG) == 0; ++i) Sleep(0.1);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  std::string url() const { return "turn:127.0.0.1:" + std::to_string(port_) + "?transport=udp"; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// Inside the step's own network namespace: loopback up, and the packets to the server's media ports
// (the clients' uplink) through a tbf queue of `kbps`; results and signaling unshaped (they share lo).
Status ShapeUplink(int kbps) {
  const std::string commands =
      "set -e; ip link set lo up; "
      "tc qdisc add dev lo root handle 1: htb default 1; "
      "tc class add dev lo parent 1: classid 1:1 htb rate 1gbit quantum 60000; "
      "tc class add dev lo parent 1: classid 1:10 htb rate 1gbit quantum 60000; "
      "tc qdisc add dev lo parent 1:10 handle 10: tbf rate " + std::to_string(kbps) +
      "kbit burst 32kbit latency 400ms; "
      "tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff match ip dport " +
      std::to_string(kMediaPortMin) + " 0xffe0 flowid 1:10";
  if (std::system(("sh -c \"" + commands + "\" > /dev/null 2>&1").c_str()) != 0) {
    return Status::Error("cannot shape loopback in the namespace (needs ip and tc from iproute2, and root)");
  }
  return Status::Ok();
}

// This program's path, to run it again (in a namespace) or hand it to a script.
Expected<std::string> ThisProgram() {
  std::error_code error;
  std::string path = std::filesystem::read_symlink("/proc/self/exe", error).string();
  if (error) return Error("cannot find this program's path (/proc/self/exe)");
  return path;
}

// Runs `command` (its stderr passes through) and returns the last line it printed; `failed` if it
// cannot run or exits with an error.
Expected<std::string> LastLineOf(const std::string& command, const std::string& failed) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return Error(failed);
  std::string text;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) text.append(buffer, n);
  if (pclose(pipe) != 0) return Error(failed);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.substr(text.rfind('\n') + 1);
}

// The step as the schema describes it; each run adds its figures.
nlohmann::json StepJson(const Step& step) {
  return {{"name", step.name},        {"loss_pct", step.loss_pct}, {"delay_ms", step.delay_ms},
          {"jitter_ms", step.jitter_ms}, {"relay", step.relay},     {"cap_kbps", step.cap_kbps}};
}

// Runs `self bench network --in-namespace --step NAME ...` under `unshare -n` and returns its JSON step.
Expected<nlohmann::json> RunInNamespace(const Step& step) {
  auto self = ThisProgram();
  if (!self) return Error(self.error());
  auto line = LastLineOf("unshare -n '" + *self + "' bench network --in-namespace --json --step " + step.name +
                             " --clients " + std::to_string(options.clients) + " --seconds " +
                             std::to_string(options.seconds) + " --seed " + std::to_string(options.seed),
                         "the step in its network namespace failed (unshare -n needs root; see the messages above)");
  if (!line) return Error(line.error());
  try {
    nlohmann::json parsed = nlohmann::json::parse(*line);
    if (parsed.contains("steps") && parsed["steps"].size() == 1) return parsed["steps"][0];
  } catch (const nlohmann::json::exception&) {
  }
  return Error("the step in its network namespace printed no result");
}

std::string MediaPorts() { return std::to_string(kMediaPortMin) + "-" + std::to_string(kMediaPortMax); }

// Headless Chromium through `speakup serve` (bench/e2e.mjs, which starts both) for options.seconds
// after kBrowserSettleS; the step's figures from its JSON.
Expected<nlohmann::json> RunBrowser(const Step& step) {
  auto self = ThisProgram();
  if (!self) return Error(self.error());
  const std::string command = "node '" + std::string(SPEAKUP_SOURCE_DIR) + "/bench/e2e.mjs' --bin '" + *self +
                              "' --duration " + std::to_string(static_cast<int>(options.seconds)) + " --warmup " +
                              std::to_string(static_cast<int>(kBrowserSettleS)) + " --udp-ports " + MediaPorts() +
                              " --json";
  auto line = LastLineOf(command, "bench/e2e.mjs failed (Chromium and node are installed by `make setup`)");
  if (!line) return Error(line.error());
  nlohmann::json run;
  try {
    run = nlohmann::json::parse(*line);
  } catch (const nlohmann::json::exception&) {
    return Error("bench/e2e.mjs printed no result: " + *line);
  }
  const auto number = [&](const nlohmann::json& value) { return value.is_number() ? value.get<double>() : 0.0; };
  nlohmann::json out = StepJson(step);
  out.update({{"clients", 1},
              {"clients_streamed", number(run["results"]) > 0 ? 1 : 0},
              {"client", "chromium"},
              {"settle_s", kBrowserSettleS},
              {"answered_pct", number(run["answered_pct"])},
              {"p50_ms", number(run["latency_ms"]["p50"])},
              {"p95_ms", number(run["latency_ms"]["p95"])},
              {"max_gap_ms", number(run["max_gap_ms"])},
              {"sent_kbps", number(run["sent_kbps"])},
              {"errors", nlohmann::json::array()}});
  return out;
}

Expected<nlohmann::json> RunStep(const loadgen::EncodedVideo& video, const Step& step, const std::string& work) {
  std::vector<std::string> serve_flags;
  Coturn coturn;
  if (step.relay) {
    SPEAKUP_RETURN_IF_ERROR(coturn.Start(work, FreeLoopbackPort()));
    serve_flags = {"--ice-server", coturn.url(), "--turn-secret", kTurnSecret};
  }
  if (step.cap_kbps > 0) {
    SPEAKUP_RETURN_IF_ERROR(ShapeUplink(step.cap_kbps));
    serve_flags = {"--udp-ports", MediaPorts()};
  }
  if (step.browser) return RunBrowser(step);
  ChildServer server;
  SPEAKUP_RETURN_IF_ERROR(server.Start(1, 0, serve_flags));
  loadgen::LoadOptions load;
  load.server_url = server.url();
  load.clients = options.clients;
  load.duration_s = options.seconds;
  load.quiet = true;
  load.relay = step.relay;
  load.loss_pct = step.loss_pct;
  load.delay_ms = step.delay_ms;
  load.jitter_ms = step.jitter_ms;
  load.seed = options.seed;
  auto report = loadgen::RunLoad(video, load);
  media::JoinIdleStreamingThreads();
  if (!report) return Error(report.error());
  std::vector<std::string> errors;
  for (const auto& client : report->per_client) errors.insert(errors.end(), client.errors.begin(), client.errors.end());
  nlohmann::json out = StepJson(step);
  out.update({{"clients", options.clients},
              {"clients_streamed", report->clients_streamed},
              {"client", "loadgen"},
              {"answered_pct", 100 * report->answered_fraction()},
              {"p50_ms", report->latency.p50_ms},
              {"p95_ms", report->latency.p95_ms},
              {"max_gap_ms", MaxGapMs(*report)},
              {"sent_kbps", report->sent_kbps_per_client()},
              {"path_packets", report->path_packets},
              {"path_dropped", report->path_dropped},
              {"keyframes_on_request", report->keyframes_on_request},
              {"errors", errors}});
  return out;
}

}  // namespace

void AddNetworkOptions(CLI::App* command) {
  command->add_option("--clients", options.clients, "loadgen clients per step")->check(CLI::Range(1, 16))
      ->capture_default_str();
  command->add_option("--seconds", options.seconds, "Measured seconds per step")->check(CLI::Range(2.0, 120.0))
      ->capture_default_str();
  command->add_option("--seed", options.seed, "Seed of the loss and delay draws (the same seed, the same pattern)")
      ->capture_default_str();
  command->add_option("--step", options.steps,
                      "Steps to run (default all): direct, loss2, loss5, loss10, jitter30, relay, cap600, cap600_browser")
      ->check(CLI::IsMember({"direct", "loss2", "loss5", "loss10", "jitter30", "relay", "cap600", "cap600_browser"}));
  command->add_flag("--json", options.json, "Print JSON instead of a table");
  command->add_flag("--in-namespace", options.in_namespace, "(internal) run inside the step's network namespace")
      ->group("");
}

int RunNetworkBench() {
  auto fail = [](const std::string& message) {
    std::cerr << "speakup bench network: " << message << "\n";
    return 1;
  };
  auto video = LoadVideoForCodec("vp8");
  if (!video) return fail(video.error());
  char work_dir[] = "/tmp/speakup-network-XXXXXX";
  if (!mkdtemp(work_dir)) return fail("cannot make a temporary folder");
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{work_dir};

  nlohmann::json steps = nlohmann::json::array();
  bool all_ran = true;
  for (const Step& step : kSteps) {
    if (!options.steps.empty() &&
        std::find(options.steps.begin(), options.steps.end(), step.name) == options.steps.end()) {
      continue;
    }
    Expected<nlohmann::json> result = (step.cap_kbps > 0 && !options.in_namespace) ? RunInNamespace(step)
                                                                                    : RunStep(*video, step, work_dir);
    if (!result) {
      std::cerr << "speakup bench network: step " << step.name << ": " << result.error() << "\n";
      steps.push_back({{"name", step.name}, {"error", result.error()}});
      all_ran = false;
      continue;
    }
    steps.push_back(std::move(*result));
  }
  const nlohmann::json out = {{"clients", options.clients}, {"seconds", options.seconds}, {"seed", options.seed},
                              {"steps", steps}};
  if (options.json) {
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%d loadgen clients per step (VP8 640x480, sent as in the file), %.0f s each, seed %u, loopback:\n",
                options.clients, options.seconds, options.seed);
    std::printf("%-14s %6s %6s %5s %6s %9s %7s %7s %8s %9s\n", "step", "loss%", "jitter", "relay", "cap", "answered",
                "p50 ms", "p95 ms", "max gap", "sent kbps");
    for (const nlohmann::json& step : steps) {
      if (step.contains("error")) {
        std::printf("%-14s error: %s\n", step["name"].get<std::string>().c_str(), step["error"].get<std::string>().c_str());
        continue;
      }
      std::printf("%-14s %6.1f %6d %5s %6d %8.1f%% %7.1f %7.1f %8.0f %9.0f\n", step["name"].get<std::string>().c_str(),
                  step["loss_pct"].get<double>(), step["jitter_ms"].get<int>(), step["relay"].get<bool>() ? "yes" : "no",
                  step["cap_kbps"].get<int>(), step["answered_pct"].get<double>(), step["p50_ms"].get<double>(),
                  step["p95_ms"].get<double>(), step["max_gap_ms"].get<double>(), step["sent_kbps"].get<double>());
    }
  }
  return all_ran ? 0 : 1;
}

}  // namespace speakup::app
