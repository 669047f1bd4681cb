#include "session.h"

#include <algorithm>

#include <cstdio>

#include "speakup/annotate.h"
#include "speakup/cpu_time.h"
#include "speakup/result_message.h"
#include "websocket_close.h"

namespace speakup::server {
namespace {

using WeakSession = std::weak_ptr<Session>;

void DeleteWeak(gpointer data, GClosure*) { delete static_cast<WeakSession*>(data); }
void DeleteWeakNotify(gpointer data) { delete static_cast<WeakSession*>(data); }

// What a handler throws must not unwind into libsoup (C): it would end the process, and with it
// every other client's session. Logged, and the session that threw is closed.
template <typename F>
void CatchAll(const std::shared_ptr<Session>& session, const char* where, F&& body) noexcept {
  try {
    body();
    return;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "speakup serve: session %s: %s threw: %s\n", session->id().c_str(), where, e.what());
  } catch (...) {
    std::fprintf(stderr, "speakup serve: session %s: %s threw\n", session->id().c_str(), where);
  }
  try {
    session->Close("the server failed to handle a message");
  } catch (...) {
  }
}

}  // namespace

Session::Session(std::string id, std::string address, uint64_t connection, SessionContext& context)
    : id_(std::move(id)), address_(std::move(address)), connection_(connection), context_(context) {}

Session::~Session() {
  // Normally Close() ran on the main loop; at shutdown the server closes every session first.
  if (socket_) {
    if (message_handler_) g_signal_handler_disconnect(socket_.get(), message_handler_);
    if (closed_handler_) g_signal_handler_disconnect(socket_.get(), closed_handler_);
  }
}

void Session::Start(SoupWebsocketConnection* connection) {
  socket_.reset(static_cast<SoupWebsocketConnection*>(g_object_ref(connection)));
  // The front door drops a message over kMaxSignalingBytes before libsoup sees it, so that the
  // session can answer `too_large`; libsoup's own limit (which drops the connection without a
  // word) stays only as a backstop.
  soup_websocket_connection_set_max_incoming_payload_size(connection, 2 * protocol::kMaxSignalingBytes);
  soup_websocket_connection_set_keepalive_interval(connection, 10);
  message_handler_ = g_signal_connect_data(
      connection, "message",
      G_CALLBACK(+[](SoupWebsocketConnection*, gint type, GBytes* message, gpointer data) {
        auto self = static_cast<WeakSession*>(data)->lock();
        if (!self) return;
        gsize size = 0;
        const char* text = static_cast<const char*>(g_bytes_get_data(message, &size));
        CatchAll(self, "a signaling message", [&] {
          self->OnMessage(static_cast<SoupWebsocketDataType>(type), std::string_view(text ? text : "", size));
        });
      }),
      new WeakSession(weak_from_this()), DeleteWeak, GConnectFlags(0));
  closed_handler_ = g_signal_connect_data(
      connection, "closed", G_CALLBACK(+[](SoupWebsocketConnection*, gpointer data) {
        if (auto self = static_cast<WeakSession*>(data)->lock()) {
          CatchAll(self, "closing", [&] { self->Close("the client closed the signaling connection"); });
        }
      }),
      new WeakSession(weak_from_this()), DeleteWeak, GConnectFlags(0));
  timer_.reset(g_timeout_add_full(
      G_PRIORITY_DEFAULT, 1000,
      +[](gpointer data) -> gboolean {
        auto self = static_cast<WeakSession*>(data)->lock();
        if (!self) return G_SOURCE_REMOVE;
        bool again = false;
        CatchAll(self, "the offer timer", [&] { again = self->CheckTimeouts(); });
        return again ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
      },
      new WeakSession(weak_from_this()), DeleteWeakNotify));
  if (context_.ice) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    ice_ = context_.ice->ForSession(id_, std::chrono::duration_cast<std::chrono::seconds>(now).count());
  }
  Send(protocol::WelcomeJson(id_, context_.webrtc.max_width, context_.webrtc.max_height, ice_.client));
}

void Session::Send(const std::string& json) {
  if (socket_ && soup_websocket_connection_get_state(socket_.get()) == SOUP_WEBSOCKET_STATE_OPEN) {
    soup_websocket_connection_send_text(socket_.get(), json.c_str());
  }
}

void Session::OnMessage(SoupWebsocketDataType type, std::string_view text) {
  if (closed_) return;
  // Every message costs a reply and main-loop time, so a flood would starve the other sessions.
  if (!flood_guard_.Allow(Clock::now())) {
    Send(protocol::ErrorJson("flooding", "more than " + std::to_string(kMaxSignalingPerSecond) +
                                   " signaling messages in a second; the session is closed"));
    Close("the client sent more than " + std::to_string(kMaxSignalingPerSecond) + " signaling messages in a second");
    return;
  }
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    Send(protocol::ErrorJson("bad_message", "signaling messages are JSON text, not binary"));
    return;
  }
  OnText(text);
}

bool Session::AllowDataMessage() {
  if (closed_) return false;
  // Each data-channel message is answered on the WebSocket: without a limit of its own, the channel
  // would be a way around the signaling flood limit.
  if (data_flood_guard_.Allow(Clock::now())) return true;
  Send(protocol::ErrorJson("flooding", "data channel: more than " + std::to_string(kMaxSignalingPerSecond) +
                                 " messages in a second; the session is closed"));
  Close("the client sent more than " + std::to_string(kMaxSignalingPerSecond) + " data-channel messages in a second");
  return false;
}

void Session::OnText(std::string_view text) {
  if (closed_) return;
  auto parsed = protocol::ParseClientMessage(text);
  if (auto* error = std::get_if<protocol::SignalingError>(&parsed)) {
    Send(protocol::ErrorJson(error->code, error->message));
    return;
  }
  const protocol::ClientMessage& message = std::get<protocol::ClientMessage>(parsed);
  if (auto* offer = std::get_if<protocol::OfferMessage>(&message)) {
    OnOffer(offer->sdp);
  } else if (auto* restart = std::get_if<protocol::RestartMessage>(&message)) {
    OnRestart(restart->sdp);
  } else if (auto* candidate = std::get_if<protocol::CandidateMessage>(&message)) {
    if (!peer_) {
      Send(protocol::ErrorJson("bad_state", "send the offer before candidates"));
      return;
    }
    // Each candidate makes the server send connectivity checks to an address the client chose.
    if (remote_candidates_ >= protocol::kMaxRemoteCandidates) {
      Send(protocol::ErrorJson("too_many_candidates", "a session takes at most " + std::to_string(protocol::kMaxRemoteCandidates) +
                                                " remote candidates (offer and trickled together); this one is ignored"));
      return;
    }
    ++remote_candidates_;
    Status added = peer_->AddRemoteCandidate(candidate->mline, candidate->candidate);
    if (!added.ok()) Send(protocol::ErrorJson("bad_message", added.message()));
  } else if (auto* options = std::get_if<protocol::OptionsMessage>(&message)) {
    OnOptions(options->update);
  } else {
    Close("the client said bye");
  }
}

void Session::OnOffer(const std::string& sdp) {
  if (offered_) {
    Send(protocol::ErrorJson("bad_state", "this session already has an offer; open a new connection to start again"));
    return;
  }
  if (auto refusal = protocol::CheckOffer(sdp)) {
    Send(protocol::ErrorJson(refusal->code, refusal->message));
    Close("the offer was refused");
    return;
  }
  if (context_.admit_offer) {
    if (auto refusal = context_.admit_offer(id_)) {
      Send(protocol::ErrorJson(refusal->code, refusal->message));
      Close(refusal->code == "draining" ? "the server is draining" : "the server is full",
            SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, /*reconnect=*/refusal->code == "draining");
      return;
    }
  }
  offered_ = true;
  remote_candidates_ = protocol::CountCandidates(sdp);
  media::PeerCallbacks callbacks;
  const WeakSession weak = weak_from_this();
  callbacks.on_local_candidate = [weak](unsigned mline, std::string candidate) {
    if (auto self = weak.lock()) self->Send(protocol::CandidateJson(mline, candidate));
  };
  callbacks.on_frame = [weak](media::Frame frame, uint32_t rtp_timestamp) {
    if (auto self = weak.lock()) self->OnFrame(std::move(frame), rtp_timestamp);
  };
  callbacks.on_data_text = [weak](std::string text) {
    auto self = weak.lock();
    if (!self || !self->AllowDataMessage()) return;
    auto update = protocol::ParseOptionsMessage(text);
    if (auto* error = std::get_if<protocol::SignalingError>(&update)) {
      self->Send(protocol::ErrorJson(error->code, "data channel: " + error->message));
    } else {
      self->OnOptions(std::get<protocol::OptionsUpdate>(update));
    }
  };
  callbacks.on_data_binary = [weak](std::vector<uint8_t>) {
    auto self = weak.lock();
    if (!self || !self->AllowDataMessage()) return;
    self->Send(protocol::ErrorJson("bad_message", "data channel: the server takes JSON text options only"));
  };
  callbacks.on_state = [weak](media::PeerState state) {
    auto self = weak.lock();
    if (!self) return;
    const std::string why = self->peer_error_.empty() ? "" : ": " + self->peer_error_;
    if (state == media::PeerState::kFailed) self->Close("the WebRTC connection failed" + why);
    if (state == media::PeerState::kClosed) self->Close("the WebRTC connection closed");
    // Said when the media path breaks and when it is back (not at the first connection).
    if (state == media::PeerState::kInterrupted || (state == media::PeerState::kConnected && self->media_interrupted_)) {
      self->media_interrupted_ = state == media::PeerState::kInterrupted;
      std::fprintf(stderr, "speakup serve: session %s: media %s\n", self->id_.c_str(), media::ToString(state));
    }
  };
  callbacks.on_error = [weak](std::string message) {
    // Warnings and the cause of a failure (which then ends the session with it as the reason);
    // the client is told through `bye`, the operator through the log.
    auto self = weak.lock();
    if (!self) return;
    std::fprintf(stderr, "speakup serve: session %s: %s\n", self->id_.c_str(), message.c_str());
    self->peer_error_ = std::move(message);
  };
  media::WebRtcOptions webrtc = context_.webrtc;
  webrtc.ice_servers = ice_.peer;  // the credentials the client got in `welcome`
  auto peer = media::WebRtcPeer::Create(std::move(webrtc), std::move(callbacks));
  if (!peer) {
    Send(protocol::ErrorJson("internal", peer.error()));
    Close("the server could not set up WebRTC");
    return;
  }
  {
    std::lock_guard lock(peer_mutex_);
    peer_ = std::move(*peer);
  }
  {
    peer_->SetRemoteOffer(protocol::SanitizeOffer(sdp), [weak](Expected<std::string> answer) {
      auto self = weak.lock();
      if (!self) return;
      if (answer) {
        self->Send(protocol::AnswerJson(*answer));
      } else {
        self->Send(protocol::ErrorJson("bad_sdp", answer.error()));
        self->Close("the offer was refused");
      }
    });
  }
}

// The client's network changed under a running session (its ICE restart): the same peer answers
// the new offer (webrtcbin renegotiates: new ICE credentials, new candidates, the same DTLS and
// media), so the session keeps its id, options, capacity slot and tracking state. Every refusal
// leaves the session as it was: the client may still fall back to a new session.
void Session::OnRestart(const std::string& sdp) {
  if (!peer_) {
    Send(protocol::ErrorJson("bad_state", "a restart is for a running session: send the offer first"));
    return;
  }
  if (restart_pending_) {
    Send(protocol::ErrorJson("bad_state", "an ICE restart is already being answered: wait for its answer"));
    return;
  }
  if (!restart_limit_.Allow(Clock::now())) {
    Send(protocol::ErrorJson("too_many_restarts", "a session may restart ICE at most " +
                                                      std::to_string(kMaxRestartsPerMinute) +
                                                      " times a minute; this restart is ignored"));
    return;
  }
  if (auto refusal = protocol::CheckOffer(sdp)) {
    Send(protocol::ErrorJson("bad_restart", "the restart offer was refused: " + refusal->message));
    return;
  }
  restart_pending_ = true;
  // The new offer's candidates replace the old ones' (a restart forgets the old credentials);
  // restarts are limited, so the candidates a session can make the server check stay bounded.
  remote_candidates_ = protocol::CountCandidates(sdp);
  const WeakSession weak = weak_from_this();
  peer_->SetRemoteOffer(protocol::SanitizeOffer(sdp), [weak](Expected<std::string> answer) {
    auto self = weak.lock();
    if (!self) return;
    self->restart_pending_ = false;
    if (answer) {
      std::fprintf(stderr, "speakup serve: session %s: ICE restart answered\n", self->id_.c_str());
      self->Send(protocol::AnswerJson(*answer));
    } else {
      self->Send(protocol::ErrorJson("bad_restart", "the restart offer was refused: " + answer.error()));
    }
  });
}

void Session::OnOptions(const protocol::OptionsUpdate& update) {
  std::string reply;
  {
    std::lock_guard lock(options_mutex_);
    if (auto refusal = options_.Check(update)) {
      reply = protocol::ErrorJson(refusal->code, refusal->message);  // nothing of the update is applied
    } else {
      options_.Apply(update);
      options_changed_ = true;
      reply = protocol::OptionsJson(options_);
    }
  }
  Send(reply);
}

void Session::OnFrame(media::Frame frame, uint32_t rtp_timestamp) {
  if (closed_) return;
  Metrics& metrics = *context_.metrics;
  metrics.frames_in++;
  metrics.decode.Observe(frame.cost.decode_ms);
  metrics.cpu.Add(StageCpu::kDecode, frame.cost.decode_ms);
  metrics.cpu.Add(StageCpu::kConvert, frame.cost.convert_ms);
  bool submit = false;
  {
    std::lock_guard lock(slot_mutex_);
    if (slot_) metrics.frames_dropped++;  // the worker has not taken the last one: replace it
    slot_ = PendingFrame{std::move(frame), rtp_timestamp, Clock::now()};
    if (!scheduled_) submit = scheduled_ = true;
  }
  if (submit) context_.pool->Submit(shared_from_this());
}

void Session::Run(face::Workspace& workspace) {
  PendingFrame pending;
  {
    std::lock_guard lock(slot_mutex_);
    if (!slot_ || closed_) {
      scheduled_ = false;
      return;
    }
    pending = std::move(*slot_);
    slot_.reset();
  }
  const auto start = Clock::now();
  {
    std::lock_guard lock(options_mutex_);
    if (options_changed_) {
      pipeline_.set_options(options_.ToPipeline());
      annotated_ = options_.annotated_video;
      options_changed_ = false;
    }
  }
  media::Frame& frame = pending.frame;
  auto result = Analyze(frame, std::chrono::duration<double, std::milli>(pending.arrived.time_since_epoch()).count(),
                        workspace);
  if (!result && !process_error_reported_) {
    process_error_reported_ = true;  // once per session: a broken frame format repeats on every frame
    std::fprintf(stderr, "speakup serve: session %s: %s\n", id_.c_str(), result.error().c_str());
  }
  if (result) {
    const double cpu_analyzed = ThreadCpuMs();
    auto ms = [](Clock::duration d) { return std::chrono::duration<float, std::milli>(d).count(); };
    protocol::ResultHeader header;
    header.detected = result->timings.detected;
    header.rtp_timestamp = pending.rtp_timestamp;
    header.sequence = sequence_++;
    header.timings.queue_ms = ms(start - pending.arrived);
    header.timings.detect_ms = static_cast<float>(result->timings.detect_ms);
    header.timings.landmarks_ms =
        static_cast<float>(result->timings.warp_ms + result->timings.landmarks_ms + result->timings.blendshapes_ms);
    header.timings.geometry_ms = static_cast<float>(result->timings.geometry_ms);
    header.timings.total_ms = ms(Clock::now() - pending.arrived);
    const std::vector<uint8_t> message = protocol::EncodeResult(*result, header);
    Metrics& metrics = *context_.metrics;
    metrics.queue.Observe(header.timings.queue_ms);
    metrics.detect.Observe(header.timings.detect_ms);
    metrics.landmarks.Observe(header.timings.landmarks_ms);
    metrics.geometry.Observe(header.timings.geometry_ms);
    metrics.total.Observe(header.timings.total_ms);
    // Drawn in place (the frame is this worker's own), and sent without holding the lock the main
    // loop takes to apply offers and close sessions: a worker drawing never stalls signaling.
    if (annotated_) annotate::DrawFaces(frame, *result, context_.mesh_edges);
    std::shared_ptr<media::WebRtcPeer> peer;
    {
      std::lock_guard lock(peer_mutex_);
      peer = peer_;
    }
    if (peer && peer->SendData(message)) metrics.results_sent++;
    if (peer && annotated_) {
      Status sent = peer->SendAnnotatedFrame(frame);
      if (!sent.ok() && !annotated_error_reported_) {
        annotated_error_reported_ = true;  // once per session: the client sees no annotated video
        std::fprintf(stderr, "speakup serve: session %s: annotated video: %s\n", id_.c_str(), sent.message().c_str());
      }
    }
    metrics.cpu.Add(StageCpu::kResult, ThreadCpuMs() - cpu_analyzed);  // encoding, drawing, sending
  }
  // Another frame came while this one was processed: go to the back of the queue (fair to the
  // other sessions) rather than looping here.
  bool again = false;
  {
    std::lock_guard lock(slot_mutex_);
    again = slot_.has_value() && !closed_;
    scheduled_ = again;
  }
  if (again) context_.pool->Submit(shared_from_this());
}

Expected<face::FaceResult> Session::Analyze(media::Frame& frame, double timestamp_ms, face::Workspace& workspace) {
  Metrics& metrics = *context_.metrics;
  const double cpu_start = ThreadCpuMs();
  if (annotated_) {
    if (Status whole = media::EnsureRgb(frame); !whole.ok()) return Error("cannot convert the frame: " + whole.message());
  }
  const double convert_whole_ms = ThreadCpuMs() - cpu_start;
  annotate::FrameImage image(frame, rgb_buffer_);
  auto result = pipeline_.Process(image, timestamp_ms, workspace);
  const double convert_ms = convert_whole_ms + image.convert_cpu_ms();
  const double pipeline_cpu = ThreadCpuMs() - cpu_start - convert_ms;
  metrics.frames_processed++;
  metrics.convert.Observe(frame.cost.convert_ms + convert_ms);
  metrics.cpu.Add(StageCpu::kConvert, convert_ms);
  if (result) {
    // The pipeline's CPU split between the warp and the rest (detection, models, pose) in the
    // proportion of their times on this thread.
    const face::StageTimings& t = result->timings;
    const double warp_share = t.total_ms > 0 ? std::clamp(t.warp_ms / t.total_ms, 0.0, 1.0) : 0.0;
    metrics.cpu.Add(StageCpu::kWarp, pipeline_cpu * warp_share);
    metrics.cpu.Add(StageCpu::kInference, pipeline_cpu * (1 - warp_share));
  }
  return result;
}

bool Session::CheckTimeouts() {
  // Once there is a peer, it times out by itself (WebRtcOptions: ICE, first video, silence).
  if (closed_ || peer_) {
    timer_.forget();  // returning false removes the source
    return false;
  }
  if (Clock::now() - started_ < context_.offer_timeout) return true;
  timer_.forget();  // returning false removes the source
  Close("no offer within " + std::to_string(context_.offer_timeout.count() / 1000) + " s");
  return false;
}

void Session::TooLarge() {
  if (closed_) return;
  Send(protocol::ErrorJson("too_large", "a signaling message was larger than " + std::to_string(protocol::kMaxSignalingBytes) +
                                  " bytes; the session is closed"));
  Close("the client sent a message over the size limit", SOUP_WEBSOCKET_CLOSE_TOO_BIG);
}

namespace {
RecoveryTotals RecoveryOf(const media::PeerStats& stats) {
  return {.packets_lost = stats.rtp_packets_lost,
          .retransmission_requests = stats.rtp_retransmission_requests,
          .retransmitted_received = stats.rtp_retransmitted_received,
          .key_frame_requests = stats.key_frame_requests_sent,
          .key_frame_requests_held = stats.key_frame_requests_held,
          .frames_undecoded = stats.frames_undecoded};
}
}  // namespace

RecoveryTotals Session::Recovery() const {
  return peer_ ? RecoveryOf(peer_->stats()) : recovery_at_close_;  // peer_ is set and cleared on this loop
}

void Session::Close(const std::string& reason, gushort code, bool reconnect) {
  if (closed_) return;
  auto self = shared_from_this();  // the server's map may drop its reference below
  closed_ = true;
  Send(protocol::ByeJson(reason, reconnect));
  if (socket_) {
    g_signal_handler_disconnect(socket_.get(), message_handler_);
    g_signal_handler_disconnect(socket_.get(), closed_handler_);
    message_handler_ = closed_handler_ = 0;
    CloseWhenSent(socket_.get(), code, nullptr);
    socket_.reset();
  }
  timer_.reset();
  {
    std::shared_ptr<media::WebRtcPeer> peer;
    {
      std::lock_guard lock(peer_mutex_);
      peer.swap(peer_);
    }
    // Here on the main loop, as WebRtcPeer wants; a worker still sending on it gets errors, and
    // may drop the last reference (a closed peer's destructor does nothing more).
    if (peer) {
      peer->Close();
      recovery_at_close_ = RecoveryOf(peer->stats());
    }
  }
  {
    std::lock_guard lock(slot_mutex_);
    slot_.reset();
  }
  if (context_.on_closed) context_.on_closed(id_);
}

}  // namespace speakup::server
