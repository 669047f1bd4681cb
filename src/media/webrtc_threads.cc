#include "webrtc_threads.h"

namespace speakup::media {

bool HandlerGate::Enter() {
  std::lock_guard lock(mutex_);
  if (shut_.load()) return false;
  ++in_flight_;
  return true;
}

void HandlerGate::Leave() {
  std::lock_guard lock(mutex_);
  if (--in_flight_ == 0) idle_.notify_all();
}

void HandlerGate::Shut() {
  std::lock_guard lock(mutex_);
  shut_ = true;
}

void HandlerGate::WaitIdle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
}

}  // namespace speakup::media
