// A fixed pool of inference threads, one face::Workspace each. Sessions submit themselves when a
// new frame is waiting; the pool never holds more than one entry per session, so overload drops
// frames (in the session's one-frame slot) rather than queueing them.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "speakup/face.h"

namespace speakup::server {

class Job {
 public:
  virtual ~Job() = default;
  virtual void Run(face::Workspace& workspace) = 0;
};

class WorkerPool {
 public:
  WorkerPool(const face::Models& models, size_t threads);
  ~WorkerPool();  // finishes the running jobs, drops the queued ones, joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::shared_ptr<Job> job);  // any thread
  size_t threads() const { return threads_.size(); }

 private:
  void Work(face::Workspace& workspace);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<face::Workspace>> workspaces_;
  std::vector<std::thread> threads_;
};

}  // namespace speakup::server
