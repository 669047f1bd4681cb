// One load-generator client: a signaling WebSocket and a sending webrtcbin.
//
//   appsrc (encoded frames, live, timestamped on push) -> RTP payloader -> webrtcbin sink_0 (sendonly)
//                                                        ^ src pad probe: RTP timestamp -> send time
//   data channel "results" (created here, unordered, no retransmits, like the browser client)
//
// Threads: Start/Stop and signaling run on the run's main context (the caller's thread);
// PushFrame runs on the pacer thread; the probe and data-channel handlers on GStreamer threads.
// webrtcbin's signals are handled where they come and posted to the main context when they touch
// signaling. Stop() brings the pipeline to NULL (which joins every GStreamer thread of it) before
// anything is released, so no handler runs on a freed client.
#pragma once

#include <libsoup/soup.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "speakup/media/gst_handles.h"
#include "speakup/ice_servers.h"
#include "speakup/loadgen.h"
#include "speakup/webrtc.h"
#include "network_path.h"

namespace speakup::loadgen {

using Clock = std::chrono::steady_clock;

// A client's ICE: servers of its own (besides the welcome's) and whether it relays everything.
struct ClientIce {
  std::vector<protocol::IceServer> own;
  bool relay = false;
};

// webrtcbin's form of `servers` (host names resolved, blocking); with `relay`, fails unless one is TURN.
Expected<media::IceServers> PeerIceServers(const std::vector<protocol::IceServer>& servers, bool relay);

class LoadClient : public std::enable_shared_from_this<LoadClient> {
 public:
  // `model`: the session option sent after `welcome` unless it is the default "mesh".
  // `path`: the send path's loss and delay (none by default).
  LoadClient(int id, const EncodedVideo& video, Fault fault, GMainContext* context, std::string model = "mesh",
             ClientIce ice = {}, NetworkPath path = {});
  ~LoadClient();

  // Main context.
  void Start(SoupSession* session, const std::string& ws_url);
  void Stop();  // says bye (unless frozen), closes the socket and the pipeline; idempotent
  // Ready for the measurement: streaming, or (faulty clients) as far as the fault lets it get, or
  // finished (failed, said bye).
  bool settled() const;
  bool finished() const { return finished_; }
  // Finished because the server went away on purpose (bye with reconnect) or vanished while this
  // client streamed: a new connection may land elsewhere.
  bool may_reconnect() const;
  // This connection replaces one that ended (LoadOptions::reconnect): failing to connect, it may
  // try again too (the balancer may not yet know a node died).
  void set_is_reconnect() { is_reconnect_ = true; }

  // Pacer thread.
  bool streaming() const { return streaming_; }
  void PushFrame(const EncodedVideo::Unit& unit, bool corrupt);
  void Freeze();  // stops streaming for good (Fault::kFreeze)
  // The server asked for a key frame since the last call (clears it): the next frame pushed must be
  // one, like a camera's encoder that makes one at once. KeyFrameSentOnRequest counts it.
  bool TakeKeyFrameRequest() { return key_frame_requested_.exchange(false); }
  void KeyFrameSentOnRequest() { ++keyframes_on_request_; }

  // After Stop(): what happened, counting frames whose first packet left in [window_start, window_end].
  // The latency of each answered frame is appended to `latencies_ms`, its arrival to `answered_at`.
  ClientReport Report(Clock::time_point window_start, Clock::time_point window_end,
                      std::vector<double>& latencies_ms, std::vector<Clock::time_point>* answered_at = nullptr) const;

  int id() const { return id_; }
  Fault fault() const { return fault_; }

 private:
  struct SentFrame {
    Clock::time_point sent;
    Clock::time_point answered{};  // epoch = no result yet
    size_t bytes = 0;              // its RTP packets as they left the payloader (headers included)
  };

  void Post(std::function<void(LoadClient&)> task);
  void AddError(std::string message);
  void OnSocketConnected(SoupWebsocketConnection* socket);
  void OnSignalingText(const std::string& text);
  void OnSocketClosed();
  void Send(const std::string& json);
  Status BuildPipeline(const media::IceServers& ice);
  void CreateOffer();
  void OnOfferCreated(GstPromise* promise);
  void ApplyAnswer(const std::string& sdp);
  void OnDataChannelOpen();
  void OnResultMessage(GBytes* bytes);
  // Every RTP packet leaving the payloader: records a new frame's send time; true when the packet
  // belongs to a frame to corrupt.
  bool OnRtpPacket(GstBuffer* buffer);
  void TearDownPipeline();
  void PushLocked(const EncodedVideo::Unit& unit, bool corrupt);  // push_mutex_ held

  const int id_;
  const EncodedVideo& video_;
  const Fault fault_;
  GMainContext* context_;
  std::string model_;  // the session option `model`
  const ClientIce ice_;
  const NetworkPath path_;
  const std::shared_ptr<PathCounters> path_counters_ = std::make_shared<PathCounters>();

  // Main context.
  media::GObjectPtr<SoupWebsocketConnection> socket_;
  media::GObjectPtr<GCancellable> cancel_;
  gulong message_handler_ = 0, closed_handler_ = 0;
  media::PipelinePtr pipeline_;
  GstElement* webrtc_ = nullptr;  // owned by the pipeline
  media::GObjectPtr<GObject> channel_;
  bool offered_ = false;
  bool stopped_ = false;
  std::atomic<bool> finished_{false};
  std::atomic<bool> channel_open_{false};
  std::atomic<int> relay_candidates_{0};  // webrtcbin's thread counts, the main context reads

  // Pacer thread (and Stop, under the lock).
  std::mutex push_mutex_;
  media::ElementPtr appsrc_;
  std::atomic<bool> streaming_{false};
  std::atomic<bool> frozen_{false};
  std::atomic<bool> streamed_{false};  // the pacer has pushed a frame
  std::atomic<bool> key_frame_requested_{false};  // set by the payloader's event probe
  std::atomic<uint64_t> keyframes_on_request_{0};

  // Any thread, under the lock.
  mutable std::mutex stats_mutex_;
  std::vector<SentFrame> frames_;
  std::unordered_map<uint32_t, size_t> frame_by_rtp_;
  bool have_last_rtp_ = false;
  uint32_t last_rtp_ = 0;
  std::deque<bool> corrupt_flags_;  // one per pushed frame, taken by the RTP probe
  bool corrupting_ = false;          // the frame now leaving the payloader is being corrupted
  uint64_t bad_results_ = 0;
  uint64_t faces_ = 0, faces_with_blendshapes_ = 0;
  std::vector<std::string> errors_;
  std::string bye_;
  bool bye_reconnect_ = false;
  bool vanished_ = false;  // the signaling socket closed, without a bye, after streaming
  bool is_reconnect_ = false;
};

}  // namespace speakup::loadgen
