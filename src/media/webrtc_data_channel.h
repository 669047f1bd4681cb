// The client's data channel: webrtcbin announces it (on-data-channel), the results go out on it
// (Send, from any thread) and the client's messages come in on it. Only the client's first channel
// is used. Sends are dropped, never queued, while the channel is not open or is congested.
#pragma once

#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22
#endif

#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "gsignal.h"
#include "speakup/media/gst_handles.h"
#include "webrtc_threads.h"

namespace speakup::media {

class WebRtcDataChannel {
 public:
  // What the channel reports; each runs on the main context.
  struct Events {
    std::function<void()> on_open;
    std::function<void()> on_close;
    std::function<void()> on_error;
    std::function<void(std::string text)> on_text;
    std::function<void(std::vector<uint8_t> bytes)> on_binary;
  };

  WebRtcDataChannel(size_t max_buffered_bytes, HandlerGate& gate, PostTask post, Events events)
      : max_buffered_bytes_(max_buffered_bytes), gate_(gate), post_(std::move(post)), events_(std::move(events)) {}
  ~WebRtcDataChannel() { Close(); }
  WebRtcDataChannel(const WebRtcDataChannel&) = delete;
  WebRtcDataChannel& operator=(const WebRtcDataChannel&) = delete;

  // Listens for the channel the client creates (webrtcbin's on-data-channel).
  void Attach(GstElement* webrtcbin);

  // Any thread. False (and counted as dropped) when nothing was sent.
  bool Send(std::span<const uint8_t> bytes, bool text);

  // Once the gate is shut and idle: drops the channel and disconnects every handler.
  void Close();

  uint64_t sent() const { return sent_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  // ---- GStreamer threads ----
  void Adopt(GstWebRTCDataChannel* announced);
  void OnOpen();
  void OnClose();
  void OnError();
  void OnText(const gchar* text);
  void OnBinary(GBytes* bytes);

  const size_t max_buffered_bytes_;
  HandlerGate& gate_;
  const PostTask post_;
  const Events events_;
  SignalConnection announced_;  // webrtcbin's on-data-channel

  std::mutex mutex_;  // the members below
  GObjectPtr<GstWebRTCDataChannel> channel_;
  std::vector<SignalConnection> channel_signals_;
  std::atomic<bool> open_{false};  // atomic: the channel's own signals never take mutex_
  std::atomic<uint64_t> sent_{0}, dropped_{0};
};

}  // namespace speakup::media
