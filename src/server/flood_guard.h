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

// ICE restarts (`restart`) a session may ask for within any one minute: each costs the server an
// offer/answer and new connectivity checks; a client whose network keeps changing needs a few.
inline constexpr int kMaxRestartsPerMinute = 6;

// A sliding window: the times of the last kLimit events, so "more than N in any window" is exact (a
// fixed window would let 2N through across its edge).
template <std::size_t kLimit, int kWindowSeconds>
class WindowLimit {
 public:
  using Clock = std::chrono::steady_clock;

  // Counts one event at `now`; false (and not counted) when it is one more than the limit within
  // the window.
  bool Allow(Clock::time_point now) {
    const bool full = count_ == times_.size();
    // times_[next_] is the event kLimit back: within the window, this one is too many.
    if (full && now - times_[next_] < std::chrono::seconds(kWindowSeconds)) return false;
    times_[next_] = now;
    next_ = (next_ + 1) % times_.size();
    if (!full) ++count_;
    return true;
  }

 private:
  std::array<Clock::time_point, kLimit> times_{};  // a ring; the oldest at next_
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

using FloodGuard = WindowLimit<kMaxSignalingPerSecond, 1>;
using RestartLimit = WindowLimit<kMaxRestartsPerMinute, 60>;

}  // namespace speakup::server
