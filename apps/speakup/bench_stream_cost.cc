// `speakup bench stream-cost`: what one camera stream costs the server, in CPU milliseconds per frame
// by stage (decode, convert, warp, inference, result, WebRTC and other), from the server's own stage
// counters over a measured window. One client from `speakup loadgen` on the same machine; a
// regression in any stage shows here before it shows in capacity.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_server.h"
#include "speakup/loadgen.h"
#include "speakup/webrtc.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

struct StreamCostOptions {
  std::string codec = "vp8";
  std::string model = "mesh";
  double duration_s = 10;
  int clients = 1;
  bool json = false;
} options;

}  // namespace

void AddStreamCostOptions(CLI::App* command) {
  command->add_option("--codec", options.codec, "The client's video codec")
      ->check(CLI::IsMember({"vp8", "vp9", "h264"}))
      ->capture_default_str();
  command->add_option("--model", options.model, "The session option model")
      ->check(CLI::IsMember({"mesh", "landmarker"}))
      ->capture_default_str();
  command->add_option("--duration", options.duration_s, "Seconds measured")->check(CLI::Range(2.0, 600.0))
      ->capture_default_str();
  command->add_option("--clients", options.clients, "Streams at once (the cost is per frame of all of them)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  command->add_flag("--json", options.json, "Print JSON instead of text");
}

int RunStreamCostBench() {
  auto video = LoadVideoForCodec(options.codec);
  if (!video) {
    std::cerr << "speakup bench stream-cost: " << video.error() << "\n";
    return 1;
  }
  ChildServer server;
  if (Status started = server.Start(0); !started.ok()) {
    std::cerr << "speakup bench stream-cost: " << started.message() << "\n";
    return 1;
  }
  loadgen::LoadOptions load;
  load.server_url = server.url();
  load.clients = options.clients;
  load.duration_s = options.duration_s;
  load.model = options.model;
  load.quiet = true;
  Expected<ServerCounters> before = Error("the window did not open"), after = Error("the window did not close");
  auto window_start = std::chrono::steady_clock::now();
  double seconds = 0;
  ThreadStats threads_before, threads_after;
  load.on_window = [&](bool opened) {
    if (opened) {
      window_start = std::chrono::steady_clock::now();
      before = FetchCounters(server.port());
      threads_before = ThreadStatsOf(server.pid());
    } else {
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      after = FetchCounters(server.port());
      threads_after = ThreadStatsOf(server.pid());
    }
  };
  auto report = loadgen::RunLoad(*video, load);
  media::JoinIdleStreamingThreads();  // every client's pipeline is gone: nothing left for a leak check
  if (!report || !before || !after) {
    std::cerr << "speakup bench stream-cost: "
              << (!report ? report.error() : !before ? before.error() : after.error()) << "\n";
    return 1;
  }
  const double frames = after->frames_in - before->frames_in;
  if (frames <= 0 || report->clients_streamed != options.clients) {
    std::cerr << "speakup bench stream-cost: the server decoded no frames (" << report->clients_streamed << " of "
              << options.clients << " clients streamed)\n";
    return 1;
  }
  const StageShares ms = Difference(*before, *after, frames / 1000);  // CPU ms per frame
  const double fps = frames / seconds / options.clients;
  const double core_pct_per_stream = ms.total * fps / 10;  // ms per frame x frames per s -> % of a core
  // Threads that ended inside the window take their switches with them: a lower bound, exact when
  // the sessions' threads all live through it (they do: the window opens once every client streams).
  const double switches_per_frame = (threads_after.context_switches - threads_before.context_switches) / frames;
  if (options.json) {
    nlohmann::json out = {
        {"codec", video->codec},
        {"model", options.model},
        {"clients", options.clients},
        {"width", video->width},
        {"height", video->height},
        {"frames", frames},
        {"fps_per_stream", fps},
        {"answered", report->answered_fraction()},
        {"cpu_ms_per_frame",
         {{"decode", ms.decode}, {"convert", ms.convert}, {"warp", ms.warp}, {"inference", ms.inference},
          {"result", ms.result}, {"webrtc_other", ms.webrtc_other}, {"total", ms.total}}},
        {"core_pct_per_stream", core_pct_per_stream},
        {"context_switches_per_frame", switches_per_frame},
        {"server_threads", threads_after.threads},
    };
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%d x %dx%d %s at %.1f fps, model %s, %.0f frames in %.1f s (%.1f%% answered); server CPU per frame:\n",
                options.clients, video->width, video->height, video->codec.c_str(), fps, options.model.c_str(), frames,
                seconds, 100 * report->answered_fraction());
    std::printf("  decode %.3f ms, convert %.3f ms, warp %.3f ms, inference %.3f ms, result %.3f ms, WebRTC and "
                "other %.3f ms\n  total %.3f ms per frame = %.1f%% of a core per stream; %.1f context switches per "
                "frame, %d server threads\n",
                ms.decode, ms.convert, ms.warp, ms.inference, ms.result, ms.webrtc_other, ms.total,
                core_pct_per_stream, switches_per_frame, threads_after.threads);
  }
  return 0;
}

}  // namespace speakup::app
