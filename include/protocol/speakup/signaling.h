// Signaling messages of docs/protocol.md: parsing and validating what a client sends, and making
// what the server answers. Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "speakup/face_types.h"
#include "speakup/ice_servers.h"
#include "speakup/status.h"

namespace speakup::protocol {

// The `welcome` message's `protocol`: the wire protocol's version, the result message's too.
inline constexpr int kSignalingProtocol = 2;
inline constexpr size_t kMaxSignalingBytes = 64 * 1024;
// What an offer may hold: a session needs one camera video, the optional annotated video (which
// the client receives) and one data channel. Every extra m-line would cost the server ICE sockets
// and threads, so an offer is checked before any of it reaches WebRTC.
inline constexpr int kMaxOfferVideoSections = 2;
inline constexpr int kMaxOfferApplicationSections = 1;
inline constexpr size_t kMaxSdpLineBytes = 4096;
inline constexpr size_t kMaxMidBytes = 32;
// Remote ICE candidates per session, in the offer and trickled together: each one makes the server
// send connectivity checks to an address the client chose.
inline constexpr int kMaxRemoteCandidates = 32;

// A refusal: `code` is one of docs/protocol.md's error codes.
struct SignalingError {
  std::string code;
  std::string message;
};

// Options a client may change; absent fields keep their value.
struct OptionsUpdate {
  std::optional<int> max_faces;
  std::optional<bool> refine, smoothing, annotated_video;
  std::optional<face::DetectorKind> detector;
  std::optional<face::LandmarkModel> model;  // kMesh or kLandmarker (refine picks the refined mesh)
};

struct SessionOptions {
  int max_faces = 1;
  bool refine = false;
  bool smoothing = true;
  face::DetectorKind detector = face::DetectorKind::kShortRange;
  bool annotated_video = false;
  face::LandmarkModel model = face::LandmarkModel::kMesh;  // kMesh or kLandmarker

  // nullopt when `update` may be applied; else a `bad_message` refusal (the update as a whole is
  // refused): `refine` is for the mesh model, so the landmarker with refine on is refused (as
  // `speakup mesh --model landmarker --refine` is).
  std::optional<SignalingError> Check(const OptionsUpdate& update) const;
  void Apply(const OptionsUpdate& update);
  face::PipelineOptions ToPipeline() const;
};

struct OfferMessage {
  std::string sdp;
};
// A new offer for the session's running peer connection: the client restarts ICE (new ice-ufrag and
// ice-pwd, the same media sections) without a new session.
struct RestartMessage {
  std::string sdp;
};
struct CandidateMessage {
  std::string candidate;
  unsigned mline = 0;
};
struct OptionsMessage {
  OptionsUpdate update;
};
struct ByeMessage {};
using ClientMessage = std::variant<OfferMessage, RestartMessage, CandidateMessage, OptionsMessage, ByeMessage>;


std::variant<ClientMessage, SignalingError> ParseClientMessage(std::string_view text);
// The options object alone (the data channel carries {"type": "options", "options": {...}} too).
std::variant<OptionsUpdate, SignalingError> ParseOptionsMessage(std::string_view text);

// Checks an offer's SDP before it reaches WebRTC: at most kMaxOfferVideoSections video and
// kMaxOfferApplicationSections application m-lines and nothing else, lines of at most
// kMaxSdpLineBytes, mids that are short tokens, at most kMaxRemoteCandidates candidates.
// nullopt when it may go on; otherwise a `bad_sdp` refusal that says what to change.
std::optional<SignalingError> CheckOffer(std::string_view sdp);
// The offer as WebRTC gets it: attributes, a=fmtp parameters and a=rtcp-fb kinds the server does
// not use are dropped, a=ssrc lines are kept for cname and msid only (at most kMaxSsrcLines).
// GStreamer turns each such name into a GLib quark, which is never freed: without this, offers
// with fresh names each time would grow the server's memory for good.
inline constexpr int kMaxSsrcLines = 16;
std::string SanitizeOffer(std::string_view sdp);
// The number of a=candidate lines in an SDP (they count against kMaxRemoteCandidates).
int CountCandidates(std::string_view sdp);

// The server's messages. Text that came from a peer (SDP, candidates, error messages quoting the
// input) may hold bytes that are not UTF-8 (GStreamer cuts long SDP lines anywhere): such bytes are
// replaced by U+FFFD, never thrown on.
// `ice_servers` (with this session's TURN credentials) go out as `ice_servers`, in RTCIceServer form;
// none: the field is left out.
std::string WelcomeJson(const std::string& session, int max_width, int max_height,
                        const std::vector<IceServer>& ice_servers = {});
std::string AnswerJson(const std::string& sdp);
std::string CandidateJson(unsigned mline, const std::string& candidate);
std::string OptionsJson(const SessionOptions& options);
std::string ErrorJson(const std::string& code, const std::string& message);
// reconnect: the server is going away on purpose (a drain before a restart): connect again, through
// the balancer, to reach another node; the session's options are the client's to send again.
std::string ByeJson(const std::string& reason, bool reconnect = false);

// What a client needs from the server's `welcome` (the load generator reads it).
struct Welcome {
  std::string session;
  int protocol = 0;
  std::vector<IceServer> ice_servers;  // checked by CheckIceServers
};
// Parses a `welcome` message; an error says what is wrong (not JSON, not a welcome, a field of the
// wrong type, ICE servers that CheckIceServers refuses).
Expected<Welcome> ParseWelcome(std::string_view text);

}  // namespace speakup::protocol
