#include "key_frame_throttle.h"

#include <gtest/gtest.h>

namespace speakup::media {
namespace {

using std::chrono::milliseconds;
using Clock = KeyFrameThrottle::Clock;

TEST(KeyFrameThrottle, FirstRequestGoesOut) {
  KeyFrameThrottle throttle;
  EXPECT_FALSE(throttle.pending());
  EXPECT_TRUE(throttle.Allow(Clock::time_point{} + milliseconds(5)));
  EXPECT_TRUE(throttle.pending());
}

TEST(KeyFrameThrottle, BurstWhileWaitingIsOneRequest) {
  KeyFrameThrottle throttle(milliseconds(300));
  const Clock::time_point start = Clock::now();
  int sent = 0;
  // 40 packets of a frame whose first packet was lost, each asking, within 3 ms.
  for (int i = 0; i < 40; ++i) sent += throttle.Allow(start + std::chrono::microseconds(75 * i));
  EXPECT_EQ(sent, 1);
}

TEST(KeyFrameThrottle, AsksAgainOncePerIntervalWhileNoKeyFrameComes) {
  KeyFrameThrottle throttle(milliseconds(300));
  const Clock::time_point start = Clock::now();
  int sent = 0;
  // A delta frame dropped every 33 ms for 1 s, each asking: at 0, 300, 600 and 900 ms (+- a frame).
  for (int frame = 0; frame <= 30; ++frame) sent += throttle.Allow(start + milliseconds(33 * frame));
  EXPECT_EQ(sent, 4);
  EXPECT_FALSE(throttle.Allow(start + milliseconds(1000)));
  EXPECT_TRUE(throttle.Allow(start + milliseconds(1300)));
}

TEST(KeyFrameThrottle, KeyFrameEndsTheWaitAndTheNextLossAsksAtOnce) {
  KeyFrameThrottle throttle(milliseconds(300));
  const Clock::time_point start = Clock::now();
  EXPECT_TRUE(throttle.Allow(start));
  EXPECT_FALSE(throttle.Allow(start + milliseconds(50)));
  throttle.KeyFrameArrived();
  EXPECT_FALSE(throttle.pending());
  EXPECT_TRUE(throttle.Allow(start + milliseconds(60)));
  EXPECT_FALSE(throttle.Allow(start + milliseconds(70)));
}

}  // namespace
}  // namespace speakup::media
