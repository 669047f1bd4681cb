// WebRtcPeer: one webrtcbin in its own pipeline, answering a client's offer.
//
//   webrtcbin (bundle max-bundle, latency = jitter_latency_ms, UDP ICE on the allowed addresses)
//     src_N (camera, RTP) -> depayloader -> decoder -> videoscale -> videoconvert -> appsink
//                            ^ sink pad probe: PTS -> RTP timestamp        (newest frame only)
//     sink_N (annotated video) <- rtpvp8pay <- vp8enc <- videoconvert <- appsrc (newest frames)
//   data channel: created by the client, announced by on-data-channel
//
// The depayloader and decoder are chosen from the RTP caps' encoding-name (VP8, VP9, H264) rather
// than by decodebin, so the depayloader's sink pad is known: its probe reads every packet's RTP
// timestamp and buffer PTS into a map. A depayloader gives a frame the PTS of one of the packets it
// was made of, and the decoder keeps input PTS on output frames, so the appsink looks a frame's PTS
// up in the map and finds the RTP timestamp the client sent that frame with; entries older than
// the frame are dropped then. (All packets of one frame carry the same RTP timestamp, so it does
// not matter which packet's PTS the frame got.)
//
// Threads: see webrtc.h. Signal handlers run on GStreamer threads; they copy what they need and
// post a task to the peer's main context (Post). Tasks hold a weak reference to the Impl and do
// nothing once it is gone or closed. Close() stops the pipeline (joining its threads), waits for
// handlers still running, then disconnects them.
#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <utility>

#include "convert.h"
#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"
#include "speakup/webrtc.h"
#include "speakup/media/webrtc_sdp.h"

namespace speakup::media {
namespace {

using Clock = std::chrono::steady_clock;

constexpr guint kTimerIntervalMs = 200;
// PTS -> RTP timestamp entries kept while no frame comes out of the decoder (e.g. waiting for a
// key frame): about 2 s of 720p video.
constexpr size_t kMaxRtpTimes = 2048;
constexpr size_t kMaxPendingCandidates = 256;
// The decoders' own key-frame requests (on errors and losses) are at most this frequent.
constexpr GstClockTime kMinKeyFrameInterval = 500 * GST_MSECOND;
// Decoder warnings reach on_error at most this often.
constexpr auto kWarningInterval = std::chrono::seconds(2);
constexpr int kAnnotatedBitrate = 1'500'000;
// The camera's bitrate asked of the client (see AskForBitrate): enough for 720p at 30 fps.
constexpr int kCameraMinKbps = 600, kCameraStartKbps = 1500, kCameraMaxKbps = 3000;

struct CodecChain {
  const char* encoding;
  const char* depayloader;
  const char* decoder;
};
constexpr CodecChain kCodecChains[] = {
    {"VP8", "rtpvp8depay", "vp8dec"},
    {"VP9", "rtpvp9depay", "vp9dec"},
    {"H264", "rtph264depay", "avdec_h264"},
};

const CodecChain* FindCodecChain(const std::string& encoding) {
  for (const CodecChain& chain : kCodecChains) {
    if (encoding == chain.encoding) return &chain;
  }
  return nullptr;
}

double SteadyMs(Clock::time_point time) {
  return std::chrono::duration<double, std::milli>(time.time_since_epoch()).count();
}

int64_t ToNs(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

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

std::string ErrorText(const GError* error, const char* fallback) {
  return error && error->message ? error->message : fallback;
}

}  // namespace

const char* ToString(PeerState state) {
  switch (state) {
    case PeerState::kNew: return "new";
    case PeerState::kConnecting: return "connecting";
    case PeerState::kConnected: return "connected";
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
  void SetRemoteOffer(const std::string& sdp, std::function<void(Expected<std::string>)> done);
  Status AddRemoteCandidate(unsigned mline, const std::string& candidate);
  bool Send(std::span<const uint8_t> bytes, bool text);
  Status SendAnnotatedFrame(const Frame& frame);
  void RequestKeyFrame(bool counted);
  void Close();

  // ---- running on the main context ----
  void Post(std::function<void(Impl&)> task);
  void SetState(PeerState next);
  void Fail(const std::string& message);
  void ReportError(const std::string& message);
  void OnRemoteDescriptionSet(const std::string& error);
  void OnAnswerCreated(const std::string& error, std::shared_ptr<GstWebRTCSessionDescription> answer);
  void OnLocalDescriptionSet(const std::string& error);
  void FailOffer(const std::string& message, bool fatal);
  void AddCandidateNow(unsigned mline, const std::string& candidate);
  Status ConnectAnnotatedVideo();
  gboolean OnBusMessage(GstMessage* message);
  gboolean OnTimer();

  // ---- running on GStreamer threads ----
  bool Enter();  // false once Close() has begun; otherwise pair with Leave()
  void Leave();
  void OnLocalCandidate(guint mline, const gchar* candidate);
  void OnConnectionStateChanged();
  void OnIceStateChanged();
  void OnDataChannel(GstWebRTCDataChannel* channel);
  void OnChannelOpen();
  void OnChannelClose();
  void OnChannelError();
  void OnChannelText(const gchar* text);
  void OnChannelData(GBytes* bytes);
  void OnPadAdded(GstPad* pad);
  void OnNewTransceiver(GstWebRTCRTPTransceiver* transceiver);
  Status LinkCamera(GstPad* pad, const CodecChain& chain);
  void DrainPad(GstPad* pad);
  void OnRtpPacket(GstBuffer* buffer);
  void OnSample(GstAppSink* sink);
  uint32_t RtpTimeFor(GstClockTime pts);

  WebRtcOptions options;
  PeerCallbacks callbacks;

  // Main context only.
  MainContextPtr context;
  PipelinePtr pipeline;
  GstElement* webrtc = nullptr;  // owned by the pipeline
  SourcePtr bus_source, timer_source;
  PeerState state = PeerState::kNew;
  bool closed = false;
  bool offer_started = false;   // an offer is being applied or was applied
  bool remote_applied = false;  // set-remote-description succeeded
  OfferInfo offer;
  std::function<void(Expected<std::string>)> answer_done;
  std::string answer_text;
  std::vector<std::pair<unsigned, std::string>> pending_candidates;
  Clock::time_point offer_time, connected_time;
  Clock::time_point last_warning{};

  // Shared with GStreamer threads.
  std::atomic<bool> stopping{false};
  std::mutex guard_mutex;
  std::condition_variable guard_idle;
  int in_flight = 0;                  // handlers running (guard_mutex)
  std::mutex link_mutex;              // pad-added building elements vs Close()
  mutable std::mutex mutex;           // the members below
  GObjectPtr<GstWebRTCDataChannel> channel;
  std::atomic<bool> channel_open{false};  // atomic: the channel's signals never take `mutex`
  PadPtr key_frame_pad;               // the depayloader's sink pad
  std::map<GstClockTime, uint32_t> rtp_times;
  std::string codec;
  bool camera_linked = false;
  GstElement* appsrc = nullptr;       // annotated video, owned by the pipeline
  int annotated_width = 0, annotated_height = 0;
  std::atomic<bool> annotated_ready{false};
  std::atomic<int64_t> last_packet_ns{0};
  std::atomic<uint64_t> rtp_packets{0}, frames_decoded{0}, frames_unmatched{0}, key_frame_requests{0},
      data_sent{0}, data_dropped{0}, annotated_frames{0}, frames_undecoded{0};
  uint64_t undecoded_reported = 0;  // main context: frames_undecoded at the last report
  Clock::time_point undecoded_report_time{};
};

namespace {

using Impl = WebRtcPeer::Impl;

// ---- main-context tasks ----

struct Task {
  std::weak_ptr<Impl> impl;
  std::function<void(Impl&)> run;
};

// An exception must never unwind into GLib or GStreamer (C code; it would abort the process, taking
// every other client with it): what a task or handler throws is logged and dropped here.
void ReportEscaped(const char* where) noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "speakup: webrtc peer: %s threw: %s (ignored)\n", where, e.what());
  } catch (...) {
    std::fprintf(stderr, "speakup: webrtc peer: %s threw an unknown exception (ignored)\n", where);
  }
}

gboolean RunTask(gpointer data) {
  auto* task = static_cast<Task*>(data);
  try {
    if (std::shared_ptr<Impl> impl = task->impl.lock()) {
      if (!impl->closed) task->run(*impl);
    }
  } catch (...) {
    ReportEscaped("a main-loop task");
  }
  return G_SOURCE_REMOVE;
}

void FreeTask(gpointer data) { delete static_cast<Task*>(data); }

void PostTo(GMainContext* context, std::weak_ptr<Impl> impl, std::function<void(Impl&)> run) {
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

// Runs a handler body only while the peer is not closing, and lets Close() wait for it.
template <typename F>
void Guarded(Impl* impl, F&& body) {
  if (!impl->Enter()) return;
  try {
    body();
  } catch (...) {
    ReportEscaped("a GStreamer signal handler");
  }
  impl->Leave();
}

// ---- promise replies (webrtcbin's thread) ----

enum class OfferStep { kRemoteSet, kAnswerCreated, kLocalSet };

struct PromiseContext {
  std::weak_ptr<Impl> impl;
  GMainContext* context;  // owned reference
  OfferStep step;
};

void FreePromiseContext(gpointer data) {
  auto* promise_context = static_cast<PromiseContext*>(data);
  g_main_context_unref(promise_context->context);
  delete promise_context;
}

void OnPromiseReplied(GstPromise* promise, gpointer data) {
  auto* promise_context = static_cast<PromiseContext*>(data);
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
    } else if (promise_context->step == OfferStep::kAnswerCreated) {
      GstWebRTCSessionDescription* description = nullptr;
      gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description, nullptr);
      if (description) {
        answer.reset(description, SessionDescriptionFree());
      } else {
        error = "webrtcbin created no answer";
      }
    }
  } else if (promise_context->step == OfferStep::kAnswerCreated) {
    error = "webrtcbin created no answer";
  }
  const OfferStep step = promise_context->step;
  PostTo(promise_context->context, promise_context->impl, [step, error, answer](Impl& impl) {
    switch (step) {
      case OfferStep::kRemoteSet: impl.OnRemoteDescriptionSet(error); break;
      case OfferStep::kAnswerCreated: impl.OnAnswerCreated(error, answer); break;
      case OfferStep::kLocalSet: impl.OnLocalDescriptionSet(error); break;
    }
  });
}

GstPromise* NewPromise(Impl* impl, OfferStep step) {
  auto* promise_context =
      new PromiseContext{impl->weak_from_this(), g_main_context_ref(impl->context.get()), step};
  return gst_promise_new_with_change_func(OnPromiseReplied, promise_context, FreePromiseContext);
}

// ---- signal trampolines ----

void OnIceCandidateSignal(GstElement*, guint mline, gchar* candidate, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnLocalCandidate(mline, candidate); });
}
void OnConnectionStateSignal(GObject*, GParamSpec*, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnConnectionStateChanged(); });
}
void OnIceStateSignal(GObject*, GParamSpec*, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnIceStateChanged(); });
}
void OnDataChannelSignal(GstElement*, GstWebRTCDataChannel* channel, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnDataChannel(channel); });
}
void OnPadAddedSignal(GstElement*, GstPad* pad, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnPadAdded(pad); });
}
void OnNewTransceiverSignal(GstElement*, GstWebRTCRTPTransceiver* transceiver, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnNewTransceiver(transceiver); });
}
void OnChannelOpenSignal(GstWebRTCDataChannel*, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnChannelOpen(); });
}
void OnChannelCloseSignal(GstWebRTCDataChannel*, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnChannelClose(); });
}
void OnChannelErrorSignal(GstWebRTCDataChannel*, GError*, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnChannelError(); });
}
void OnChannelTextSignal(GstWebRTCDataChannel*, gchar* text, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnChannelText(text); });
}
void OnChannelDataSignal(GstWebRTCDataChannel*, GBytes* bytes, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnChannelData(bytes); });
}

GstPadProbeReturn OnDepayloaderInput(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
    impl->OnRtpPacket(GST_PAD_PROBE_INFO_BUFFER(info));
  } else if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    for (guint i = 0; i < gst_buffer_list_length(list); ++i) impl->OnRtpPacket(gst_buffer_list_get(list, i));
  }
  return GST_PAD_PROBE_OK;
}

GstFlowReturn OnNewSampleCallback(GstAppSink* sink, gpointer data) {
  auto* impl = static_cast<Impl*>(data);
  Guarded(impl, [&] { impl->OnSample(sink); });
  return GST_FLOW_OK;
}

// Main-context sources call user callbacks, which may destroy the peer: hold it meanwhile.
gboolean OnBusMessageCallback(GstBus*, GstMessage* message, gpointer data) {
  std::shared_ptr<Impl> impl = static_cast<Impl*>(data)->weak_from_this().lock();
  return impl ? impl->OnBusMessage(message) : G_SOURCE_REMOVE;
}

gboolean OnTimerCallback(gpointer data) {
  std::shared_ptr<Impl> impl = static_cast<Impl*>(data)->weak_from_this().lock();
  return impl ? impl->OnTimer() : G_SOURCE_REMOVE;
}

}  // namespace

// ---- building ----

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
  if (!options.stun_server.empty()) g_object_set(webrtc, "stun-server", options.stun_server.c_str(), nullptr);

  SPEAKUP_RETURN_IF_ERROR(RestrictIce(webrtc, options.local_addresses));

  g_signal_connect(webrtc, "on-ice-candidate", G_CALLBACK(OnIceCandidateSignal), this);
  g_signal_connect(webrtc, "notify::connection-state", G_CALLBACK(OnConnectionStateSignal), this);
  g_signal_connect(webrtc, "notify::ice-connection-state", G_CALLBACK(OnIceStateSignal), this);
  g_signal_connect(webrtc, "on-data-channel", G_CALLBACK(OnDataChannelSignal), this);
  g_signal_connect(webrtc, "pad-added", G_CALLBACK(OnPadAddedSignal), this);
  g_signal_connect(webrtc, "on-new-transceiver", G_CALLBACK(OnNewTransceiverSignal), this);

  if (options.annotated_video) {
    // appsrc -> videoconvert -> vp8enc -> rtpvp8pay; linked to webrtcbin once the offer says where.
    std::vector<GstElement*> chain;
    for (const char* factory : {"appsrc", "videoconvert", "vp8enc", "rtpvp8pay"}) {
      auto element = MakeElement(factory);
      if (!element) return element.status();
      gst_bin_add(GST_BIN(pipeline.get()), element->get());
      chain.push_back(element->get());
    }
    for (size_t i = 1; i < chain.size(); ++i) {
      if (!gst_element_link(chain[i - 1], chain[i])) {
        return Status::Error("cannot link the annotated video encoder (internal error)");
      }
    }
    appsrc = chain[0];
    g_object_set(appsrc, "format", GST_FORMAT_TIME, "is-live", TRUE, "do-timestamp", TRUE, "max-buffers",
                 static_cast<guint64>(2), "block", FALSE, nullptr);
    gst_util_set_object_arg(G_OBJECT(appsrc), "leaky-type", "downstream");
    g_object_set(chain[2], "deadline", static_cast<gint64>(1), "cpu-used", 8, "lag-in-frames", 0, "threads", 1,
                 "target-bitrate", kAnnotatedBitrate, "keyframe-max-dist", 300, nullptr);
    gst_util_set_object_arg(G_OBJECT(chain[2]), "end-usage", "cbr");
    gst_util_set_object_arg(G_OBJECT(chain[2]), "error-resilient", "default");
    gst_util_set_object_arg(G_OBJECT(chain[3]), "picture-id-mode", "15-bit");
    g_object_set(chain[3], "mtu", 1200u, nullptr);
  }

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

// ---- cross-thread plumbing ----

bool WebRtcPeer::Impl::Enter() {
  std::lock_guard lock(guard_mutex);
  if (stopping.load()) return false;
  ++in_flight;
  return true;
}

void WebRtcPeer::Impl::Leave() {
  std::lock_guard lock(guard_mutex);
  if (--in_flight == 0) guard_idle.notify_all();
}

void WebRtcPeer::Impl::Post(std::function<void(Impl&)> task) {
  PostTo(context.get(), weak_from_this(), std::move(task));
}

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

void WebRtcPeer::Impl::Fail(const std::string& message) {
  if (closed || state == PeerState::kFailed || state == PeerState::kClosed) return;
  ReportError(message);
  SetState(PeerState::kFailed);  // does nothing if on_error closed the peer
}

// ---- the offer/answer exchange (main context) ----

void WebRtcPeer::Impl::SetRemoteOffer(const std::string& sdp, std::function<void(Expected<std::string>)> done) {
  if (closed) return;
  auto reply_error = [this, &done](std::string message) {
    Post([done = std::move(done), message = std::move(message)](Impl&) {
      if (done) done(Error(message));
    });
  };
  if (offer_started) return reply_error("an offer was already received for this connection");
  auto inspected = InspectOffer(sdp, options.require_data_channel);
  if (!inspected) return reply_error(inspected.error());
  offer = std::move(*inspected);
  offer_started = true;
  answer_done = std::move(done);
  // webrtcbin takes a copy, without the codecs we cannot decode on the camera's m-line and
  // without congestion feedback it does not send.
  KeepDecodableCodecs(offer.message.get(), static_cast<unsigned>(offer.camera_mline));
  RemoveCongestionFeedback(offer.message.get());
  GstSDPMessage* copy = nullptr;
  gst_sdp_message_copy(offer.message.get(), &copy);
  GstWebRTCSessionDescription* description = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, copy);
  SessionDescriptionPtr owned(description);
  offer_time = Clock::now();
  PromisePtr promise(NewPromise(this, OfferStep::kRemoteSet));
  g_signal_emit_by_name(webrtc, "set-remote-description", description, promise.get());
}

void WebRtcPeer::Impl::FailOffer(const std::string& message, bool fatal) {
  auto done = std::move(answer_done);
  answer_done = nullptr;
  if (!fatal) {
    offer_started = false;  // webrtcbin is still stable: another offer may come
    pending_candidates.clear();  // they belonged to the refused offer
  }
  if (done) done(Error(message));
  if (fatal) Fail(message);
}

void WebRtcPeer::Impl::OnRemoteDescriptionSet(const std::string& error) {
  if (!error.empty()) return FailOffer("the offer was refused: " + error, false);
  remote_applied = true;
  offer_time = Clock::now();
  SetState(PeerState::kConnecting);
  if (closed) return;  // on_state closed the peer
  auto pending = std::move(pending_candidates);
  pending_candidates.clear();
  for (const auto& [mline, candidate] : pending) AddCandidateNow(mline, candidate);
  if (options.annotated_video) {
    // webrtcbin 1.22 pairs the offer's m-lines with unassociated transceivers in the order the
    // transceivers were made (a request pad's sink_<n> name does not bind it to m-line n). So when
    // the camera's m-line comes first, its receive-only transceiver must be made first too, or the
    // annotated video's send-only transceiver is paired with the camera and both end up inactive.
    if (offer.return_mline > offer.camera_mline) {
      // Its codecs are the offer's for that m-line (webrtcbin needs codec preferences on a
      // transceiver it did not make itself).
      const GstSDPMedia* media = gst_sdp_message_get_media(offer.message.get(), static_cast<guint>(offer.camera_mline));
      CapsPtr codecs(gst_caps_new_empty());
      for (guint i = 0; i < gst_sdp_media_formats_len(media); ++i) {
        const int payload = std::atoi(gst_sdp_media_get_format(media, i));
        CapsPtr one(gst_sdp_media_get_caps_from_media(media, payload));
        if (!one) continue;
        for (guint k = 0; k < gst_caps_get_size(one.get()); ++k) {
          GstStructure* structure = gst_caps_get_structure(one.get(), k);
          gst_structure_set_name(structure, "application/x-rtp");
        }
        gst_caps_append(codecs.get(), one.release());
      }
      GstWebRTCRTPTransceiver* camera = nullptr;
      g_signal_emit_by_name(webrtc, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, codecs.get(),
                            &camera);
      GObjectPtr<GstWebRTCRTPTransceiver> owned_camera(camera);
    }
    // A client that offers no receiving m-line simply gets no annotated video (SendAnnotatedFrame
    // says so if it is asked for one): that is no error worth a log line per session.
    if (offer.return_mline >= 0) {
      Status connected = ConnectAnnotatedVideo();
      if (!connected.ok()) ReportError(connected.message());
    }
  }
  PromisePtr promise(NewPromise(this, OfferStep::kAnswerCreated));
  g_signal_emit_by_name(webrtc, "create-answer", nullptr, promise.get());
}

void WebRtcPeer::Impl::OnAnswerCreated(const std::string& error, std::shared_ptr<GstWebRTCSessionDescription> answer) {
  if (!error.empty() || !answer) {
    return FailOffer("cannot answer the offer: " + (error.empty() ? std::string("no answer") : error), true);
  }
  AskForBitrate(answer->sdp, static_cast<unsigned>(offer.camera_mline), kCameraMinKbps, kCameraStartKbps,
                kCameraMaxKbps);
  GCharPtr text(gst_sdp_message_as_text(answer->sdp));
  answer_text = text ? text.get() : "";
  PromisePtr promise(NewPromise(this, OfferStep::kLocalSet));
  g_signal_emit_by_name(webrtc, "set-local-description", answer.get(), promise.get());
}

void WebRtcPeer::Impl::OnLocalDescriptionSet(const std::string& error) {
  if (!error.empty()) return FailOffer("cannot apply the answer: " + error, true);
  auto done = std::move(answer_done);
  answer_done = nullptr;
  if (done) done(answer_text);
}

// ---- ICE candidates ----

Status WebRtcPeer::Impl::AddRemoteCandidate(unsigned mline, const std::string& candidate) {
  if (closed) return Status::Error("the connection is closed");
  if (candidate.empty() || candidate == "a=" || candidate == "candidate:") return Status::Ok();  // end of candidates
  auto normalized = NormalizeCandidate(candidate);
  if (!normalized) return normalized.status();
  if (offer_started && mline >= offer.mline_count) {
    return Status::Error("the ICE candidate is for m-line " + std::to_string(mline) + " but the offer has " +
                         std::to_string(offer.mline_count));
  }
  if (!remote_applied) {
    if (pending_candidates.size() >= kMaxPendingCandidates) {
      return Status::Error("too many ICE candidates before the offer");
    }
    pending_candidates.emplace_back(mline, std::move(*normalized));
    return Status::Ok();
  }
  AddCandidateNow(mline, *normalized);
  return Status::Ok();
}

void WebRtcPeer::Impl::AddCandidateNow(unsigned mline, const std::string& candidate) {
  if (mline >= offer.mline_count) return;  // queued before the offer arrived, for an m-line it lacks
  g_signal_emit_by_name(webrtc, "add-ice-candidate", mline, candidate.c_str());
}

void WebRtcPeer::Impl::OnLocalCandidate(guint mline, const gchar* candidate) {
  if (!candidate) return;
  std::string line = candidate;
  if (line.rfind("a=", 0) == 0) line.erase(0, 2);
  if (!options.local_addresses.empty()) {
    // add-local-ip-address already limits gathering; this keeps any other address out regardless.
    CandidateFields fields = ParseCandidate(line);
    if (fields.type == "host" && std::find(options.local_addresses.begin(), options.local_addresses.end(),
                                           fields.address) == options.local_addresses.end()) {
      return;
    }
  }
  Post([mline, line = std::move(line)](Impl& impl) {
    if (impl.callbacks.on_local_candidate) impl.callbacks.on_local_candidate(mline, line);
  });
}

// ---- connection state ----

// The states are read on the main context: webrtcbin's property getters take its own lock, which
// is not ours to take from inside its signal emissions.
void WebRtcPeer::Impl::OnConnectionStateChanged() {
  Post([](Impl& impl) {
    GstWebRTCPeerConnectionState value = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
    g_object_get(impl.webrtc, "connection-state", &value, nullptr);
    switch (value) {
      case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED: impl.SetState(PeerState::kConnected); break;
      case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED: impl.Fail("the connection failed (ICE or DTLS)"); break;
      case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED: impl.SetState(PeerState::kClosed); break;
      default: break;  // new, connecting; disconnected may recover (the media timeout decides)
    }
  });
}

void WebRtcPeer::Impl::OnIceStateChanged() {
  Post([](Impl& impl) {
    GstWebRTCICEConnectionState value = GST_WEBRTC_ICE_CONNECTION_STATE_NEW;
    g_object_get(impl.webrtc, "ice-connection-state", &value, nullptr);
    if (value == GST_WEBRTC_ICE_CONNECTION_STATE_FAILED) impl.Fail("ICE failed: no network path to the client works");
  });
}

// ---- the data channel ----

void WebRtcPeer::Impl::OnDataChannel(GstWebRTCDataChannel* announced) {
  {
    std::lock_guard lock(mutex);
    if (channel) return;  // only the client's first channel is used
    channel.reset(GST_WEBRTC_DATA_CHANNEL(g_object_ref(announced)));
  }
  g_signal_connect(announced, "on-open", G_CALLBACK(OnChannelOpenSignal), this);
  g_signal_connect(announced, "on-close", G_CALLBACK(OnChannelCloseSignal), this);
  g_signal_connect(announced, "on-error", G_CALLBACK(OnChannelErrorSignal), this);
  g_signal_connect(announced, "on-message-string", G_CALLBACK(OnChannelTextSignal), this);
  g_signal_connect(announced, "on-message-data", G_CALLBACK(OnChannelDataSignal), this);
  // A channel the client opened is usually open by the time it is announced.
  GstWebRTCDataChannelState ready = GST_WEBRTC_DATA_CHANNEL_STATE_CONNECTING;
  g_object_get(announced, "ready-state", &ready, nullptr);
  if (ready == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN) OnChannelOpen();
}

void WebRtcPeer::Impl::OnChannelOpen() {
  if (channel_open.exchange(true)) return;
  Post([](Impl& impl) {
    if (impl.callbacks.on_data_open) impl.callbacks.on_data_open();
  });
}

void WebRtcPeer::Impl::OnChannelClose() {
  channel_open = false;
  // The client's channel carries the results: once it is gone, the client has left.
  Post([](Impl& impl) { impl.SetState(PeerState::kClosed); });
}

void WebRtcPeer::Impl::OnChannelError() {
  Post([](Impl& impl) { impl.ReportError("the data channel reported an error"); });
}

void WebRtcPeer::Impl::OnChannelText(const gchar* text) {
  Post([text = std::string(text ? text : "")](Impl& impl) {
    if (impl.callbacks.on_data_text) impl.callbacks.on_data_text(text);
  });
}

void WebRtcPeer::Impl::OnChannelData(GBytes* bytes) {
  std::vector<uint8_t> copy;
  if (bytes) {
    gsize size = 0;
    const auto* data = static_cast<const uint8_t*>(g_bytes_get_data(bytes, &size));
    if (data) copy.assign(data, data + size);
  }
  Post([copy = std::move(copy)](Impl& impl) mutable {
    if (impl.callbacks.on_data_binary) impl.callbacks.on_data_binary(std::move(copy));
  });
}

bool WebRtcPeer::Impl::Send(std::span<const uint8_t> bytes, bool text) {
  std::lock_guard lock(mutex);
  if (stopping.load() || !channel || !channel_open) {
    ++data_dropped;
    return false;
  }
  guint64 buffered = 0;
  g_object_get(channel.get(), "buffered-amount", &buffered, nullptr);
  if (buffered > options.max_buffered_bytes) {
    ++data_dropped;
    return false;
  }
  GError* raw_error = nullptr;
  gboolean sent;
  if (text) {
    std::string copy(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    sent = gst_webrtc_data_channel_send_string_full(channel.get(), copy.c_str(), &raw_error);
  } else {
    GBytesPtr data(g_bytes_new(bytes.data(), bytes.size()));
    sent = gst_webrtc_data_channel_send_data_full(channel.get(), data.get(), &raw_error);
  }
  GErrorPtr error(raw_error);
  if (!sent) {
    ++data_dropped;
    return false;
  }
  ++data_sent;
  return true;
}

// ---- incoming video (streaming threads) ----

void WebRtcPeer::Impl::OnNewTransceiver(GstWebRTCRTPTransceiver* transceiver) {
  // Retransmission requests for lost packets, within the jitter buffer's latency.
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(transceiver), "do-nack")) {
    g_object_set(transceiver, "do-nack", TRUE, nullptr);
  }
}

void WebRtcPeer::Impl::OnPadAdded(GstPad* pad) {
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  std::lock_guard link_lock(link_mutex);
  if (stopping.load()) return;
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  std::string media, encoding;
  if (caps && gst_caps_get_size(caps.get()) > 0) {
    const GstStructure* structure = gst_caps_get_structure(caps.get(), 0);
    if (const char* value = gst_structure_get_string(structure, "media")) media = value;
    if (const char* value = gst_structure_get_string(structure, "encoding-name")) encoding = value;
  }
  for (char& c : encoding) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  bool first_video;
  {
    std::lock_guard lock(mutex);
    first_video = media == "video" && !camera_linked;
  }
  const CodecChain* chain = FindCodecChain(encoding);
  if (!first_video || !chain) {
    if (first_video) {
      std::string message = "the client sends video as " + (encoding.empty() ? std::string("?") : encoding) +
                            ", which the server does not decode";
      Post([message](Impl& impl) { impl.Fail(message); });
    }
    DrainPad(pad);
    return;
  }
  Status linked = LinkCamera(pad, *chain);
  if (!linked.ok()) {
    Post([message = linked.message()](Impl& impl) { impl.Fail(message); });
    DrainPad(pad);
    return;
  }
  RequestKeyFrame(true);
}

// Streams nobody decodes (a second video, audio) end in a fakesink so they never block.
void WebRtcPeer::Impl::DrainPad(GstPad* pad) {
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  if (!sink) return;
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(pipeline.get()), sink);
  gst_element_sync_state_with_parent(sink);
  PadPtr sink_pad(gst_element_get_static_pad(sink, "sink"));
  gst_pad_link(pad, sink_pad.get());
}

Status WebRtcPeer::Impl::LinkCamera(GstPad* pad, const CodecChain& chain) {
  std::vector<GstElement*> elements;
  for (const char* factory : {chain.depayloader, chain.decoder, "videoscale", "videoconvert", "appsink"}) {
    auto element = MakeElement(factory);
    if (!element) return Status::Error("cannot decode the client's " + std::string(chain.encoding) + " video: " +
                                       element.error());
    elements.push_back(element->get());
    gst_bin_add(GST_BIN(pipeline.get()), element->get());
  }
  GstElement* depayloader = elements[0];
  GstElement* decoder = elements[1];
  GstElement* scaler = elements[2];
  GstElement* sink = elements[4];
  for (size_t i = 1; i < elements.size(); ++i) {
    if (!gst_element_link(elements[i - 1], elements[i])) {
      return Status::Error("cannot link the " + std::string(chain.encoding) + " decoder (internal error)");
    }
  }
  // After a loss: wait for a key frame instead of decoding garbage, and ask for one.
  g_object_set(depayloader, "request-keyframe", TRUE, "wait-for-keyframe", TRUE, nullptr);
  if (GST_IS_VIDEO_DECODER(decoder)) {
    gst_video_decoder_set_max_errors(GST_VIDEO_DECODER(decoder), -1);
    g_object_set(decoder, "automatic-request-sync-points", TRUE, "discard-corrupted-frames", TRUE,
                 "min-force-key-unit-interval", static_cast<guint64>(kMinKeyFrameInterval), nullptr);
  }
  if (std::string_view(chain.decoder) == "avdec_h264") {
    // Frame threading adds a frame of latency per thread; slices cost none.
    gst_util_set_object_arg(G_OBJECT(decoder), "thread-type", "slice");
    g_object_set(decoder, "output-corrupt", FALSE, nullptr);
  }
  g_object_set(scaler, "add-borders", FALSE, nullptr);
  CapsPtr caps = SinkCaps(options.max_width, options.max_height);
  g_object_set(sink, "caps", caps.get(), "sync", FALSE, "async", FALSE, "max-buffers", 1u, "drop", TRUE,
               "emit-signals", FALSE, "enable-last-sample", FALSE, nullptr);
  GstAppSinkCallbacks sink_callbacks{};
  sink_callbacks.new_sample = OnNewSampleCallback;
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &sink_callbacks, this, nullptr);

  PadPtr depay_sink(gst_element_get_static_pad(depayloader, "sink"));
  gst_pad_add_probe(depay_sink.get(),
                    static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                    OnDepayloaderInput, this, nullptr);
  for (auto it = elements.rbegin(); it != elements.rend(); ++it) gst_element_sync_state_with_parent(*it);
  if (gst_pad_link(pad, depay_sink.get()) != GST_PAD_LINK_OK) {
    return Status::Error("cannot link the client's video to the " + std::string(chain.encoding) +
                         " depayloader (internal error)");
  }
  std::lock_guard lock(mutex);
  camera_linked = true;
  codec = chain.encoding;
  key_frame_pad = std::move(depay_sink);
  return Status::Ok();
}

void WebRtcPeer::Impl::OnRtpPacket(GstBuffer* buffer) {
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) return;
  const uint32_t rtp_time = gst_rtp_buffer_get_timestamp(&rtp);
  gst_rtp_buffer_unmap(&rtp);
  ++rtp_packets;
  last_packet_ns = ToNs(Clock::now());
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  if (!GST_CLOCK_TIME_IS_VALID(pts)) return;
  std::lock_guard lock(mutex);
  rtp_times[pts] = rtp_time;
  while (rtp_times.size() > kMaxRtpTimes) rtp_times.erase(rtp_times.begin());
}

uint32_t WebRtcPeer::Impl::RtpTimeFor(GstClockTime pts) {
  std::lock_guard lock(mutex);
  uint32_t result = 0;
  auto exact = rtp_times.find(pts);
  if (exact != rtp_times.end()) {
    result = exact->second;
  } else {
    ++frames_unmatched;
    auto after = rtp_times.upper_bound(pts);
    if (after != rtp_times.begin()) {
      result = std::prev(after)->second;
    } else if (after != rtp_times.end()) {
      result = after->second;
    }
  }
  // Frames leave the decoder in presentation order: nothing older is asked for again. Older RTP
  // timestamps than this frame's were frames that never came out of the decoder (corrupt, or
  // incomplete after packet loss).
  const auto end = rtp_times.upper_bound(pts);
  uint64_t skipped = 0;
  bool have_previous = false;
  uint32_t previous = 0;
  for (auto it = rtp_times.begin(); it != end; ++it) {
    if (it->second != result && (!have_previous || it->second != previous)) ++skipped;
    have_previous = true;
    previous = it->second;
  }
  // Until the first frame decodes, skipped ones are the wait for the first key frame (asked for at
  // the start), not a broken stream.
  if (frames_decoded.load() > 0) frames_undecoded += skipped;
  rtp_times.erase(rtp_times.begin(), end);
  return result;
}

void WebRtcPeer::Impl::OnSample(GstAppSink* sink) {
  SamplePtr sample(gst_app_sink_try_pull_sample(sink, 0));
  if (!sample) return;
  const Clock::time_point arrived = Clock::now();
  GstBuffer* buffer = gst_sample_get_buffer(sample.get());
  if (!buffer) return;
  const uint32_t rtp_time = RtpTimeFor(GST_BUFFER_PTS(buffer));
  const uint64_t index = frames_decoded.load();
  auto frame = FrameFromSample(sample.get(), static_cast<int64_t>(index), 0);
  if (!frame) {
    Post([message = frame.error()](Impl& impl) { impl.ReportError("cannot convert a decoded frame: " + message); });
    return;
  }
  frame->timestamp_ms = SteadyMs(arrived);
  ++frames_decoded;
  if (callbacks.on_frame) callbacks.on_frame(std::move(*frame), rtp_time);
}

void WebRtcPeer::Impl::RequestKeyFrame(bool counted) {
  PadPtr pad;
  {
    std::lock_guard lock(mutex);
    if (stopping.load() || !key_frame_pad) return;
    pad.reset(GST_PAD(gst_object_ref(key_frame_pad.get())));
  }
  if (counted) ++key_frame_requests;
  // Upstream through webrtcbin to its RTP session, which sends RTCP PLI to the client.
  gst_pad_push_event(pad.get(), gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
}

// ---- annotated video ----

// Called after the offer is applied and before the answer is created. webrtcbin makes the
// transceivers for a remote offer only when it answers, so a request pad named sink_<m-line>
// creates one locked to the client's receiving m-line; made send-only with VP8 at the offer's
// payload type, the answer then sends on that m-line.
Status WebRtcPeer::Impl::ConnectAnnotatedVideo() {
  if (offer.return_mline < 0) {
    return Status::Error("annotated video is on but the client's offer has no video m-line to receive it");
  }
  if (offer.return_vp8_payload < 0) {
    return Status::Error("annotated video is on but the client cannot receive VP8 on m-line " +
                         std::to_string(offer.return_mline));
  }
  GstElement* payloader = nullptr;
  {
    // appsrc -> videoconvert -> vp8enc -> rtpvp8pay: walk to the payloader.
    GstElement* element = appsrc;
    for (int i = 0; i < 3; ++i) {
      PadPtr out(gst_element_get_static_pad(element, "src"));
      PadPtr peer(gst_pad_get_peer(out.get()));
      if (!peer) return Status::Error("the annotated video chain is broken (internal error)");
      element = GST_PAD_PARENT(peer.get());
    }
    payloader = element;
  }
  // One SSRC named both to the payloader and in the transceiver's caps, so that webrtcbin's answer
  // names the SSRC the packets really carry; without it the browser cannot tie them to the m-line
  // and decodes them without ever showing them.
  const guint ssrc = static_cast<guint>(g_random_int_range(1, G_MAXINT32));
  g_object_set(payloader, "pt", static_cast<guint>(offer.return_vp8_payload), "ssrc", ssrc, nullptr);
  const std::string pad_name = "sink_" + std::to_string(offer.return_mline);
  PadPtr webrtc_sink(gst_element_request_pad_simple(webrtc, pad_name.c_str()));
  if (!webrtc_sink) return Status::Error("webrtcbin refused the annotated video pad " + pad_name + " (internal error)");
  GstWebRTCRTPTransceiver* transceiver = nullptr;
  g_object_get(webrtc_sink.get(), "transceiver", &transceiver, nullptr);
  GObjectPtr<GstWebRTCRTPTransceiver> owned(transceiver);
  if (!owned) return Status::Error("webrtcbin gave the annotated video pad no transceiver (internal error)");
  CapsPtr caps(gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name",
                                   G_TYPE_STRING, "VP8", "clock-rate", G_TYPE_INT, 90000, "payload", G_TYPE_INT,
                                   offer.return_vp8_payload, "ssrc", G_TYPE_UINT, ssrc, nullptr));
  g_object_set(owned.get(), "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, "codec-preferences",
               caps.get(), nullptr);
  PadPtr payloader_src(gst_element_get_static_pad(payloader, "src"));
  if (gst_pad_link(payloader_src.get(), webrtc_sink.get()) != GST_PAD_LINK_OK) {
    return Status::Error("cannot link the annotated video to webrtcbin (internal error)");
  }
  annotated_ready = true;  // webrtcbin keeps its request pad; the reference released here was ours
  return Status::Ok();
}

Status WebRtcPeer::Impl::SendAnnotatedFrame(const Frame& frame) {
  if (!options.annotated_video) return Status::Error("annotated video is off (WebRtcOptions::annotated_video)");
  if (frame.width <= 0 || frame.height <= 0 ||
      frame.rgb.size() != static_cast<size_t>(frame.width) * frame.height * 3) {
    return Status::Error("the annotated frame is empty or its pixel buffer does not match its size");
  }
  std::lock_guard lock(mutex);
  if (stopping.load() || !appsrc) return Status::Error("the connection is closed");
  if (!annotated_ready.load()) {
    return Status::Error("no annotated video track: the client's offer has no video m-line to receive it (or "
                         "the offer has not been applied yet)");
  }
  if (frame.width != annotated_width || frame.height != annotated_height) {
    CapsPtr caps = RgbCaps(frame.width, frame.height, 30);
    gst_app_src_set_caps(GST_APP_SRC(appsrc), caps.get());
    annotated_width = frame.width;
    annotated_height = frame.height;
  }
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, static_cast<guint>(frame.width),
                            static_cast<guint>(frame.height));
  auto buffer = BufferFromFrame(frame, info);
  if (!buffer) return buffer.status();
  const GstFlowReturn pushed = gst_app_src_push_buffer(GST_APP_SRC(appsrc), buffer->release());
  if (pushed != GST_FLOW_OK) {
    return Status::Error(std::string("the annotated video encoder did not take the frame (") +
                         gst_flow_get_name(pushed) + ")");
  }
  ++annotated_frames;
  return Status::Ok();
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
  if (closed || !remote_applied || state == PeerState::kFailed || state == PeerState::kClosed) return G_SOURCE_CONTINUE;
  const Clock::time_point now = Clock::now();
  if (state != PeerState::kConnected) {
    if (options.connect_timeout_ms > 0 && now - offer_time > std::chrono::milliseconds(options.connect_timeout_ms)) {
      Fail("the connection did not come up within " + std::to_string(options.connect_timeout_ms) + " ms");
    }
    return G_SOURCE_CONTINUE;
  }
  // Decoders report broken frames only in debug logs: say it here, at most every few seconds, and
  // ask for a key frame to start afresh from.
  const uint64_t undecoded = frames_undecoded.load();
  if (undecoded > undecoded_reported && now - undecoded_report_time >= kWarningInterval) {
    ReportError(std::to_string(undecoded - undecoded_reported) + " frame(s) from the client could not be decoded " +
                "(a corrupt or incomplete video stream); asking the client for a key frame");
    undecoded_reported = undecoded;
    undecoded_report_time = now;
    RequestKeyFrame(true);
  }
  if (options.media_timeout_ms > 0) {
    const int64_t last = last_packet_ns.load();
    const Clock::time_point since = last > 0 ? Clock::time_point(std::chrono::nanoseconds(last)) : connected_time;
    if (now - std::max(since, connected_time) > std::chrono::milliseconds(options.media_timeout_ms)) {
      Fail("no video from the client for " + std::to_string(options.media_timeout_ms) + " ms");
    }
  }
  return G_SOURCE_CONTINUE;
}

// ---- shutting down ----

void WebRtcPeer::Impl::Close() {
  if (closed) return;
  closed = true;
  {
    std::lock_guard link_lock(link_mutex);
    std::lock_guard lock(guard_mutex);
    stopping = true;
  }
  bus_source.reset();
  timer_source.reset();
  if (pipeline) {
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    StopEveryElement(GST_BIN(pipeline.get()));
  }
  {
    std::unique_lock lock(guard_mutex);
    guard_idle.wait(lock, [this] { return in_flight == 0; });
  }
  GObjectPtr<GstWebRTCDataChannel> old_channel;
  PadPtr old_pad;
  {
    std::lock_guard lock(mutex);
    old_channel = std::move(channel);
    old_pad = std::move(key_frame_pad);
    channel_open = false;
    rtp_times.clear();
  }
  if (old_channel) g_signal_handlers_disconnect_by_data(old_channel.get(), this);
  if (webrtc) g_signal_handlers_disconnect_by_data(webrtc, this);
  old_channel.reset();
  old_pad.reset();
  webrtc = nullptr;
  appsrc = nullptr;
  pipeline.reset();
  answer_done = nullptr;
  pending_candidates.clear();
  offer.message.reset();
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
  impl_->SetRemoteOffer(sdp, std::move(done));
}

void JoinIdleStreamingThreads() {
  if (EnsureGstInitialized().ok()) gst_task_cleanup_all();
}

Status WebRtcPeer::AddRemoteCandidate(unsigned mline, const std::string& candidate) {
  return impl_->AddRemoteCandidate(mline, candidate);
}

bool WebRtcPeer::SendData(std::span<const uint8_t> bytes) { return impl_->Send(bytes, false); }

bool WebRtcPeer::SendText(const std::string& text) {
  return impl_->Send(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), true);
}

Status WebRtcPeer::SendAnnotatedFrame(const Frame& frame) { return impl_->SendAnnotatedFrame(frame); }

void WebRtcPeer::RequestKeyFrame() { impl_->RequestKeyFrame(true); }

void WebRtcPeer::Close() { impl_->Close(); }

PeerState WebRtcPeer::state() const { return impl_->state; }

PeerStats WebRtcPeer::stats() const {
  PeerStats stats;
  stats.rtp_packets = impl_->rtp_packets;
  stats.frames_decoded = impl_->frames_decoded;
  stats.frames_unmatched = impl_->frames_unmatched;
  stats.frames_undecoded = impl_->frames_undecoded;
  stats.key_frame_requests = impl_->key_frame_requests;
  stats.data_sent = impl_->data_sent;
  stats.data_dropped = impl_->data_dropped;
  stats.annotated_frames = impl_->annotated_frames;
  std::lock_guard lock(impl_->mutex);
  stats.codec = impl_->codec;
  return stats;
}

}  // namespace speakup::media
