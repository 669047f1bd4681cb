// ICE server URLs (RFC 7064/7065) as flags and the welcome message carry them: strict parsing with
// errors that say what is wrong, and the welcome's ice_servers both ways.
#include <gtest/gtest.h>

#include "speakup/ice_servers.h"
#include "speakup/signaling.h"

namespace speakup::protocol {
namespace {

TEST(IceUrl, ParsesTheFormsBrowsersTake) {
  auto stun = ParseIceUrl("stun:stun.example.com");
  ASSERT_TRUE(stun.ok()) << stun.error();
  EXPECT_EQ(stun->scheme, IceUrl::Scheme::kStun);
  EXPECT_EQ(stun->host, "stun.example.com");
  EXPECT_EQ(stun->port, 3478);
  EXPECT_FALSE(stun->is_turn());

  auto turn = ParseIceUrl("turn:203.0.113.7:3479?transport=tcp");
  ASSERT_TRUE(turn.ok()) << turn.error();
  EXPECT_EQ(turn->scheme, IceUrl::Scheme::kTurn);
  EXPECT_EQ(turn->host, "203.0.113.7");
  EXPECT_EQ(turn->port, 3479);
  EXPECT_EQ(turn->transport, IceUrl::Transport::kTcp);

  auto turns = ParseIceUrl("turns:[2001:db8::1]");
  ASSERT_TRUE(turns.ok()) << turns.error();
  EXPECT_EQ(turns->host, "2001:db8::1");
  EXPECT_EQ(turns->port, 5349);
  EXPECT_EQ(ToString(*turns), "turns:[2001:db8::1]:5349");

  EXPECT_EQ(ToString(*ParseIceUrl("turn:TURN.Example.com?transport=udp")), "turn:turn.example.com:3478?transport=udp");
  for (const char* good : {"stun:a", "stun:127.0.0.1:1", "turn:x-y.z:65535", "turns:h?transport=tcp",
                           "stun:[::1]:3478", "stun:[::ffff:192.0.2.1]", "turn:example.com.:3478"}) {
    EXPECT_TRUE(ParseIceUrl(good).ok()) << good << ": " << ParseIceUrl(good).error();
  }
}

TEST(IceUrl, RefusesWithAReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty"},
      {"stun", "no scheme"},
      {"http:host", "scheme must be stun, turn or turns"},
      {"STUN:host", "scheme must be stun, turn or turns"},
      {"stun://host:3478", "no '//'"},
      {"turn:user:pass@host", "user name in the URL"},
      {"stun:host/path", "path or fragment"},
      {"stun:host:0", "port must be a number from 1 to 65535"},
      {"stun:host:65536", "port must be"},
      {"stun:host:+1", "port must be"},
      {"stun:host:", "empty port"},
      {"stun:", "no host"},
      {"stun:256.1.1.1", "neither a DNS name nor an IPv4 address"},
      {"stun:1.2.3", "neither a DNS name nor an IPv4 address"},
      {"stun:1.2.3.4444444444444", "neither a DNS name nor an IPv4 address"},  // (once an int overflow)
      {"stun:-bad.example", "neither a DNS name"},
      {"stun:a_b", "neither a DNS name"},
      {"stun:::1", "no host"},
      {"stun:[::1", "closing ']'"},
      {"stun:[1:2:3:4:5:6:7:8:9]", "not an IPv6 address"},
      {"stun:[fe80::1%eth0]", "not an IPv6 address"},
      {"stun:host?transport=udp", "stun: URLs take no query"},
      {"turn:host?transport=sctp", "transport=udp or transport=tcp"},
      {"turns:host?transport=udp", "turns: takes is transport=tcp"},
      {"turn:host?", "empty query"},
      {"stun:h\xc3\xa9st", "not ASCII"},
      {"stun:host name", "spaces"},
  };
  for (const auto& [url, reason] : cases) {
    auto parsed = ParseIceUrl(url);
    ASSERT_FALSE(parsed.ok()) << url;
    EXPECT_NE(parsed.error().find(reason), std::string::npos) << url << " -> " << parsed.error();
    EXPECT_NE(parsed.error().find("forms: stun:HOST"), std::string::npos) << "the right forms are shown";
  }
  EXPECT_FALSE(ParseIceUrl("stun:" + std::string(600, 'a')).ok());
}

TEST(IceServers, CheckWantsCredentialsForTurnAndBoundedLists) {
  EXPECT_TRUE(CheckIceServers({}).ok());
  EXPECT_TRUE(CheckIceServers({{{"stun:s"}, "", ""}}).ok());
  EXPECT_TRUE(CheckIceServers({{{"turn:t", "turns:t"}, "1700000000:abc", "c2VjcmV0"}}).ok());
  EXPECT_NE(CheckIceServers({{{"turn:t"}, "", ""}}).message().find("without a username"), std::string::npos);
  EXPECT_FALSE(CheckIceServers({{{}, "", ""}}).ok());
  EXPECT_FALSE(CheckIceServers({{{"turn:t"}, "user", "pass word"}}).ok());
  EXPECT_FALSE(CheckIceServers({{{"stun:bad url"}, "", ""}}).ok());
  EXPECT_FALSE(CheckIceServers(std::vector<IceServer>(kMaxIceServers + 1, IceServer{{"stun:s"}, "", ""})).ok());
}

TEST(Welcome, CarriesTheIceServersBothWays) {
  const std::vector<IceServer> servers = {{{"stun:stun.example.com:3478"}, "", ""},
                                          {{"turn:127.0.0.1:3478?transport=udp", "turns:t.example.com:5349"},
                                           "1700003600:0123456789abcdef", "t+WmM8SvOm4mSDPmz4xXwmTSaRo="}};
  const std::string text = WelcomeJson("0123456789abcdef", 1920, 1080, servers);
  EXPECT_NE(text.find("\"ice_servers\":[{\"urls\":[\"stun:stun.example.com:3478\"]}"), std::string::npos) << text;
  auto welcome = ParseWelcome(text);
  ASSERT_TRUE(welcome.ok()) << welcome.error();
  EXPECT_EQ(welcome->session, "0123456789abcdef");
  EXPECT_EQ(welcome->protocol, kSignalingProtocol);
  EXPECT_EQ(welcome->ice_servers, servers);

  const std::string without = WelcomeJson("s", 640, 480);
  EXPECT_EQ(without.find("ice_servers"), std::string::npos) << "no servers: no field";
  ASSERT_TRUE(ParseWelcome(without).ok());
  EXPECT_TRUE(ParseWelcome(without)->ice_servers.empty());
}

TEST(Welcome, HostileWelcomesAreRefusedWithAReason) {
  const char* base = R"({"type":"welcome","session":"s","protocol":2,"ice_servers":)";
  const std::pair<std::string, const char*> cases[] = {
      {"not json", "not a welcome"},
      {R"({"type":"answer"})", "not a welcome"},
      {R"({"type":"welcome","session":5,"protocol":2})", "string 'session'"},
      {std::string(base) + "{}}", "must be an array"},
      {std::string(base) + "[{\"urls\":5}]}", "'urls'"},
      {std::string(base) + "[7]}", "'urls'"},
      {std::string(base) + "[{\"urls\":[\"stun:s\",3]}]}", "'urls'"},
      {std::string(base) + "[{\"urls\":\"turn:t\",\"username\":[]}]}", "'username' must be a string"},
      {std::string(base) + "[{\"urls\":\"turn:t\"}]}", "without a username"},
      {std::string(base) + "[{\"urls\":\"javascript:alert(1)\"}]}", "scheme must be"},
  };
  for (const auto& [text, reason] : cases) {
    auto parsed = ParseWelcome(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.error().find(reason), std::string::npos) << text << " -> " << parsed.error();
  }
  auto one = ParseWelcome(std::string(base) + "[{\"urls\":\"stun:s\"}]}");
  ASSERT_TRUE(one.ok()) << one.error();
  EXPECT_EQ(one->ice_servers[0].urls, std::vector<std::string>{"stun:s"}) << "one URL as a string, as RTCIceServer allows";
}

}  // namespace
}  // namespace speakup::protocol
