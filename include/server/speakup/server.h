// `speakup serve`: the face server. One process, one GLib main loop for HTTP, WebSocket signaling
// and GStreamer; a fixed pool of inference threads; one session per connected client.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "speakup/status.h"

namespace speakup::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: any free port (see Server::port())
  std::string tls_cert, tls_key;  // PEM files; both or neither (required off loopback, or `insecure`)
  bool insecure = false;       // allow plain HTTP on a non-loopback address (warns)
  std::string token;           // if set, clients must open /ws?token=<token>
  int max_sessions = 0;        // 0: from the thread count (see README)
  // Browser pages from these origins (exact, e.g. "https://app.example.com"; "*": any) may open
  // /ws besides the server's own origin; stops other sites hijacking a user's server.
  std::vector<std::string> allowed_origins;
  int max_sessions_per_ip = 4;  // open sessions per client address; 0: no per-address limit
  size_t threads = 0;          // inference threads; 0: one per core
  std::string web_root;        // the browser client (web/)
  std::string models_dir;
  int max_width = 1920, max_height = 1080;  // larger client video is downscaled
  int connect_timeout_ms = 15000;  // socket -> offer, and offer -> connected
  int silence_timeout_ms = 5000;   // no video from a connected client (a vanished peer)
  // A connected session whose media path broke (ICE failed, or the silence timeout) waits this long
  // for the client to restart ICE (`restart`) before it ends; 0: it ends at once.
  int restart_grace_ms = 10000;
  // A connection must send its request (line and headers) within this time, or it is closed.
  int request_timeout_ms = 10000;
  int max_connections = 0;     // open client connections at once; 0: from the open-file limit
  // If set, /metrics needs "Authorization: Bearer <metrics_token>"; if not, but `token` is, it
  // needs that token; with neither it is public (loopback by default).
  std::string metrics_token;
  // SIGTERM drains: /readyz turns 503 and no session is admitted at once, running sessions go on
  // for this long, then each client gets `bye` with reconnect and the server exits. 0: SIGTERM
  // ends every session at once. A second SIGTERM (or SIGINT) ends the drain.
  int drain_seconds = 30;

  // Reaching the server through NATs and firewalls (docs/deploy.md).
  // STUN/TURN servers, as a page names them: "stun:host[:port]", "turn:host[:port][?transport=udp|tcp]",
  // "turns:host[:port]". Each client gets them in `welcome` (with its own TURN credentials), and
  // each session's own WebRTC agent gathers through them too.
  std::vector<std::string> ice_servers;
  std::string turn_user, turn_password;  // static TURN credentials; or:
  std::string turn_secret;               // coturn's use-auth-secret: fresh credentials per session
  int turn_ttl_s = 3600;                 // how long such credentials stay valid
  bool relay_only = false;               // the server's own agent gathers relay candidates only
  // Behind a 1:1 NAT: the public address written into the server's host candidates.
  std::string public_ip;
  // The addresses the server's ICE agent gathers host candidates on (a multi-homed machine's
  // media interface); empty: every interface, or only the listen address on loopback.
  std::vector<std::string> ice_addresses;
  // Every media socket on a UDP port in [udp_port_min, udp_port_max]; 0, 0: any port.
  int udp_port_min = 0, udp_port_max = 0;
  // Transport-wide congestion control feedback to each client (its camera's bitrate follows the
  // path). false: none, and the camera's bitrate pinned to 600-2000 kbit/s (the former behaviour,
  // for comparison; media::WebRtcOptions::congestion_feedback).
  bool congestion_feedback = true;
};

class Server {
 public:
  // Loads the models, starts the workers and listens. Errors say what to fix (port in use, ...).
  static Expected<std::unique_ptr<Server>> Create(const ServerOptions& options);
  ~Server();

  int port() const;
  std::string url() const;

  // Runs the main loop until Stop(), SIGINT, or SIGTERM and its drain; closes every session before
  // returning.
  void Run();
  void Stop();
  // What SIGTERM does (main loop): stop admitting, and end the sessions after drain_seconds.
  void Drain();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace speakup::server
