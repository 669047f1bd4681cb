#include "webrtc_annotated_sender.h"

#include <gst/app/gstappsrc.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"

namespace speakup::media {
namespace {

constexpr int kBitrate = 1'500'000;

// The offer's codecs for one m-line, as caps webrtcbin takes for a transceiver's codec preferences.
CapsPtr OfferedCodecs(const GstSDPMessage* offer, unsigned mline) {
  const GstSDPMedia* media = gst_sdp_message_get_media(offer, mline);
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
  return codecs;
}

}  // namespace

Status WebRtcAnnotatedSender::Build(GstBin* pipeline) {
  // appsrc -> videoconvert -> vp8enc -> rtpvp8pay; linked to webrtcbin once the offer says where.
  std::vector<GstElement*> chain;
  for (const char* factory : {"appsrc", "videoconvert", "vp8enc", "rtpvp8pay"}) {
    auto element = MakeElement(factory);
    if (!element) return element.status();
    gst_bin_add(pipeline, element->get());
    chain.push_back(element->get());
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (!gst_element_link(chain[i - 1], chain[i])) {
      return Status::Error("cannot link the annotated video encoder (internal error)");
    }
  }
  GstElement* appsrc = chain[0];
  g_object_set(appsrc, "format", GST_FORMAT_TIME, "is-live", TRUE, "do-timestamp", TRUE, "max-buffers",
               static_cast<guint64>(2), "block", FALSE, nullptr);
  gst_util_set_object_arg(G_OBJECT(appsrc), "leaky-type", "downstream");
  g_object_set(chain[2], "deadline", static_cast<gint64>(1), "cpu-used", 8, "lag-in-frames", 0, "threads", 1,
               "target-bitrate", kBitrate, "keyframe-max-dist", 300, nullptr);
  gst_util_set_object_arg(G_OBJECT(chain[2]), "end-usage", "cbr");
  gst_util_set_object_arg(G_OBJECT(chain[2]), "error-resilient", "default");
  gst_util_set_object_arg(G_OBJECT(chain[3]), "picture-id-mode", "15-bit");
  g_object_set(chain[3], "mtu", 1200u, nullptr);
  std::lock_guard lock(mutex_);
  appsrc_ = appsrc;
  return Status::Ok();
}

Status WebRtcAnnotatedSender::ConnectToOffer(GstElement* webrtcbin, const OfferInfo& offer) {
  // webrtcbin 1.22 pairs the offer's m-lines with unassociated transceivers in the order the
  // transceivers were made (a request pad's sink_<n> name does not bind it to m-line n). So when
  // the camera's m-line comes first, its receive-only transceiver must be made first too, or the
  // annotated video's send-only transceiver is paired with the camera and both end up inactive.
  if (offer.return_mline > offer.camera_mline) {
    // Its codecs are the offer's for that m-line (webrtcbin needs codec preferences on a
    // transceiver it did not make itself).
    CapsPtr codecs = OfferedCodecs(offer.message.get(), static_cast<unsigned>(offer.camera_mline));
    GstWebRTCRTPTransceiver* camera = nullptr;
    g_signal_emit_by_name(webrtcbin, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, codecs.get(),
                          &camera);
    GObjectPtr<GstWebRTCRTPTransceiver> owned_camera(camera);
  }
  // A client that offers no receiving m-line simply gets no annotated video (Send says so if it is
  // asked for one): that is no error worth a log line per session.
  if (offer.return_mline < 0) return Status::Ok();
  return LinkToWebrtcbin(webrtcbin, offer);
}

// webrtcbin makes the transceivers for a remote offer only when it answers, so a request pad named
// sink_<m-line> creates one locked to the client's receiving m-line; made send-only with VP8 at the
// offer's payload type, the answer then sends on that m-line.
Status WebRtcAnnotatedSender::LinkToWebrtcbin(GstElement* webrtcbin, const OfferInfo& offer) {
  if (offer.return_vp8_payload < 0) {
    return Status::Error("annotated video is on but the client cannot receive VP8 on m-line " +
                         std::to_string(offer.return_mline));
  }
  GstElement* payloader = nullptr;
  {
    // appsrc -> videoconvert -> vp8enc -> rtpvp8pay: walk to the payloader.
    GstElement* element;
    {
      std::lock_guard lock(mutex_);
      element = appsrc_;
    }
    if (!element) return Status::Error("the annotated video chain is broken (internal error)");
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
  PadPtr webrtc_sink(gst_element_request_pad_simple(webrtcbin, pad_name.c_str()));
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
  ready_ = true;  // webrtcbin keeps its request pad; the reference released here was ours
  return Status::Ok();
}

Status WebRtcAnnotatedSender::Send(const Frame& frame) {
  if (frame.width <= 0 || frame.height <= 0 ||
      frame.rgb.size() != static_cast<size_t>(frame.width) * frame.height * 3) {
    return Status::Error("the annotated frame is empty or its pixel buffer does not match its size");
  }
  std::lock_guard lock(mutex_);
  if (gate_.shut() || !appsrc_) return Status::Error("the connection is closed");
  if (!ready_.load()) {
    return Status::Error("no annotated video track: the client's offer has no video m-line to receive it (or "
                         "the offer has not been applied yet)");
  }
  if (frame.width != width_ || frame.height != height_) {
    CapsPtr caps = RgbCaps(frame.width, frame.height, 30);
    gst_app_src_set_caps(GST_APP_SRC(appsrc_), caps.get());
    width_ = frame.width;
    height_ = frame.height;
  }
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, static_cast<guint>(frame.width),
                            static_cast<guint>(frame.height));
  auto buffer = BufferFromFrame(frame, info);
  if (!buffer) return buffer.status();
  const GstFlowReturn pushed = gst_app_src_push_buffer(GST_APP_SRC(appsrc_), buffer->release());
  if (pushed != GST_FLOW_OK) {
    return Status::Error(std::string("the annotated video encoder did not take the frame (") +
                         gst_flow_get_name(pushed) + ")");
  }
  ++frames_;
  return Status::Ok();
}

void WebRtcAnnotatedSender::Close() {
  std::lock_guard lock(mutex_);
  appsrc_ = nullptr;
}

}  // namespace speakup::media
