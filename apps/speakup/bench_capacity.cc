// `speakup bench capacity`: how many live cameras this machine serves. Starts `speakup serve` as a
// child process, then runs the load generator (in this process) with 2, 4, 6, ... clients until a
// step no longer holds: fewer than 95% of frames answered, or p95 latency above 100 ms (a failed
// step is run once more before it counts: the machine is shared). Reports the largest N that held,
// the server's CPU per stream and its memory per session, from /proc, and where that CPU goes
// (cpu_breakdown: decode, convert + warp, inference, WebRTC and other) from the server's own per-stage
// CPU counters at /metrics.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
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

struct CapacityOptions {
  std::string video;           // empty: the face video in `codec`
  std::string codec = "vp8";
  int start = 2, step = 2, max_clients = 64;
  double duration_s = 10;
  size_t threads = 0;  // the server's inference threads; 0 = its default (one per core)
  double min_answered = 0.95, max_p95_ms = 100;
  bool json = false;
} options;

struct Step {
  int clients = 0;
  double answered = 0, p50_ms = 0, p95_ms = 0;
  double server_cpu_pct = 0;  // percent of one core, over the measured window
  double loadgen_cpu_pct = 0;
  double server_rss_mib = 0;  // at the end of the window
  StageShares cpu_per_stream;  // percent of one core per stream, by stage
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
  Expected<ServerCounters> counters_before = Error("the window did not open");
  Expected<ServerCounters> counters_after = Error("the window did not close");
  auto window_start = std::chrono::steady_clock::now();
  double seconds = 0;
  load.on_window = [&](bool opened) {
    const auto now = std::chrono::steady_clock::now();
    if (opened) {
      window_start = now;
      server_cpu = CpuSeconds(server.pid());
      own_cpu = CpuSeconds(getpid());
      counters_before = FetchCounters(server.port());
      return;
    }
    seconds = std::chrono::duration<double>(now - window_start).count();
    step.server_cpu_pct = 100 * (CpuSeconds(server.pid()) - server_cpu) / seconds;
    step.loadgen_cpu_pct = 100 * (CpuSeconds(getpid()) - own_cpu) / seconds;
    step.server_rss_mib = RssMiB(server.pid());
    counters_after = FetchCounters(server.port());
  };
  auto report = loadgen::RunLoad(video, load);
  media::JoinIdleStreamingThreads();  // every client's pipeline is gone: nothing left for a leak check
  if (!report) return Error(report.error());
  if (counters_before && counters_after) {
    step.cpu_per_stream = Difference(*counters_before, *counters_after, seconds * clients / 100);
  } else {  // the step's own figures stand; only its breakdown is missing
    std::cerr << "speakup bench capacity: no CPU breakdown for " << clients << " clients: "
              << (counters_before ? counters_after.error() : counters_before.error()) << "\n";
  }
  step.answered = report->answered_fraction();
  step.p50_ms = report->latency.p50_ms;
  step.p95_ms = report->latency.p95_ms;
  step.held = report->clients_streamed == clients && step.answered >= options.min_answered &&
              step.p95_ms <= options.max_p95_ms;
  return step;
}

}  // namespace

void AddCapacityOptions(CLI::App* capacity) {
  capacity->add_option("--codec", options.codec, "The clients' video codec (the face video encoded as a browser does)")
      ->check(CLI::IsMember({"vp8", "vp9", "h264"}))
      ->capture_default_str();
  capacity->add_option("--video", options.video, "Video each client sends (looped); overrides --codec");
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
  auto video = options.video.empty() ? LoadVideoForCodec(options.codec) : loadgen::LoadEncodedVideo(options.video);
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
                options.video.empty() ? "the face video" : options.video.c_str(), video->width, video->height, video->codec.c_str(), video->fps,
                100 * options.min_answered, options.max_p95_ms);
    std::printf("clients  answered  p50 ms  p95 ms  server CPU  loadgen CPU  server RSS  per stream: decode convert+warp "
                "inference webrtc+other (%% of a core)\n");
  }
  std::vector<Step> steps;
  std::optional<size_t> best_index;  // into steps (an index: steps grows after it is set)
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
      const StageShares& c = step->cpu_per_stream;
      std::printf("%7d  %7.1f%%  %6.1f  %6.1f  %9.0f%%  %10.0f%%  %7.0f MiB  %5.1f %5.1f %5.1f %5.1f  %s\n", step->clients,
                  100 * step->answered, step->p50_ms, step->p95_ms, step->server_cpu_pct, step->loadgen_cpu_pct,
                  step->server_rss_mib, c.decode, c.convert + c.warp, c.inference, c.webrtc_other + c.result,
                  step->held ? "held" : "did not hold");
      std::fflush(stdout);
    }
    if (!step->held) break;
    best_index = steps.size() - 1;
    std::this_thread::sleep_for(std::chrono::seconds(1));  // sessions close
  }
  const Step* best = best_index ? &steps[*best_index] : nullptr;
  const int max_clients = best ? best->clients : 0;
  const double per_stream_cpu = best ? best->server_cpu_pct / best->clients : 0;
  const double rss_per_session = best ? (best->server_rss_mib - idle_rss) / best->clients : 0;
  const unsigned cores = std::thread::hardware_concurrency();
  auto breakdown = [](const StageShares& c) {
    return nlohmann::json{{"decode", c.decode},
                          {"convert_warp", c.convert + c.warp},
                          {"inference", c.inference},
                          {"webrtc_other", c.webrtc_other + c.result},
                          {"total", c.total}};
  };
  if (options.json) {
    nlohmann::json out = {{"max_clients", max_clients},
                          {"codec", video->codec},
                          {"cpu_breakdown", best ? breakdown(best->cpu_per_stream) : nlohmann::json::object()},
                          {"per_stream_cpu_pct", per_stream_cpu},
                          {"rss_mb_per_session", rss_per_session},
                          {"idle_rss_mb", idle_rss},
                          {"cores", cores},
                          {"steps", nlohmann::json::array()}};
    for (const Step& step : steps) {
      out["steps"].push_back({{"clients", step.clients}, {"answered", step.answered}, {"p50_ms", step.p50_ms},
                              {"p95_ms", step.p95_ms}, {"server_cpu_pct", step.server_cpu_pct},
                              {"loadgen_cpu_pct", step.loadgen_cpu_pct}, {"server_rss_mb", step.server_rss_mib},
                              {"cpu_breakdown", breakdown(step.cpu_per_stream)}, {"held", step.held}});
    }
    std::cout << out.dump() << "\n";
  } else {
    std::printf("capacity: %d concurrent clients held (%u cores, load generator on the same machine); server CPU "
                "%.1f%% of a core per stream, memory %.1f MiB per session (idle server %.0f MiB)\n",
                max_clients, cores, per_stream_cpu, rss_per_session, idle_rss);
    if (best) {
      const StageShares& c = best->cpu_per_stream;
      std::printf("  per stream at %d: decode %.1f%%, convert+warp %.1f%%, inference %.1f%%, WebRTC and other %.1f%% "
                  "(of a core, from the server's stage counters)\n",
                  best->clients, c.decode, c.convert + c.warp, c.inference, c.webrtc_other + c.result);
    }
  }
  return 0;
}

}  // namespace speakup::app
