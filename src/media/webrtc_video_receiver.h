// Builds the receive chain for the client's camera when webrtcbin adds its pad:
//
//   src_N (camera, RTP) -> depayloader -> decoder -> videoscale -> videoconvert -> appsink
//
// The depayloader and decoder are chosen from the RTP caps' encoding-name (VP8, VP9, H264) rather
// than by decodebin, so that the depayloader's sink pad is known for the PTS -> RTP timestamp probe
// (webrtc_camera_stream.h). The appsink keeps only the newest frame (max-buffers 1, drop). Streams
// nobody decodes (a second video, audio) are drained into a fakesink.
#pragma once

#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22
#endif

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include <functional>
#include <mutex>
#include <string>

#include "gsignal.h"
#include "speakup/status.h"
#include "webrtc_camera_stream.h"
#include "webrtc_threads.h"

namespace speakup::media {

class WebRtcVideoReceiver {
 public:
  // `fail` runs on the main context: the client's video cannot be decoded.
  WebRtcVideoReceiver(GstBin* pipeline, int max_width, int max_height, HandlerGate& gate, PostTask post,
                      CameraStream& camera, std::function<void(const std::string&)> fail)
      : pipeline_(pipeline), max_width_(max_width), max_height_(max_height), gate_(gate), post_(std::move(post)),
        camera_(camera), fail_(std::move(fail)) {}
  ~WebRtcVideoReceiver() { Close(); }
  WebRtcVideoReceiver(const WebRtcVideoReceiver&) = delete;
  WebRtcVideoReceiver& operator=(const WebRtcVideoReceiver&) = delete;

  // Listens for webrtcbin's new pads and transceivers.
  void Attach(GstElement* webrtcbin);

  // No element is added to the pipeline once this returns (it waits for a chain being built): call
  // it before the pipeline is stopped.
  void StopLinking();

  // Once the gate is shut and idle: disconnects the handlers.
  void Close();

 private:
  // ---- GStreamer threads ----
  void OnPadAdded(GstPad* pad);
  void OnElementAdded(GstElement* element);  // tunes the RTP session and jitter buffer webrtcbin makes
  void OnNewTransceiver(GstWebRTCRTPTransceiver* transceiver);
  Status LinkCamera(GstPad* pad, const char* encoding, const char* depayloader, const char* decoder);
  void DrainPad(GstPad* pad);

  GstBin* const pipeline_;  // owned by the peer
  const int max_width_, max_height_;
  HandlerGate& gate_;
  const PostTask post_;
  CameraStream& camera_;
  const std::function<void(const std::string&)> fail_;
  SignalConnection pad_added_, new_transceiver_, element_added_;

  std::mutex link_mutex_;  // held while a pad-added handler changes the pipeline; the members below
  bool linking_stopped_ = false;
  bool camera_linked_ = false;
};

}  // namespace speakup::media
