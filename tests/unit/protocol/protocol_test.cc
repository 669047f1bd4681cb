// docs/protocol.md in code: the binary result message and the signaling messages.
#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "speakup/result_message.h"
#include "speakup/signaling.h"

namespace speakup::protocol {
namespace {

face::FaceResult TwoFaces() {
  face::FaceResult result;
  result.width = 640;
  result.height = 480;
  for (int k = 0; k < 2; ++k) {
    face::Face f;
    f.id = 7 + k;
    f.score = 0.75f;
    f.box = {10.5f, 20.25f, 100, 120};
    f.landmarks.resize(k == 0 ? 468 : 478);
    for (size_t i = 0; i < f.landmarks.size(); ++i) f.landmarks[i] = {float(i), float(i) + 0.5f, -float(i)};
    for (int i = 0; i < 16; ++i) f.pose[i] = float(i) / 4;
    f.yaw = 10, f.pitch = -5, f.roll = 2.5f;
    result.faces.push_back(f);
  }
  return result;
}

TEST(ResultMessage, LayoutIsAsDocumented) {
  ResultHeader header{true, 0xAABBCCDDu, 42, {1, 2, 3, 4, 5}};
  const auto bytes = EncodeResult(TwoFaces(), header);
  ASSERT_EQ(bytes.size(), 36u + (104 + 12 * 468) + (104 + 12 * 478));
  EXPECT_EQ(bytes[0], 2);  // version
  EXPECT_EQ(bytes[1], 1);  // detected
  EXPECT_EQ(bytes[2] | bytes[3] << 8, 2);
  uint32_t rtp;
  std::memcpy(&rtp, &bytes[4], 4);
  EXPECT_EQ(rtp, 0xAABBCCDDu);
  EXPECT_EQ(bytes[12] | bytes[13] << 8, 640);
  EXPECT_EQ(bytes[14] | bytes[15] << 8, 480);
  float total;
  std::memcpy(&total, &bytes[32], 4);
  EXPECT_EQ(total, 5.0f);
  // First face: id at 36, landmark count at 36 + 24, landmark 1's y at 36 + 28 + 12 + 4.
  uint32_t id;
  std::memcpy(&id, &bytes[36], 4);
  EXPECT_EQ(id, 7u);
  EXPECT_EQ(bytes[60] | bytes[61] << 8, 468);
  EXPECT_EQ(bytes[62] | bytes[63] << 8, 0) << "mesh faces carry no blendshapes";
  float y1;
  std::memcpy(&y1, &bytes[36 + 28 + 12 + 4], 4);
  EXPECT_EQ(y1, 1.5f);
  float yaw;
  std::memcpy(&yaw, &bytes[36 + 92 + 12 * 468], 4);
  EXPECT_EQ(yaw, 10.0f);
}

TEST(ResultMessage, RoundTrips) {
  const face::FaceResult result = TwoFaces();
  auto decoded = DecodeResult(EncodeResult(result, {false, 123, 9, {0.5f, 1, 2, 3, 4}}));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->header.rtp_timestamp, 123u);
  EXPECT_EQ(decoded->header.sequence, 9u);
  EXPECT_FALSE(decoded->header.detected);
  EXPECT_EQ(decoded->header.timings.queue_ms, 0.5f);
  ASSERT_EQ(decoded->faces.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    const auto& a = decoded->faces[k];
    const auto& b = result.faces[k];
    EXPECT_EQ(a.id, b.id);
    ASSERT_EQ(a.landmarks.size(), b.landmarks.size());
    EXPECT_EQ(a.landmarks.back().z, b.landmarks.back().z);
    EXPECT_EQ(a.pose, b.pose);
    EXPECT_EQ(a.roll, b.roll);
  }
}

TEST(ResultMessage, EveryTruncationAndExtraByteIsAnError) {
  const auto bytes = EncodeResult(TwoFaces(), {});
  for (size_t size = 0; size < bytes.size(); size += 7) {
    EXPECT_FALSE(DecodeResult(std::span(bytes.data(), size)).ok()) << size;
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(DecodeResult(longer).ok());
  auto wrong_version = bytes;
  wrong_version[0] = 1;  // version 1 had no blendshapes; only version 2 is decoded
  auto decoded = DecodeResult(wrong_version);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().find("version"), std::string::npos);
  EXPECT_TRUE(DecodeResult(EncodeResult(face::FaceResult{}, {})).ok()) << "no faces is a valid message";
}

// A Face Landmarker face: 478 points and 52 blendshapes.
face::FaceResult LandmarkerFace() {
  face::FaceResult result = TwoFaces();
  result.faces.resize(1);
  face::Face& f = result.faces[0];
  f.landmarks.resize(face::kLandmarkerLandmarks);
  f.blendshapes.resize(face::kBlendshapeCount);
  for (int i = 0; i < face::kBlendshapeCount; ++i) f.blendshapes[i] = float(i) / 64;
  return result;
}

TEST(ResultMessage, BlendshapesFollowThePose) {
  const auto bytes = EncodeResult(LandmarkerFace(), {});
  ASSERT_EQ(bytes.size(), 36u + 104 + 12 * 478 + 4 * 52);
  EXPECT_EQ(bytes[62] | bytes[63] << 8, 52);
  float last;
  std::memcpy(&last, &bytes[36 + 104 + 12 * 478 + 4 * 51], 4);
  EXPECT_EQ(last, 51.0f / 64);
  auto decoded = DecodeResult(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  ASSERT_EQ(decoded->faces.size(), 1u);
  EXPECT_EQ(decoded->faces[0].blendshapes, LandmarkerFace().faces[0].blendshapes);
  EXPECT_EQ(decoded->faces[0].landmarks.size(), 478u);
  EXPECT_EQ(decoded->faces[0].roll, 2.5f);
  auto mesh = DecodeResult(EncodeResult(TwoFaces(), {}));
  ASSERT_TRUE(mesh.ok()) << mesh.error();
  for (const face::Face& f : mesh->faces) EXPECT_TRUE(f.blendshapes.empty());
}

TEST(ResultMessage, BlendshapeCountsAreChecked) {
  const auto bytes = EncodeResult(LandmarkerFace(), {});
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_FALSE(DecodeResult(std::span(bytes.data(), size)).ok()) << size;
  }
  auto more = bytes;  // a count larger than the bytes that follow
  more[62] = 53;
  EXPECT_FALSE(DecodeResult(more).ok());
  more[62] = 0xFF, more[63] = 0xFF;
  EXPECT_FALSE(DecodeResult(more).ok());
  auto fewer = bytes;  // a smaller count leaves trailing bytes
  fewer[62] = 51;
  auto decoded = DecodeResult(fewer);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().find("after its last face"), std::string::npos) << decoded.error();
  auto extra = bytes;
  extra.insert(extra.end(), {0, 0, 0, 0});
  EXPECT_FALSE(DecodeResult(extra).ok());
}

TEST(Signaling, ModelOption) {
  auto parsed = ParseOptionsMessage(R"({"type":"options","options":{"model":"landmarker"}})");
  ASSERT_TRUE(std::holds_alternative<OptionsUpdate>(parsed));
  SessionOptions session;
  EXPECT_EQ(session.model, face::LandmarkModel::kMesh) << "the default";
  const OptionsUpdate landmarker = std::get<OptionsUpdate>(parsed);
  EXPECT_FALSE(session.Check(landmarker).has_value());
  session.Apply(landmarker);
  EXPECT_EQ(session.model, face::LandmarkModel::kLandmarker);
  EXPECT_EQ(session.ToPipeline().model, face::LandmarkModel::kLandmarker);
  EXPECT_EQ(nlohmann::json::parse(OptionsJson(session))["options"]["model"], "landmarker");

  // refine is for the mesh: turning it on with the landmarker is refused, and nothing is applied.
  OptionsUpdate refine_and_faces;
  refine_and_faces.refine = true;
  refine_and_faces.max_faces = 3;
  auto refusal = session.Check(refine_and_faces);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->code, "bad_message");
  EXPECT_NE(refusal->message.find("refine"), std::string::npos);
  SessionOptions refined;
  refined.refine = true;
  EXPECT_TRUE(refined.Check(landmarker).has_value()) << "landmarker while refine is on";
  OptionsUpdate both = landmarker;
  both.refine = false;
  EXPECT_FALSE(refined.Check(both).has_value()) << "landmarker with refine off in the same message";
  OptionsUpdate back;
  back.model = face::LandmarkModel::kMesh;
  back.refine = true;
  EXPECT_FALSE(session.Check(back).has_value());
  session.Apply(back);
  EXPECT_EQ(session.ToPipeline().model, face::LandmarkModel::kMesh);
  EXPECT_TRUE(session.ToPipeline().refine);
  EXPECT_EQ(face::EffectiveModel(session.ToPipeline()), face::LandmarkModel::kMeshRefined);
  EXPECT_EQ(nlohmann::json::parse(OptionsJson(SessionOptions{}))["options"]["model"], "mesh");
}

TEST(Signaling, ValidMessages) {
  auto offer = ParseClientMessage(R"({"type":"offer","sdp":"v=0\r\n"})");
  ASSERT_TRUE(std::holds_alternative<ClientMessage>(offer));
  EXPECT_EQ(std::get<OfferMessage>(std::get<ClientMessage>(offer)).sdp, "v=0\r\n");
  auto candidate = ParseClientMessage(R"({"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMLineIndex":1})");
  ASSERT_TRUE(std::holds_alternative<ClientMessage>(candidate));
  EXPECT_EQ(std::get<CandidateMessage>(std::get<ClientMessage>(candidate)).mline, 1u);
  auto options = ParseClientMessage(R"({"type":"options","options":{"max_faces":3,"refine":true,"detector":"full"}})");
  ASSERT_TRUE(std::holds_alternative<ClientMessage>(options));
  SessionOptions session;
  session.Apply(std::get<OptionsMessage>(std::get<ClientMessage>(options)).update);
  EXPECT_EQ(session.max_faces, 3);
  EXPECT_TRUE(session.refine);
  EXPECT_TRUE(session.smoothing) << "absent fields keep their value";
  EXPECT_EQ(session.detector, face::DetectorKind::kFullRange);
  EXPECT_TRUE(std::holds_alternative<ClientMessage>(ParseClientMessage(R"({"type":"bye"})")));
  auto restart = ParseClientMessage(R"({"type":"restart","sdp":"v=0\r\n"})");
  ASSERT_TRUE(std::holds_alternative<ClientMessage>(restart));
  EXPECT_EQ(std::get<RestartMessage>(std::get<ClientMessage>(restart)).sdp, "v=0\r\n");
}

void ExpectRefused(std::string_view text, const std::string& code) {
  auto parsed = ParseClientMessage(text);
  ASSERT_TRUE(std::holds_alternative<SignalingError>(parsed)) << text;
  EXPECT_EQ(std::get<SignalingError>(parsed).code, code) << text;
  EXPECT_FALSE(std::get<SignalingError>(parsed).message.empty());
}

TEST(Signaling, BadMessagesGetTheDocumentedCodes) {
  ExpectRefused("", "bad_json");
  ExpectRefused("{not json", "bad_json");
  ExpectRefused("\xff\xfe", "bad_json");
  ExpectRefused("[1,2]", "bad_message");
  ExpectRefused("{}", "bad_message");
  ExpectRefused(R"({"type":5})", "bad_message");
  ExpectRefused(R"({"type":"launch"})", "unknown_type");
  ExpectRefused(R"({"type":"offer"})", "bad_message");
  ExpectRefused(R"({"type":"offer","sdp":42})", "bad_message");
  ExpectRefused(R"({"type":"restart"})", "bad_message");
  ExpectRefused(R"({"type":"restart","sdp":""})", "bad_message");
  ExpectRefused(R"({"type":"restart","sdp":["v=0"]})", "bad_message");
  ExpectRefused(R"({"type":"candidate","candidate":"x"})", "bad_message");
  ExpectRefused(R"({"type":"candidate","candidate":"x","sdpMLineIndex":-1})", "bad_message");
  ExpectRefused(R"({"type":"options","options":{"max_faces":0}})", "bad_message");
  ExpectRefused(R"({"type":"options","options":{"max_faces":2.5}})", "bad_message");
  ExpectRefused(R"({"type":"options","options":{"refine":"yes"}})", "bad_message");
  ExpectRefused(R"({"type":"options","options":{"detector":"medium"}})", "bad_message");
  ExpectRefused(R"({"type":"options","options":{"model":"blendshapes"}})", "bad_message");
  ExpectRefused(R"({"type":"options","options":{"model":true}})", "bad_message");
  ExpectRefused(R"({"type":"options","options":{"colour":"blue"}})", "bad_message");
  ExpectRefused(R"({"type":"options","options":[]})", "bad_message");
  ExpectRefused(std::string(kMaxSignalingBytes + 1, ' '), "too_large");
  ExpectRefused(std::string(20000, '[') + std::string(20000, ']'), "bad_message");
}

TEST(Signaling, DataChannelAcceptsOnlyOptions) {
  EXPECT_TRUE(std::holds_alternative<OptionsUpdate>(ParseOptionsMessage(R"({"type":"options","options":{"smoothing":false}})")));
  EXPECT_TRUE(std::holds_alternative<SignalingError>(ParseOptionsMessage(R"({"type":"bye"})")));
  EXPECT_TRUE(std::holds_alternative<SignalingError>(ParseOptionsMessage("garbage")));
}

// A browser's offer: camera, the annotated video it receives, a data channel.
std::string BrowserOffer(const std::string& extra_media = "", const std::string& session_name = "-") {
  return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=" + session_name + "\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n"
         "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"
         "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n"
         "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n"
         "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\na=sctp-port:5000\r\n" + extra_media;
}

TEST(Signaling, OffersASessionNeedsPass) {
  EXPECT_FALSE(CheckOffer(BrowserOffer()));
  EXPECT_FALSE(CheckOffer(BrowserOffer("", "caf\xc3\xa9"))) << "UTF-8 in the session name is fine";
  EXPECT_EQ(CountCandidates(BrowserOffer()), 1);
}

TEST(Signaling, OffersThatWouldCostTheServerMoreAreRefused) {
  std::string many;
  for (int i = 0; i < 100; ++i) many += "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v" + std::to_string(i) + "\r\n";
  std::string candidates;
  for (int i = 0; i < kMaxRemoteCandidates; ++i) candidates += "a=candidate:1 1 udp 1 10.0.0.1 " + std::to_string(i) + " typ host\r\n";
  const std::string long_mid = "m=foo 9 X 0\r\na=mid:" + std::string(8190, 'x') + "\xc3\xa9\r\n";
  for (const std::string& offer :
       {BrowserOffer(many), BrowserOffer("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\n"),
        BrowserOffer("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n"),
        BrowserOffer("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:3\r\n"), BrowserOffer(long_mid),
        BrowserOffer("a=x:" + std::string(5000, 'y') + "\r\n"), BrowserOffer(candidates),
        std::string("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"), std::string(""),
        BrowserOffer("").replace(BrowserOffer("").find("a=mid:1"), 7, "a=mid:" + std::string(40, 'm'))}) {
    auto refusal = CheckOffer(offer);
    ASSERT_TRUE(refusal) << offer.substr(0, 300);
    EXPECT_EQ(refusal->code, "bad_sdp");
    EXPECT_FALSE(refusal->message.empty());
    // The refusal quotes the offer: it must always make valid JSON.
    EXPECT_TRUE(nlohmann::json::accept(ErrorJson(refusal->code, refusal->message)));
  }
}

TEST(Signaling, TextFromPeersNeverBreaksTheJson) {
  // GStreamer cuts an 8,191-byte SDP line inside a UTF-8 sequence; webrtcbin quotes it in the answer.
  const std::string cut = "a=mid:" + std::string(8184, 'x') + "\xc3";
  for (const std::string& json : {AnswerJson(cut), ErrorJson("bad_sdp", cut), CandidateJson(0, "\xff\xfe"),
                                  ByeJson("\xe9t\xe9")}) {
    nlohmann::json parsed;
    ASSERT_NO_THROW(parsed = nlohmann::json::parse(json));
  }
  EXPECT_NE(AnswerJson(cut).find("\xef\xbf\xbd"), std::string::npos) << "the broken byte becomes U+FFFD";
}

TEST(Signaling, SanitizedOffersKeepWhatWebRtcUses) {
  const std::string chromium =
      "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\n"
      "a=msid-semantic: WMS stream\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\nc=IN IP4 0.0.0.0\r\n"
      "a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=ice-options:trickle\r\n"
      "a=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\na=mid:0\r\n"
      "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\na=msid:stream track\r\na=rtcp-mux\r\n"
      "a=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\n"
      "a=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\n"
      "a=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\n"
      "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
      "a=ssrc-group:FID 1 2\r\na=ssrc:1 cname:abc\r\na=ssrc:1 msid:stream track\r\n"
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sctp-port:5000\r\n"
      "a=max-message-size:262144\r\n";
  EXPECT_EQ(SanitizeOffer(chromium), chromium) << "nothing of a browser's offer is dropped";
}

TEST(Signaling, SanitizedOffersDropNamesThatWouldStayInMemory) {
  // Every unknown name would become a GLib quark in GStreamer, kept for the life of the process.
  std::string offer = BrowserOffer("a=x-unique-7f3a:1\r\na=rid:r7f3a send\r\na=rtcp-fb:96 x-7f3a\r\n"
                                   "a=rtcp-fb:96 nack x-7f3a\r\na=fmtp:96 x-7f3a=1;apt=100;max-fr=30\r\n"
                                   "a=fmtp:98 only-unknown-7f3a=2\r\na=ssrc:5 x-7f3a:1\r\na=ssrc:5 cname:c\r\n");
  for (int i = 0; i < 40; ++i) offer += "a=ssrc:" + std::to_string(100 + i) + " cname:c\r\n";
  const std::string sanitized = SanitizeOffer(offer);
  EXPECT_EQ(sanitized.find("7f3a"), std::string::npos) << sanitized;
  EXPECT_NE(sanitized.find("a=fmtp:96 apt=100;max-fr=30\r\n"), std::string::npos);
  EXPECT_EQ(sanitized.find("a=fmtp:98"), std::string::npos);
  EXPECT_NE(sanitized.find("a=ssrc:5 cname:c\r\n"), std::string::npos);
  size_t ssrc_lines = 0;
  for (size_t at = 0; (at = sanitized.find("a=ssrc:", at)) != std::string::npos; ++at) ++ssrc_lines;
  EXPECT_EQ(ssrc_lines, static_cast<size_t>(kMaxSsrcLines));
  EXPECT_NE(sanitized.find("a=mid:2\r\n"), std::string::npos) << "the rest stays";
  EXPECT_FALSE(CheckOffer(sanitized));
}

}  // namespace
}  // namespace speakup::protocol
