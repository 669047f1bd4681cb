#include "worker_pool.h"

namespace speakup::server {

WorkerPool::WorkerPool(const face::Models& models, size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) {
    // Each inference runs on its worker's own thread: throughput comes from running streams side
    // by side, not from splitting one inference.
    workspaces_.push_back(std::make_unique<face::Workspace>(models, nullptr));
  }
  for (auto& workspace : workspaces_) threads_.emplace_back([this, w = workspace.get()] { Work(*w); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void WorkerPool::Work(face::Workspace& workspace) {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job->Run(workspace);
  }
}

}  // namespace speakup::server
