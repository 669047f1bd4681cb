// `speakup loadgen`: many native WebRTC clients sending a video file to a running server; prints
// per-client and overall frames, results and latency (or JSON with --json).
#include <iostream>

#include "speakup/loadgen.h"
#include "speakup/webrtc.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

loadgen::LoadOptions options;
std::string video_path = std::string(SPEAKUP_TEST_DATA_DIR) + "/video/face_motion_vp8.webm";
std::string fault_name = "none";
bool json_output = false;

}  // namespace

CLI::App* AddLoadgenCommand(CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "loadgen", "Load a running server with N WebRTC clients sending a video file (this machine only)");
  command->add_option("--server", options.server_url, "The server's address (http://127.0.0.1:PORT/)")->capture_default_str();
  command->add_option("--clients", options.clients, "Concurrent clients")->check(CLI::Range(1, 500))->capture_default_str();
  command->add_option("--video", video_path, "Video file (H.264, VP8 or VP9 in MP4/MKV/WebM), looped")->capture_default_str();
  command->add_option("--duration", options.duration_s, "Seconds measured once all clients stream")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  command->add_option("--fps", options.fps, "Frames per second each client sends (0: the file's rate)")
      ->check(CLI::Range(0.0, 240.0))->capture_default_str();
  command->add_option("--token", options.token, "Access token, if the server wants one");
  command->add_option("--stagger-ms", options.connect_stagger_ms, "Time between client starts")->capture_default_str();
  command->add_option("--connect-timeout", options.connect_timeout_s, "Seconds a client may take to start streaming")
      ->capture_default_str();
  command->add_option("--fault", fault_name, "Misbehave on purpose: none, no-media, no-ice, corrupt, freeze")
      ->capture_default_str();
  command->add_option("--faulty", options.faulty_clients, "How many clients (the first ones) have --fault (default: all)");
  command->add_option("--freeze-after", options.freeze_after_s, "With --fault freeze: seconds of streaming before it")
      ->capture_default_str();
  command->add_option("--model", options.model, "The session option model: mesh, or landmarker (52 blendshapes)")
      ->check(CLI::IsMember({"mesh", "landmarker"}))
      ->capture_default_str();
  command->add_option("--ice-server", options.ice_servers,
                      "STUN/TURN server besides those the server's welcome names: stun:HOST[:PORT], "
                      "turn:HOST[:PORT][?transport=udp|tcp] (repeatable)")
      ->take_all();
  command->add_option("--turn-user", options.turn_user, "TURN user name for --ice-server turn: URLs");
  command->add_option("--turn-password", options.turn_password, "TURN password for --ice-server turn: URLs");
  command->add_flag("--relay", options.relay, "Relay candidates only: all media through a TURN server");
  command->add_flag("--reconnect", options.reconnect,
                    "Connect again (after 0.1-0.5 s) when the server sends a client away to reconnect (a drain, a "
                    "stop) or vanishes: behind a balancer, the client lands on another node");
  command->add_option("--loss", options.loss_pct,
                      "Percent of RTP packets (retransmissions too) lost on each client's send path, seeded")
      ->check(CLI::Range(0.0, 99.999))->capture_default_str();
  command->add_option("--rtx-loss", options.rtx_loss_pct,
                      "Percent of retransmissions (RTX) lost on the send path, seeded (default: --loss); 100: every "
                      "lost packet stays lost")
      ->check(CLI::Range(0.0, 100.0));
  command->add_option("--delay", options.delay_ms, "One-way delay in ms added on each client's send path")
      ->check(CLI::Range(0, 10000))->capture_default_str();
  command->add_option("--jitter", options.jitter_ms,
                      "Each packet's delay varies uniformly in [delay - jitter, delay + jitter] ms (at most --delay; "
                      "order kept)")
      ->check(CLI::Range(0, 10000))->capture_default_str();
  command->add_option("--seed", options.seed, "Seed of the loss pattern: the same seed loses the same packets")
      ->capture_default_str();
  command->add_flag("--json", json_output, "Print the report as JSON");
  command->add_flag("--quiet", options.quiet, "No progress lines");
  return command;
}

int RunLoadgen() {
  auto fault = loadgen::ParseFault(fault_name);
  if (!fault) {
    std::cerr << "speakup loadgen: " << fault.error() << "\n";
    return 2;
  }
  options.fault = *fault;
  if (options.fault != loadgen::Fault::kNone && options.faulty_clients == 0) options.faulty_clients = options.clients;
  auto video = loadgen::LoadEncodedVideo(video_path);
  if (!video) {
    std::cerr << "speakup loadgen: " << video.error() << "\n";
    return 1;
  }
  auto report = loadgen::RunLoad(*video, options);
  media::JoinIdleStreamingThreads();  // every client's pipeline is gone: nothing left for a leak check
  if (!report) {
    std::cerr << "speakup loadgen: " << report.error() << "\n";
    return 1;
  }
  std::cout << (json_output ? loadgen::ReportJson(*report) + "\n" : loadgen::ReportText(*report)) << std::flush;
  // A run in which no client got to stream (server down, refused, every client faulty) says so in
  // its exit status too, for scripts; the report above says why.
  return report->clients_streamed > 0 ? 0 : 1;
}

}  // namespace speakup::app
