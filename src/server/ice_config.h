// Reaching the server: the STUN/TURN servers each client is told about in `welcome` (with TURN
// credentials of its own), the same servers for each session's WebRTC agent, the public address
// for host candidates and the UDP port range; all checked once at start-up, from ServerOptions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "speakup/ice_servers.h"
#include "speakup/server.h"
#include "speakup/status.h"
#include "speakup/webrtc.h"

namespace speakup::server {

struct TurnCredentials {
  std::string username, password;
};

// coturn's REST-API scheme (`use-auth-secret` with `static-auth-secret`): the user name is
// "EXPIRY:NAME" (EXPIRY in Unix seconds), the password base64(HMAC-SHA1(secret, user name)).
// coturn recomputes the password from the secret and refuses the name once EXPIRY has passed.
TurnCredentials TurnRestCredentials(const std::string& secret, int64_t expiry_unix_s, const std::string& name);

// What one session gets: the servers for the client (RTCIceServer form) and for its own agent.
struct SessionIce {
  std::vector<protocol::IceServer> client;
  media::IceServers peer;
};

class IceConfig {
 public:
  // Checks the options (URLs, credentials, policy, address, ports), with errors naming the flag,
  // and resolves the STUN/TURN host names for the server's own agent (libnice takes addresses).
  static Expected<IceConfig> Create(const ServerOptions& options);

  // Fresh credentials for one session (time-limited ones valid for turn_ttl_s from `now_unix_s`).
  SessionIce ForSession(const std::string& session, int64_t now_unix_s) const;
  // The address, port range and servers (without credentials) a session's WebRtcOptions start from.
  void ApplyTo(media::WebRtcOptions& options) const;

 private:
  std::vector<protocol::IceUrl> stun_, turn_;
  std::map<std::string, std::string> addresses_;  // STUN/TURN host -> the IP address the agent uses
  std::string turn_user_, turn_password_, turn_secret_;
  int turn_ttl_s_ = 3600;
  bool relay_only_ = false;
  std::string public_ip_;
  int udp_port_min_ = 0, udp_port_max_ = 0;
};

}  // namespace speakup::server
