// Every client connection comes in through here, not through libsoup's own listener: so that a
// full descriptor table pauses accepting instead of stopping it for good, connections are
// limited in number (in all and per address) and in time (a request must come within the request
// timeout, a response be taken within the response timeout, a refused connection go at once),
// and libsoup reads each one through a GuardedInput that enforces the size limits.
// Main loop only.
#pragma once

#include <libsoup/soup.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "connection_filter.h"
#include "speakup/media/gst_handles.h"
#include "guarded_stream.h"
#include "metrics.h"
#include "speakup/status.h"

namespace speakup::server {

struct FrontDoorOptions {
  size_t max_connections = 1024;             // open client connections in all
  size_t max_connections_per_address = 0;    // 0: no per-address limit
  std::chrono::milliseconds request_timeout{10000};   // accepted -> request headers complete
  std::chrono::milliseconds response_timeout{60000};  // request -> response taken by the client
  std::chrono::milliseconds linger{2000};  // a refused connection's input is dropped this long, then it goes
  std::chrono::milliseconds closing_timeout{10000};  // a session's WebSocket closing handshake
  ConnectionLimits limits;
};

class FrontDoor {
 public:
  // Listens on `address`:`port` (0: any free port) and hands accepted connections to `soup`
  // (over TLS with `certificate`, if given). `metrics` counts refusals.
  static Expected<std::unique_ptr<FrontDoor>> Listen(SoupServer* soup, GSocketAddress* address,
                                                     GTlsCertificate* certificate, FrontDoorOptions options,
                                                     Metrics* metrics);
  ~FrontDoor();

  int port() const { return port_; }
  size_t open_connections() const { return connections_.size(); }

  // The connection a request came on; 0 if it is not known (already closed).
  uint64_t ConnectionOf(SoupServerMessage* message) const;
  // The request became a WebSocket with a session: no deadline from here on; `on_too_large` runs
  // (on the main loop, later) if the client sends a message over the limit, whose bytes are then
  // dropped: the session answers and closes.
  void WebSocketOpened(uint64_t connection, std::function<void()> on_too_large);
  // The server refused this WebSocket or closed its session: drop what the client sends from now
  // on and close the connection after `linger` (refused) or `closing_timeout` (closed) at the latest.
  void Refused(uint64_t connection);
  void SessionClosed(uint64_t connection);
  // The server is stopping: no new connections; then every connection is ended (libsoup reads
  // its end and closes it).
  void StopAccepting();
  void CloseAll();

  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    uint64_t id = 0;
    std::string address;
    media::GObjectPtr<GSocket> socket;
    media::GObjectPtr<GSocketAddress> remote;
    std::shared_ptr<GuardedInputState> state;
    Clock::time_point deadline = Clock::time_point::max();
    bool session = false;  // a session owns its lifetime
    bool killed = false;
    std::function<void()> on_too_large;
  };

  FrontDoor() = default;
  void StartAccepting();
  void OnAcceptable();
  void Admit(GSocket* socket);
  void OnPhase(uint64_t id, ConnectionFilter::Phase phase);
  void OnRequestFinished(SoupServerMessage* message);
  void Sweep();
  void Kill(Connection& connection);
  void Forget(uint64_t id);
  // A short plain HTTP answer written straight to the socket (before libsoup has it, or instead).
  static void WriteStatus(GSocket* socket, int status, const std::string& reason);

  SoupServer* soup_ = nullptr;
  FrontDoorOptions options_;
  Metrics* metrics_ = nullptr;
  media::GObjectPtr<GSocket> listener_;
  media::GObjectPtr<GTlsCertificate> certificate_;
  int port_ = 0;
  bool listener_closed_ = false;
  media::SourceId accept_source_, resume_timer_, sweep_timer_;
  gulong finished_handler_ = 0;
  Clock::time_point last_accept_error_log_{};
  uint64_t next_id_ = 1;
  std::map<uint64_t, Connection> connections_;
  std::map<std::string, size_t> per_address_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for callbacks that may outlive this
};

}  // namespace speakup::server
