// The signaling flood limit (docs/protocol.md, error `flooding`): more than kMaxSignalingPerSecond
// messages within any one second, measured on a sliding window.
#include <gtest/gtest.h>

#include "flood_guard.h"

namespace speakup::server {
namespace {

using Clock = FloodGuard::Clock;
using std::chrono::milliseconds;

TEST(FloodGuard, TheLimitInOneInstantPassesOneMoreDoesNot) {
  FloodGuard guard;
  const Clock::time_point t0{};
  for (int i = 0; i < kMaxSignalingPerSecond; ++i) ASSERT_TRUE(guard.Allow(t0)) << i;
  EXPECT_FALSE(guard.Allow(t0));
}

TEST(FloodGuard, SteadyRateAtTheLimitIsAllowedForever) {
  FloodGuard guard;
  // 200 per second, evenly spaced: never 201 within one second.
  const auto step = std::chrono::microseconds(1000000 / kMaxSignalingPerSecond);
  Clock::time_point t{};
  for (int i = 0; i < 10 * kMaxSignalingPerSecond; ++i, t += step) ASSERT_TRUE(guard.Allow(t)) << i;
}

TEST(FloodGuard, TheWindowSlidesRatherThanResetting) {
  FloodGuard guard;
  const Clock::time_point t0{};
  // A burst at the end of one second and one just after it: 400 within 0.2 s is a flood even
  // though a fixed 1 s window starting at t0 would see only 200 in each.
  for (int i = 0; i < kMaxSignalingPerSecond; ++i) ASSERT_TRUE(guard.Allow(t0 + milliseconds(900)));
  EXPECT_FALSE(guard.Allow(t0 + milliseconds(1100)));
  // Once the burst is a full second old, messages pass again.
  EXPECT_TRUE(guard.Allow(t0 + milliseconds(1900)));
}

TEST(FloodGuard, AFewMessagesSpreadOutNeverTrip) {
  FloodGuard guard;
  Clock::time_point t{};
  // A normal client: an offer, some candidates, options now and then, for an hour.
  for (int i = 0; i < 36000; ++i, t += milliseconds(100)) ASSERT_TRUE(guard.Allow(t));
}

// ICE restarts: kMaxRestartsPerMinute within any minute, on the same sliding window.
TEST(RestartLimit, SixAMinuteThenNoneUntilTheOldestIsAMinuteOld) {
  RestartLimit limit;
  const Clock::time_point t0{};
  for (int i = 0; i < kMaxRestartsPerMinute; ++i) ASSERT_TRUE(limit.Allow(t0 + std::chrono::seconds(i))) << i;
  EXPECT_FALSE(limit.Allow(t0 + std::chrono::seconds(30)));
  EXPECT_FALSE(limit.Allow(t0 + std::chrono::milliseconds(59999)));
  // The first restart is a minute old: one more passes, and the next waits for the second's minute.
  EXPECT_TRUE(limit.Allow(t0 + std::chrono::seconds(60)));
  EXPECT_FALSE(limit.Allow(t0 + std::chrono::milliseconds(60500)));
  EXPECT_TRUE(limit.Allow(t0 + std::chrono::seconds(61)));
}

TEST(RestartLimit, ARefusedRestartDoesNotCount) {
  RestartLimit limit;
  const Clock::time_point t0{};
  for (int i = 0; i < kMaxRestartsPerMinute; ++i) ASSERT_TRUE(limit.Allow(t0));
  // A client hammering while refused does not push its next chance further away.
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(limit.Allow(t0 + std::chrono::seconds(59)));
  EXPECT_TRUE(limit.Allow(t0 + std::chrono::seconds(60)));
}

}  // namespace
}  // namespace speakup::server
