// The load generator: many native WebRTC clients (GStreamer webrtcbin) in one process, each
// sending a pre-encoded video file to a SpeakUp server through the same signaling as the browser
// and reading its results. No encoding at run time: the file is demuxed once and its encoded
// frames are paced out (RTP payloading only), so the generator costs little next to the server.
//
//   auto video = loadgen::LoadEncodedVideo("tests/data/video/face_motion.mp4");
//   auto report = loadgen::RunLoad(*video, {.server_url = "http://127.0.0.1:8080/", .clients = 8});
//   std::cout << loadgen::ReportText(*report);
//
// Latency is measured per frame by RTP timestamp: the time a frame's first packet left the
// payloader until the result carrying that RTP timestamp arrived on the data channel.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "speakup/status.h"

namespace speakup::loadgen {

struct EncodedVideo {
  std::string codec;  // "H264", "VP8" or "VP9"
  int width = 0, height = 0;
  double fps = 30;
  std::string h264_profile_level_id;  // from the stream's SPS, e.g. "64001e" (H.264 only)
  struct Unit {
    std::vector<uint8_t> bytes;  // one frame (H.264: byte-stream access unit with SPS/PPS before key frames)
    bool key = false;
  };
  std::vector<Unit> units;  // starts with a key frame
};

// Demuxes an MP4/MKV/WebM file's first video stream (H.264, VP8 or VP9) into memory. Errors name
// the problem: missing/unreadable file, no video, another codec (re-encode it), too long (> 2 min).
Expected<EncodedVideo> LoadEncodedVideo(const std::string& path);

// What a client does wrong on purpose, for fault tests.
enum class Fault {
  kNone,
  kNoMedia,  // connects (ICE, DTLS, data channel) but never sends a frame
  kNoIce,    // sends its offer but never any candidate, and ignores the server's: ICE never completes
  kCorrupt,  // breaks every third frame after payloading (VP8: a frame header the decoder refuses)
  kFreeze,   // streams for a while, then stops sending and answering (its pipeline stops; the
             // signaling socket stays open and silent), like a camera whose network vanished
};
const char* ToString(Fault fault);
Expected<Fault> ParseFault(const std::string& name);  // "none", "no-media", "no-ice", "corrupt", "freeze"

struct LoadOptions {
  std::string server_url = "http://127.0.0.1:8080/";  // the page's address (http/https) or ws(s)://.../ws
  std::string token;                                   // sent as ?token=
  int clients = 1;
  double duration_s = 10;  // measured streaming time, once every client is streaming (or has failed)
  double fps = 0;          // pace; 0 = the file's frame rate
  double connect_stagger_ms = 50;  // between client starts, so DTLS handshakes do not all collide
  double connect_timeout_s = 20;   // a client not streaming by then counts as failed
  Fault fault = Fault::kNone;
  int faulty_clients = 0;          // how many clients (the first ones) have `fault`; others are normal
  double freeze_after_s = 1;       // kFreeze: seconds of streaming before freezing
  bool quiet = false;              // no progress lines on stderr
  std::string model = "mesh";      // the session option `model` (docs/protocol.md): "mesh" or "landmarker"
  // ICE: the servers the server's `welcome` names are used, and these STUN/TURN URLs too
  // ("stun:HOST[:PORT]", "turn:HOST[:PORT][?transport=udp|tcp]", "turns:..."); TURN URLs given
  // here use turn_user/turn_password. `relay`: relay candidates only (all media through TURN).
  std::vector<std::string> ice_servers;
  std::string turn_user, turn_password;
  bool relay = false;
  // A client whose server let it go on purpose (`bye` with reconnect: a drain, a stop) or vanished
  // (the signaling socket closed while it streamed) connects again, after 0.1-0.5 s, to the same URL:
  // behind a balancer, to another node. Its report then spans all its connections.
  bool reconnect = false;
  // A lossy, delaying path on each client's send side (GStreamer's netsim between webrtcbin's RTP
  // session and its DTLS transport, so retransmissions cross it too); RTCP is not impaired.
  // loss_pct in [0, 100): the chance each RTP packet is lost, drawn from `seed` (and the client's
  // id), so a run with the same seed loses the same packets. delay_ms in [0, 10000]; jitter_ms in
  // [0, delay_ms]: each packet's delay is uniform in [delay - jitter, delay + jitter] (not seeded),
  // packets keep their order (a queue, not a reordering path).
  double loss_pct = 0;
  int delay_ms = 0;
  int jitter_ms = 0;
  uint64_t seed = 1;
  // [0, 100]: the chance each retransmission (RTX) is lost; < 0: loss_pct. 100: every loss is for good.
  double rtx_loss_pct = -1;
  // Called on the run's thread when the measured window opens (true) and closes (false), e.g. to
  // read the server's CPU time over exactly that window.
  std::function<void(bool opened)> on_window;
};

struct LatencySummary {
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

struct ClientReport {
  int id = 0;
  Fault fault = Fault::kNone;
  bool streamed = false;          // the data channel opened and frames went out
  uint64_t frames_sent = 0;       // in the measured window
  uint64_t bytes_sent = 0;        // of those frames: RTP as the payloader made it (no SRTP, no retransmissions)
  uint64_t results = 0;           // results for those frames
  uint64_t bad_results = 0;       // result messages that did not decode, or named no frame sent
  uint64_t faces = 0;             // faces in every result of the run (not only the measured window)
  uint64_t faces_with_blendshapes = 0;  // of those, faces with the landmarker's 52 blendshapes
  LatencySummary latency;
  std::vector<std::string> errors;  // error messages from the server, connection failures
  std::string bye;                  // the server's bye reason, if it said bye
  bool bye_reconnect = false;       // the bye asked the client to connect again (a draining server)
  int reconnects = 0;               // connections after the first (LoadOptions::reconnect)
  double max_gap_ms = 0;            // the longest time in the measured window without a result
  uint64_t keyframes_on_request = 0;  // key frames sent because the server asked (RTCP PLI), whole run
  uint64_t path_packets = 0;        // RTP packets (retransmissions too) into the lossy path (--loss), whole run
  uint64_t path_dropped = 0;        // of those, lost on the path
};

struct LoadReport {
  int clients = 0;
  double duration_s = 0;  // the measured window
  uint64_t frames_sent = 0, results = 0, bad_results = 0;
  uint64_t bytes_sent = 0;  // see ClientReport::bytes_sent
  uint64_t faces = 0, faces_with_blendshapes = 0;
  int clients_streamed = 0;
  LatencySummary latency;  // over every result of every client
  double max_gap_ms = 0;   // the longest time without a result of any one streaming client
  uint64_t path_packets = 0, path_dropped = 0;  // the lossy path (--loss), every client
  uint64_t keyframes_on_request = 0;            // every client's
  std::vector<ClientReport> per_client;

  double answered_fraction() const { return frames_sent ? static_cast<double>(results) / frames_sent : 0; }
  // The video bitrate one client sent on average, in kbit/s (RTP as payloaded).
  double sent_kbps_per_client() const {
    return clients && duration_s > 0 ? bytes_sent * 8.0 / 1000.0 / duration_s / clients : 0;
  }
};

// Runs the clients to the end (connect, stream for duration_s, say bye) and reports. Uses its own
// GLib main context on the calling thread. Fails only when nothing can run (bad URL, GStreamer
// plugins missing); a client that fails is reported with its errors.
Expected<LoadReport> RunLoad(const EncodedVideo& video, const LoadOptions& options);

std::string ReportText(const LoadReport& report);  // a table, one line per client, then overall
std::string ReportJson(const LoadReport& report);  // one JSON object

}  // namespace speakup::loadgen
