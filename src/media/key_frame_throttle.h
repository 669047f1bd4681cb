// When a key-frame request for a client's video may go out. The depayloader and the decoder ask for
// one on every packet or frame they cannot use until a key frame comes (rtpvp8depay: each packet of a
// frame whose first packet was lost, each delta frame dropped while it waits, each DISCONT), so one
// loss made dozens of requests in a few ms. libwebrtc's receiver asks once and again only if no key
// frame came within a while; so does this: a request passes when none is pending (none sent, or a
// key frame has arrived since) or the last one is older than the retry interval.
#pragma once

#include <chrono>

namespace speakup::media {

class KeyFrameThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  // A requested key frame arrives within about the jitter buffer's latency (200 ms, while its lost
  // packets are repaired) plus a round trip of being sent: asking again sooner only makes the
  // client send another one.
  static constexpr std::chrono::milliseconds kRetryInterval{300};

  explicit KeyFrameThrottle(Clock::duration retry_interval = kRetryInterval) : retry_interval_(retry_interval) {}

  // Someone wants a key frame at `now`: true when the request should go out (it is then pending).
  bool Allow(Clock::time_point now);
  // A key frame reached the decoder: nothing is pending, the next need is asked for at once.
  void KeyFrameArrived() { pending_ = false; }

  bool pending() const { return pending_; }

 private:
  const Clock::duration retry_interval_;
  bool pending_ = false;
  Clock::time_point last_sent_{};
};

}  // namespace speakup::media
