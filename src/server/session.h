// One connected client: its signaling WebSocket, its WebRTC peer, its face tracking state and its
// one-frame slot. Signaling and lifetime run on the main loop; frames arrive on GStreamer threads;
// inference runs on a worker. A session never queues more than one frame.
#pragma once

#include <libsoup/soup.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "flood_guard.h"
#include "ice_config.h"
#include "speakup/media/gst_handles.h"
#include "metrics.h"
#include "speakup/signaling.h"
#include "speakup/face.h"
#include "speakup/media.h"
#include "speakup/webrtc.h"
#include "worker_pool.h"

namespace speakup::server {

// What every session shares: set up once by the server.
struct SessionContext {
  WorkerPool* pool = nullptr;
  const face::Models* models = nullptr;
  std::vector<std::array<int, 2>> mesh_edges;  // for the annotated video
  media::WebRtcOptions webrtc;
  const IceConfig* ice = nullptr;  // STUN/TURN servers and credentials per session (none: null)
  std::chrono::milliseconds offer_timeout{20000};  // socket open -> offer (then the peer's own)
  std::function<void(const std::string& session)> on_closed;  // main loop; the server forgets it
  // Main loop, when a session offers: nullopt to go on, or why the server cannot take it
  // (server_full, draining). Sessions count against the capacity only once they offer.
  std::function<std::optional<protocol::SignalingError>(const std::string& session)> admit_offer;
  Metrics* metrics = nullptr;
};

class Session : public Job, public std::enable_shared_from_this<Session> {
 public:
  using Clock = std::chrono::steady_clock;

  // `connection`: the front door's id of the client's TCP connection.
  Session(std::string id, std::string address, uint64_t connection, SessionContext& context);
  ~Session() override;

  const std::string& id() const { return id_; }
  const std::string& address() const { return address_; }  // the client's IP address
  uint64_t connection() const { return connection_; }
  bool offered() const { return offered_; }  // main loop
  Clock::time_point started() const { return started_; }
  // Main loop: how this session's video recovered from the network so far (after Close(): in all).
  RecoveryTotals Recovery() const;

  // Main loop. Takes a reference to the connection and starts the session (welcome message).
  void Start(SoupWebsocketConnection* connection);
  // Main loop. Ends the session at once: says `bye` with the reason, closes the peer and the socket.
  // Idempotent. `code`: the WebSocket close code.
  void Close(const std::string& reason, gushort code = SOUP_WEBSOCKET_CLOSE_NORMAL, bool reconnect = false);
  // Main loop. The client sent a signaling message over the limit (the front door dropped it):
  // says `too_large` and closes with 1009 (message too big).
  void TooLarge();

  // Worker thread.
  void Run(face::Workspace& workspace) override;

 private:
  // Worker thread: the frame through the pipeline, converting only what it reads (all of it for the
  // annotated video), with each stage's CPU time counted in the metrics.
  Expected<face::FaceResult> Analyze(media::Frame& frame, double timestamp_ms, face::Workspace& workspace);
  struct PendingFrame {
    media::Frame frame;
    uint32_t rtp_timestamp = 0;
    Clock::time_point arrived;
  };

  void OnMessage(SoupWebsocketDataType type, std::string_view text);
  void OnText(std::string_view text);
  bool AllowDataMessage();  // main loop: false (and the session closed) past the flood limit
  void OnOffer(const std::string& sdp);
  void OnRestart(const std::string& sdp);
  void OnOptions(const protocol::OptionsUpdate& update);
  void Send(const std::string& json);
  void OnFrame(media::Frame frame, uint32_t rtp_timestamp);  // GStreamer thread
  bool CheckTimeouts();

  std::string id_;
  std::string address_;
  uint64_t connection_ = 0;
  SessionContext& context_;
  media::GObjectPtr<SoupWebsocketConnection> socket_;
  gulong message_handler_ = 0, closed_handler_ = 0;
  media::SourceId timer_;
  std::atomic<bool> closed_{false};
  bool offered_ = false;
  int remote_candidates_ = 0;  // in the offer and trickled: at most protocol::kMaxRemoteCandidates
  FloodGuard flood_guard_;       // main loop: WebSocket messages
  FloodGuard data_flood_guard_;  // main loop: data-channel messages (each answered on the WebSocket)
  RestartLimit restart_limit_;   // main loop: ICE restarts
  bool restart_pending_ = false;  // main loop: a restart offer is being answered
  bool media_interrupted_ = false;  // main loop: the peer is kInterrupted (waiting for an ICE restart)
  Clock::time_point started_ = Clock::now();

  // The peer is made and dropped on the main loop (which reads it without the lock) and used by
  // a worker to send results (under the lock).
  std::mutex peer_mutex_;  // guards peer_ itself (set and cleared on the main loop, copied by workers)
  std::shared_ptr<media::WebRtcPeer> peer_;
  std::string peer_error_;  // the peer's last error, main loop
  RecoveryTotals recovery_at_close_;  // main loop
  SessionIce ice_;          // this session's ICE servers and TURN credentials (made at welcome)

  // Options: set on the main loop, picked up by the worker before its next frame.
  std::mutex options_mutex_;
  protocol::SessionOptions options_;
  bool options_changed_ = false;

  // The newest frame, and whether the session is in the worker queue.
  std::mutex slot_mutex_;
  std::optional<PendingFrame> slot_;
  bool scheduled_ = false;

  // Worker-only state (one worker at a time runs a session).
  face::Pipeline pipeline_;
  uint32_t sequence_ = 0;
  bool annotated_ = false;
  // The frame's RGB where the pipeline reads it (a camera frame stays YUV elsewhere); worker-only,
  // kept from frame to frame so that nothing is allocated per frame.
  std::vector<uint8_t> rgb_buffer_;
  bool process_error_reported_ = false;
  bool annotated_error_reported_ = false;

};

}  // namespace speakup::server
