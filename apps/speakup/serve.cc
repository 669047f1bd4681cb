// `speakup serve`: the face server (HTTP, WebSocket signaling, WebRTC) until Ctrl-C or SIGTERM.
#include <malloc.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>
#include <thread>
#include <tuple>

#include "speakup/server.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

server::ServerOptions options = [] {
  server::ServerOptions o;
  o.web_root = SPEAKUP_WEB_ROOT;
  o.models_dir = SPEAKUP_MODELS_DIR;
  return o;
}();

// Secrets given as files (--token-file, --turn-secret-file) stay out of `ps` and /proc/PID/cmdline.
struct SecretFiles {
  std::string token, turn_secret;
} secret_files;

// The file's first line, without its line end; a secret that is empty or longer than 1 KiB is refused.
Expected<std::string> ReadSecretFile(const std::string& path, const std::string& flag) {
  std::ifstream file(path);
  if (!file) return Error(flag + "-file: cannot read '" + path + "'");
  std::string line;
  std::getline(file, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Error(flag + "-file: '" + path + "' is empty (its first line is the secret)");
  if (line.size() > 1024) return Error(flag + "-file: '" + path + "' holds more than 1 KiB on its first line");
  return line;
}

}  // namespace

CLI::App* AddServeCommand(CLI::App& app) {
  CLI::App* serve = app.add_subcommand("serve", "Serve the browser client and the live face mesh over WebRTC");
  serve->add_option("--host", options.host, "Address to listen on (an IP address)")->capture_default_str();
  serve->add_option("--port", options.port, "Port (0: any free port)")->check(CLI::Range(0, 65535))->capture_default_str();
  serve->add_option("--tls-cert", options.tls_cert, "TLS certificate (PEM); with --tls-key, serves HTTPS/WSS");
  serve->add_option("--tls-key", options.tls_key, "TLS private key (PEM)");
  serve->add_flag("--insecure", options.insecure, "Allow plain HTTP on a non-loopback --host (prints a warning)");
  serve->add_option("--token", options.token, "Access token clients must give (page address ?token=...)");
  serve->add_option("--token-file", secret_files.token,
                    "Read --token from this file (its first line), so it is not in the process list");
  serve->add_option("--max-sessions", options.max_sessions, "Most concurrent clients (0: 5 per inference thread, from the measured cost of a stream)")
      ->capture_default_str();
  serve->add_option("--max-sessions-per-ip", options.max_sessions_per_ip,
                    "Most concurrent clients from one IP address (0: no per-address limit)")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()))
      ->capture_default_str();
  serve->add_option("--allow-origin", options.allowed_origins,
                    "Also accept browser pages from this origin, e.g. https://app.example.com (repeatable; *: any)")
      ->take_all();
  serve->add_option("--connect-timeout-ms", options.connect_timeout_ms,
                    "A client must offer, and then connect, within this time")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  serve->add_option("--silence-timeout-ms", options.silence_timeout_ms,
                    "A connected client sending no video this long is dropped (a vanished peer)")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  serve->add_option("--restart-grace-ms", options.restart_grace_ms,
                    "A connected client whose media path broke may restart ICE within this time before its "
                    "session ends (0: it ends at once)")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  serve->add_option("--request-timeout-ms", options.request_timeout_ms,
                    "A connection must send its request headers within this time, or it is closed")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  serve->add_option("--max-connections", options.max_connections,
                    "Most open client connections (0: from the open-file limit, which serve raises to its maximum)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  serve->add_option_function<std::string>(
           "--congestion-feedback", [](const std::string& value) { options.congestion_feedback = value == "on"; },
           "on: send clients transport-wide congestion feedback, so a browser's camera bitrate follows what the path "
           "carries; off: none, the bitrate pinned to 600-2000 kbit/s (for comparison)")
      ->check(CLI::IsMember({"on", "off"}))
      ->default_str("on");
  serve->add_option("--metrics-token", options.metrics_token,
                    "Token /metrics needs (Authorization: Bearer ...); without it, --token is needed if given");
  serve->add_option("--ice-server", options.ice_servers,
                    "STUN/TURN server for clients and the server's own WebRTC agent: stun:HOST[:PORT], "
                    "turn:HOST[:PORT][?transport=udp|tcp], turns:HOST[:PORT] (repeatable)")
      ->take_all();
  serve->add_option("--turn-user", options.turn_user, "Static TURN user name (with --turn-password)");
  serve->add_option("--turn-password", options.turn_password, "Static TURN password");
  serve->add_option("--turn-secret", options.turn_secret,
                    "coturn's static-auth-secret: time-limited TURN credentials per session (use-auth-secret)");
  serve->add_option("--turn-secret-file", secret_files.turn_secret,
                    "Read --turn-secret from this file (its first line), so it is not in the process list");
  serve->add_option("--turn-ttl", options.turn_ttl_s, "Seconds time-limited TURN credentials stay valid")
      ->capture_default_str();
  serve->add_option_function<std::string>(
           "--ice-transport-policy",
           [](const std::string& policy) { options.relay_only = policy == "relay"; },
           "all, or relay: the server's own agent sends media through TURN only")
      ->check(CLI::IsMember({"all", "relay"}));
  serve->add_option("--ice-address", options.ice_addresses,
                    "Gather the server's media (ICE host) candidates on this local address only (repeatable; "
                    "default: every interface, or the listen address on loopback)")
      ->take_all();
  serve->add_option("--public-ip", options.public_ip,
                    "Behind a 1:1 NAT (a cloud VM): the public address to put in the server's ICE candidates");
  serve->add_option_function<std::string>(
      "--udp-ports",
      [](const std::string& range) {
        // "MIN-MAX"; Server::Create checks the numbers and says what is wrong.
        const size_t dash = range.find('-');
        int low = -1, high = -1;
        try {
          size_t used_low = 0, used_high = 0;
          if (dash != std::string::npos) {
            low = std::stoi(range.substr(0, dash), &used_low);
            high = std::stoi(range.substr(dash + 1), &used_high);
          }
          if (used_low != dash || used_high != range.size() - dash - 1) low = high = -1;
        } catch (const std::exception&) {
          low = high = -1;
        }
        if (low < 0 || high < 0) throw CLI::ValidationError("--udp-ports", "expected MIN-MAX, e.g. 40000-40999, not '" + range + "'");
        options.udp_port_min = low;
        options.udp_port_max = high;
      },
      "Keep every media (ICE) socket on a UDP port in MIN-MAX, e.g. 40000-40999 (a firewall's open range)");
  serve->add_option("--threads", options.threads, "Inference threads (0: one per core)")->capture_default_str();
  serve->add_option("--web-root", options.web_root, "Folder of the browser client")->capture_default_str();
  serve->add_option("--drain-seconds", options.drain_seconds,
                    "On SIGTERM: stop admitting (/readyz 503), let running sessions go on this long, then tell "
                    "their clients to reconnect and exit (0: at once; a second SIGTERM ends the drain)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  serve->add_option("--models-dir", options.models_dir, "Folder with the model files")->capture_default_str();
  return serve;
}

int RunServe() {
  for (auto [path, value, flag] : {std::tuple{&secret_files.token, &options.token, "--token"},
                                   std::tuple{&secret_files.turn_secret, &options.turn_secret, "--turn-secret"}}) {
    if (path->empty()) continue;
    if (!value->empty()) {
      std::cerr << "speakup serve: give " << flag << " or " << flag << "-file, not both\n";
      return 1;
    }
    auto secret = ReadSecretFile(*path, flag);
    if (!secret) {
      std::cerr << "speakup serve: " << secret.error() << "\n";
      return 1;
    }
    *value = std::move(*secret);
  }
  // Each client's WebRTC pipeline runs a dozen threads; glibc would give them up to 8 malloc arenas
  // per core, each keeping its own freed memory, so the resident size stays at its peak after a
  // burst of clients. One arena per core is as fast here (no more threads run at once) and lets
  // memory go back (tests/e2e/server_faults.mjs checks it after hundreds of vanished peers).
  mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  auto server = server::Server::Create(options);
  if (!server) {
    std::cerr << "speakup serve: " << server.error() << "\n";
    return 1;
  }
  std::cout << "speakup serve: listening on " << (*server)->url() << " (Ctrl-C to stop)" << std::endl;
  (*server)->Run();
  std::cout << "speakup serve: stopped" << std::endl;
  return 0;
}

}  // namespace speakup::app
