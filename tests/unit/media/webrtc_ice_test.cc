// The public address behind a 1:1 NAT goes into host candidates only; webrtcbin's TURN URIs keep
// credentials with ':' and base64 characters intact; the port range reaches the ICE agent.
#define GST_USE_UNSTABLE_API 1

#include <gtest/gtest.h>

#include "speakup/media/gst_util.h"
#include "speakup/media/webrtc_sdp.h"
#include "speakup/webrtc.h"

namespace speakup::media {
namespace {

TEST(AnnounceHostCandidate, RewritesTheAddressOfHostCandidatesOnly) {
  EXPECT_EQ(AnnounceHostCandidate("candidate:1 1 UDP 2015363327 10.0.0.5 40001 typ host", "203.0.113.7"),
            "candidate:1 1 UDP 2015363327 203.0.113.7 40001 typ host");
  EXPECT_EQ(AnnounceHostCandidate("a=candidate:1 1 UDP 2015363327 127.0.0.1 40001 typ host generation 0", "198.51.100.1"),
            "a=candidate:1 1 UDP 2015363327 198.51.100.1 40001 typ host generation 0");
  const std::string relay = "candidate:2 1 UDP 16777215 192.0.2.9 50000 typ relay raddr 10.0.0.5 rport 40001";
  EXPECT_EQ(AnnounceHostCandidate(relay, "203.0.113.7"), relay);
  const std::string v6 = "candidate:3 1 UDP 2015363327 fe80::1 40002 typ host";
  EXPECT_EQ(AnnounceHostCandidate(v6, "203.0.113.7"), v6) << "another family stays";
  EXPECT_EQ(AnnounceHostCandidate("garbage", "203.0.113.7"), "garbage");
  EXPECT_EQ(AnnounceHostCandidate("candidate:1 1 UDP 1 10.0.0.5 1 typ host", ""), "candidate:1 1 UDP 1 10.0.0.5 1 typ host");

  const std::string sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
                          "a=candidate:1 1 UDP 2015363327 10.0.0.5 40001 typ host\r\n"
                          "a=candidate:2 1 UDP 1 192.0.2.9 50000 typ relay raddr 10.0.0.5 rport 40001\r\na=mid:0\r\n";
  EXPECT_EQ(AnnounceHostCandidates(sdp, "203.0.113.7"),
            "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
            "a=candidate:1 1 UDP 2015363327 203.0.113.7 40001 typ host\r\n"
            "a=candidate:2 1 UDP 1 192.0.2.9 50000 typ relay raddr 10.0.0.5 rport 40001\r\na=mid:0\r\n");
}

TEST(IceServerUris, EscapeCredentials) {
  EXPECT_EQ(StunServerUri("192.0.2.1", 3478), "stun://192.0.2.1:3478");
  EXPECT_EQ(StunServerUri("2001:db8::1", 3478), "stun://[2001:db8::1]:3478");
  EXPECT_EQ(TurnServerUri(false, "192.0.2.1", 3478, "tcp", "1700000000:abc", "a+b/c="),
            "turn://1700000000%3Aabc:a%2Bb%2Fc%3D@192.0.2.1:3478?transport=tcp");
  EXPECT_EQ(TurnServerUri(true, "192.0.2.1", 5349, "", "u", "p"), "turns://u:p@192.0.2.1:5349");
  EXPECT_TRUE(IsIpAddress("::1"));
  EXPECT_FALSE(IsIpAddress("localhost"));
  auto resolved = ResolveHost("localhost");
  ASSERT_TRUE(resolved.ok()) << resolved.error();
  EXPECT_TRUE(IsIpAddress(*resolved)) << *resolved;
  EXPECT_EQ(*ResolveHost("192.0.2.1"), "192.0.2.1");
}

TEST(ConfigureIce, SetsServersPolicyAndPortRangeOnWebrtcbin) {
  ASSERT_TRUE(EnsureGstInitialized().ok());
  auto webrtc = MakeElement("webrtcbin");
  ASSERT_TRUE(webrtc.ok()) << webrtc.error();
  IceServers servers;
  servers.stun = StunServerUri("192.0.2.1", 3478);
  servers.turn = {TurnServerUri(false, "192.0.2.1", 3478, "udp", "1700000000:abc", "a+b/c=")};
  servers.relay_only = true;
  ASSERT_TRUE(ConfigureIce(webrtc->get(), servers, 40000, 40009).ok());
  gchar* stun = nullptr;
  gint policy = -1;
  g_object_get(webrtc->get(), "stun-server", &stun, "ice-transport-policy", &policy, nullptr);
  GCharPtr owned(stun);
  EXPECT_STREQ(stun, "stun://192.0.2.1:3478");
  EXPECT_EQ(policy, 1);  // GST_WEBRTC_ICE_TRANSPORT_POLICY_RELAY
  GObject* agent = nullptr;
  g_object_get(webrtc->get(), "ice-agent", &agent, nullptr);
  GObjectPtr<GObject> ice(agent);
  guint low = 0, high = 0;
  g_object_get(ice.get(), "min-rtp-port", &low, "max-rtp-port", &high, nullptr);
  EXPECT_EQ(low, 40000u);
  EXPECT_EQ(high, 40009u);
  EXPECT_NE(ConfigureIce(webrtc->get(), {}, 40010, 40000).message().find("is not one"), std::string::npos);
}

}  // namespace
}  // namespace speakup::media
