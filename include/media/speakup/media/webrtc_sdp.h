// What WebRtcPeer checks in a client's offer and in ICE candidates before webrtcbin sees them: the
// parts SpeakUp depends on (a video m-line the client sends on, with a codec we decode; the data
// channel; the m-line for the annotated video), with messages a client can act on. webrtcbin checks
// the rest (ICE credentials, DTLS fingerprints, bundling) when the offer is applied.
#pragma once

#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22
#endif
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "speakup/status.h"

namespace speakup::media {

struct SdpMessageFree {
  void operator()(GstSDPMessage* message) const {
    if (message) gst_sdp_message_free(message);
  }
};
using SdpMessagePtr = std::unique_ptr<GstSDPMessage, SdpMessageFree>;

struct SessionDescriptionFree {
  void operator()(GstWebRTCSessionDescription* description) const {
    if (description) gst_webrtc_session_description_free(description);
  }
};
using SessionDescriptionPtr = std::unique_ptr<GstWebRTCSessionDescription, SessionDescriptionFree>;

// Largest offer accepted (a browser's offer is 3-8 KiB).
inline constexpr size_t kMaxOfferBytes = 64 * 1024;
// Largest ICE candidate line accepted.
inline constexpr size_t kMaxCandidateBytes = 1024;

struct OfferInfo {
  SdpMessagePtr message;
  unsigned mline_count = 0;
  // The first video m-line the client sends on (sendrecv or sendonly), and the encoding names it
  // offers there in the client's order, upper case, without rtx/red/ulpfec ("VP8", "H264", ...).
  int camera_mline = -1;
  std::vector<std::string> camera_codecs;
  // Another video m-line the client receives on (recvonly or sendrecv): where an annotated video
  // can go. -1 = none. Its VP8 payload type, -1 = it offers no VP8.
  int return_mline = -1;
  int return_vp8_payload = -1;
  bool has_data_channel = false;
};

// The encoding names WebRtcPeer decodes, in upper case.
bool IsDecodableCodec(const std::string& encoding_name);

// Parses and checks an offer. Errors: "the offer is not valid SDP (...)", "the offer has no video
// (...)", "the offer's video uses no codec the server decodes (...)", "the offer has no data
// channel (...)" (when require_data_channel).
Expected<OfferInfo> InspectOffer(const std::string& sdp, bool require_data_channel);

// Removes from video m-line `mline` every payload type the server does not decode (and the rtx
// streams that repair them, with their rtpmap/fmtp/rtcp-fb lines), so the answer, and therefore the
// client, only uses VP8, VP9 or H.264 there. red/ulpfec stay. The message must be a video offer
// InspectOffer accepted (it keeps at least one codec).
void KeepDecodableCodecs(GstSDPMessage* message, unsigned mline);


// Congestion feedback on every m-line (rtcp-fb transport-cc / goog-remb and the transport-wide-cc
// header extension). REMB always goes: webrtcbin never sends it, and a client told to wait for it
// would trust a feedback that never comes. Transport-wide feedback (TWCC) stays when
// `keep_transport_cc`: webrtcbin 1.22's RTP session then sends it (RTPFB FMT 15, counted by
// RtcpFeedbackCounter) and the browser's send-side estimate follows what the path carries.
// Without any feedback Chromium keeps its start rate; see AskForBitrate.
void RemoveCongestionFeedback(GstSDPMessage* message, bool keep_transport_cc);

// The transport-wide sequence number header extension (draft-holmer-rmcat-transport-wide-cc-extensions-01).
inline constexpr std::string_view kTransportWideCcUri =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

// Completes transport-wide congestion control on answer m-line `mline`: webrtcbin 1.22 answers
// rtcp-fb transport-cc but drops the offer's header extensions, and without the extension the
// client numbers no packet, so there is nothing to give feedback on. Adds "a=extmap:<id> <uri>"
// with the offer's id for it. Returns whether the m-line now has both (false: the offer had no
// such extension or the answer no transport-cc; then nothing is added).
bool AnswerTransportWideCc(const GstSDPMessage* offer, GstSDPMessage* answer, unsigned mline);

// The camera's bitrate asked of the client in the answer: Chromium's x-google-*-bitrate fmtp
// parameters on the camera's codecs (a parameter <= 0 is left out) and b=AS (max_kbps) for others.
// With congestion feedback, start and max bound a rate the browser finds itself, and no minimum is
// named, so it can go as low as the path needs. Without feedback Chromium keeps its start rate
// (300 kbit/s unless told), at which one 640x480 key frame takes a second to arrive and the stream
// stalls on key-frame requests: then the minimum pins it to a rate a LAN carries.
void AskForBitrate(GstSDPMessage* answer, unsigned mline, int min_kbps, int start_kbps, int max_kbps);

// A remote candidate as webrtcbin takes it: "candidate:..." (an "a=" prefix is removed). Errors on
// anything else: too long, control characters, missing fields.
Expected<std::string> NormalizeCandidate(const std::string& candidate);

// Fields of a candidate line: its connection address and type ("host", "srflx", "relay", "prflx");
// empty strings when the line is malformed.
struct CandidateFields {
  std::string transport;  // "UDP" / "TCP" as written
  std::string address;
  std::string type;
};
CandidateFields ParseCandidate(const std::string& candidate);
// The candidate with its address replaced by `address` when it is a host candidate; any other
// (and a malformed one) unchanged. For a server behind a 1:1 NAT (WebRtcOptions::announced_address).
std::string AnnounceHostCandidate(const std::string& candidate, const std::string& address);
// The same for every a=candidate line of an SDP text.
std::string AnnounceHostCandidates(const std::string& sdp, const std::string& address);

}  // namespace speakup::media
