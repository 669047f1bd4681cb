// ICE servers (STUN and TURN) as a WebRTC page names them (RTCIceServer): URLs of RFC 7064
// (stun:host[:port]) and RFC 7065 (turn:host[:port][?transport=udp|tcp], turns:...), with the TURN
// credentials. The server reads them from its flags and hands them to each client in `welcome`;
// the load generator reads them back from there. Pure functions, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "speakup/status.h"

namespace speakup::protocol {

inline constexpr size_t kMaxIceUrlBytes = 512;
// What a welcome message may carry: a page with more servers only gathers longer.
inline constexpr size_t kMaxIceServers = 8;
inline constexpr size_t kMaxIceUrlsPerServer = 8;
inline constexpr size_t kMaxIceCredentialBytes = 512;

struct IceUrl {
  enum class Scheme { kStun, kTurn, kTurns };
  enum class Transport { kAny, kUdp, kTcp };  // kAny: the URL names none (TURN: UDP and TCP)
  Scheme scheme = Scheme::kStun;
  std::string host;  // a DNS name, an IPv4 address or an IPv6 address (without brackets)
  int port = 3478;   // the scheme's default when the URL names none (3478; turns: 5349)
  Transport transport = Transport::kAny;

  bool is_turn() const { return scheme != Scheme::kStun; }
  bool operator==(const IceUrl&) const = default;
};

// Parses one URL strictly: scheme stun, turn or turns (lower case), a host that is a DNS name
// (letters, digits, '-' and '.'), an IPv4 address or a bracketed IPv6 address, an optional port
// 1-65535, and for turn/turns only an optional "?transport=udp" or "?transport=tcp" (turns: tcp).
// No user name, path or fragment. Errors say what is wrong with the URL and show the right form.
Expected<IceUrl> ParseIceUrl(std::string_view url);
// The URL in canonical form: "stun:host:port", "turn:host:port?transport=tcp", "turns:[::1]:5349".
std::string ToString(const IceUrl& url);

// One RTCIceServer: its URLs and, for TURN, the user name and password (credential).
struct IceServer {
  std::vector<std::string> urls;
  std::string username, credential;
  bool operator==(const IceServer&) const = default;
};

// Checks a list as a client receives it: at most kMaxIceServers servers of 1..kMaxIceUrlsPerServer
// URLs that ParseIceUrl takes, credentials of printable ASCII up to kMaxIceCredentialBytes, and a
// user name and credential on every server with a TURN URL. Ok, or what is wrong.
Status CheckIceServers(const std::vector<IceServer>& servers);

}  // namespace speakup::protocol
