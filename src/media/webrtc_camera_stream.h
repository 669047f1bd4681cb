// The client's camera once its receive chain is linked (see webrtc_video_receiver.h): RTP packets
// seen at the depayloader, decoded frames from the appsink with the RTP timestamp each was sent
// with, key-frame requests back to the client, and the counters about all of it.
//
// The depayloader's sink pad probe reads every packet's RTP timestamp and buffer PTS into a map
// (RtpTimestampMap). A depayloader gives a frame the PTS of one of the packets it was made of, and
// the decoder keeps input PTS on output frames, so the appsink looks a frame's PTS up in the map and
// finds the RTP timestamp the client sent that frame with; entries older than the frame are dropped
// then. (All packets of one frame carry the same RTP timestamp, so it does not matter which
// packet's PTS the frame got.)
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "key_frame_throttle.h"
#include "speakup/media/gst_handles.h"
#include "speakup/media.h"
#include "webrtc_threads.h"

namespace speakup::media {

// PTS -> RTP timestamp of the packets that reached the depayloader. Not thread-safe.
class RtpTimestampMap {
 public:
  // Entries kept while no frame comes out of the decoder (e.g. waiting for a key frame): about 2 s
  // of 720p video. The oldest go first.
  static constexpr size_t kMaxEntries = 2048;

  struct Match {
    uint32_t rtp_time = 0;
    bool exact = false;    // false: no packet had this PTS; the nearest older one's (else newer) was taken
    uint64_t skipped = 0;  // distinct older RTP timestamps dropped: frames that never left the decoder
  };

  void Add(GstClockTime pts, uint32_t rtp_time);
  // The RTP timestamp of the frame with this PTS. Frames leave the decoder in presentation order,
  // so this entry and every older one are dropped, and (when found) every other packet of this frame.
  Match Take(GstClockTime pts);
  void Clear() { times_.clear(); }
  size_t size() const { return times_.size(); }

 private:
  std::map<GstClockTime, uint32_t> times_;
};

class CameraStream {
 public:
  // on_frame runs on the appsink's streaming thread (see PeerCallbacks::on_frame); on_error on the
  // main context.
  CameraStream(HandlerGate& gate, PostTask post, std::function<void(Frame, uint32_t)> on_frame,
               std::function<void(const std::string&)> on_error)
      : gate_(gate), post_(std::move(post)), on_frame_(std::move(on_frame)), on_error_(std::move(on_error)) {}
  CameraStream(const CameraStream&) = delete;
  CameraStream& operator=(const CameraStream&) = delete;

  // Watches a receive chain being built: the depayloader's sink pad, the decoder (its CPU time per
  // frame, see FrameCost) and the chain's appsink.
  void Watch(GstPad* depayloader_sink, GstElement* decoder, GstAppSink* sink);
  // The chain is linked: key-frame requests go upstream from the depayloader's sink pad from now on.
  void Linked(const std::string& codec, PadPtr depayloader_sink);

  // Any thread; nothing before Linked() or once the gate is shut. `counted`: in the stats. Like the
  // depayloader's and the decoder's requests, it goes out only if KeyFrameThrottle lets it.
  void RequestKeyFrame(bool counted);

  // Once the gate is shut and idle.
  void Close();

  uint64_t rtp_packets() const { return rtp_packets_.load(); }
  uint64_t frames_decoded() const { return frames_decoded_.load(); }
  uint64_t frames_unmatched() const { return frames_unmatched_.load(); }
  uint64_t frames_undecoded() const { return frames_undecoded_.load(); }
  uint64_t key_frame_requests() const { return key_frame_requests_.load(); }
  // Every force-key-unit event that went upstream from the depayloader (ours, the depayloader's, the
  // decoder's) past the throttle: each becomes an RTCP PLI or FIR to the client.
  uint64_t key_frame_requests_sent() const { return key_frame_requests_sent_.load(); }
  // Those the throttle held back: a request was pending, younger than its retry interval.
  uint64_t key_frame_requests_held() const { return key_frame_requests_held_.load(); }
  // When the last RTP packet arrived, in ns of std::chrono::steady_clock; 0 = none yet.
  int64_t last_packet_ns() const { return last_packet_ns_.load(); }
  std::string codec() const;

 private:
  // ---- streaming threads ----
  static GstPadProbeReturn OnDepayloaderInput(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  static GstPadProbeReturn OnKeyFrameRequest(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  static GstFlowReturn OnNewSample(GstAppSink* sink, gpointer data);
  static GstPadProbeReturn OnDecoderInput(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  static GstPadProbeReturn OnDecoderOutput(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  void OnRtpPacket(GstBuffer* buffer);
  void OnSample(GstAppSink* sink);
  uint32_t RtpTimeFor(GstClockTime pts);

  HandlerGate& gate_;
  const PostTask post_;
  const std::function<void(Frame, uint32_t)> on_frame_;
  const std::function<void(const std::string&)> on_error_;

  // The streaming thread's CPU clock when the decoder took the current frame and when it gave it out
  // (the decoder, conversion and appsink all run on that one thread: no locks).
  double decode_started_ms_ = 0, decoded_ms_ = 0;
  double last_decode_ms_ = 0;

  mutable std::mutex mutex_;  // the members below
  RtpTimestampMap rtp_times_;
  KeyFrameThrottle key_frame_throttle_;
  PadPtr key_frame_pad_;  // the depayloader's sink pad
  std::string codec_;

  std::atomic<int64_t> last_packet_ns_{0};
  std::atomic<uint64_t> rtp_packets_{0}, frames_decoded_{0}, frames_unmatched_{0}, frames_undecoded_{0},
      key_frame_requests_{0}, key_frame_requests_sent_{0}, key_frame_requests_held_{0};
};

}  // namespace speakup::media
