#include "key_frame_throttle.h"

namespace speakup::media {

bool KeyFrameThrottle::Allow(Clock::time_point now) {
  if (pending_ && now - last_sent_ < retry_interval_) return false;
  pending_ = true;
  last_sent_ = now;
  return true;
}

}  // namespace speakup::media
