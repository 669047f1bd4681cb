#include "webrtc_negotiation.h"

#include <gst/sdp/sdp.h>

#include <algorithm>

#include "speakup/media/gst_handles.h"

namespace speakup::media {
namespace {

constexpr size_t kMaxPendingCandidates = 256;
// The camera's bitrate asked of the client (see AskForBitrate). Start: a 640x480 key frame arrives
// in a fraction of a second. Max: 720p at 30 fps of a face; with feedback Chromium reaches the max on
// a LAN within a second, and decoding costs more per frame the more bits it gets (measured here:
// 1.0 ms at 1.5 Mbit/s, 1.3 ms at 2.7 Mbit/s, 640x480 VP8) for landmarks no better. With feedback
// the browser finds the rate under these itself (no minimum); without, the minimum pins it.
constexpr int kCameraStartKbps = 1500, kCameraMaxKbps = 2000;
constexpr int kCameraMinKbpsWithoutFeedback = 600;

std::string ErrorText(const GError* error, const char* fallback) {
  return error && error->message ? error->message : fallback;
}

}  // namespace

void WebRtcNegotiation::Attach() {
  signals_.push_back(ConnectSignal<void(GstElement*, guint, gchar*)>(
      webrtc_, "on-ice-candidate",
      gate_.Guard([this](GstElement*, guint mline, gchar* candidate) { OnLocalCandidate(mline, candidate); })));
  signals_.push_back(ConnectSignal<void(GObject*, GParamSpec*)>(
      webrtc_, "notify::connection-state", gate_.Guard([this](GObject*, GParamSpec*) { OnConnectionStateChanged(); })));
  signals_.push_back(ConnectSignal<void(GObject*, GParamSpec*)>(
      webrtc_, "notify::ice-connection-state", gate_.Guard([this](GObject*, GParamSpec*) { OnIceStateChanged(); })));
}

void WebRtcNegotiation::Close() {
  closed_ = true;
  signals_.clear();
  answer_done_ = nullptr;
  pending_candidates_.clear();
  offer_.message.reset();
}

// ---- promise replies (webrtcbin's thread) ----

struct WebRtcNegotiation::PromiseContext {
  WebRtcNegotiation* negotiation;  // used only by the posted task, which runs only while the peer exists
  PostTask post;
  OfferStep step;
};

void WebRtcNegotiation::OnPromiseReplied(GstPromise* promise, gpointer data) {
  const auto* context = static_cast<const PromiseContext*>(data);
  try {
    std::string error;
    std::shared_ptr<GstWebRTCSessionDescription> answer;
    if (gst_promise_wait(promise) != GST_PROMISE_RESULT_REPLIED) {
      error = "webrtcbin dropped the request (the peer is shutting down)";
    } else if (const GstStructure* reply = gst_promise_get_reply(promise)) {
      if (gst_structure_has_field(reply, "error")) {
        GError* raw = nullptr;
        gst_structure_get(reply, "error", G_TYPE_ERROR, &raw, nullptr);
        GErrorPtr owned(raw);
        error = ErrorText(raw, "unknown error");
      } else if (context->step == OfferStep::kAnswerCreated) {
        GstWebRTCSessionDescription* description = nullptr;
        gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description, nullptr);
        if (description) {
          answer.reset(description, SessionDescriptionFree());
        } else {
          error = "webrtcbin created no answer";
        }
      }
    } else if (context->step == OfferStep::kAnswerCreated) {
      error = "webrtcbin created no answer";
    }
    context->post([self = context->negotiation, step = context->step, error, answer] {
      switch (step) {
        case OfferStep::kRemoteSet: self->OnRemoteDescriptionSet(error); break;
        case OfferStep::kAnswerCreated: self->OnAnswerCreated(error, answer); break;
        case OfferStep::kLocalSet: self->OnLocalDescriptionSet(error); break;
      }
    });
  } catch (...) {
    ReportEscapedException("webrtc peer: a promise reply");
  }
}

GstPromise* WebRtcNegotiation::NewPromise(OfferStep step) {
  auto* context = new PromiseContext{this, post_, step};
  return gst_promise_new_with_change_func(OnPromiseReplied, context,
                                          [](gpointer data) { delete static_cast<PromiseContext*>(data); });
}

// ---- the offer/answer exchange (main context) ----

void WebRtcNegotiation::SetRemoteOffer(const std::string& sdp, std::function<void(Expected<std::string>)> done) {
  auto reply_error = [this, &done](std::string message) {
    post_([done = std::move(done), message = std::move(message)] {
      if (done) done(Error(message));
    });
  };
  if ((offer_started_ && !answered_) || answering()) {
    return reply_error("an offer is still being answered on this connection");
  }
  auto inspected = InspectOffer(sdp, options_.require_data_channel);
  if (!inspected) return reply_error(inspected.error());
  if (answered_) {
    // webrtcbin keeps its transceivers for good: a renegotiation describes the same media again.
    if (inspected->mline_count != offer_.mline_count || inspected->camera_mline != offer_.camera_mline ||
        inspected->return_mline != offer_.return_mline || inspected->has_data_channel != offer_.has_data_channel) {
      return reply_error("a later offer must have the same media sections as the first (" +
                         std::to_string(offer_.mline_count) + " m-lines, the camera on m-line " +
                         std::to_string(offer_.camera_mline) + ")");
    }
  }
  const bool renegotiation = answered_;
  if (renegotiation) previous_offer_ = std::move(offer_);  // kept in case webrtcbin refuses the new one
  offer_ = std::move(*inspected);
  offer_started_ = true;
  applying_ = true;
  renegotiating_ = renegotiation;
  answer_done_ = std::move(done);
  // webrtcbin takes a copy, without the codecs we cannot decode on the camera's m-line and
  // without congestion feedback it does not send.
  KeepDecodableCodecs(offer_.message.get(), static_cast<unsigned>(offer_.camera_mline));
  RemoveCongestionFeedback(offer_.message.get(), options_.congestion_feedback);
  GstSDPMessage* copy = nullptr;
  gst_sdp_message_copy(offer_.message.get(), &copy);
  GstWebRTCSessionDescription* description = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, copy);
  SessionDescriptionPtr owned(description);
  offer_time_ = std::chrono::steady_clock::now();
  PromisePtr promise(NewPromise(OfferStep::kRemoteSet));
  g_signal_emit_by_name(webrtc_, "set-remote-description", description, promise.get());
}

void WebRtcNegotiation::FailOffer(const std::string& message, bool fatal) {
  auto done = std::move(answer_done_);
  answer_done_ = nullptr;
  applying_ = false;
  if (!fatal) {
    pending_candidates_.clear();  // they belonged to the refused offer
    if (renegotiating_) {
      offer_ = std::move(previous_offer_);  // webrtcbin still has the last one
    } else {
      offer_started_ = false;  // webrtcbin is still stable: another offer may come
    }
  }
  renegotiating_ = false;
  if (done) done(Error(message));
  if (fatal) events_.fail(message);
}

void WebRtcNegotiation::OnRemoteDescriptionSet(const std::string& error) {
  if (!error.empty()) return FailOffer("the offer was refused: " + error, false);
  applying_ = false;
  offer_time_ = std::chrono::steady_clock::now();
  if (renegotiating_) {
    previous_offer_ = OfferInfo();
  } else {
    remote_applied_ = true;
    events_.set_state(PeerState::kConnecting);
    if (closed_) return;  // on_state closed the peer
  }
  auto pending = std::move(pending_candidates_);
  pending_candidates_.clear();
  for (const auto& [mline, candidate] : pending) AddCandidateNow(mline, candidate);
  // The annotated video's transceiver exists from the first answer on.
  if (!renegotiating_ && events_.before_answer) events_.before_answer(offer_);
  if (closed_) return;  // on_error (of a failed annotated video link) closed the peer
  PromisePtr promise(NewPromise(OfferStep::kAnswerCreated));
  g_signal_emit_by_name(webrtc_, "create-answer", nullptr, promise.get());
}

void WebRtcNegotiation::OnAnswerCreated(const std::string& error,
                                        std::shared_ptr<GstWebRTCSessionDescription> answer) {
  if (!error.empty() || !answer) {
    return FailOffer("cannot answer the offer: " + (error.empty() ? std::string("no answer") : error), true);
  }
  if (options_.congestion_feedback) {
    AnswerTransportWideCc(offer_.message.get(), answer->sdp, static_cast<unsigned>(offer_.camera_mline));
  }
  AskForBitrate(answer->sdp, static_cast<unsigned>(offer_.camera_mline),
                options_.congestion_feedback ? 0 : kCameraMinKbpsWithoutFeedback, kCameraStartKbps, kCameraMaxKbps);
  // An ICE restart's answer keeps webrtcbin's own ice-ufrag/ice-pwd (RFC 8839 wants new ones on
  // both sides): webrtcbin 1.22 reuses its old ones, and fresh ones written here (which webrtcbin
  // then sets on its agent) made the restart fail, no check succeeding. The client's new
  // credentials and candidates are enough: libnice takes them and checks the new pairs.
  GCharPtr text(gst_sdp_message_as_text(answer->sdp));
  // Behind a 1:1 NAT the client must see the public address (webrtcbin only knows the interface's).
  answer_text_ = AnnounceHostCandidates(text ? text.get() : "", options_.announced_address);
  PromisePtr promise(NewPromise(OfferStep::kLocalSet));
  g_signal_emit_by_name(webrtc_, "set-local-description", answer.get(), promise.get());
}

void WebRtcNegotiation::OnLocalDescriptionSet(const std::string& error) {
  if (!error.empty()) return FailOffer("cannot apply the answer: " + error, true);
  answered_ = true;
  renegotiating_ = false;
  auto done = std::move(answer_done_);
  answer_done_ = nullptr;
  if (done) done(answer_text_);
}

// ---- ICE candidates ----

Status WebRtcNegotiation::AddRemoteCandidate(unsigned mline, const std::string& candidate) {
  if (candidate.empty() || candidate == "a=" || candidate == "candidate:") return Status::Ok();  // end of candidates
  auto normalized = NormalizeCandidate(candidate);
  if (!normalized) return normalized.status();
  if (offer_started_ && mline >= offer_.mline_count) {
    return Status::Error("the ICE candidate is for m-line " + std::to_string(mline) + " but the offer has " +
                         std::to_string(offer_.mline_count));
  }
  // A renegotiation's candidates belong to its new ICE credentials: they wait for its offer too.
  if (!remote_applied_ || applying_) {
    if (pending_candidates_.size() >= kMaxPendingCandidates) {
      return Status::Error("too many ICE candidates before the offer");
    }
    pending_candidates_.emplace_back(mline, std::move(*normalized));
    return Status::Ok();
  }
  AddCandidateNow(mline, *normalized);
  return Status::Ok();
}

void WebRtcNegotiation::AddCandidateNow(unsigned mline, const std::string& candidate) {
  if (mline >= offer_.mline_count) return;  // queued before the offer arrived, for an m-line it lacks
  g_signal_emit_by_name(webrtc_, "add-ice-candidate", mline, candidate.c_str());
}

void WebRtcNegotiation::OnLocalCandidate(guint mline, const gchar* candidate) {
  if (!candidate) return;
  std::string line = candidate;
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
  if (!options_.local_addresses.empty()) {
    // add-local-ip-address already limits gathering; this keeps any other address out regardless.
    CandidateFields fields = ParseCandidate(line);
    if (fields.type == "host" && std::find(options_.local_addresses.begin(), options_.local_addresses.end(),
                                           fields.address) == options_.local_addresses.end()) {
      return;
    }
  }
  if (!options_.announced_address.empty()) line = AnnounceHostCandidate(line, options_.announced_address);
  post_([this, mline, line = std::move(line)] {
    if (events_.on_local_candidate) events_.on_local_candidate(mline, line);
  });
}

// ---- connection state ----

// The states are read on the main context: webrtcbin's property getters take its own lock, which
// is not ours to take from inside its signal emissions.
void WebRtcNegotiation::OnConnectionStateChanged() {
  post_([this] {
    GstWebRTCPeerConnectionState value = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
    g_object_get(webrtc_, "connection-state", &value, nullptr);
    switch (value) {
      case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED: events_.set_state(PeerState::kConnected); break;
      case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED: events_.path_failed("the connection failed (ICE or DTLS)"); break;
      case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED: events_.set_state(PeerState::kClosed); break;
      default: break;  // new, connecting; disconnected may recover (the media timeout decides)
    }
  });
}

void WebRtcNegotiation::OnIceStateChanged() {
  post_([this] {
    GstWebRTCICEConnectionState value = GST_WEBRTC_ICE_CONNECTION_STATE_NEW;
    g_object_get(webrtc_, "ice-connection-state", &value, nullptr);
    if (value == GST_WEBRTC_ICE_CONNECTION_STATE_FAILED) {
      events_.path_failed("ICE failed: no network path to the client works");
    }
  });
}

}  // namespace speakup::media
