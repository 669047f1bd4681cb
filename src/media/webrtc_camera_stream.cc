#include "webrtc_camera_stream.h"

#include <gst/rtp/gstrtpbuffer.h>
#include <gst/video/video.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <utility>

#include "speakup/cpu_time.h"
#include "speakup/media/gst_util.h"
#include "gsignal.h"

namespace speakup::media {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// ---- RtpTimestampMap ----

void RtpTimestampMap::Add(GstClockTime pts, uint32_t rtp_time) {
  times_[pts] = rtp_time;
  while (times_.size() > kMaxEntries) times_.erase(times_.begin());
}

RtpTimestampMap::Match RtpTimestampMap::Take(GstClockTime pts) {
  Match match;
  auto exact = times_.find(pts);
  if (exact != times_.end()) {
    match.rtp_time = exact->second;
    match.exact = true;
  } else {
    auto after = times_.upper_bound(pts);
    if (after != times_.begin()) {
      match.rtp_time = std::prev(after)->second;
    } else if (after != times_.end()) {
      match.rtp_time = after->second;
    }
  }
  // Older RTP timestamps than this frame's were frames that never came out of the decoder (corrupt,
  // or incomplete after packet loss).
  const auto end = times_.upper_bound(pts);
  bool have_previous = false;
  uint32_t previous = 0;
  for (auto it = times_.begin(); it != end; ++it) {
    if (it->second != match.rtp_time && (!have_previous || it->second != previous)) ++match.skipped;
    have_previous = true;
    previous = it->second;
  }
  times_.erase(times_.begin(), end);
  // Later packets of this frame (when it was found) go too: with jitter or a retransmission one frame's packets carry
  // different PTS, and left behind they would count as a frame that never decoded.
  if (match.exact) std::erase_if(times_, [&](const auto& entry) { return entry.second == match.rtp_time; });
  return match;
}

// ---- CameraStream ----

void CameraStream::Watch(GstPad* depayloader_sink, GstElement* decoder, GstAppSink* sink) {
  PadPtr decoder_sink(gst_element_get_static_pad(decoder, "sink"));
  PadPtr decoder_source(gst_element_get_static_pad(decoder, "src"));
  if (decoder_sink && decoder_source) {
    gst_pad_add_probe(decoder_sink.get(), GST_PAD_PROBE_TYPE_BUFFER, OnDecoderInput, this, nullptr);
    gst_pad_add_probe(decoder_source.get(), GST_PAD_PROBE_TYPE_BUFFER, OnDecoderOutput, this, nullptr);
  }
  GstAppSinkCallbacks sink_callbacks{};
  sink_callbacks.new_sample = OnNewSample;
  gst_app_sink_set_callbacks(sink, &sink_callbacks, this, nullptr);
  gst_pad_add_probe(depayloader_sink,
                    static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                    OnDepayloaderInput, this, nullptr);
  gst_pad_add_probe(depayloader_sink, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, OnKeyFrameRequest, this, nullptr);
}

// Every key-frame request passes here on its way to the RTP session: ours, the depayloader's (per
// packet or frame it cannot use) and the decoder's. Only those the throttle allows go on.
GstPadProbeReturn CameraStream::OnKeyFrameRequest(GstPad*, GstPadProbeInfo* info, gpointer data) {
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  if (!event || !gst_event_has_name(event, "GstForceKeyUnit")) return GST_PAD_PROBE_OK;
  auto* stream = static_cast<CameraStream*>(data);
  bool allowed = false;
  {
    std::lock_guard lock(stream->mutex_);
    allowed = stream->key_frame_throttle_.Allow(Clock::now());
  }
  if (!allowed) {
    ++stream->key_frame_requests_held_;
    return GST_PAD_PROBE_DROP;
  }
  ++stream->key_frame_requests_sent_;
  return GST_PAD_PROBE_OK;
}

void CameraStream::Linked(const std::string& codec, PadPtr depayloader_sink) {
  std::lock_guard lock(mutex_);
  codec_ = codec;
  key_frame_pad_ = std::move(depayloader_sink);
}

GstPadProbeReturn CameraStream::OnDepayloaderInput(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* stream = static_cast<CameraStream*>(data);
  try {
    if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
      stream->OnRtpPacket(GST_PAD_PROBE_INFO_BUFFER(info));
    } else if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
      GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
      for (guint i = 0; i < gst_buffer_list_length(list); ++i) stream->OnRtpPacket(gst_buffer_list_get(list, i));
    }
  } catch (...) {
    ReportEscapedException("webrtc peer: the depayloader's probe");
  }
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn CameraStream::OnDecoderInput(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* stream = static_cast<CameraStream*>(data);
  stream->decode_started_ms_ = ThreadCpuMs();
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buffer && !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT)) {
    // A key frame: what any pending request asked for (the depayloader drops delta frames until one).
    std::lock_guard lock(stream->mutex_);
    stream->key_frame_throttle_.KeyFrameArrived();
  }
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn CameraStream::OnDecoderOutput(GstPad*, GstPadProbeInfo*, gpointer data) {
  auto* stream = static_cast<CameraStream*>(data);
  stream->decoded_ms_ = ThreadCpuMs();
  stream->last_decode_ms_ = std::max(0.0, stream->decoded_ms_ - stream->decode_started_ms_);
  return GST_PAD_PROBE_OK;
}

GstFlowReturn CameraStream::OnNewSample(GstAppSink* sink, gpointer data) {
  auto* stream = static_cast<CameraStream*>(data);
  stream->gate_.Run([&] { stream->OnSample(sink); });
  return GST_FLOW_OK;
}

void CameraStream::OnRtpPacket(GstBuffer* buffer) {
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) return;
  const uint32_t rtp_time = gst_rtp_buffer_get_timestamp(&rtp);
  gst_rtp_buffer_unmap(&rtp);
  ++rtp_packets_;
  last_packet_ns_ =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  if (!GST_CLOCK_TIME_IS_VALID(pts)) return;
  std::lock_guard lock(mutex_);
  rtp_times_.Add(pts, rtp_time);
}

uint32_t CameraStream::RtpTimeFor(GstClockTime pts) {
  std::lock_guard lock(mutex_);
  const RtpTimestampMap::Match match = rtp_times_.Take(pts);
  if (!match.exact) ++frames_unmatched_;
  // Until the first frame decodes, skipped ones are the wait for the first key frame (asked for at
  // the start), not a broken stream.
  if (frames_decoded_.load() > 0) frames_undecoded_ += match.skipped;
  return match.rtp_time;
}

void CameraStream::OnSample(GstAppSink* sink) {
  SamplePtr sample(gst_app_sink_try_pull_sample(sink, 0));
  if (!sample) return;
  const Clock::time_point arrived = Clock::now();
  GstBuffer* buffer = gst_sample_get_buffer(sample.get());
  if (!buffer) return;
  const uint32_t rtp_time = RtpTimeFor(GST_BUFFER_PTS(buffer));
  const uint64_t index = frames_decoded_.load();
  // The picture stays in the decoder's buffer: the consumer converts what it reads (see YuvPicture).
  auto frame = FrameFromSample(sample.get(), static_cast<int64_t>(index), 0, /*keep_yuv=*/true);
  if (!frame) {
    post_([this, message = frame.error()] { on_error_("cannot convert a decoded frame: " + message); });
    return;
  }
  frame->timestamp_ms = std::chrono::duration<double, std::milli>(arrived.time_since_epoch()).count();
  // Conversion: from the decoder's output through scaling and the appsink to the frame (the RGB
  // conversion itself, when the frame keeps its YUV picture, is the consumer's and counted there).
  frame->cost.decode_ms = last_decode_ms_;
  frame->cost.convert_ms = decoded_ms_ > 0 ? std::max(0.0, ThreadCpuMs() - decoded_ms_) : 0.0;
  ++frames_decoded_;
  if (on_frame_) on_frame_(std::move(*frame), rtp_time);
}

void CameraStream::RequestKeyFrame(bool counted) {
  PadPtr pad;
  {
    std::lock_guard lock(mutex_);
    if (gate_.shut() || !key_frame_pad_) return;
    pad.reset(GST_PAD(gst_object_ref(key_frame_pad_.get())));
  }
  if (counted) ++key_frame_requests_;
  // Upstream through webrtcbin to its RTP session, which sends RTCP PLI (or FIR) to the client, unless
  // the throttle on this pad (OnKeyFrameRequest) holds it back.
  gst_pad_push_event(pad.get(), gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
}

void CameraStream::Close() {
  PadPtr old_pad;
  {
    std::lock_guard lock(mutex_);
    old_pad = std::move(key_frame_pad_);
    rtp_times_.Clear();
  }
}

std::string CameraStream::codec() const {
  std::lock_guard lock(mutex_);
  return codec_;
}

}  // namespace speakup::media
