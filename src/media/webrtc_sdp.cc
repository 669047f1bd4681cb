#include "speakup/media/webrtc_sdp.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>
#include <string_view>

namespace speakup::media {
namespace {

std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// Lines of an SDP text without their line ends; empty lines dropped.
std::vector<std::string_view> SdpLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

// The SDP grammar's outline: "v=0" first, then only "<letter>=<text>" lines of printable text.
// GStreamer's parser accepts almost anything (it skips what it does not understand), so garbage
// would otherwise look like an empty session.
Status CheckSdpOutline(const std::string& sdp) {
  if (sdp.empty()) return Status::Error("the offer is not valid SDP (it is empty)");
  if (sdp.size() > kMaxOfferBytes) {
    return Status::Error("the offer is not valid SDP (it is " + std::to_string(sdp.size()) +
                         " bytes; at most " + std::to_string(kMaxOfferBytes) + " are accepted)");
  }
  std::vector<std::string_view> lines = SdpLines(sdp);
  if (lines.empty() || lines.front() != "v=0") {
    return Status::Error("the offer is not valid SDP (it must start with the line v=0)");
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    bool ok = line.size() >= 2 && line[0] >= 'a' && line[0] <= 'z' && line[1] == '=';
    for (char c : line) ok = ok && (static_cast<unsigned char>(c) >= 0x20 || c == '\t');
    if (!ok) {
      return Status::Error("the offer is not valid SDP (line " + std::to_string(i + 1) +
                           " is not of the form x=value)");
    }
  }
  return Status::Ok();
}

enum class Direction { kSendRecv, kSendOnly, kRecvOnly, kInactive };

// The direction attribute among `count` attributes read by `get`, or `fallback`.
template <typename Get>
Direction DirectionOf(guint count, Get get, Direction fallback) {
  for (guint i = 0; i < count; ++i) {
    const GstSDPAttribute* attribute = get(i);
    if (!attribute || !attribute->key) continue;
    std::string_view key = attribute->key;
    if (key == "sendrecv") return Direction::kSendRecv;
    if (key == "sendonly") return Direction::kSendOnly;
    if (key == "recvonly") return Direction::kRecvOnly;
    if (key == "inactive") return Direction::kInactive;
  }
  return fallback;
}

bool HasAttribute(const GstSDPMedia* media, std::string_view key) {
  for (guint i = 0; i < gst_sdp_media_attributes_len(media); ++i) {
    const GstSDPAttribute* attribute = gst_sdp_media_get_attribute(media, i);
    if (attribute && attribute->key && attribute->key == key) return true;
  }
  return false;
}

// A media section that is in use: port 0 rejects it unless it is bundle-only.
bool IsActive(const GstSDPMedia* media) {
  return gst_sdp_media_get_port(media) != 0 || HasAttribute(media, "bundle-only");
}

struct Codec {
  int payload = -1;
  std::string name;  // upper case
};

// The codecs of a media section, in the order of its format list, from its rtpmap lines.
std::vector<Codec> CodecsOf(const GstSDPMedia* media) {
  std::vector<Codec> codecs;
  for (guint i = 0; i < gst_sdp_media_formats_len(media); ++i) {
    const char* format = gst_sdp_media_get_format(media, i);
    if (!format) continue;
    char* end = nullptr;
    long payload = std::strtol(format, &end, 10);
    if (end == format || *end != '\0' || payload < 0 || payload > 127) continue;
    for (guint n = 0;; ++n) {
      const char* rtpmap = gst_sdp_media_get_attribute_val_n(media, "rtpmap", n);
      if (!rtpmap) break;
      std::istringstream fields(rtpmap);
      long mapped = -1;
      std::string encoding;
      if (!(fields >> mapped >> encoding) || mapped != payload) continue;
      encoding = Upper(encoding.substr(0, encoding.find('/')));
      codecs.push_back({static_cast<int>(payload), encoding});
      break;
    }
  }
  return codecs;
}

bool IsHelperCodec(const std::string& name) {
  return name == "RTX" || name == "RED" || name == "ULPFEC" || name == "FLEXFEC-03" || name == "FLEXFEC";
}

}  // namespace

bool IsDecodableCodec(const std::string& encoding_name) {
  return encoding_name == "VP8" || encoding_name == "VP9" || encoding_name == "H264";
}

Expected<OfferInfo> InspectOffer(const std::string& sdp, bool require_data_channel) {
  SPEAKUP_RETURN_IF_ERROR(CheckSdpOutline(sdp));
  GstSDPMessage* raw = nullptr;
  if (gst_sdp_message_new_from_text(sdp.c_str(), &raw) != GST_SDP_OK || !raw) {
    if (raw) gst_sdp_message_free(raw);
    return Error("the offer is not valid SDP (GStreamer's SDP parser rejected it)");
  }
  OfferInfo info;
  info.message.reset(raw);
  const GstSDPMessage* message = raw;
  info.mline_count = gst_sdp_message_medias_len(message);
  if (info.mline_count == 0) return Error("the offer has no video (it has no media section at all)");

  const Direction session_direction = DirectionOf(
      gst_sdp_message_attributes_len(message),
      [&](guint i) { return gst_sdp_message_get_attribute(message, i); }, Direction::kSendRecv);
  std::vector<std::string> other_codecs;  // of a sending video m-line without a decodable codec
  bool any_video = false;
  for (guint m = 0; m < info.mline_count; ++m) {
    const GstSDPMedia* media = gst_sdp_message_get_media(message, m);
    const char* kind = gst_sdp_media_get_media(media);
    if (!kind || !IsActive(media)) continue;
    const std::string_view name = kind;
    if (name == "application") {
      const char* proto = gst_sdp_media_get_proto(media);
      if (proto && std::string_view(proto).find("SCTP") != std::string_view::npos) info.has_data_channel = true;
      continue;
    }
    if (name != "video") continue;
    any_video = true;
    const Direction direction = DirectionOf(
        gst_sdp_media_attributes_len(media), [&](guint i) { return gst_sdp_media_get_attribute(media, i); },
        session_direction);
    std::vector<Codec> codecs = CodecsOf(media);
    const bool client_sends = direction == Direction::kSendRecv || direction == Direction::kSendOnly;
    const bool client_receives = direction == Direction::kSendRecv || direction == Direction::kRecvOnly;
    if (info.camera_mline < 0 && client_sends) {
      std::vector<std::string> names;
      bool decodable = false;
      for (const Codec& codec : codecs) {
        if (IsHelperCodec(codec.name)) continue;
        if (std::find(names.begin(), names.end(), codec.name) == names.end()) names.push_back(codec.name);
        decodable = decodable || IsDecodableCodec(codec.name);
      }
      if (decodable) {
        info.camera_mline = static_cast<int>(m);
        info.camera_codecs = std::move(names);
        continue;
      }
      if (other_codecs.empty()) other_codecs = std::move(names);
      continue;
    }
    if (info.return_mline < 0 && client_receives && static_cast<int>(m) != info.camera_mline) {
      info.return_mline = static_cast<int>(m);
      for (const Codec& codec : codecs) {
        if (codec.name == "VP8") {
          info.return_vp8_payload = codec.payload;
          break;
        }
      }
    }
  }
  if (info.camera_mline < 0) {
    if (!other_codecs.empty()) {
      std::string list;
      for (const std::string& codec : other_codecs) list += (list.empty() ? "" : ", ") + codec;
      return Error("the offer's video uses no codec the server decodes (it offers " + list +
                   "; the server decodes VP8, VP9 and H.264)");
    }
    return Error(any_video ? "the offer has no video (no video m-line the client sends on: add the camera "
                             "track before creating the offer)"
                           : "the offer has no video (no m=video section)");
  }
  if (require_data_channel && !info.has_data_channel) {
    return Error("the offer has no data channel (create the data channel before the offer)");
  }
  return info;
}

void KeepDecodableCodecs(GstSDPMessage* message, unsigned mline) {
  if (mline >= gst_sdp_message_medias_len(message)) return;
  // The message is ours (a copy); the accessor is const only because most callers only read.
  auto* media = const_cast<GstSDPMedia*>(gst_sdp_message_get_media(message, mline));
  std::vector<Codec> codecs = CodecsOf(media);
  auto payload_of_apt = [&](int payload) {
    for (guint n = 0;; ++n) {
      const char* fmtp = gst_sdp_media_get_attribute_val_n(media, "fmtp", n);
      if (!fmtp) return -1;
      std::istringstream fields(fmtp);
      long mapped = -1;
      std::string parameters;
      if (!(fields >> mapped >> parameters) || mapped != payload) continue;
      size_t at = parameters.find("apt=");
      return at == std::string::npos ? -1 : std::atoi(parameters.c_str() + at + 4);
    }
  };
  std::vector<int> kept;
  for (const Codec& codec : codecs) {
    if (IsDecodableCodec(codec.name) || codec.name == "RED" || codec.name == "ULPFEC") kept.push_back(codec.payload);
  }
  for (const Codec& codec : codecs) {
    if (codec.name != "RTX") continue;
    const int repaired = payload_of_apt(codec.payload);
    if (std::find(kept.begin(), kept.end(), repaired) != kept.end()) kept.push_back(codec.payload);
  }
  auto is_kept = [&](long payload) { return std::find(kept.begin(), kept.end(), payload) != kept.end(); };
  for (guint i = gst_sdp_media_formats_len(media); i-- > 0;) {
    const char* format = gst_sdp_media_get_format(media, i);
    char* end = nullptr;
    long payload = format ? std::strtol(format, &end, 10) : -1;
    if (!format || end == format || *end != '\0' || !is_kept(payload)) gst_sdp_media_remove_format(media, i);
  }
  for (guint i = gst_sdp_media_attributes_len(media); i-- > 0;) {
    const GstSDPAttribute* attribute = gst_sdp_media_get_attribute(media, i);
    if (!attribute || !attribute->key || !attribute->value) continue;
    const std::string_view key = attribute->key;
    if (key != "rtpmap" && key != "fmtp" && key != "rtcp-fb") continue;
    char* end = nullptr;
    long payload = std::strtol(attribute->value, &end, 10);
    if (end != attribute->value && !is_kept(payload)) gst_sdp_media_remove_attribute(media, i);
  }
}

void RemoveCongestionFeedback(GstSDPMessage* message, bool keep_transport_cc) {
  for (guint m = 0; m < gst_sdp_message_medias_len(message); ++m) {
    auto* media = const_cast<GstSDPMedia*>(gst_sdp_message_get_media(message, m));
    for (guint i = gst_sdp_media_attributes_len(media); i-- > 0;) {
      const GstSDPAttribute* attribute = gst_sdp_media_get_attribute(media, i);
      if (!attribute || !attribute->key || !attribute->value) continue;
      const std::string_view key = attribute->key, value = attribute->value;
      const bool remb = key == "rtcp-fb" && value.find("goog-remb") != std::string_view::npos;
      const bool transport_cc = (key == "rtcp-fb" && value.find("transport-cc") != std::string_view::npos) ||
                                (key == "extmap" && value.find("transport-wide-cc") != std::string_view::npos);
      if (remb || (transport_cc && !keep_transport_cc)) gst_sdp_media_remove_attribute(media, i);
    }
  }
}

bool AnswerTransportWideCc(const GstSDPMessage* offer, GstSDPMessage* answer, unsigned mline) {
  if (mline >= gst_sdp_message_medias_len(offer) || mline >= gst_sdp_message_medias_len(answer)) return false;
  const GstSDPMedia* offered = gst_sdp_message_get_media(offer, mline);
  auto* media = const_cast<GstSDPMedia*>(gst_sdp_message_get_media(answer, mline));
  auto is_extension = [](const char* value) {
    return value && std::string_view(value).find(kTransportWideCcUri) != std::string_view::npos;
  };
  for (guint n = 0;; ++n) {
    const char* extmap = gst_sdp_media_get_attribute_val_n(media, "extmap", n);
    if (!extmap) break;
    if (is_extension(extmap)) return true;  // webrtcbin answered it itself
  }
  bool feedback = false;
  for (guint n = 0;; ++n) {
    const char* rtcp_fb = gst_sdp_media_get_attribute_val_n(media, "rtcp-fb", n);
    if (!rtcp_fb) break;
    feedback = feedback || std::string_view(rtcp_fb).find("transport-cc") != std::string_view::npos;
  }
  if (!feedback) return false;
  for (guint n = 0;; ++n) {
    const char* extmap = gst_sdp_media_get_attribute_val_n(offered, "extmap", n);
    if (!extmap) return false;
    if (!is_extension(extmap)) continue;
    // "<id>[/<direction>] <uri> ...": answered with the offer's id, as the client numbers it.
    char* end = nullptr;
    const long id = std::strtol(extmap, &end, 10);
    if (end == extmap || id < 1 || id > 255) return false;
    const std::string value = std::to_string(id) + " " + std::string(kTransportWideCcUri);
    gst_sdp_media_add_attribute(media, "extmap", value.c_str());
    return true;
  }
}

void AskForBitrate(GstSDPMessage* answer, unsigned mline, int min_kbps, int start_kbps, int max_kbps) {
  if (mline >= gst_sdp_message_medias_len(answer)) return;
  auto* media = const_cast<GstSDPMedia*>(gst_sdp_message_get_media(answer, mline));
  std::string parameters;
  auto add = [&parameters](const char* name, int kbps) {
    if (kbps <= 0) return;
    if (!parameters.empty()) parameters += ';';
    parameters.append(name).append("=").append(std::to_string(kbps));
  };
  add("x-google-min-bitrate", min_kbps);
  add("x-google-start-bitrate", start_kbps);
  add("x-google-max-bitrate", max_kbps);
  for (const Codec& codec : CodecsOf(media)) {
    if (!IsDecodableCodec(codec.name) || parameters.empty()) continue;
    const std::string prefix = std::to_string(codec.payload) + " ";
    bool extended = false;
    for (guint i = 0; i < gst_sdp_media_attributes_len(media); ++i) {
      const GstSDPAttribute* attribute = gst_sdp_media_get_attribute(media, i);
      if (!attribute->key || std::string_view(attribute->key) != "fmtp" || !attribute->value) continue;
      const std::string value = attribute->value;
      if (value.rfind(prefix, 0) != 0) continue;
      GstSDPAttribute replacement;
      gst_sdp_attribute_set(&replacement, "fmtp", (value + ";" + parameters).c_str());
      gst_sdp_media_replace_attribute(media, i, &replacement);
      extended = true;
      break;
    }
    if (!extended) gst_sdp_media_add_attribute(media, "fmtp", (prefix + parameters).c_str());
  }
  if (max_kbps > 0) gst_sdp_media_add_bandwidth(media, "AS", static_cast<guint>(max_kbps));
}

Expected<std::string> NormalizeCandidate(const std::string& candidate) {
  std::string line = candidate;
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.size() > kMaxCandidateBytes) {
    return Error("the ICE candidate is too long (" + std::to_string(line.size()) + " bytes; at most " +
                 std::to_string(kMaxCandidateBytes) + ")");
  }
  for (char c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Error("the ICE candidate contains control characters");
    }
  }
  if (line.rfind("candidate:", 0) != 0) return Error("the ICE candidate does not start with 'candidate:'");
  CandidateFields fields = ParseCandidate(line);
  if (fields.address.empty() || fields.type.empty()) {
    return Error("the ICE candidate is malformed (expected 'candidate:<foundation> <component> <transport> "
                 "<priority> <address> <port> typ <type> ...')");
  }
  return line;
}

CandidateFields ParseCandidate(const std::string& candidate) {
  std::string line = candidate;
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
  if (line.rfind("candidate:", 0) != 0) return {};
  std::istringstream words(line.substr(10));
  std::string foundation, component, transport, priority, address, port, typ, type;
  if (!(words >> foundation >> component >> transport >> priority >> address >> port >> typ >> type)) return {};
  if (typ != "typ") return {};
  return {transport, address, type};
}

}  // namespace speakup::media
