// TURN credentials from a shared secret (coturn's REST scheme) and the start-up checks of the
// network flags. tests/e2e/turn_relay.mjs shows a real coturn accepting (and refusing) them.
#include <gtest/gtest.h>

#include "ice_config.h"

namespace speakup::server {
namespace {

TEST(TurnRestCredentials, UserNameIsExpiryAndNamePasswordIsBase64HmacSha1) {
  // Expected values from OpenSSL: printf '%s' USER | openssl dgst -sha1 -hmac SECRET -binary | base64
  const TurnCredentials short_key = TurnRestCredentials("S3cret", 1700000000, "0123456789abcdef");
  EXPECT_EQ(short_key.username, "1700000000:0123456789abcdef");
  EXPECT_EQ(short_key.password, "t+WmM8SvOm4mSDPmz4xXwmTSaRo=");
  // A key longer than SHA-1's 64-byte block is hashed first (RFC 2104).
  const TurnCredentials long_key = TurnRestCredentials(
      "a much longer secret than the sixty-four bytes of one SHA-1 block, so it is hashed first", 1700000000,
      "0123456789abcdef");
  EXPECT_EQ(long_key.password, "GnW7Z/mSILMCk/UjZtRfFJ/u31A=");
  EXPECT_NE(TurnRestCredentials("S3cret", 1700000001, "0123456789abcdef").password, short_key.password);
}

ServerOptions WithTurn() {
  ServerOptions options;
  options.ice_servers = {"stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1"};
  options.turn_secret = "S3cret";
  options.turn_ttl_s = 600;
  return options;
}

TEST(IceConfig, EachSessionGetsFreshCredentialsForClientAndPeer) {
  auto config = IceConfig::Create(WithTurn());
  ASSERT_TRUE(config.ok()) << config.error();
  const SessionIce ice = config->ForSession("0123456789abcdef", 1700000000 - 600);
  ASSERT_EQ(ice.client.size(), 2u);
  EXPECT_EQ(ice.client[0].urls, std::vector<std::string>{"stun:127.0.0.1:3478"});
  EXPECT_TRUE(ice.client[0].username.empty());
  EXPECT_EQ(ice.client[1].urls,
            (std::vector<std::string>{"turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1:5349"}));
  EXPECT_EQ(ice.client[1].username, "1700000000:0123456789abcdef");  // now + ttl
  EXPECT_EQ(ice.client[1].credential, "t+WmM8SvOm4mSDPmz4xXwmTSaRo=");
  EXPECT_EQ(ice.peer.stun, "stun://127.0.0.1:3478");
  ASSERT_EQ(ice.peer.turn.size(), 2u);
  // The ':' of the user name and the base64 '+', '/', '=' escaped for webrtcbin's URI parser.
  EXPECT_EQ(ice.peer.turn[0],
            "turn://1700000000%3A0123456789abcdef:t%2BWmM8SvOm4mSDPmz4xXwmTSaRo%3D@127.0.0.1:3478?transport=udp");
  EXPECT_EQ(ice.peer.turn[1].rfind("turns://", 0), 0u);
  EXPECT_FALSE(ice.peer.relay_only);
  EXPECT_NE(config->ForSession("another", 1700000000).client[1].credential, ice.client[1].credential);

  ServerOptions fixed = WithTurn();
  fixed.turn_secret.clear();
  fixed.turn_user = "alice";
  fixed.turn_password = "pa:ss";
  fixed.relay_only = true;
  fixed.public_ip = "203.0.113.7";
  fixed.udp_port_min = 40000;
  fixed.udp_port_max = 40099;
  auto static_config = IceConfig::Create(fixed);
  ASSERT_TRUE(static_config.ok()) << static_config.error();
  const SessionIce same = static_config->ForSession("s", 0);
  EXPECT_EQ(same.client[1].username, "alice");
  EXPECT_EQ(same.client[1].credential, "pa:ss");
  EXPECT_EQ(same.peer.turn[0], "turn://alice:pa%3Ass@127.0.0.1:3478?transport=udp");
  EXPECT_TRUE(same.peer.relay_only);
  media::WebRtcOptions webrtc;
  static_config->ApplyTo(webrtc);
  EXPECT_EQ(webrtc.announced_address, "203.0.113.7");
  EXPECT_EQ(webrtc.min_port, 40000);
  EXPECT_EQ(webrtc.max_port, 40099);
}

TEST(IceConfig, RefusesBadFlagsNamingThem) {
  auto refused = [](ServerOptions options, const std::string& reason) {
    auto config = IceConfig::Create(options);
    ASSERT_FALSE(config.ok()) << reason;
    EXPECT_NE(config.error().find(reason), std::string::npos) << config.error();
  };
  ServerOptions options = WithTurn();
  options.ice_servers.push_back("turn:host:99999");
  refused(options, "--ice-server: ICE server URL 'turn:host:99999': the port");
  options = WithTurn();
  options.turn_secret.clear();
  refused(options, "a TURN server needs credentials");
  options = WithTurn();
  options.turn_user = "u";
  refused(options, "give --turn-user and --turn-password together");
  options.turn_password = "p";
  refused(options, "not both");
  options = ServerOptions();
  options.turn_secret = "s";
  refused(options, "no TURN server");
  options = ServerOptions();
  options.relay_only = true;
  refused(options, "--ice-transport-policy relay needs a TURN server");
  options = WithTurn();
  options.turn_ttl_s = 5;
  refused(options, "--turn-ttl");
  options = WithTurn();
  options.turn_secret = "with space";
  refused(options, "printable ASCII");
  for (const char* address : {"0.0.0.0", "::", "example.com", "224.0.0.1", "1.2.3"}) {
    options = ServerOptions();
    options.public_ip = address;
    refused(options, "--public-ip");
  }
  for (auto [low, high] : {std::pair{0, 10}, std::pair{50000, 40000}, std::pair{40000, 70000}}) {
    options = ServerOptions();
    options.udp_port_min = low;
    options.udp_port_max = high;
    refused(options, "--udp-ports");
  }
  options = ServerOptions();
  options.ice_servers = {"stun:no-such-host.invalid"};
  refused(options, "cannot resolve the host name 'no-such-host.invalid'");
  EXPECT_TRUE(IceConfig::Create(ServerOptions()).ok()) << "no flags: nothing to check";
}

}  // namespace
}  // namespace speakup::server
