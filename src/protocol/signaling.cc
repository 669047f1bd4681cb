#include "speakup/signaling.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace speakup::protocol {
namespace {

using nlohmann::json;

SignalingError Bad(std::string message) { return {"bad_message", std::move(message)}; }

// Never throws: bytes that are not UTF-8 become U+FFFD.
std::string Dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

SignalingError BadSdp(std::string message) { return {"bad_sdp", std::move(message)}; }

// A mid (RFC 8843) is a short token: letters, digits and a few marks.
bool IsMidToken(std::string_view mid) {
  if (mid.empty() || mid.size() > kMaxMidBytes) return false;
  return std::all_of(mid.begin(), mid.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`{|}~").find(c) != std::string_view::npos;
  });
}

// Calls `line` for each line of `sdp` (CRLF or LF ends), without the end.
template <typename F>
void ForEachLine(std::string_view sdp, F&& line) {
  while (!sdp.empty()) {
    const size_t end = sdp.find('\n');
    std::string_view current = sdp.substr(0, end);
    if (!current.empty() && current.back() == '\r') current.remove_suffix(1);
    line(current);
    if (end == std::string_view::npos) break;
    sdp.remove_prefix(end + 1);
  }
}

std::variant<OptionsUpdate, SignalingError> ParseOptionsObject(const json& options) {
  if (!options.is_object()) return Bad("'options' must be an object");
  OptionsUpdate update;
  for (const auto& [key, value] : options.items()) {
    if (key == "max_faces") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 8) {
        return Bad("'max_faces' must be an integer from 1 to 8");
      }
      update.max_faces = value.get<int>();
    } else if (key == "refine" || key == "smoothing" || key == "annotated_video") {
      if (!value.is_boolean()) return Bad("'" + key + "' must be true or false");
      (key == "refine"      ? update.refine
       : key == "smoothing" ? update.smoothing
                            : update.annotated_video) = value.get<bool>();
    } else if (key == "detector") {
      if (value == "short") {
        update.detector = face::DetectorKind::kShortRange;
      } else if (value == "full") {
        update.detector = face::DetectorKind::kFullRange;
      } else {
        return Bad("'detector' must be \"short\" or \"full\"");
      }
    } else if (key == "model") {
      if (value == "mesh") {
        update.model = face::LandmarkModel::kMesh;
      } else if (value == "landmarker") {
        update.model = face::LandmarkModel::kLandmarker;
      } else {
        return Bad("'model' must be \"mesh\" or \"landmarker\"");
      }
    } else {
      return Bad("unknown option '" + key + "'");
    }
  }
  return update;
}

std::variant<json, SignalingError> ParseObject(std::string_view text) {
  if (text.size() > kMaxSignalingBytes) {
    return SignalingError{"too_large", "message of " + std::to_string(text.size()) + " bytes; the limit is " +
                                           std::to_string(kMaxSignalingBytes)};
  }
  json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) return SignalingError{"bad_json", "the message is not valid JSON"};
  if (!message.is_object()) return Bad("the message must be a JSON object");
  if (!message.contains("type") || !message["type"].is_string()) return Bad("the message needs a string 'type'");
  return message;
}

}  // namespace

std::optional<SignalingError> SessionOptions::Check(const OptionsUpdate& update) const {
  SessionOptions after = *this;
  after.Apply(update);
  if (after.model == face::LandmarkModel::kLandmarker && after.refine) {
    return Bad(
        "'refine' is for the mesh model: the landmarker always gives 478 points; send \"refine\": false with "
        "\"model\": \"landmarker\"");
  }
  return std::nullopt;
}

void SessionOptions::Apply(const OptionsUpdate& update) {
  if (update.max_faces) max_faces = *update.max_faces;
  if (update.refine) refine = *update.refine;
  if (update.smoothing) smoothing = *update.smoothing;
  if (update.detector) detector = *update.detector;
  if (update.annotated_video) annotated_video = *update.annotated_video;
  if (update.model) model = *update.model;
}

face::PipelineOptions SessionOptions::ToPipeline() const {
  face::PipelineOptions options;
  options.max_faces = max_faces;
  options.model = model;
  options.refine = refine;
  options.smoothing = smoothing;
  options.detector = detector;
  return options;
}

std::variant<ClientMessage, SignalingError> ParseClientMessage(std::string_view text) {
  auto parsed = ParseObject(text);
  if (auto* error = std::get_if<SignalingError>(&parsed)) return *error;
  const json& message = std::get<json>(parsed);
  const std::string type = message["type"];
  if (type == "offer") {
    if (!message.contains("sdp") || !message["sdp"].is_string() || message["sdp"].get<std::string>().empty()) {
      return Bad("'offer' needs a non-empty string 'sdp'");
    }
    return OfferMessage{message["sdp"]};
  }
  if (type == "restart") {
    if (!message.contains("sdp") || !message["sdp"].is_string() || message["sdp"].get<std::string>().empty()) {
      return Bad("'restart' needs a non-empty string 'sdp' (the offer of the ICE restart)");
    }
    return RestartMessage{message["sdp"]};
  }
  if (type == "candidate") {
    if (!message.contains("candidate") || !message["candidate"].is_string())
      return Bad("'candidate' needs a string 'candidate'");
    const json& mline = message.contains("sdpMLineIndex") ? message["sdpMLineIndex"] : json();
    if (!mline.is_number_integer() || mline.get<int64_t>() < 0 || mline.get<int64_t>() > 16) {
      return Bad("'candidate' needs an integer 'sdpMLineIndex' from 0 to 16");
    }
    return CandidateMessage{message["candidate"], mline.get<unsigned>()};
  }
  if (type == "options") {
    if (!message.contains("options")) return Bad("'options' needs an 'options' object");
    auto update = ParseOptionsObject(message["options"]);
    if (auto* error = std::get_if<SignalingError>(&update)) return *error;
    return OptionsMessage{std::get<OptionsUpdate>(update)};
  }
  if (type == "bye") return ByeMessage{};
  return SignalingError{"unknown_type", "unknown message type '" + type + "'"};
}

std::variant<OptionsUpdate, SignalingError> ParseOptionsMessage(std::string_view text) {
  auto parsed = ParseClientMessage(text);
  if (auto* error = std::get_if<SignalingError>(&parsed)) return *error;
  if (auto* options = std::get_if<OptionsMessage>(&std::get<ClientMessage>(parsed))) return options->update;
  return Bad("only 'options' messages are accepted on the data channel");
}

int CountCandidates(std::string_view sdp) {
  int count = 0;
  ForEachLine(sdp, [&](std::string_view line) { count += line.starts_with("a=candidate:"); });
  return count;
}

std::optional<SignalingError> CheckOffer(std::string_view sdp) {
  int video = 0, application = 0, other = 0, candidates = 0;
  size_t longest = 0;
  std::string bad_mid, other_kind;
  ForEachLine(sdp, [&](std::string_view line) {
    longest = std::max(longest, line.size());
    if (line.starts_with("m=")) {
      const std::string_view kind = line.substr(2, line.find(' ') == std::string_view::npos ? 0 : line.find(' ') - 2);
      if (kind == "video") {
        ++video;
      } else if (kind == "application") {
        ++application;
      } else {
        ++other;
        if (other_kind.empty()) other_kind = std::string(kind.substr(0, 16));
      }
    } else if (line.starts_with("a=mid:")) {
      if (!IsMidToken(line.substr(6)) && bad_mid.empty()) bad_mid = std::string(line.substr(6, 16));
    } else if (line.starts_with("a=candidate:")) {
      ++candidates;
    }
  });
  const std::string what =
      "this server takes one camera video, the optional annotated video it "
      "sends back and one "
      "data channel: at most " +
      std::to_string(kMaxOfferVideoSections) + " video and " + std::to_string(kMaxOfferApplicationSections) +
      " application m-line";
  if (longest > kMaxSdpLineBytes) {
    return BadSdp("the offer has a line of " + std::to_string(longest) + " bytes; lines may have at most " +
                  std::to_string(kMaxSdpLineBytes));
  }
  if (other > 0)
    return BadSdp("the offer has " + std::to_string(other) + " m-line(s) of another kind ('" + other_kind + "'); " +
                  what);
  if (video > kMaxOfferVideoSections || application > kMaxOfferApplicationSections) {
    return BadSdp("the offer has " + std::to_string(video) + " video and " + std::to_string(application) +
                  " application m-lines; " + what);
  }
  if (video == 0) return BadSdp("the offer has no video m-line: send the camera (" + what + ")");
  if (!bad_mid.empty()) {
    return BadSdp("the offer has a mid that is not a short token ('" + bad_mid + "...'): at most " +
                  std::to_string(kMaxMidBytes) + " letters, digits or -._~!#$%&'*+^`|");
  }
  if (candidates > kMaxRemoteCandidates) {
    return BadSdp("the offer has " + std::to_string(candidates) + " candidates; at most " +
                  std::to_string(kMaxRemoteCandidates) + " per session");
  }
  return std::nullopt;
}

namespace {

// What browsers (Chromium, Firefox, Safari) and GStreamer put in offers and the server may use.
constexpr std::string_view kKnownAttributes[] = {
    "group", "msid-semantic", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "fingerprint", "setup",
    "mid", "sendonly", "recvonly", "sendrecv", "inactive", "rtpmap", "fmtp", "rtcp-fb", "rtcp", "rtcp-mux",
    "rtcp-rsize", "extmap", "extmap-allow-mixed", "msid", "ssrc", "ssrc-group", "candidate",
    "end-of-candidates", "sctp-port", "max-message-size", "sctpmap", "tls-id", "bundle-only"};
constexpr std::string_view kKnownFormatParameters[] = {
    "apt", "profile-level-id", "packetization-mode", "level-asymmetry-allowed", "profile-id", "max-fr",
    "max-fs", "x-google-max-bitrate", "x-google-min-bitrate", "x-google-start-bitrate", "sprop-parameter-sets",
    "repair-window", "rtx-time", "level-idx", "profile", "tier"};
constexpr std::string_view kKnownFeedback[] = {"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"};
constexpr std::string_view kKnownSsrcAttributes[] = {"cname", "msid"};

template <size_t N>
bool Known(const std::string_view (&list)[N], std::string_view name) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

// "a=fmtp:96 apt=100;foo=1" -> "a=fmtp:96 apt=100" (parameters without '=' are kept as they are).
std::string SanitizeFormat(std::string_view line) {
  const size_t space = line.find(' ');
  if (space == std::string_view::npos) return std::string(line);
  std::string kept;
  std::string_view parameters = line.substr(space + 1);
  while (!parameters.empty()) {
    const size_t end = parameters.find(';');
    std::string_view parameter = parameters.substr(0, end);
    parameters.remove_prefix(end == std::string_view::npos ? parameters.size() : end + 1);
    while (!parameter.empty() && parameter.front() == ' ') parameter.remove_prefix(1);
    const size_t equals = parameter.find('=');
    if (equals != std::string_view::npos && !Known(kKnownFormatParameters, parameter.substr(0, equals))) continue;
    if (parameter.empty()) continue;
    if (!kept.empty()) kept += ';';
    kept.append(parameter);
  }
  return kept.empty() ? std::string() : std::string(line.substr(0, space + 1)) + kept;
}

}  // namespace

std::string SanitizeOffer(std::string_view sdp) {
  std::string out;
  out.reserve(sdp.size());
  int ssrc_lines = 0;
  ForEachLine(sdp, [&](std::string_view line) {
    if (line.empty()) return;
    if (line.starts_with("a=")) {
      const std::string_view attribute = line.substr(2);
      const std::string_view key = attribute.substr(0, attribute.find(':'));
      const std::string_view value = key.size() < attribute.size() ? attribute.substr(key.size() + 1) : "";
      if (!Known(kKnownAttributes, key)) return;
      if (key == "fmtp") {
        const std::string cleaned = SanitizeFormat(line);
        if (!cleaned.empty()) {
          out += cleaned;
          out += "\r\n";
        }
        return;
      }
      if (key == "rtcp-fb" && !Known(kKnownFeedback, value.substr(std::min(value.size(), value.find(' ') + 1)))) return;
      if (key == "ssrc") {
        const size_t space = value.find(' ');
        const std::string_view what = space == std::string_view::npos ? "" : value.substr(space + 1);
        if (!Known(kKnownSsrcAttributes, what.substr(0, what.find(':'))) || ++ssrc_lines > kMaxSsrcLines) return;
      }
    }
    out.append(line);
    out += "\r\n";
  });
  return out;
}

std::string WelcomeJson(const std::string& session, int max_width, int max_height,
                        const std::vector<IceServer>& ice_servers) {
  json welcome{
      {"type", "welcome"},
      {"session", session},
      {"protocol", kSignalingProtocol},
      {"limits", {{"max_message_bytes", kMaxSignalingBytes}, {"max_width", max_width}, {"max_height", max_height}}}};
  if (!ice_servers.empty()) {
    json servers = json::array();
    for (const IceServer& server : ice_servers) {
      json entry{{"urls", server.urls}};
      if (!server.username.empty()) entry["username"] = server.username;
      if (!server.credential.empty()) entry["credential"] = server.credential;
      servers.push_back(std::move(entry));
    }
    welcome["ice_servers"] = std::move(servers);
  }
  return Dump(welcome);
}

Expected<Welcome> ParseWelcome(std::string_view text) {
  if (text.size() > kMaxSignalingBytes) return Error("the welcome message is larger than " + std::to_string(kMaxSignalingBytes) + " bytes");
  const json message = json::parse(text, nullptr, false);
  if (!message.is_object() || message.value("type", json()) != "welcome") return Error("not a welcome message");
  Welcome welcome;
  const json& session = message.value("session", json());
  const json& protocol = message.value("protocol", json());
  if (!session.is_string() || !protocol.is_number_integer()) {
    return Error("the welcome message needs a string 'session' and an integer 'protocol'");
  }
  welcome.session = session.get<std::string>();
  welcome.protocol = protocol.get<int>();
  if (!message.contains("ice_servers")) return welcome;
  const json& servers = message["ice_servers"];
  if (!servers.is_array() || servers.size() > kMaxIceServers) {
    return Error("the welcome's 'ice_servers' must be an array of at most " + std::to_string(kMaxIceServers) + " servers");
  }
  for (const json& entry : servers) {
    IceServer server;
    const json& urls = entry.is_object() ? entry.value("urls", json()) : json();
    // RTCIceServer allows one URL as a string too.
    if (urls.is_string()) {
      server.urls.push_back(urls.get<std::string>());
    } else if (urls.is_array() && urls.size() <= kMaxIceUrlsPerServer &&
               std::all_of(urls.begin(), urls.end(), [](const json& u) { return u.is_string(); })) {
      for (const json& url : urls) server.urls.push_back(url.get<std::string>());
    } else {
      return Error("each of the welcome's 'ice_servers' needs 'urls': a string or an array of at most " +
                   std::to_string(kMaxIceUrlsPerServer) + " strings");
    }
    for (const auto& [key, field] : {std::pair{"username", &server.username}, std::pair{"credential", &server.credential}}) {
      const json& value = entry.value(key, json());
      if (value.is_null()) continue;
      if (!value.is_string()) return Error(std::string("an ICE server's '") + key + "' must be a string");
      *field = value.get<std::string>();
    }
    welcome.ice_servers.push_back(std::move(server));
  }
  Status checked = CheckIceServers(welcome.ice_servers);
  if (!checked.ok()) return Error("the welcome's ice_servers: " + checked.message());
  return welcome;
}

std::string AnswerJson(const std::string& sdp) { return Dump(json{{"type", "answer"}, {"sdp", sdp}}); }

std::string CandidateJson(unsigned mline, const std::string& candidate) {
  return Dump(json{{"type", "candidate"}, {"candidate", candidate}, {"sdpMLineIndex", mline}});
}

std::string OptionsJson(const SessionOptions& o) {
  return Dump(json{{"type", "options"},
                   {"options",
                    {{"max_faces", o.max_faces},
                     {"refine", o.refine},
                     {"smoothing", o.smoothing},
                     {"detector", o.detector == face::DetectorKind::kFullRange ? "full" : "short"},
                     {"annotated_video", o.annotated_video},
                     {"model", o.model == face::LandmarkModel::kLandmarker ? "landmarker" : "mesh"}}}});
}

std::string ErrorJson(const std::string& code, const std::string& message) {
  return Dump(json{{"type", "error"}, {"code", code}, {"message", message}});
}

std::string ByeJson(const std::string& reason, bool reconnect) {
  json bye{{"type", "bye"}, {"reason", reason}};
  if (reconnect) bye["reconnect"] = true;
  return Dump(bye);
}

}  // namespace speakup::protocol
