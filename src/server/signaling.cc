#include "signaling.h"

#include <nlohmann/json.hpp>

namespace speakup::server {
namespace {

using nlohmann::json;

SignalingError Bad(std::string message) { return {"bad_message", std::move(message)}; }

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
      (key == "refine" ? update.refine : key == "smoothing" ? update.smoothing : update.annotated_video) = value.get<bool>();
    } else if (key == "detector") {
      if (value == "short") {
        update.detector = face::DetectorKind::kShortRange;
      } else if (value == "full") {
        update.detector = face::DetectorKind::kFullRange;
      } else {
        return Bad("'detector' must be \"short\" or \"full\"");
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

void SessionOptions::Apply(const OptionsUpdate& update) {
  if (update.max_faces) max_faces = *update.max_faces;
  if (update.refine) refine = *update.refine;
  if (update.smoothing) smoothing = *update.smoothing;
  if (update.detector) detector = *update.detector;
  if (update.annotated_video) annotated_video = *update.annotated_video;
}

face::PipelineOptions SessionOptions::ToPipeline() const {
  face::PipelineOptions options;
  options.max_faces = max_faces;
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
  if (type == "candidate") {
    if (!message.contains("candidate") || !message["candidate"].is_string()) return Bad("'candidate' needs a string 'candidate'");
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

std::string WelcomeJson(const std::string& session, int max_width, int max_height) {
  return json{{"type", "welcome"},
              {"session", session},
              {"protocol", 1},
              {"limits", {{"max_message_bytes", kMaxSignalingBytes}, {"max_width", max_width}, {"max_height", max_height}}}}
      .dump();
}

std::string AnswerJson(const std::string& sdp) { return json{{"type", "answer"}, {"sdp", sdp}}.dump(); }

std::string CandidateJson(unsigned mline, const std::string& candidate) {
  return json{{"type", "candidate"}, {"candidate", candidate}, {"sdpMLineIndex", mline}}.dump();
}

std::string OptionsJson(const SessionOptions& o) {
  return json{{"type", "options"},
              {"options",
               {{"max_faces", o.max_faces},
                {"refine", o.refine},
                {"smoothing", o.smoothing},
                {"detector", o.detector == face::DetectorKind::kFullRange ? "full" : "short"},
                {"annotated_video", o.annotated_video}}}}
      .dump();
}

std::string ErrorJson(const std::string& code, const std::string& message) {
  return json{{"type", "error"}, {"code", code}, {"message", message}}.dump();
}

std::string ByeJson(const std::string& reason) { return json{{"type", "bye"}, {"reason", reason}}.dump(); }

}  // namespace speakup::server
