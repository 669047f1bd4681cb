// The signaling flood limit of docs/protocol.md (error `flooding`), apart from Session so it can be
// tested without a socket or GStreamer.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>

namespace speakup::server {

// A client may send at most this many signaling messages within any one second; one more and its
// session is closed. A normal client sends a few dozen in its whole life.
inline constexpr int kMaxSignalingPerSecond = 200;

// A sliding one-second window: the times of the last kMaxSignalingPerSecond messages, so "more than
// N in any second" is exact (a fixed window would let 2N through across its edge).
class FloodGuard {
 public:
  using Clock = std::chrono::steady_clock;

  // Counts one message at `now`; false when it is one more than the limit within a second.
  bool Allow(Clock::time_point now) {
    const bool full = count_ == times_.size();
    // times_[next_] is the message kMaxSignalingPerSecond back: within a second, this one is too many.
    if (full && now - times_[next_] < std::chrono::seconds(1)) return false;
    times_[next_] = now;
    next_ = (next_ + 1) % times_.size();
    if (!full) ++count_;
    return true;
  }

 private:
  std::array<Clock::time_point, kMaxSignalingPerSecond> times_{};  // a ring; the oldest at next_
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

}  // namespace speakup::server
