// The lossy path's seeded loss draws and its option checks. The path itself, in a real run against
// the server, is tests/e2e/loadgen_network.mjs.
#include <gtest/gtest.h>

#include <vector>

#include "network_path.h"
#include "speakup/loadgen.h"

namespace speakup::loadgen {
namespace {

std::vector<bool> Pattern(const SeededLoss& loss, uint32_t stream, int count) {
  std::vector<bool> dropped;
  for (int i = 0; i < count; ++i) dropped.push_back(loss.Drop(stream, static_cast<uint64_t>(i)));
  return dropped;
}

TEST(SeededLoss, SameSeedSamePattern) {
  const SeededLoss first(5, 1), second(5, 1);
  EXPECT_EQ(Pattern(first, 96, 5000), Pattern(second, 96, 5000));
  // A packet's fate depends on its place in its stream, not on the order the draws are asked in.
  EXPECT_EQ(first.Drop(96, 4321), second.Drop(96, 4321));
}

TEST(SeededLoss, OtherSeedOrStreamOtherPattern) {
  const SeededLoss one(20, 1), two(20, 2);
  EXPECT_NE(Pattern(one, 96, 2000), Pattern(two, 96, 2000));
  EXPECT_NE(Pattern(one, 96, 2000), Pattern(one, 97, 2000));  // the video and its RTX lose different packets
  EXPECT_NE(ClientSeed(1, 0), ClientSeed(1, 1));
  EXPECT_EQ(ClientSeed(7, 3), ClientSeed(7, 3));
  EXPECT_NE(ClientSeed(1, 0), ClientSeed(2, 0));
}

TEST(SeededLoss, RateNearThePercentage) {
  for (const double pct : {1.0, 5.0, 30.0}) {
    const SeededLoss loss(pct, 42);
    constexpr int kDraws = 200000;
    int dropped = 0;
    for (int i = 0; i < kDraws; ++i) dropped += loss.Drop(96, static_cast<uint64_t>(i)) ? 1 : 0;
    // Binomial: the standard deviation at 200000 draws is at most 0.11 percentage points.
    EXPECT_NEAR(100.0 * dropped / kDraws, pct, 0.5) << "at " << pct << "%";
  }
}

TEST(SeededLoss, ZeroLosesNothing) {
  const SeededLoss none(0, 9);
  for (int i = 0; i < 10000; ++i) ASSERT_FALSE(none.Drop(96, static_cast<uint64_t>(i)));
}

TEST(SeededLoss, LossesAreNotBunchedAtTheStart) {
  // Independent draws: the second half of the stream loses about as much as the first.
  const SeededLoss loss(10, 5);
  int first = 0, second = 0;
  for (int i = 0; i < 50000; ++i) first += loss.Drop(96, static_cast<uint64_t>(i)) ? 1 : 0;
  for (int i = 50000; i < 100000; ++i) second += loss.Drop(96, static_cast<uint64_t>(i)) ? 1 : 0;
  EXPECT_NEAR(first, 5000, 300);
  EXPECT_NEAR(second, 5000, 300);
}

TEST(NetworkPath, ChecksEachOptionWithItsFlag) {
  EXPECT_TRUE(CheckNetworkPath({}).ok());
  EXPECT_TRUE(CheckNetworkPath({.loss_pct = 5, .delay_ms = 50, .jitter_ms = 30}).ok());
  EXPECT_FALSE(NetworkPath{}.impaired());
  EXPECT_TRUE((NetworkPath{.loss_pct = 0.5}).impaired());
  EXPECT_TRUE((NetworkPath{.delay_ms = 10}).impaired());

  const Status negative_loss = CheckNetworkPath({.loss_pct = -1});
  ASSERT_FALSE(negative_loss.ok());
  EXPECT_NE(negative_loss.message().find("--loss"), std::string::npos) << negative_loss.message();
  EXPECT_FALSE(CheckNetworkPath({.loss_pct = 100}).ok());

  const Status long_delay = CheckNetworkPath({.delay_ms = 20000});
  ASSERT_FALSE(long_delay.ok());
  EXPECT_NE(long_delay.message().find("--delay"), std::string::npos) << long_delay.message();

  const Status jitter = CheckNetworkPath({.delay_ms = 10, .jitter_ms = 30});
  ASSERT_FALSE(jitter.ok());
  EXPECT_NE(jitter.message().find("--jitter"), std::string::npos) << jitter.message();
  EXPECT_NE(jitter.message().find("delay - jitter"), std::string::npos) << jitter.message();
}

TEST(NetworkPath, RetransmissionLossDefaultsToTheLossAndIsItsOwnOtherwise) {
  EXPECT_EQ((NetworkPath{.loss_pct = 5}).RtxLossPct(), 5);
  EXPECT_EQ((NetworkPath{.loss_pct = 5, .rtx_loss_pct = 100}).RtxLossPct(), 100);
  EXPECT_EQ((NetworkPath{.loss_pct = 5, .rtx_loss_pct = 0}).RtxLossPct(), 0);
  EXPECT_TRUE((NetworkPath{.rtx_loss_pct = 10}).impaired());
  EXPECT_FALSE((NetworkPath{.rtx_loss_pct = 0}).impaired());
  EXPECT_TRUE(CheckNetworkPath({.loss_pct = 5, .rtx_loss_pct = 100}).ok());
  const Status too_much = CheckNetworkPath({.rtx_loss_pct = 101});
  ASSERT_FALSE(too_much.ok());
  EXPECT_NE(too_much.message().find("--rtx-loss"), std::string::npos) << too_much.message();
}

TEST(NetworkPath, RunLoadRefusesABadPathBeforeConnecting) {
  EncodedVideo video;
  video.codec = "VP8";
  video.units.push_back({{0x10, 0x02, 0x00}, true});
  LoadOptions options;
  options.server_url = "http://127.0.0.1:1/";
  options.jitter_ms = 5;  // more than --delay (0)
  auto report = RunLoad(video, options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().find("--jitter"), std::string::npos) << report.error();
}

}  // namespace
}  // namespace speakup::loadgen
