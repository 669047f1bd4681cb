#include <pthreadpool.h>

#include "speakup/engine.h"

namespace speakup::engine {

ThreadPool::ThreadPool(size_t threads) : pool_(pthreadpool_create(threads < 1 ? 1 : threads)) {}

ThreadPool::~ThreadPool() {
  if (pool_) pthreadpool_destroy(static_cast<pthreadpool_t>(pool_));
}

size_t ThreadPool::threads() const {
  return pool_ ? pthreadpool_get_threads_count(static_cast<pthreadpool_t>(pool_)) : 1;
}

}  // namespace speakup::engine
