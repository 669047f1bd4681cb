#include "webrtc_video_receiver.h"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include <cctype>
#include <string_view>
#include <utility>
#include <vector>

#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"

namespace speakup::media {
namespace {

// The decoders' own key-frame requests (on errors and losses) are at most this frequent.
constexpr GstClockTime kMinKeyFrameInterval = 500 * GST_MSECOND;
// The RTP session's regular RTCP interval (and so how soon a NACK or PLI can leave): see OnElementAdded.
constexpr GstClockTime kRtcpMinInterval = 50 * GST_MSECOND;
// rtpsession's `bandwidth` (only the RTCP share is derived from it here): large enough that the
// share never stretches the interval beyond kRtcpMinInterval.
constexpr double kSessionBandwidth = 2.5e6;

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

}  // namespace

void WebRtcVideoReceiver::Attach(GstElement* webrtcbin) {
  pad_added_ = ConnectSignal<void(GstElement*, GstPad*)>(
      webrtcbin, "pad-added", gate_.Guard([this](GstElement*, GstPad* pad) { OnPadAdded(pad); }));
  element_added_ = ConnectSignal<void(GstBin*, GstBin*, GstElement*)>(
      webrtcbin, "deep-element-added",
      gate_.Guard([this](GstBin*, GstBin*, GstElement* element) { OnElementAdded(element); }));
  new_transceiver_ = ConnectSignal<void(GstElement*, GstWebRTCRTPTransceiver*)>(
      webrtcbin, "on-new-transceiver",
      gate_.Guard([this](GstElement*, GstWebRTCRTPTransceiver* transceiver) { OnNewTransceiver(transceiver); }));
}

void WebRtcVideoReceiver::StopLinking() {
  std::lock_guard lock(link_mutex_);
  linking_stopped_ = true;
}

void WebRtcVideoReceiver::Close() {
  pad_added_.Disconnect();
  new_transceiver_.Disconnect();
  element_added_.Disconnect();
}

// GStreamer's RTP session follows RFC 4585's timing: feedback (NACK, PLI) goes out early at most once
// per regular RTCP interval, and that interval was ~0.5 s here (rtcp-min-interval defaults to 5 s,
// the session bandwidth is guessed). NACKs then wait longer than the jitter buffer's latency and
// expire unsent: measured at 5% loss, 2 loadgen clients, 10 s: 38-77% of frames answered, gaps of
// 1.7-3.7 s, vs 97.8% and 0.36 s with the values below (libwebrtc sends its feedback at once).
// The cost: a receiver report every ~50 ms per session (~100 bytes each).
void WebRtcVideoReceiver::OnElementAdded(GstElement* element) {
  GstElementFactory* factory = gst_element_get_factory(element);
  const char* name = factory ? gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory)) : nullptr;
  if (!name) return;
  if (std::string_view(name) == "rtpsession") {
    g_object_set(element, "rtcp-min-interval", static_cast<guint64>(kRtcpMinInterval), "bandwidth",
                 kSessionBandwidth, nullptr);
  } else if (std::string_view(name) == "rtpjitterbuffer") {
    // NACK only packets seen missing (a gap in the sequence numbers), not the next packet merely
    // because it is later than the arrival rate predicts: with 30 +- 30 ms of path delay the jitter
    // buffer's guesses asked for (and got) ~1200 retransmissions in 10 s at 0% loss, 3 clients; at 5%
    // loss 1068 NACKs for 241 lost packets vs 239 for 215 without them, with the same frames
    // answered (93%). A lost last packet of a frame is still seen at the next frame's first.
    g_object_set(element, "rtx-next-seqnum", FALSE, nullptr);
  }
}

void WebRtcVideoReceiver::OnNewTransceiver(GstWebRTCRTPTransceiver* transceiver) {
  // Retransmission requests for lost packets, within the jitter buffer's latency.
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(transceiver), "do-nack")) {
    g_object_set(transceiver, "do-nack", TRUE, nullptr);
  }
}

void WebRtcVideoReceiver::OnPadAdded(GstPad* pad) {
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  std::lock_guard link_lock(link_mutex_);
  if (linking_stopped_) return;
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  std::string media, encoding;
  if (caps && gst_caps_get_size(caps.get()) > 0) {
    const GstStructure* structure = gst_caps_get_structure(caps.get(), 0);
    if (const char* value = gst_structure_get_string(structure, "media")) media = value;
    if (const char* value = gst_structure_get_string(structure, "encoding-name")) encoding = value;
  }
  for (char& c : encoding) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const bool first_video = media == "video" && !camera_linked_;
  const CodecChain* chain = FindCodecChain(encoding);
  if (!first_video || !chain) {
    if (first_video) {
      std::string message = "the client sends video as " + (encoding.empty() ? std::string("?") : encoding) +
                            ", which the server does not decode";
      post_([this, message] { fail_(message); });
    }
    DrainPad(pad);
    return;
  }
  Status linked = LinkCamera(pad, chain->encoding, chain->depayloader, chain->decoder);
  if (!linked.ok()) {
    post_([this, message = linked.message()] { fail_(message); });
    DrainPad(pad);
    return;
  }
  camera_linked_ = true;
  camera_.RequestKeyFrame(true);
}

// Streams nobody decodes (a second video, audio) end in a fakesink so they never block.
void WebRtcVideoReceiver::DrainPad(GstPad* pad) {
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  if (!sink) return;
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(pipeline_, sink);
  gst_element_sync_state_with_parent(sink);
  PadPtr sink_pad(gst_element_get_static_pad(sink, "sink"));
  gst_pad_link(pad, sink_pad.get());
}

Status WebRtcVideoReceiver::LinkCamera(GstPad* pad, const char* encoding, const char* depayloader_factory,
                                       const char* decoder_factory) {
  std::vector<GstElement*> elements;
  for (const char* factory : {depayloader_factory, decoder_factory, "videoscale", "videoconvert", "appsink"}) {
    auto element = MakeElement(factory);
    if (!element) {
      return Status::Error("cannot decode the client's " + std::string(encoding) + " video: " + element.error());
    }
    elements.push_back(element->get());
    gst_bin_add(pipeline_, element->get());
  }
  GstElement* depayloader = elements[0];
  GstElement* decoder = elements[1];
  GstElement* scaler = elements[2];
  GstElement* sink = elements[4];
  for (size_t i = 1; i < elements.size(); ++i) {
    if (!gst_element_link(elements[i - 1], elements[i])) {
      return Status::Error("cannot link the " + std::string(encoding) + " decoder (internal error)");
    }
  }
  // After a loss: wait for a key frame instead of decoding garbage, and ask for one. The depayloader asks
  // per packet and per dropped frame; CameraStream's throttle lets one request through per wait.
  g_object_set(depayloader, "request-keyframe", TRUE, "wait-for-keyframe", TRUE, nullptr);
  if (GST_IS_VIDEO_DECODER(decoder)) {
    gst_video_decoder_set_max_errors(GST_VIDEO_DECODER(decoder), -1);
    g_object_set(decoder, "automatic-request-sync-points", TRUE, "discard-corrupted-frames", TRUE,
                 "min-force-key-unit-interval", static_cast<guint64>(kMinKeyFrameInterval), nullptr);
  }
  // One decoding thread per stream, the streaming thread itself: a 640x480 frame decodes in well under a
  // millisecond, worker threads per session would only multiply the runnable threads (16 sessions on
  // 2 cores), and the stage counters see the whole decode on that thread.
  if (std::string_view(decoder_factory) == "avdec_h264") {
    g_object_set(decoder, "max-threads", 1, "output-corrupt", FALSE, nullptr);
  } else if (g_object_class_find_property(G_OBJECT_GET_CLASS(decoder), "threads")) {
    g_object_set(decoder, "threads", 1u, nullptr);  // libvpx: VP8, VP9
  }
  g_object_set(scaler, "add-borders", FALSE, nullptr);
  CapsPtr caps = SinkCaps(max_width_, max_height_);
  // Only the newest frame waits in the sink: a slow consumer gets fresh frames, never a backlog.
  g_object_set(sink, "caps", caps.get(), "sync", FALSE, "async", FALSE, "max-buffers", 1u, "drop", TRUE,
               "emit-signals", FALSE, "enable-last-sample", FALSE, nullptr);

  PadPtr depay_sink(gst_element_get_static_pad(depayloader, "sink"));
  camera_.Watch(depay_sink.get(), decoder, GST_APP_SINK(sink));
  for (auto it = elements.rbegin(); it != elements.rend(); ++it) gst_element_sync_state_with_parent(*it);
  if (gst_pad_link(pad, depay_sink.get()) != GST_PAD_LINK_OK) {
    return Status::Error("cannot link the client's video to the " + std::string(encoding) +
                         " depayloader (internal error)");
  }
  camera_.Linked(encoding, std::move(depay_sink));
  return Status::Ok();
}

}  // namespace speakup::media
