// The server side of one WebRTC peer connection, on GStreamer's webrtcbin. It knows no faces: it
// answers a client's offer, receives the client's camera (VP8, VP9 or H.264) as RGB frames with
// the RTP timestamp each frame was sent with, carries bytes and text on the data channel the
// client created, and can send a video track back.
//
//   media::PeerCallbacks callbacks;
//   callbacks.on_local_candidate = [&](unsigned mline, std::string c) { signaling.Send(mline, c); };
//   callbacks.on_frame = [&](media::Frame frame, uint32_t rtp) { pool.Submit(std::move(frame), rtp); };
//   callbacks.on_state = [&](media::PeerState s) { if (s == media::PeerState::kFailed) Drop(); };
//   auto peer = media::WebRtcPeer::Create({.local_addresses = {"127.0.0.1"}}, std::move(callbacks));
//   (*peer)->SetRemoteOffer(offer_sdp, [&](Expected<std::string> answer) { signaling.Answer(answer); });
//   ... g_main_loop_run(loop);
//
// Threads. A peer belongs to the GLib main context that is the thread-default one (or the global
// default) of the thread calling Create(); the caller runs a GMainLoop on it. Create, SetRemoteOffer,
// AddRemoteCandidate and Close must be called from the thread running that context, and so must the
// destructor unless Close() has returned (a closed peer's destructor only frees memory, on any thread).
// Every callback runs on that context too, from an idle source (never from inside a call into the
// peer), EXCEPT on_frame, which runs on a GStreamer streaming thread of this peer so that a frame
// can go to a worker pool without a main-loop hop: it must return quickly and must never wait for
// the main context (Close() waits for a running on_frame to return). SendData, SendText,
// SendAnnotatedFrame and RequestKeyFrame may be called from any thread while the peer exists.
//
// Lifetime. After Close() (or the destructor) returns, no callback runs any more and every
// GStreamer resource of the peer is released. A callback may destroy the peer it belongs to
// (e.g. on_state(kFailed) -> erase the session), except on_frame.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "speakup/media.h"
#include "speakup/status.h"

namespace speakup::media {

// The ICE servers a webrtcbin gathers candidates through. GStreamer 1.22's libnice takes STUN and
// TURN servers by IP address only: resolve names first (ResolveHost).
struct IceServers {
  std::string stun;               // StunServerUri(...); empty: none (webrtcbin takes one STUN server)
  std::vector<std::string> turn;  // TurnServerUri(...) each
  // Relay candidates only (webrtcbin's ice-transport-policy "relay"): every packet goes through TURN.
  bool relay_only = false;
};

// "stun://ADDRESS:PORT" (an IPv6 address in brackets).
std::string StunServerUri(const std::string& address, int port);
// "turn(s)://USER:PASSWORD@ADDRESS:PORT[?transport=udp|tcp]" as webrtcbin parses it: the user name
// and password percent-encoded (time-limited user names hold a ':', base64 passwords '/', '+', '=').
// `transport`: "", "udp" or "tcp".
std::string TurnServerUri(bool tls, const std::string& address, int port, const std::string& transport,
                          const std::string& username, const std::string& password);
// One IP address for a DNS name (blocking, through GLib's resolver; IPv4 preferred); an IP address
// comes back as it is. The error names the host.
Expected<std::string> ResolveHost(const std::string& host);
// Whether `text` is an IPv4 or IPv6 address.
bool IsIpAddress(const std::string& text);

struct WebRtcOptions {
  // Addresses the ICE agent may gather host candidates on (webrtcbin's ICE agent,
  // add-local-ip-address). Empty = every interface. A server listening on loopback passes
  // {"127.0.0.1"}: then it offers 127.0.0.1 candidates only and no packet leaves the machine.
  // Candidates are UDP only; UPnP port mapping is off.
  std::vector<std::string> local_addresses;
  // STUN and TURN servers for the peer's own server-reflexive and relay candidates.
  IceServers ice_servers;
  // Behind a 1:1 NAT (a cloud VM's public address): the address put in every host candidate the
  // peer announces, instead of the interface's own (mediasoup's announcedIp). Empty: as gathered.
  std::string announced_address;
  // Every ICE socket on a port in [min_port, max_port] (a firewall's open range); 0, 0: any port.
  // Each peer needs one port (bundled, RTCP multiplexed), so the range bounds concurrent peers.
  int min_port = 0, max_port = 0;
  // Jitter buffer latency (webrtcbin's latency property): how long a late packet is waited for
  // (and a lost one re-requested by NACK) before a frame is given up.
  int jitter_latency_ms = 20;
  // Larger frames are downscaled to fit (aspect ratio kept); frames are never upscaled.
  int max_width = 1920;
  int max_height = 1080;
  // Send a VP8 video track back (SendAnnotatedFrame). The client's offer must then have, besides
  // the camera's m-line, a video m-line it receives on (in a browser:
  // pc.addTransceiver('video', {direction: 'recvonly'}) before createOffer), offering VP8.
  bool annotated_video = false;
  // Data channel sends are dropped while more than this many bytes wait in the channel's buffer:
  // results are real time, never queued behind older ones.
  size_t max_buffered_bytes = 16 * 1024;
  // An offer without a data channel (m=application ... webrtc-datachannel) is refused.
  bool require_data_channel = true;
  // Transport-wide congestion control feedback (TWCC) on the camera: negotiated when the client
  // offers it, and sent by webrtcbin's RTP session, so the client's encoder follows what the path
  // carries. false: stripped from the offer and the camera's bitrate pinned to 600-2000 kbit/s
  // instead (the behaviour before feedback, for comparison; a thin uplink then just loses packets).
  bool congestion_feedback = true;
  // Each transport-wide feedback packet sent is also counted here (a counter shared by peers, e.g.
  // a server's metric); null: only in PeerStats.
  std::shared_ptr<std::atomic<uint64_t>> congestion_feedback_total;
  // Time from SetRemoteOffer until the connection must be up, and the longest gap in incoming video
  // once connected, before the peer turns kFailed (with on_error saying which). 0 = no limit.
  int connect_timeout_ms = 15000;
  int media_timeout_ms = 5000;
  // Once connected, a broken media path (ICE failed, or media_timeout_ms without video) makes the
  // peer kInterrupted instead of kFailed: the client may restart ICE (a new offer through
  // SetRemoteOffer) within this time, and video arriving again makes it kConnected. 0: kFailed at once.
  int restart_grace_ms = 0;
};

enum class PeerState {
  kNew,         // created; no offer yet
  kConnecting,  // offer applied; ICE/DTLS in progress
  kConnected,   // ICE and DTLS are up
  kInterrupted, // was connected; the media path broke: waiting (restart_grace_ms) for the client's ICE restart
  kFailed,      // ICE or DTLS failed, a timeout expired or the pipeline broke: final
  kClosed,      // the client closed the connection (data channel closed, DTLS/SCTP shut down): final
};
const char* ToString(PeerState state);

struct PeerCallbacks {
  // A local ICE candidate to send to the client ("candidate:..." without "a="), for m-line `mline`.
  std::function<void(unsigned mline, std::string candidate)> on_local_candidate;
  // A decoded frame (RGB, downscaled to the size limits) and the RTP timestamp (90 kHz, as the
  // client sent it) of the packets it came in. Frame::index counts frames from 0; Frame::timestamp_ms
  // is when the decoded frame reached the peer's sink, in ms of std::chrono::steady_clock.
  // Runs on a streaming thread: see "Threads" above.
  std::function<void(Frame frame, uint32_t rtp_timestamp)> on_frame;
  // Messages on the client's data channel.
  std::function<void(std::string text)> on_data_text;
  std::function<void(std::vector<uint8_t> bytes)> on_data_binary;
  // The data channel opened: SendData/SendText can deliver from now on.
  std::function<void()> on_data_open;
  // Each state change, in order; after kFailed or kClosed nothing more.
  std::function<void(PeerState state)> on_state;
  // Something went wrong that the user may want to log (a timeout, a broken pipeline, a decoder
  // error). Fatal problems are followed by on_state(kFailed).
  std::function<void(std::string message)> on_error;
};

// Counters for metrics and tests (read from any thread).
struct PeerStats {
  uint64_t rtp_packets = 0;       // video RTP packets that reached the depayloader
  uint64_t frames_decoded = 0;    // frames handed to on_frame
  uint64_t frames_unmatched = 0;  // frames whose RTP timestamp had to be guessed (should stay 0)
  uint64_t frames_undecoded = 0;  // frames that arrived but never left the decoder (corrupt, incomplete)
  uint64_t key_frame_requests = 0;       // asked for by the owner (RequestKeyFrame) and at the start
  // Every key-frame request (RTCP PLI or FIR) sent to the client: the ones above, the depayloader's after
  // a loss it could not repair, the decoder's on errors; at most one per ~300 ms while none has come.
  uint64_t key_frame_requests_sent = 0;
  // Requests held back because one was already pending (the depayloader asks per packet and frame).
  uint64_t key_frame_requests_held = 0;
  // Recovery from the path (webrtcbin's jitter buffer and RTX receiver): call stats() on the peer's
  // main context (where Close() runs) for these; after Close(), the values at the close.
  uint64_t rtp_packets_lost = 0;             // given up: never arrived, nor retransmitted in time
  uint64_t rtp_retransmission_requests = 0;  // packets asked for again (NACK)
  uint64_t rtp_retransmitted_received = 0;   // retransmitted packets (RTX) that arrived
  uint64_t data_sent = 0;         // messages sent on the data channel
  uint64_t data_dropped = 0;      // messages dropped: channel not open or congested
  uint64_t annotated_frames = 0;  // frames pushed by SendAnnotatedFrame
  uint64_t congestion_feedback = 0;  // RTCP transport-wide feedback packets sent (PT 205, FMT 15)
  std::string codec;              // "VP8", "VP9", "H264" once the video arrived
};

// Ends GStreamer's idle streaming threads once every peer (and every other pipeline) is gone.
// GLib keeps them for reuse, and what OpenSSL keeps per thread (DTLS) is freed only when a thread
// ends: a server that stops calls this last, so that nothing is left for a leak check at exit.
void JoinIdleStreamingThreads();

class WebRtcPeer {
 public:
  // Builds the peer's pipeline (webrtcbin, bundle max-bundle) and starts it. Fails when GStreamer
  // or a needed plugin is missing (the message names the Debian package).
  static Expected<std::unique_ptr<WebRtcPeer>> Create(WebRtcOptions options, PeerCallbacks callbacks);

  ~WebRtcPeer();  // Close()s
  WebRtcPeer(const WebRtcPeer&) = delete;
  WebRtcPeer& operator=(const WebRtcPeer&) = delete;

  // Applies the client's offer and creates the answer: set-remote-description, create-answer,
  // set-local-description. `done` runs once on the main context with the answer SDP or with an
  // error a client can be shown ("the offer is not valid SDP", "the offer has no video", ...); it
  // is not called if the peer is closed first. Once an offer is answered, another one is a
  // renegotiation of the same connection (the client's ICE restart: new ICE credentials and
  // candidates; DTLS, the data channel and the video go on): it must have the same media sections.
  // A refused later offer leaves the connection as it was. An offer while one is being answered fails.
  void SetRemoteOffer(const std::string& sdp, std::function<void(Expected<std::string> answer_sdp)> done);

  // A remote ICE candidate ("candidate:..." with or without "a="); an empty one (end of
  // candidates) is accepted and ignored. Candidates that arrive before the offer has been applied
  // are kept and added after it. Fails on a malformed candidate or an m-line the offer lacks.
  Status AddRemoteCandidate(unsigned mline, const std::string& candidate);

  // Sends on the client's data channel (binary / text). Returns false, and sends nothing, when the
  // channel is not open or more than WebRtcOptions::max_buffered_bytes wait in it. Never blocks.
  bool SendData(std::span<const uint8_t> bytes);
  bool SendText(const std::string& text);

  // Encodes an RGB frame on the annotated video track (VP8). Fails unless annotated_video was set
  // and the client's offer had a receiving video m-line for it. Frames of a new size are accepted
  // (the encoder restarts); frames are dropped, never queued, when the encoder is behind.
  Status SendAnnotatedFrame(const Frame& frame);

  // Asks the client for a key frame (RTCP PLI, via a GstForceKeyUnit event upstream). Sent on its
  // own when the video starts and when the decoder reports errors or packets are lost.
  void RequestKeyFrame();

  // Stops everything: the pipeline goes to NULL (waiting for its threads), signal handlers are
  // disconnected, pending callbacks are cancelled. Idempotent. Does not call on_state.
  void Close();

  PeerState state() const;  // the last state reported through on_state (main context)
  PeerStats stats() const;

  class Impl;

 private:
  explicit WebRtcPeer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace speakup::media
