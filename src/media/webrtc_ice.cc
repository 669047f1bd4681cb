// ICE servers, port ranges and announced addresses for webrtcbin (GStreamer 1.22, libnice).
#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22

#include <gio/gio.h>
#include <gst/webrtc/webrtc.h>

#include <string>
#include <vector>

#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"
#include "speakup/media/webrtc_sdp.h"
#include "speakup/webrtc.h"

namespace speakup::media {
namespace {

std::string Bracketed(const std::string& address) {
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

// Every byte but unreserved ones as %XX: webrtcbin splits the user info at its first ':' and then
// unescapes each half (g_uri_unescape_string), so escaped halves come back exactly.
std::string PercentEncode(const std::string& text) {
  GCharPtr escaped(g_uri_escape_string(text.c_str(), nullptr, FALSE));
  return escaped ? escaped.get() : "";
}

}  // namespace

std::string StunServerUri(const std::string& address, int port) {
  return "stun://" + Bracketed(address) + ":" + std::to_string(port);
}

std::string TurnServerUri(bool tls, const std::string& address, int port, const std::string& transport,
                          const std::string& username, const std::string& password) {
  std::string uri = std::string(tls ? "turns://" : "turn://") + PercentEncode(username) + ":" + PercentEncode(password) +
                    "@" + Bracketed(address) + ":" + std::to_string(port);
  if (!transport.empty()) uri += "?transport=" + transport;
  return uri;
}

bool IsIpAddress(const std::string& text) { return g_hostname_is_ip_address(text.c_str()); }

Expected<std::string> ResolveHost(const std::string& host) {
  if (IsIpAddress(host)) return host;
  GObjectPtr<GResolver> resolver(g_resolver_get_default());
  GError* error = nullptr;
  GList* addresses = g_resolver_lookup_by_name(resolver.get(), host.c_str(), nullptr, &error);
  GErrorPtr owned(error);
  if (!addresses) {
    return Error("cannot resolve the host name '" + host + "'" + (error ? std::string(": ") + error->message : ""));
  }
  std::string chosen;
  for (GList* item = addresses; item; item = item->next) {
    auto* address = G_INET_ADDRESS(item->data);
    GCharPtr text(g_inet_address_to_string(address));
    if (chosen.empty() || g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV4) chosen = text.get();
    if (g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV4) break;
  }
  g_resolver_free_addresses(addresses);
  return chosen;
}

Status ConfigureIce(GstElement* webrtcbin, const IceServers& servers, int min_port, int max_port) {
  if (!servers.stun.empty()) g_object_set(webrtcbin, "stun-server", servers.stun.c_str(), nullptr);
  for (const std::string& turn : servers.turn) {
    gboolean added = FALSE;
    g_signal_emit_by_name(webrtcbin, "add-turn-server", turn.c_str(), &added);
    // The URI is ours, so a refusal is a bug; the credentials are not shown.
    if (!added) return Status::Error("webrtcbin refused a TURN server (" + turn.substr(0, turn.find(':')) + "://...)");
  }
  if (servers.relay_only) gst_util_set_object_arg(G_OBJECT(webrtcbin), "ice-transport-policy", "relay");
  if (min_port == 0 && max_port == 0) return Status::Ok();
  if (min_port < 1 || max_port > 65535 || min_port > max_port) {
    return Status::Error("the UDP port range " + std::to_string(min_port) + "-" + std::to_string(max_port) +
                         " is not one (1-65535, lowest first)");
  }
  GObject* agent = nullptr;
  g_object_get(webrtcbin, "ice-agent", &agent, nullptr);
  GObjectPtr<GObject> ice(agent);
  if (!ice || !g_object_class_find_property(G_OBJECT_GET_CLASS(ice.get()), "min-rtp-port")) {
    return Status::Error("this GStreamer's ICE agent cannot limit its ports (min-rtp-port needs GStreamer 1.20+)");
  }
  // The agent refuses (and warns about) a minimum above its current maximum: widen first.
  g_object_set(ice.get(), "max-rtp-port", static_cast<guint>(65535), nullptr);
  g_object_set(ice.get(), "min-rtp-port", static_cast<guint>(min_port), "max-rtp-port", static_cast<guint>(max_port),
               nullptr);
  guint set_min = 0, set_max = 0;
  g_object_get(ice.get(), "min-rtp-port", &set_min, "max-rtp-port", &set_max, nullptr);
  if (set_min != static_cast<guint>(min_port) || set_max != static_cast<guint>(max_port)) {
    return Status::Error("the ICE agent did not take the UDP port range " + std::to_string(min_port) + "-" +
                         std::to_string(max_port));
  }
  return Status::Ok();
}

std::string AnnounceHostCandidate(const std::string& candidate, const std::string& address) {
  const CandidateFields fields = ParseCandidate(candidate);
  if (fields.type != "host" || address.empty()) return candidate;
  // Only the same family: an IPv6 interface's candidate stays as it is beside an announced IPv4 address.
  if ((fields.address.find(':') != std::string::npos) != (address.find(':') != std::string::npos)) return candidate;
  // The address is the fifth word: "candidate:F C T P ADDRESS PORT typ host ...".
  size_t start = 0;
  for (int word = 0; word < 4; ++word) {
    start = candidate.find(' ', start);
    if (start == std::string::npos) return candidate;
    start = candidate.find_first_not_of(' ', start);
    if (start == std::string::npos) return candidate;
  }
  const size_t end = candidate.find(' ', start);
  if (end == std::string::npos || candidate.compare(start, end - start, fields.address) != 0) return candidate;
  return candidate.substr(0, start) + address + candidate.substr(end);
}

std::string AnnounceHostCandidates(const std::string& sdp, const std::string& address) {
  if (address.empty()) return sdp;
  std::string out;
  out.reserve(sdp.size());
  size_t begin = 0;
  while (begin < sdp.size()) {
    size_t end = sdp.find('\n', begin);
    end = end == std::string::npos ? sdp.size() : end + 1;
    std::string line = sdp.substr(begin, end - begin);
    if (line.rfind("a=candidate:", 0) == 0) {
      std::string ending;
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        ending.insert(ending.begin(), line.back());
        line.pop_back();
      }
      line = AnnounceHostCandidate(line, address) + ending;
    }
    out += line;
    begin = end;
  }
  return out;
}

}  // namespace speakup::media
