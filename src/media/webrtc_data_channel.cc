#include "webrtc_data_channel.h"

namespace speakup::media {

void WebRtcDataChannel::Attach(GstElement* webrtcbin) {
  announced_ = ConnectSignal<void(GstElement*, GstWebRTCDataChannel*)>(
      webrtcbin, "on-data-channel",
      gate_.Guard([this](GstElement*, GstWebRTCDataChannel* announced) { Adopt(announced); }));
}

void WebRtcDataChannel::Adopt(GstWebRTCDataChannel* announced) {
  std::vector<SignalConnection> connections;
  {
    std::lock_guard lock(mutex_);
    if (channel_) return;  // only the client's first channel is used
    channel_.reset(GST_WEBRTC_DATA_CHANNEL(g_object_ref(announced)));
  }
  connections.push_back(ConnectSignal<void(GstWebRTCDataChannel*)>(
      announced, "on-open", gate_.Guard([this](GstWebRTCDataChannel*) { OnOpen(); })));
  connections.push_back(ConnectSignal<void(GstWebRTCDataChannel*)>(
      announced, "on-close", gate_.Guard([this](GstWebRTCDataChannel*) { OnClose(); })));
  connections.push_back(ConnectSignal<void(GstWebRTCDataChannel*, GError*)>(
      announced, "on-error", gate_.Guard([this](GstWebRTCDataChannel*, GError*) { OnError(); })));
  connections.push_back(ConnectSignal<void(GstWebRTCDataChannel*, gchar*)>(
      announced, "on-message-string", gate_.Guard([this](GstWebRTCDataChannel*, gchar* text) { OnText(text); })));
  connections.push_back(ConnectSignal<void(GstWebRTCDataChannel*, GBytes*)>(
      announced, "on-message-data", gate_.Guard([this](GstWebRTCDataChannel*, GBytes* bytes) { OnBinary(bytes); })));
  {
    std::lock_guard lock(mutex_);
    channel_signals_ = std::move(connections);
  }
  // A channel the client opened is usually open by the time it is announced.
  GstWebRTCDataChannelState ready = GST_WEBRTC_DATA_CHANNEL_STATE_CONNECTING;
  g_object_get(announced, "ready-state", &ready, nullptr);
  if (ready == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN) OnOpen();
}

void WebRtcDataChannel::OnOpen() {
  if (open_.exchange(true)) return;
  post_([this] {
    if (events_.on_open) events_.on_open();
  });
}

void WebRtcDataChannel::OnClose() {
  open_ = false;
  post_([this] {
    if (events_.on_close) events_.on_close();
  });
}

void WebRtcDataChannel::OnError() {
  post_([this] {
    if (events_.on_error) events_.on_error();
  });
}

void WebRtcDataChannel::OnText(const gchar* text) {
  post_([this, text = std::string(text ? text : "")] {
    if (events_.on_text) events_.on_text(text);
  });
}

void WebRtcDataChannel::OnBinary(GBytes* bytes) {
  std::vector<uint8_t> copy;
  if (bytes) {
    gsize size = 0;
    const auto* data = static_cast<const uint8_t*>(g_bytes_get_data(bytes, &size));
    if (data) copy.assign(data, data + size);
  }
  post_([this, copy = std::move(copy)]() mutable {
    if (events_.on_binary) events_.on_binary(std::move(copy));
  });
}

bool WebRtcDataChannel::Send(std::span<const uint8_t> bytes, bool text) {
  std::lock_guard lock(mutex_);
  if (gate_.shut() || !channel_ || !open_) {
    ++dropped_;
    return false;
  }
  guint64 buffered = 0;
  g_object_get(channel_.get(), "buffered-amount", &buffered, nullptr);
  if (buffered > max_buffered_bytes_) {
    ++dropped_;
    return false;
  }
  GError* raw_error = nullptr;
  gboolean sent;
  if (text) {
    std::string copy(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    sent = gst_webrtc_data_channel_send_string_full(channel_.get(), copy.c_str(), &raw_error);
  } else {
    GBytesPtr data(g_bytes_new(bytes.data(), bytes.size()));
    sent = gst_webrtc_data_channel_send_data_full(channel_.get(), data.get(), &raw_error);
  }
  GErrorPtr error(raw_error);
  if (!sent) {
    ++dropped_;
    return false;
  }
  ++sent_;
  return true;
}

void WebRtcDataChannel::Close() {
  GObjectPtr<GstWebRTCDataChannel> old_channel;
  std::vector<SignalConnection> old_signals;
  {
    std::lock_guard lock(mutex_);
    old_channel = std::move(channel_);
    old_signals = std::move(channel_signals_);
    open_ = false;
  }
  old_signals.clear();  // disconnects, before the channel goes
  announced_.Disconnect();
  old_channel.reset();
}

}  // namespace speakup::media
