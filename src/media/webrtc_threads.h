// How the parts of a WebRtcPeer cross threads (see webrtc.h, "Threads").
//
// Handlers of GStreamer's signals, probes and appsink callbacks run on GStreamer threads. They pass
// a HandlerGate, copy what they need and post a task to the peer's main context (PostTask); the
// task does nothing once the peer is gone or closed. Close() shuts the gate, stops the pipeline
// (joining its threads), waits for handlers still inside, then disconnects them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <utility>

#include "gsignal.h"

namespace speakup::media {

// Runs `task` on the peer's main context, unless the peer is gone or closed by then. Callable from
// any thread, even after the peer is gone (the task is then dropped).
using PostTask = std::function<void(std::function<void()> task)>;

// Lets Close() stop handlers on GStreamer threads and wait for those already running.
class HandlerGate {
 public:
  // Runs `body` unless the gate is shut; Close() waits for it. Exceptions are logged and dropped.
  template <typename F>
  void Run(F&& body) {
    if (!Enter()) return;
    try {
      body();
    } catch (...) {
      ReportEscapedException("webrtc peer: a GStreamer signal handler");
    }
    Leave();
  }

  // `handler` as a signal callable (see ConnectSignal) that runs through Run().
  template <typename F>
  auto Guard(F handler) {
    return [this, handler = std::move(handler)](auto... args) { Run([&] { handler(args...); }); };
  }

  // From now on no handler starts. Pair with WaitIdle() once the pipeline is stopped.
  void Shut();
  // Waits until no handler runs any more.
  void WaitIdle();
  bool shut() const { return shut_.load(); }

 private:
  bool Enter();  // false once shut; otherwise pair with Leave()
  void Leave();

  std::atomic<bool> shut_{false};  // atomic: parts read it under their own locks
  std::mutex mutex_;               // in_flight_, and shut_ changes
  std::condition_variable idle_;
  int in_flight_ = 0;
};

}  // namespace speakup::media
