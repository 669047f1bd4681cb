// The annotated video sent back to the client (WebRtcOptions::annotated_video):
//
//   appsrc (newest frames) -> videoconvert -> vp8enc -> rtpvp8pay -> webrtcbin sink_<m-line>
//
// The chain is built with the pipeline and linked to webrtcbin once the client's offer says which
// m-line receives it (ConnectToOffer). Frames come from any thread (Send); the appsrc drops, never
// queues, frames the encoder is too slow for.
#pragma once

#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22
#endif

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "speakup/media.h"
#include "speakup/status.h"
#include "speakup/media/webrtc_sdp.h"
#include "webrtc_threads.h"

namespace speakup::media {

class WebRtcAnnotatedSender {
 public:
  explicit WebRtcAnnotatedSender(HandlerGate& gate) : gate_(gate) {}
  WebRtcAnnotatedSender(const WebRtcAnnotatedSender&) = delete;
  WebRtcAnnotatedSender& operator=(const WebRtcAnnotatedSender&) = delete;

  // Adds the encoder chain to the pipeline (before it starts).
  Status Build(GstBin* pipeline);

  // Main context, after the offer is applied and before the answer is created: links the chain to
  // the m-line the client receives on. An error is worth logging; the peer goes on without it.
  Status ConnectToOffer(GstElement* webrtcbin, const OfferInfo& offer);

  // Any thread.
  Status Send(const Frame& frame);

  // Once the pipeline is stopped: Send() fails from now on.
  void Close();

  uint64_t frames() const { return frames_.load(); }

 private:
  Status LinkToWebrtcbin(GstElement* webrtcbin, const OfferInfo& offer);

  HandlerGate& gate_;
  std::atomic<bool> ready_{false};  // linked to webrtcbin
  std::atomic<uint64_t> frames_{0};

  std::mutex mutex_;  // the members below
  GstElement* appsrc_ = nullptr;  // owned by the pipeline
  int width_ = 0, height_ = 0;    // of the caps set on appsrc_
};

}  // namespace speakup::media
