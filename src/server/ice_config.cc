#include "ice_config.h"

#include <gio/gio.h>

#include <algorithm>

#include "speakup/media/gst_handles.h"

namespace speakup::server {
namespace {

constexpr int kMinTurnTtlS = 60, kMaxTurnTtlS = 7 * 24 * 3600;

bool IsPrintableAscii(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

TurnCredentials TurnRestCredentials(const std::string& secret, int64_t expiry_unix_s, const std::string& name) {
  TurnCredentials credentials;
  credentials.username = std::to_string(expiry_unix_s) + ":" + name;
  GHmac* hmac = g_hmac_new(G_CHECKSUM_SHA1, reinterpret_cast<const guchar*>(secret.data()), secret.size());
  g_hmac_update(hmac, reinterpret_cast<const guchar*>(credentials.username.data()),
                static_cast<gssize>(credentials.username.size()));
  guint8 digest[20];
  gsize length = sizeof(digest);
  g_hmac_get_digest(hmac, digest, &length);
  g_hmac_unref(hmac);
  media::GCharPtr encoded(g_base64_encode(digest, length));
  credentials.password = encoded.get();
  return credentials;
}

Expected<IceConfig> IceConfig::Create(const ServerOptions& options) {
  IceConfig config;
  for (const std::string& text : options.ice_servers) {
    auto url = protocol::ParseIceUrl(text);
    if (!url) return Error("--ice-server: " + url.error());
    (url->is_turn() ? config.turn_ : config.stun_).push_back(*url);
  }
  if (config.stun_.size() > protocol::kMaxIceUrlsPerServer || config.turn_.size() > protocol::kMaxIceUrlsPerServer) {
    return Error("at most " + std::to_string(protocol::kMaxIceUrlsPerServer) + " --ice-server URLs of each kind");
  }
  const bool static_credentials = !options.turn_user.empty() || !options.turn_password.empty();
  const bool secret = !options.turn_secret.empty();
  if (options.turn_user.empty() != options.turn_password.empty()) {
    return Error("give --turn-user and --turn-password together");
  }
  if (static_credentials && secret) {
    return Error("give either --turn-user/--turn-password (static TURN credentials) or --turn-secret "
                 "(time-limited ones), not both");
  }
  if (config.turn_.empty() && (static_credentials || secret)) {
    return Error("TURN credentials given, but no TURN server: add --ice-server turn:HOST:PORT");
  }
  if (!config.turn_.empty() && !static_credentials && !secret) {
    return Error("--ice-server " + protocol::ToString(config.turn_.front()) +
                 ": a TURN server needs credentials: --turn-secret (coturn's static-auth-secret, for "
                 "time-limited credentials per session) or --turn-user and --turn-password");
  }
  for (const std::string* text : {&options.turn_user, &options.turn_password, &options.turn_secret}) {
    if (text->size() > protocol::kMaxIceCredentialBytes / 2 || !IsPrintableAscii(*text)) {
      return Error("TURN user names, passwords and secrets are printable ASCII without spaces, at most " +
                   std::to_string(protocol::kMaxIceCredentialBytes / 2) + " bytes");
    }
  }
  if (options.turn_ttl_s < kMinTurnTtlS || options.turn_ttl_s > kMaxTurnTtlS) {
    return Error("--turn-ttl must be from " + std::to_string(kMinTurnTtlS) + " to " + std::to_string(kMaxTurnTtlS) +
                 " seconds");
  }
  if (options.relay_only && config.turn_.empty()) {
    return Error("--ice-transport-policy relay needs a TURN server (--ice-server turn:HOST:PORT)");
  }
  if (!options.public_ip.empty()) {
    media::GObjectPtr<GInetAddress> address(g_inet_address_new_from_string(options.public_ip.c_str()));
    if (!address || g_inet_address_get_is_any(address.get()) || g_inet_address_get_is_multicast(address.get())) {
      return Error("--public-ip must be the IP address clients reach this machine at (e.g. 203.0.113.7), not '" +
                   options.public_ip + "'");
    }
  }
  if (options.udp_port_min != 0 || options.udp_port_max != 0) {
    if (options.udp_port_min < 1 || options.udp_port_max > 65535 || options.udp_port_min > options.udp_port_max) {
      return Error("--udp-ports must be MIN-MAX with 1 <= MIN <= MAX <= 65535, not " +
                   std::to_string(options.udp_port_min) + "-" + std::to_string(options.udp_port_max));
    }
  }
  // libnice (GStreamer 1.22) takes STUN and TURN servers by address: names are resolved once here.
  for (const auto* list : {&config.stun_, &config.turn_}) {
    for (const protocol::IceUrl& url : *list) {
      if (config.addresses_.count(url.host)) continue;
      auto address = media::ResolveHost(url.host);
      if (!address) return Error("--ice-server " + protocol::ToString(url) + ": " + address.error());
      config.addresses_[url.host] = *address;
    }
  }
  config.turn_user_ = options.turn_user;
  config.turn_password_ = options.turn_password;
  config.turn_secret_ = options.turn_secret;
  config.turn_ttl_s_ = options.turn_ttl_s;
  config.relay_only_ = options.relay_only;
  config.public_ip_ = options.public_ip;
  config.udp_port_min_ = options.udp_port_min;
  config.udp_port_max_ = options.udp_port_max;
  // What clients will get must pass the check clients make.
  SPEAKUP_RETURN_IF_ERROR(protocol::CheckIceServers(config.ForSession("check", 0).client));
  return config;
}

SessionIce IceConfig::ForSession(const std::string& session, int64_t now_unix_s) const {
  SessionIce ice;
  ice.peer.relay_only = relay_only_;
  if (!stun_.empty()) {
    protocol::IceServer stun;
    for (const protocol::IceUrl& url : stun_) stun.urls.push_back(protocol::ToString(url));
    ice.client.push_back(std::move(stun));
    // webrtcbin takes one STUN server.
    ice.peer.stun = media::StunServerUri(addresses_.at(stun_.front().host), stun_.front().port);
  }
  if (turn_.empty()) return ice;
  TurnCredentials credentials{turn_user_, turn_password_};
  if (!turn_secret_.empty()) credentials = TurnRestCredentials(turn_secret_, now_unix_s + turn_ttl_s_, session);
  protocol::IceServer turn;
  turn.username = credentials.username;
  turn.credential = credentials.password;
  for (const protocol::IceUrl& url : turn_) {
    turn.urls.push_back(protocol::ToString(url));
    const char* transport = url.transport == protocol::IceUrl::Transport::kUdp   ? "udp"
                            : url.transport == protocol::IceUrl::Transport::kTcp ? "tcp"
                                                                                 : "";
    ice.peer.turn.push_back(media::TurnServerUri(url.scheme == protocol::IceUrl::Scheme::kTurns,
                                                 addresses_.at(url.host), url.port, transport, credentials.username,
                                                 credentials.password));
  }
  ice.client.push_back(std::move(turn));
  return ice;
}

void IceConfig::ApplyTo(media::WebRtcOptions& options) const {
  options.announced_address = public_ip_;
  options.min_port = udp_port_min_;
  options.max_port = udp_port_max_;
  options.ice_servers.relay_only = relay_only_;
}

}  // namespace speakup::server
