// WebRtcPeer: one webrtcbin in its own pipeline, answering a client's offer. This Impl owns the
// pipeline, its bus watch, the main context and the timer, and wires together the parts that each
// do one job:
//
//   webrtcbin (bundle max-bundle, latency = jitter_latency_ms, UDP ICE on the allowed addresses)
//     src_N (camera, RTP) -> depayloader -> decoder -> videoscale -> videoconvert -> appsink
//                            ^ sink pad probe: PTS -> RTP timestamp        (newest frame only)
//     sink_N (annotated video) <- rtpvp8pay <- vp8enc <- videoconvert <- appsrc (newest frames)
//   data channel: created by the client, announced by on-data-channel
//
//   WebRtcNegotiation      offer/answer, ICE candidates, connection and ICE state (main context)
//   WebRtcVideoReceiver    builds the camera's receive chain when webrtcbin adds its pad
//   CameraStream           the PTS -> RTP timestamp map, decoded frames, key-frame requests
//   WebRtcAnnotatedSender  the annotated video: appsrc -> vp8enc -> rtpvp8pay -> webrtcbin
//   WebRtcDataChannel      the client's data channel
//   RtcpFeedbackCounter    counts the congestion feedback (TWCC) rtpbin sends the client
//
// Threads: see webrtc.h and webrtc_threads.h. Signal handlers run on GStreamer threads through the
// HandlerGate; they copy what they need and post a task to the peer's main context (PostTask).
// Tasks hold a weak reference to the Impl and do nothing once it is gone or closed. Close() stops
// the pipeline (joining its threads), waits for handlers still running, then disconnects them.
#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22

#include <gst/gst.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "gsignal.h"
#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"
#include "speakup/webrtc.h"
#include "webrtc_annotated_sender.h"
#include "webrtc_camera_stream.h"
#include "webrtc_data_channel.h"
#include "webrtc_negotiation.h"
#include "webrtc_rtcp_feedback.h"
#include "webrtc_rtp_recovery.h"
#include "webrtc_threads.h"
#include "webrtc_video_receiver.h"

namespace speakup::media {
namespace {

using Clock = std::chrono::steady_clock;

constexpr guint kTimerIntervalMs = 200;
// Decoder warnings reach on_error at most this often.
constexpr auto kWarningInterval = std::chrono::seconds(2);

// Every element a peer needs, checked once, so a missing plugin fails Create() with the package
// to install instead of a connection that never comes up.
Status CheckPlugins(bool annotated) {
  static const char* const kCore[] = {"webrtcbin",   "nicesrc",     "nicesink", "dtlssrtpenc", "dtlssrtpdec",
                                      "sctpenc",     "sctpdec",     "srtpenc",  "srtpdec",     "rtpbin",
                                      "rtpvp8depay", "vp8dec",      "appsink",  "videoscale",  "videoconvert"};
  static const char* const kAnnotated[] = {"appsrc", "vp8enc", "rtpvp8pay"};
  auto check = [](const char* factory) -> Status {
    GstElementFactory* found = gst_element_factory_find(factory);
    if (found) {
      gst_object_unref(found);
      return Status::Ok();
    }
    std::string package = DebianPackageForElement(factory);
    return Status::Error(std::string("WebRTC needs the GStreamer element '") + factory + "', which is not installed" +
                         (package.empty() ? std::string() : " (Debian package " + package + ")"));
  };
  for (const char* factory : kCore) SPEAKUP_RETURN_IF_ERROR(check(factory));
  if (annotated) {
    for (const char* factory : kAnnotated) SPEAKUP_RETURN_IF_ERROR(check(factory));
  }
  return Status::Ok();
}

}  // namespace

const char* ToString(PeerState state) {
  switch (state) {
    case PeerState::kNew: return "new";
    case PeerState::kConnecting: return "connecting";
    case PeerState::kConnected: return "connected";
    case PeerState::kInterrupted: return "interrupted";
    case PeerState::kFailed: return "failed";
    case PeerState::kClosed: return "closed";
  }
  return "?";
}

class WebRtcPeer::Impl : public std::enable_shared_from_this<WebRtcPeer::Impl> {
 public:
  Impl(WebRtcOptions options_in, PeerCallbacks callbacks_in)
      : options(std::move(options_in)), callbacks(std::move(callbacks_in)) {}
  ~Impl() { Close(); }

  Status Build();
  void Close();

  // ---- running on the main context ----
  PostTask MakePoster();
  void SetState(PeerState next);
  void Fail(const std::string& message);
  // The media path of a connected peer broke: kInterrupted for the restart grace, or kFailed.
  void Interrupt(const std::string& message);
  void ReportError(const std::string& message);
  gboolean OnBusMessage(GstMessage* message);
  gboolean OnTimer();

  WebRtcOptions options;
  PeerCallbacks callbacks;

  // Main context only.
  MainContextPtr context;
  PipelinePtr pipeline;
  GstElement* webrtc = nullptr;  // owned by the pipeline
  SourcePtr bus_source, timer_source;
  PeerState state = PeerState::kNew;
  bool closed = false;
  Clock::time_point connected_time;
  Clock::time_point interrupted_time;  // when the peer became kInterrupted
  std::string interrupted_why;
  Clock::time_point last_warning{};
  RtpRecovery recovery_at_close;    // the recovery counters' last values, for stats() after Close()
  uint64_t undecoded_reported = 0;  // camera->frames_undecoded() at the last report
  Clock::time_point undecoded_report_time{};

  // The parts (made by Build), declared after the gate they pass their handlers through and
  // destroyed before it.
  HandlerGate gate;
  std::unique_ptr<CameraStream> camera;
  std::unique_ptr<WebRtcVideoReceiver> receiver;
  std::unique_ptr<WebRtcAnnotatedSender> sender;
  std::unique_ptr<WebRtcDataChannel> data_channel;
  std::unique_ptr<WebRtcNegotiation> negotiation;
  std::unique_ptr<RtcpFeedbackCounter> feedback;
};

namespace {

using Impl = WebRtcPeer::Impl;

// ---- main-context tasks ----

struct Task {
  std::weak_ptr<Impl> impl;
  std::function<void()> run;
};

gboolean RunTask(gpointer data) {
  auto* task = static_cast<Task*>(data);
  try {
    // Held while the task runs: a user callback may destroy the peer.
    if (std::shared_ptr<Impl> impl = task->impl.lock()) {
      if (!impl->closed) task->run();
    }
  } catch (...) {
    ReportEscapedException("webrtc peer: a main-loop task");
  }
  return G_SOURCE_REMOVE;
}

void FreeTask(gpointer data) { delete static_cast<Task*>(data); }

void PostTo(GMainContext* context, std::weak_ptr<Impl> impl, std::function<void()> run) {
  auto* task = new Task{std::move(impl), std::move(run)};
  GSource* source = g_idle_source_new();
  g_source_set_priority(source, G_PRIORITY_DEFAULT);
  g_source_set_callback(source, RunTask, task, FreeTask);
  g_source_attach(source, context);
  g_source_unref(source);
}

// webrtcbin adds elements (DTLS, SCTP) from its ICE thread and syncs them to its own state: one
// added while the pipeline was going to NULL can be left running inside it, and dropping the
// pipeline then waits for that element's streaming thread for ever (seen once in a soak run: the
// main loop stuck joining an sctpenc task). So every element is locked (its parent no longer
// changes its state) and set to NULL by itself before the pipeline goes.
void StopEveryElement(GstBin* bin) {
  GstIterator* elements = gst_bin_iterate_recurse(bin);
  GValue item = G_VALUE_INIT;
  for (bool done = false; !done;) {
    switch (gst_iterator_next(elements, &item)) {
      case GST_ITERATOR_OK: {
        auto* element = GST_ELEMENT(g_value_get_object(&item));
        gst_element_set_locked_state(element, TRUE);
        gst_element_set_state(element, GST_STATE_NULL);
        g_value_reset(&item);
        break;
      }
      case GST_ITERATOR_RESYNC:
        gst_iterator_resync(elements);
        break;
      default:
        done = true;
        break;
    }
  }
  g_value_unset(&item);
  gst_iterator_free(elements);
}

// Main-context sources call user callbacks, which may destroy the peer: hold it meanwhile.
gboolean OnBusMessageCallback(GstBus*, GstMessage* message, gpointer data) {
  try {
    std::shared_ptr<Impl> impl = static_cast<Impl*>(data)->weak_from_this().lock();
    return impl ? impl->OnBusMessage(message) : G_SOURCE_REMOVE;
  } catch (...) {
    ReportEscapedException("webrtc peer: the bus watch");
  }
  return G_SOURCE_CONTINUE;
}

gboolean OnTimerCallback(gpointer data) {
  try {
    std::shared_ptr<Impl> impl = static_cast<Impl*>(data)->weak_from_this().lock();
    return impl ? impl->OnTimer() : G_SOURCE_REMOVE;
  } catch (...) {
    ReportEscapedException("webrtc peer: the timer");
  }
  return G_SOURCE_CONTINUE;
}

}  // namespace

// ---- building ----

// Holds only a weak reference to the Impl and its own reference to the context: parts may post from
// threads that outlive the peer (webrtcbin's promise replies).
PostTask WebRtcPeer::Impl::MakePoster() {
  std::shared_ptr<GMainContext> owned_context(g_main_context_ref(context.get()), g_main_context_unref);
  return [impl = weak_from_this(), owned_context](std::function<void()> task) {
    PostTo(owned_context.get(), impl, std::move(task));
  };
}

Status WebRtcPeer::Impl::Build() {
  context.reset(g_main_context_ref_thread_default());
  pipeline.reset(gst_pipeline_new("speakup-webrtc-peer"));
  if (!pipeline) return Status::Error("cannot create a GStreamer pipeline");
  auto made = MakeElement("webrtcbin");
  if (!made) return made.status();
  webrtc = made->get();
  gst_bin_add(GST_BIN(pipeline.get()), webrtc);
  gst_util_set_object_arg(G_OBJECT(webrtc), "bundle-policy", "max-bundle");
  g_object_set(webrtc, "latency", static_cast<guint>(std::max(0, options.jitter_latency_ms)), nullptr);

  SPEAKUP_RETURN_IF_ERROR(RestrictIce(webrtc, options.local_addresses));
  SPEAKUP_RETURN_IF_ERROR(ConfigureIce(webrtc, options.ice_servers, options.min_port, options.max_port));

  // Every event below runs on the main context, through a task that runs only while this Impl
  // exists and is open; except on_frame, on the appsink's streaming thread (see webrtc.h).
  const PostTask post = MakePoster();
  camera = std::make_unique<CameraStream>(
      gate, post,
      [this](Frame frame, uint32_t rtp_time) {
        if (callbacks.on_frame) callbacks.on_frame(std::move(frame), rtp_time);
      },
      [this](const std::string& message) { ReportError(message); });
  receiver = std::make_unique<WebRtcVideoReceiver>(GST_BIN(pipeline.get()), options.max_width, options.max_height,
                                                   gate, post, *camera,
                                                   [this](const std::string& message) { Fail(message); });
  sender = std::make_unique<WebRtcAnnotatedSender>(gate);
  WebRtcDataChannel::Events channel_events;
  channel_events.on_open = [this] {
    if (callbacks.on_data_open) callbacks.on_data_open();
  };
  // The client's channel carries the results: once it is gone, the client has left.
  channel_events.on_close = [this] { SetState(PeerState::kClosed); };
  channel_events.on_error = [this] { ReportError("the data channel reported an error"); };
  channel_events.on_text = [this](std::string text) {
    if (callbacks.on_data_text) callbacks.on_data_text(std::move(text));
  };
  channel_events.on_binary = [this](std::vector<uint8_t> bytes) {
    if (callbacks.on_data_binary) callbacks.on_data_binary(std::move(bytes));
  };
  data_channel = std::make_unique<WebRtcDataChannel>(options.max_buffered_bytes, gate, post, std::move(channel_events));
  WebRtcNegotiation::Events negotiation_events;
  negotiation_events.on_local_candidate = [this](unsigned mline, std::string candidate) {
    if (callbacks.on_local_candidate) callbacks.on_local_candidate(mline, std::move(candidate));
  };
  negotiation_events.set_state = [this](PeerState next) {
    // An interrupted peer is back only when video is (OnTimer): ICE alone does not hold a session.
    if (next == PeerState::kConnected && state == PeerState::kInterrupted) return;
    SetState(next);
  };
  negotiation_events.fail = [this](const std::string& message) { Fail(message); };
  negotiation_events.path_failed = [this](const std::string& message) { Interrupt(message); };
  negotiation_events.before_answer = [this](const OfferInfo& offer) {
    if (!options.annotated_video) return;
    Status connected = sender->ConnectToOffer(webrtc, offer);
    if (!connected.ok()) ReportError(connected.message());
  };
  negotiation = std::make_unique<WebRtcNegotiation>(webrtc, options, gate, post, std::move(negotiation_events));

  negotiation->Attach();
  feedback = std::make_unique<RtcpFeedbackCounter>(gate, options.congestion_feedback_total);
  // Only a metric depends on it: a webrtcbin without rtpbin (another GStreamer) still serves.
  static std::once_flag warned;
  if (!feedback->Attach(webrtc)) {
    std::call_once(warned, [] {
      std::fprintf(stderr, "speakup: webrtcbin holds no rtpbin: congestion feedback is not counted\n");
    });
  }
  data_channel->Attach(webrtc);
  receiver->Attach(webrtc);
  if (options.annotated_video) SPEAKUP_RETURN_IF_ERROR(sender->Build(GST_BIN(pipeline.get())));

  BusPtr bus(gst_element_get_bus(pipeline.get()));
  bus_source.reset(gst_bus_create_watch(bus.get()));
  g_source_set_callback(bus_source.get(), G_SOURCE_FUNC(OnBusMessageCallback), this, nullptr);
  g_source_attach(bus_source.get(), context.get());
  timer_source.reset(g_timeout_source_new(kTimerIntervalMs));
  g_source_set_callback(timer_source.get(), OnTimerCallback, this, nullptr);
  g_source_attach(timer_source.get(), context.get());

  if (gst_element_set_state(pipeline.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    if (auto error = PopBusError(bus.get(), 0)) {
      return Status::Error("cannot start the WebRTC pipeline: " + error->message);
    }
    return Status::Error("cannot start the WebRTC pipeline");
  }
  return Status::Ok();
}

// ---- the peer's state (main context) ----

void WebRtcPeer::Impl::SetState(PeerState next) {
  if (closed || state == next || state == PeerState::kFailed || state == PeerState::kClosed) return;
  if (next == PeerState::kNew) return;
  state = next;
  if (next == PeerState::kConnected) connected_time = Clock::now();
  if (callbacks.on_state) callbacks.on_state(next);
}

void WebRtcPeer::Impl::ReportError(const std::string& message) {
  if (!closed && callbacks.on_error) callbacks.on_error(message);
}

void WebRtcPeer::Impl::Interrupt(const std::string& message) {
  if (closed || state == PeerState::kInterrupted) return;
  if (state != PeerState::kConnected || options.restart_grace_ms <= 0) return Fail(message);
  interrupted_time = Clock::now();
  interrupted_why = message;
  ReportError(message + "; waiting " + std::to_string(options.restart_grace_ms) + " ms for the client to restart ICE");
  SetState(PeerState::kInterrupted);
}

void WebRtcPeer::Impl::Fail(const std::string& message) {
  if (closed || state == PeerState::kFailed || state == PeerState::kClosed) return;
  ReportError(message);
  SetState(PeerState::kFailed);  // does nothing if on_error closed the peer
}

// ---- main-context watchers ----

gboolean WebRtcPeer::Impl::OnBusMessage(GstMessage* message) {
  if (closed) return G_SOURCE_CONTINUE;
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR: {
      BusError error = ParseBusError(message);
      Fail("WebRTC pipeline error: " + error.message + (error.source.empty() ? "" : " (" + error.source + ")"));
      break;
    }
    case GST_MESSAGE_WARNING: {
      const Clock::time_point now = Clock::now();
      if (now - last_warning < kWarningInterval) break;
      last_warning = now;
      BusError warning = ParseBusError(message);
      ReportError("WebRTC pipeline warning: " + warning.message +
                  (warning.source.empty() ? "" : " (" + warning.source + ")"));
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

gboolean WebRtcPeer::Impl::OnTimer() {
  if (closed || !negotiation->remote_applied() || state == PeerState::kFailed || state == PeerState::kClosed) {
    return G_SOURCE_CONTINUE;
  }
  const Clock::time_point now = Clock::now();
  const int64_t last = camera->last_packet_ns();
  const Clock::time_point last_packet = last > 0 ? Clock::time_point(std::chrono::nanoseconds(last)) : Clock::time_point{};
  if (state == PeerState::kInterrupted) {
    // Video again (on the old path or the restarted one): the client is back.
    if (last_packet > interrupted_time) {
      interrupted_why.clear();
      connected_time = now;
      SetState(PeerState::kConnected);
    } else if (now - interrupted_time > std::chrono::milliseconds(options.restart_grace_ms)) {
      Fail(interrupted_why + ", and the client did not restore the connection within " +
           std::to_string(options.restart_grace_ms) + " ms");
    }
    return G_SOURCE_CONTINUE;
  }
  if (state != PeerState::kConnected) {
    if (options.connect_timeout_ms > 0 &&
        now - negotiation->offer_time() > std::chrono::milliseconds(options.connect_timeout_ms)) {
      Fail("the connection did not come up within " + std::to_string(options.connect_timeout_ms) + " ms");
    }
    return G_SOURCE_CONTINUE;
  }
  // Decoders report broken frames only in debug logs: say it here, at most every few seconds, and
  // ask for a key frame to start afresh from.
  const uint64_t undecoded = camera->frames_undecoded();
  if (undecoded > undecoded_reported && now - undecoded_report_time >= kWarningInterval) {
    ReportError(std::to_string(undecoded - undecoded_reported) + " frame(s) from the client could not be decoded " +
                "(a corrupt or incomplete video stream); asking the client for a key frame");
    undecoded_reported = undecoded;
    undecoded_report_time = now;
    camera->RequestKeyFrame(true);
  }
  if (options.media_timeout_ms > 0 &&
      now - std::max(last_packet, connected_time) > std::chrono::milliseconds(options.media_timeout_ms)) {
    Interrupt("no video from the client for " + std::to_string(options.media_timeout_ms) + " ms");
  }
  return G_SOURCE_CONTINUE;
}

// ---- shutting down ----

void WebRtcPeer::Impl::Close() {
  if (closed) return;
  closed = true;
  if (receiver) receiver->StopLinking();  // waits for a receive chain being built
  gate.Shut();
  bus_source.reset();
  timer_source.reset();
  recovery_at_close = ReadRtpRecovery(webrtc);  // the elements go with the pipeline
  if (pipeline) {
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    StopEveryElement(GST_BIN(pipeline.get()));
  }
  gate.WaitIdle();
  // Nothing runs on GStreamer threads any more: disconnect and release, webrtcbin last.
  if (data_channel) data_channel->Close();
  if (camera) camera->Close();
  if (receiver) receiver->Close();
  if (negotiation) negotiation->Close();
  if (sender) sender->Close();
  if (feedback) feedback->Detach();
  webrtc = nullptr;
  pipeline.reset();
}

// ---- public API ----

WebRtcPeer::WebRtcPeer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebRtcPeer::~WebRtcPeer() {
  if (impl_) impl_->Close();
}

Expected<std::unique_ptr<WebRtcPeer>> WebRtcPeer::Create(WebRtcOptions options, PeerCallbacks callbacks) {
  SPEAKUP_RETURN_IF_ERROR(EnsureGstInitialized());
  SPEAKUP_RETURN_IF_ERROR(CheckPlugins(options.annotated_video));
  if (options.max_width < 0 || options.max_height < 0) return Error("max_width and max_height must not be negative");
  auto impl = std::make_shared<Impl>(std::move(options), std::move(callbacks));
  Status built = impl->Build();
  if (!built.ok()) {
    impl->Close();
    return Error(built.message());
  }
  return std::unique_ptr<WebRtcPeer>(new WebRtcPeer(std::move(impl)));
}

void WebRtcPeer::SetRemoteOffer(const std::string& sdp, std::function<void(Expected<std::string>)> done) {
  if (impl_->closed) return;
  impl_->negotiation->SetRemoteOffer(sdp, std::move(done));
}

void JoinIdleStreamingThreads() {
  if (EnsureGstInitialized().ok()) gst_task_cleanup_all();
}

Status WebRtcPeer::AddRemoteCandidate(unsigned mline, const std::string& candidate) {
  if (impl_->closed) return Status::Error("the connection is closed");
  return impl_->negotiation->AddRemoteCandidate(mline, candidate);
}

bool WebRtcPeer::SendData(std::span<const uint8_t> bytes) { return impl_->data_channel->Send(bytes, false); }

bool WebRtcPeer::SendText(const std::string& text) {
  return impl_->data_channel->Send(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), true);
}

Status WebRtcPeer::SendAnnotatedFrame(const Frame& frame) {
  if (!impl_->options.annotated_video) return Status::Error("annotated video is off (WebRtcOptions::annotated_video)");
  return impl_->sender->Send(frame);
}

void WebRtcPeer::RequestKeyFrame() { impl_->camera->RequestKeyFrame(true); }

void WebRtcPeer::Close() { impl_->Close(); }

PeerState WebRtcPeer::state() const { return impl_->state; }

PeerStats WebRtcPeer::stats() const {
  PeerStats stats;
  const CameraStream& camera = *impl_->camera;
  stats.rtp_packets = camera.rtp_packets();
  stats.frames_decoded = camera.frames_decoded();
  stats.frames_unmatched = camera.frames_unmatched();
  stats.frames_undecoded = camera.frames_undecoded();
  stats.key_frame_requests = camera.key_frame_requests();
  stats.key_frame_requests_sent = camera.key_frame_requests_sent();
  stats.key_frame_requests_held = camera.key_frame_requests_held();
  const RtpRecovery recovery = impl_->closed ? impl_->recovery_at_close : ReadRtpRecovery(impl_->webrtc);
  stats.rtp_packets_lost = recovery.packets_lost;
  stats.rtp_retransmission_requests = recovery.retransmission_requests;
  stats.rtp_retransmitted_received = recovery.retransmitted_received;
  stats.data_sent = impl_->data_channel->sent();
  stats.data_dropped = impl_->data_channel->dropped();
  stats.annotated_frames = impl_->sender->frames();
  stats.congestion_feedback = impl_->feedback ? impl_->feedback->sent() : 0;
  stats.codec = camera.codec();
  return stats;
}

}  // namespace speakup::media
