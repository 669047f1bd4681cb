#include "speakup/ice_servers.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace speakup::protocol {
namespace {

constexpr int kDefaultPort = 3478, kDefaultTlsPort = 5349;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Shown after every error, so that a wrong URL comes with the right forms.
constexpr const char* kForms =
    " (forms: stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp], turns:HOST[:PORT][?transport=tcp]; "
    "HOST a DNS name, an IPv4 address or [IPv6])";

Unexpected Bad(std::string_view url, const std::string& why) {
  // The URL is quoted only as far as it is printable ASCII: it may come from the network.
  std::string shown;
  for (char c : url.substr(0, 80)) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
  return Error("ICE server URL '" + shown + "': " + why + kForms);
}

bool IsIpv4(std::string_view host) {
  int parts = 0;
  while (true) {
    size_t digits = 0;
    int value = 0;
    // At most 4 digits are read (more is already wrong), so the value cannot overflow.
    while (digits < host.size() && digits < 4 && IsDigit(host[digits])) value = value * 10 + (host[digits++] - '0');
    if (digits == 0 || digits > 3 || value > 255 || (digits > 1 && host[0] == '0')) return false;
    ++parts;
    host.remove_prefix(digits);
    if (host.empty()) return parts == 4;
    if (host[0] != '.' || parts == 4) return false;
    host.remove_prefix(1);
  }
}

// Hex groups and colons (at most one "::"), optionally ending in an IPv4 address; no zone.
bool IsIpv6(std::string_view host) {
  if (host.size() < 2 || host.size() > 45) return false;
  int groups = 0;
  std::string_view hex = host;
  if (const size_t dot = host.find('.'); dot != std::string_view::npos) {
    const size_t colon = host.rfind(':');
    if (colon == std::string_view::npos || colon > dot || !IsIpv4(host.substr(colon + 1))) return false;
    groups = 2;  // the IPv4 address is the last 32 bits
    // "::ffff:1.2.3.4" -> "::ffff"; "::1.2.3.4" -> "::" (the colon belongs to the gap).
    hex = host.substr(0, colon > 0 && host[colon - 1] == ':' ? colon + 1 : colon);
  }
  const size_t gap = hex.find("::");
  if (gap != std::string_view::npos && hex.find("::", gap + 1) != std::string_view::npos) return false;
  size_t i = 0;
  while (i < hex.size()) {
    if (hex[i] == ':') {
      if (hex.compare(i, 2, "::") == 0) {
        i += 2;
        continue;
      }
      if (i == 0 || i + 1 == hex.size()) return false;  // a lone leading or trailing ':'
      ++i;
      continue;
    }
    size_t length = 0;
    while (i + length < hex.size() && std::isxdigit(static_cast<unsigned char>(hex[i + length]))) ++length;
    if (length == 0 || length > 4) return false;
    ++groups;
    i += length;
  }
  return gap != std::string_view::npos ? groups < 8 : groups == 8;
}

// RFC 1123 names: labels of letters, digits and '-', not starting or ending with '-'; not all
// digits and dots (that would be a malformed IPv4 address).
bool IsDnsName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (std::all_of(host.begin(), host.end(), [](char c) { return IsDigit(c) || c == '.'; })) return false;
  while (!host.empty()) {
    const size_t dot = host.find('.');
    const std::string_view label = host.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return IsAlnum(c) || c == '-'; })) return false;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
    if (host.empty()) return true;  // a trailing dot: the root
  }
  return true;
}

bool IsPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

Expected<IceUrl> ParseIceUrl(std::string_view url) {
  if (url.empty()) return Bad(url, "empty");
  if (url.size() > kMaxIceUrlBytes) return Bad(url, "longer than " + std::to_string(kMaxIceUrlBytes) + " bytes");
  if (!IsPrintableAscii(url)) return Bad(url, "holds spaces, control characters or bytes that are not ASCII");
  IceUrl parsed;
  const size_t colon = url.find(':');
  const std::string_view scheme = url.substr(0, colon);
  if (colon == std::string_view::npos) return Bad(url, "no scheme");
  if (scheme == "stun") {
    parsed.scheme = IceUrl::Scheme::kStun;
  } else if (scheme == "turn") {
    parsed.scheme = IceUrl::Scheme::kTurn;
  } else if (scheme == "turns") {
    parsed.scheme = IceUrl::Scheme::kTurns;
  } else {
    return Bad(url, "the scheme must be stun, turn or turns");
  }
  std::string_view rest = url.substr(colon + 1);
  if (rest.starts_with("//")) return Bad(url, "ICE URLs have no '//' after the scheme");
  if (rest.find('@') != std::string_view::npos) {
    return Bad(url, "a user name in the URL is not allowed: give TURN credentials apart");
  }
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.find_first_of("/#") != std::string_view::npos) return Bad(url, "a path or fragment is not allowed");
  std::string_view host = rest, port_text;
  if (rest.starts_with("[")) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return Bad(url, "an IPv6 address without its closing ']'");
    host = rest.substr(1, close - 1);
    if (!IsIpv6(host)) return Bad(url, "'" + std::string(host) + "' is not an IPv6 address");
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Bad(url, "unexpected text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return Bad(url, "an empty port");
    }
  } else {
    if (const size_t p = rest.find(':'); p != std::string_view::npos) {
      host = rest.substr(0, p);
      port_text = rest.substr(p + 1);
      if (port_text.empty()) return Bad(url, "an empty port");
    }
    if (host.empty()) return Bad(url, "no host");
    if (!IsIpv4(host) && !IsDnsName(host)) {
      return Bad(url, "'" + std::string(host) + "' is neither a DNS name nor an IPv4 address (IPv6 goes in brackets)");
    }
  }
  parsed.host = std::string(host);
  std::transform(parsed.host.begin(), parsed.host.end(), parsed.host.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  parsed.port = parsed.scheme == IceUrl::Scheme::kTurns ? kDefaultTlsPort : kDefaultPort;
  if (!port_text.empty()) {
    int port = 0;
    const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc() || end != port_text.data() + port_text.size() || !IsDigit(port_text[0]) || port < 1 ||
        port > 65535) {
      return Bad(url, "the port must be a number from 1 to 65535");
    }
    parsed.port = port;
  }
  if (url.back() == '?') return Bad(url, "an empty query");
  if (!query.empty()) {
    if (parsed.scheme == IceUrl::Scheme::kStun) return Bad(url, "stun: URLs take no query");
    if (query == "transport=udp" && parsed.scheme == IceUrl::Scheme::kTurn) {
      parsed.transport = IceUrl::Transport::kUdp;
    } else if (query == "transport=tcp") {
      parsed.transport = IceUrl::Transport::kTcp;
    } else {
      return Bad(url, parsed.scheme == IceUrl::Scheme::kTurns ? "the only query turns: takes is transport=tcp"
                                                              : "the only query is transport=udp or transport=tcp");
    }
  }
  return parsed;
}

std::string ToString(const IceUrl& url) {
  std::string text = url.scheme == IceUrl::Scheme::kStun   ? "stun:"
                     : url.scheme == IceUrl::Scheme::kTurn ? "turn:"
                                                           : "turns:";
  const bool ipv6 = url.host.find(':') != std::string::npos;
  if (ipv6) text += '[';
  text += url.host;
  if (ipv6) text += ']';
  text += ':';
  text += std::to_string(url.port);
  if (url.transport == IceUrl::Transport::kUdp) text += "?transport=udp";
  if (url.transport == IceUrl::Transport::kTcp) text += "?transport=tcp";
  return text;
}

Status CheckIceServers(const std::vector<IceServer>& servers) {
  if (servers.size() > kMaxIceServers) {
    return Status::Error("more than " + std::to_string(kMaxIceServers) + " ICE servers");
  }
  for (const IceServer& server : servers) {
    if (server.urls.empty() || server.urls.size() > kMaxIceUrlsPerServer) {
      return Status::Error("an ICE server needs 1 to " + std::to_string(kMaxIceUrlsPerServer) + " URLs");
    }
    bool turn = false;
    for (const std::string& text : server.urls) {
      auto url = ParseIceUrl(text);
      if (!url) return url.status();
      turn = turn || url->is_turn();
    }
    for (const std::string* field : {&server.username, &server.credential}) {
      if (field->size() > kMaxIceCredentialBytes || !IsPrintableAscii(*field)) {
        return Status::Error("an ICE server's username or credential is longer than " +
                             std::to_string(kMaxIceCredentialBytes) + " bytes or not printable ASCII");
      }
    }
    if (turn && (server.username.empty() || server.credential.empty())) {
      return Status::Error("the TURN server " + server.urls.front() + " comes without a username and credential");
    }
  }
  return Status::Ok();
}

}  // namespace speakup::protocol
