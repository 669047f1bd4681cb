// `speakup bench cluster`: several `speakup serve` nodes behind HAProxy (deploy/haproxy.cfg itself),
// with `speakup loadgen --reconnect` clients through the balancer, on this machine (loopback only,
// bounded in time). Three runs, each with fresh clients:
//   spread     how the clients fall on the nodes, and how many of their frames are answered;
//   rolling    each node in turn is sent SIGTERM (it drains, then tells its clients to reconnect),
//              restarted on its port and waited for until /readyz: the longest gap a client saw
//              without results, and the share of frames not answered;
//   failover   one node is killed (SIGKILL): how many of its clients are back on the others, and
//              after how long.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_server.h"
#include "speakup/loadgen.h"
#include "speakup/webrtc.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

using Clock = std::chrono::steady_clock;

struct ClusterOptions {
  int nodes = 3;
  int clients = 9;
  int drain_seconds = 3;
  double spread_s = 8;
  bool json = false;
} options;

void Sleep(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

bool WaitUntil(double seconds, const std::function<bool()>& condition) {
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    if (condition()) return true;
    Sleep(0.1);
  }
  return condition();
}

// HAProxy with deploy/haproxy.cfg, its addresses from the environment.
class Balancer {
 public:
  ~Balancer() { Stop(); }
  Status Start(const std::vector<int>& node_ports, int http_port, int https_port, const std::string& work) {
    if (node_ports.size() != 3) return Status::Error("deploy/haproxy.cfg names three nodes");
    const std::string pem = work + "/speakup.pem";
    const std::string make_pem = "openssl req -x509 -newkey rsa:2048 -nodes -keyout '" + work + "/key.pem' -out '" +
                                 work + "/cert.pem' -days 1 -subj /CN=localhost > /dev/null 2>&1 && cat '" + work +
                                 "/cert.pem' '" + work + "/key.pem' > '" + pem + "'";
    if (std::system(make_pem.c_str()) != 0) return Status::Error("cannot make a TLS certificate (needs openssl)");
    pid_ = fork();
    if (pid_ < 0) return Status::Error("cannot start haproxy (fork failed)");
    if (pid_ == 0) {
      setenv("SPEAKUP_HTTP_BIND", ("127.0.0.1:" + std::to_string(http_port)).c_str(), 1);
      setenv("SPEAKUP_HTTPS_BIND", ("127.0.0.1:" + std::to_string(https_port)).c_str(), 1);
      setenv("SPEAKUP_TLS_PEM", pem.c_str(), 1);
      for (size_t i = 0; i < node_ports.size(); ++i) {
        setenv(("SPEAKUP_NODE" + std::to_string(i + 1)).c_str(), ("127.0.0.1:" + std::to_string(node_ports[i])).c_str(), 1);
      }
      const std::string config = std::string(SPEAKUP_SOURCE_DIR) + "/deploy/haproxy.cfg";
      std::freopen("/dev/null", "w", stdout);
      std::freopen((work + "/haproxy.log").c_str(), "w", stderr);
      execlp("haproxy", "haproxy", "-db", "-f", config.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (!WaitUntil(10, [&] { return HttpStatus(http_port, "/readyz") == 200; })) {
      return Status::Error("haproxy did not come up (is it installed? `make setup`)");
    }
    Sleep(2.5);  // every node passes its first two health checks
    return Status::Ok();
  }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

class Cluster {
 public:
  Status Start(const std::string& work) {
    ports_.clear();
    for (int i = 0; i < options.nodes; ++i) ports_.push_back(FreeLoopbackPort());
    nodes_.resize(options.nodes);
    for (int i = 0; i < options.nodes; ++i) SPEAKUP_RETURN_IF_ERROR(StartNode(i));
    http_port_ = FreeLoopbackPort();
    return balancer_.Start(ports_, http_port_, FreeLoopbackPort(), work);
  }
  Status StartNode(int i) {
    nodes_[i] = std::make_unique<ChildServer>();
    return nodes_[i]->Start(1, ports_[i], {"--drain-seconds", std::to_string(options.drain_seconds)});
  }
  std::vector<int> Sessions() const {
    std::vector<int> sessions;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      auto active = nodes_[i]->pid() > 0 ? FetchMetric(ports_[i], "speakup_sessions_active") : Expected<double>(0.0);
      sessions.push_back(active ? static_cast<int>(*active) : 0);
    }
    return sessions;
  }
  ChildServer& node(int i) { return *nodes_[i]; }
  int port(int i) const { return ports_[i]; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(http_port_) + "/"; }

 private:
  std::vector<int> ports_;
  std::vector<std::unique_ptr<ChildServer>> nodes_;
  int http_port_ = 0;
  Balancer balancer_;
};

// Runs loadgen through the balancer on its own thread while `during` acts on the cluster once the
// clients stream; returns loadgen's report.
Expected<loadgen::LoadReport> RunWith(const loadgen::EncodedVideo& video, const Cluster& cluster, double seconds,
                                      const std::function<void()>& during) {
  loadgen::LoadOptions load;
  load.server_url = cluster.url();
  load.clients = options.clients;
  load.duration_s = seconds;
  load.reconnect = true;
  load.quiet = true;
  std::atomic<bool> streaming{false};
  load.on_window = [&](bool opened) {
    if (opened) streaming = true;
  };
  Expected<loadgen::LoadReport> report = Error("not run");
  std::thread run([&] { report = loadgen::RunLoad(video, load); });
  WaitUntil(30, [&] { return streaming.load(); });
  if (streaming) during();
  run.join();
  return report;
}

}  // namespace

void AddClusterOptions(CLI::App* command) {
  command->add_option("--nodes", options.nodes, "Nodes behind the balancer (deploy/haproxy.cfg names three)")
      ->check(CLI::Range(3, 3))
      ->capture_default_str();
  command->add_option("--clients", options.clients, "Clients through the balancer")->check(CLI::Range(3, 30))
      ->capture_default_str();
  command->add_option("--drain-seconds", options.drain_seconds, "Each node's --drain-seconds in the rolling restart")
      ->check(CLI::Range(1, 30))
      ->capture_default_str();
  command->add_flag("--json", options.json, "Print JSON instead of text");
}

int RunClusterBench() {
  auto fail = [](const std::string& message) {
    std::cerr << "speakup bench cluster: " << message << "\n";
    return 1;
  };
  auto video = LoadVideoForCodec("vp8");
  if (!video) return fail(video.error());
  char work_dir[] = "/tmp/speakup-cluster-XXXXXX";
  if (!mkdtemp(work_dir)) return fail("cannot make a temporary folder");
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{work_dir};
  Cluster cluster;
  if (Status started = cluster.Start(work_dir); !started.ok()) return fail(started.message());
  const auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };

  // 1. Spread.
  std::vector<int> spread;
  auto spread_report = RunWith(*video, cluster, options.spread_s, [&] {
    Sleep(2);
    spread = cluster.Sessions();
  });
  if (!spread_report) return fail(spread_report.error());

  // 2. Rolling restart: each node drains, exits, comes back, and is ready again before the next.
  const double per_node_s = options.drain_seconds + 6;
  bool rolled = true;
  auto rolling_report = RunWith(*video, cluster, 2 + per_node_s * options.nodes + 2, [&] {
    Sleep(2);
    for (int i = 0; i < options.nodes; ++i) {
      const int status = cluster.node(i).Signal(SIGTERM, (options.drain_seconds + 5) * 1000);
      rolled = rolled && status == 0;
      rolled = rolled && cluster.StartNode(i).ok();
      rolled = rolled && WaitUntil(10, [&] { return HttpStatus(cluster.port(i), "/readyz") == 200; });
      Sleep(2.5);  // the balancer's two good checks
    }
  });
  if (!rolling_report) return fail(rolling_report.error());

  // 3. Failover: the node with the most clients dies.
  int victim = 0, affected = 0;
  double back_after_s = -1;
  std::vector<int> after_failover;
  auto failover_report = RunWith(*video, cluster, 14, [&] {
    Sleep(2);
    const std::vector<int> before = cluster.Sessions();
    victim = static_cast<int>(std::max_element(before.begin(), before.end()) - before.begin());
    affected = before[victim];
    const auto killed = Clock::now();
    cluster.node(victim).Signal(SIGKILL, 2000);
    const bool back = WaitUntil(10, [&] {
      const std::vector<int> now = cluster.Sessions();
      int total = 0;
      for (int s : now) total += s;
      return total == options.clients;
    });
    if (back) back_after_s = seconds_since(killed);
    after_failover = cluster.Sessions();
  });
  if (!failover_report) return fail(failover_report.error());
  int reconnected = 0;
  double failover_gap = 0;
  for (const auto& client : failover_report->per_client) {
    if (client.reconnects == 0) continue;
    ++reconnected;
    failover_gap = std::max(failover_gap, client.max_gap_ms);
  }
  media::JoinIdleStreamingThreads();

  const int spread_min = spread.empty() ? 0 : *std::min_element(spread.begin(), spread.end());
  const int spread_max = spread.empty() ? 0 : *std::max_element(spread.begin(), spread.end());
  nlohmann::json out = {
      {"nodes", options.nodes},
      {"clients", options.clients},
      {"spread", spread},
      {"spread_ratio", spread_min > 0 ? static_cast<double>(spread_max) / spread_min : 0.0},
      {"spread_answered_pct", 100 * spread_report->answered_fraction()},
      {"spread_streamed", spread_report->clients_streamed},
      {"rolling", {{"max_gap_ms", MaxGapMs(*rolling_report)},
                   {"lost_pct", 100 * (1 - rolling_report->answered_fraction())},
                   {"restarted_cleanly", rolled},
                   {"streamed", rolling_report->clients_streamed}}},
      {"failover", {{"clients", affected},
                    {"reconnected", reconnected},
                    {"max_gap_ms", failover_gap},
                    {"back_after_s", back_after_s},
                    {"sessions_after", after_failover},
                    {"killed_node", victim}}},
  };
  if (options.json) {
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%d nodes behind HAProxy (deploy/haproxy.cfg), %d clients (loadgen --reconnect), loopback:\n",
                options.nodes, options.clients);
    std::printf("  spread: sessions per node %s (max/min %.2f), %.1f%% of frames answered\n",
                out["spread"].dump().c_str(), out["spread_ratio"].get<double>(), 100 * spread_report->answered_fraction());
    std::printf("  rolling restart (drain %d s each): longest gap without results %.0f ms, %.2f%% of frames lost%s\n",
                options.drain_seconds, MaxGapMs(*rolling_report), 100 * (1 - rolling_report->answered_fraction()),
                rolled ? "" : " (a node did not stop or come back cleanly)");
    std::printf("  failover (SIGKILL): %d of %d clients reconnected, all back after %.1f s, longest gap %.0f ms\n",
                reconnected, affected, back_after_s, failover_gap);
  }
  return 0;
}

}  // namespace speakup::app
