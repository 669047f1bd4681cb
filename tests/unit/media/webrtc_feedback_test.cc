// Congestion feedback without a connection: what the offer keeps, what the answer gets (the
// transport-wide-cc header extension, the bitrate parameters), and counting TWCC packets in RTCP.
// Through a real browser: tests/e2e/bandwidth_cap.mjs.
#include <gst/rtp/gstrtcpbuffer.h>
#include <gtest/gtest.h>

#include <string>

#include "speakup/media/gst_handles.h"
#include "speakup/media/webrtc_sdp.h"
#include "webrtc_rtcp_feedback.h"

namespace speakup::media {
namespace {

// A camera m-line as Chromium offers it (trimmed), with both kinds of congestion feedback.
const std::string kOffer =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=sendonly\r\na=rtpmap:96 VP8/90000\r\n"
    "a=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack pli\r\n"
    "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";

// webrtcbin 1.22's answer to it: transport-cc kept, every header extension dropped.
const std::string kAnswer =
    "v=0\r\no=- 3 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
    "a=recvonly\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 transport-cc\r\n"
    "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";

struct Sdp {
  explicit Sdp(const std::string& text) {
    GstSDPMessage* raw = nullptr;
    EXPECT_EQ(gst_sdp_message_new_from_text(text.c_str(), &raw), GST_SDP_OK);
    message.reset(raw);
  }
  std::string Text() const {
    GCharPtr text(gst_sdp_message_as_text(message.get()));
    return text ? text.get() : "";
  }
  SdpMessagePtr message;
};

TEST(CongestionFeedback, TheOfferKeepsTransportCcButNeverRemb) {
  Sdp offer(kOffer);
  RemoveCongestionFeedback(offer.message.get(), true);
  const std::string text = offer.Text();
  EXPECT_EQ(text.find("goog-remb"), std::string::npos) << text;
  EXPECT_NE(text.find("a=rtcp-fb:96 transport-cc\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("a=rtcp-fb:96 nack pli\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("abs-send-time"), std::string::npos) << text;
}

TEST(CongestionFeedback, OffRemovesEveryKind) {
  Sdp offer(kOffer);
  RemoveCongestionFeedback(offer.message.get(), false);
  const std::string text = offer.Text();
  EXPECT_EQ(text.find("goog-remb"), std::string::npos) << text;
  EXPECT_EQ(text.find("transport-cc"), std::string::npos) << text;
  EXPECT_EQ(text.find("transport-wide-cc"), std::string::npos) << text;
  EXPECT_NE(text.find("a=rtcp-fb:96 nack pli\r\n"), std::string::npos) << text;
}

TEST(CongestionFeedback, TheAnswerGetsTheExtensionWithTheOffersId) {
  Sdp offer(kOffer), answer(kAnswer);
  EXPECT_TRUE(AnswerTransportWideCc(offer.message.get(), answer.message.get(), 0));
  std::string text = answer.Text();
  EXPECT_NE(text.find("a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("abs-send-time"), std::string::npos) << text;  // only the one we act on
  // Once is enough: a second call (or webrtcbin answering it itself) adds no duplicate.
  EXPECT_TRUE(AnswerTransportWideCc(offer.message.get(), answer.message.get(), 0));
  EXPECT_EQ(answer.Text(), text);
  // Not on the data channel's m-line, nor past the end.
  EXPECT_FALSE(AnswerTransportWideCc(offer.message.get(), answer.message.get(), 1));
  EXPECT_FALSE(AnswerTransportWideCc(offer.message.get(), answer.message.get(), 7));
}

TEST(CongestionFeedback, NoExtensionWithoutBothHalves) {
  {  // the offer numbers no packet (e.g. a client without TWCC): nothing to answer
    std::string without = kOffer;
    without.erase(without.find("a=extmap:4"), without.find("a=sendonly") - without.find("a=extmap:4"));
    Sdp offer(without), answer(kAnswer);
    EXPECT_FALSE(AnswerTransportWideCc(offer.message.get(), answer.message.get(), 0));
    EXPECT_EQ(answer.Text().find("extmap"), std::string::npos);
  }
  {  // the answer has no transport-cc feedback: an extension nobody reads would only cost bytes
    std::string without = kAnswer;
    without.erase(without.find("a=rtcp-fb:96 transport-cc\r\n"), 26);
    Sdp offer(kOffer), answer(without);
    EXPECT_FALSE(AnswerTransportWideCc(offer.message.get(), answer.message.get(), 0));
    EXPECT_EQ(answer.Text().find("extmap"), std::string::npos);
  }
  {  // a direction after the id ("4/sendonly") still gives id 4
    std::string directed = kOffer;
    directed.replace(directed.find("a=extmap:4 "), 11, "a=extmap:4/sendonly ");
    Sdp offer(directed), answer(kAnswer);
    EXPECT_TRUE(AnswerTransportWideCc(offer.message.get(), answer.message.get(), 0));
    EXPECT_NE(answer.Text().find("a=extmap:4 http://www.ietf.org/id/draft-holmer"), std::string::npos);
  }
}

TEST(CongestionFeedback, BitrateWithoutAMinimum) {
  Sdp answer(kAnswer);
  AskForBitrate(answer.message.get(), 0, 0, 1500, 3000);
  std::string text = answer.Text();
  EXPECT_NE(text.find("a=fmtp:96 x-google-start-bitrate=1500;x-google-max-bitrate=3000\r\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("min-bitrate"), std::string::npos) << text;
  EXPECT_NE(text.find("b=AS:3000\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=fmtp:97 apt=96\r\n"), std::string::npos) << text;  // rtx untouched

  Sdp pinned(kAnswer);
  AskForBitrate(pinned.message.get(), 0, 600, 1500, 3000);
  text = pinned.Text();
  EXPECT_NE(text.find("a=fmtp:96 x-google-min-bitrate=600;x-google-start-bitrate=1500;x-google-max-bitrate=3000\r\n"),
            std::string::npos)
      << text;
}

// An RTCP compound packet: a receiver report, then feedback messages of the given RTPFB types.
GstBuffer* Compound(std::initializer_list<GstRTCPFBType> feedback, bool picture_loss = false) {
  GstBuffer* buffer = gst_rtcp_buffer_new(1400);
  GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
  EXPECT_TRUE(gst_rtcp_buffer_map(buffer, GST_MAP_READWRITE, &rtcp));
  GstRTCPPacket packet;
  EXPECT_TRUE(gst_rtcp_buffer_add_packet(&rtcp, GST_RTCP_TYPE_RR, &packet));
  gst_rtcp_packet_rr_set_ssrc(&packet, 1);
  for (GstRTCPFBType type : feedback) {
    EXPECT_TRUE(gst_rtcp_buffer_add_packet(&rtcp, GST_RTCP_TYPE_RTPFB, &packet));
    gst_rtcp_packet_fb_set_type(&packet, type);
    gst_rtcp_packet_fb_set_sender_ssrc(&packet, 1);
    gst_rtcp_packet_fb_set_media_ssrc(&packet, 2);
    EXPECT_TRUE(gst_rtcp_packet_fb_set_fci_length(&packet, 2));
  }
  if (picture_loss) {
    EXPECT_TRUE(gst_rtcp_buffer_add_packet(&rtcp, GST_RTCP_TYPE_PSFB, &packet));
    gst_rtcp_packet_fb_set_type(&packet, GST_RTCP_PSFB_TYPE_PLI);
  }
  gst_rtcp_buffer_unmap(&rtcp);
  return buffer;
}

TEST(CongestionFeedback, CountsTransportWideFeedbackPacketsOnly) {
  ASSERT_TRUE(EnsureGstInitialized().ok());
  struct Case {
    GstBuffer* buffer;
    uint64_t expected;
  } cases[] = {
      {Compound({GST_RTCP_RTPFB_TYPE_TWCC}), 1},
      {Compound({GST_RTCP_RTPFB_TYPE_TWCC, GST_RTCP_RTPFB_TYPE_NACK, GST_RTCP_RTPFB_TYPE_TWCC}, true), 2},
      {Compound({GST_RTCP_RTPFB_TYPE_NACK}, true), 0},  // NACK (FMT 1) and PLI are no congestion feedback
      {Compound({}), 0},
  };
  for (const Case& one : cases) {
    EXPECT_EQ(CountTransportFeedback(one.buffer), one.expected);
    gst_buffer_unref(one.buffer);
  }
  // Not RTCP: counted as nothing (a hostile or broken buffer never reaches the parser's assertions).
  const guint8 garbage[] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03};
  GstBuffer* junk = gst_buffer_new_memdup(garbage, sizeof(garbage));
  EXPECT_EQ(CountTransportFeedback(junk), 0u);
  gst_buffer_unref(junk);
  EXPECT_EQ(CountTransportFeedback(nullptr), 0u);
}

}  // namespace
}  // namespace speakup::media
