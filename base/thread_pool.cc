#include "base/thread_pool.h"

#include <utility>

namespace zm {

ThreadPool::ThreadPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  workers_.reserve(threads > 0 ? threads : 0);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

ThreadPool::~ThreadPool() { Shutdown(); }

bool ThreadPool::Submit(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || workers_.empty() || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  work_cv_.notify_one();
  return true;
}

size_t ThreadPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void ThreadPool::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;  // Shutdown has taken the queue
    Task task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    task();
    // Destroyed before the task counts as done: WaitIdle promises that what
    // it captured is released.
    task = nullptr;
    lock.lock();
    --running_;
    if (running_ == 0 && queue_.empty()) idle_cv_.notify_all();
  }
}

void ThreadPool::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return running_ == 0 && queue_.empty(); });
}

size_t ThreadPool::Shutdown() {
  std::deque<Task> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    if (running_ == 0) idle_cv_.notify_all();
  }
  work_cv_.notify_all();
  {
    // Two concurrent Shutdowns must not join the same thread twice.
    std::lock_guard<std::mutex> lock(join_mu_);
    for (auto& t : workers_)
      if (t.joinable()) t.join();
  }
  // Destroyed outside mu_: a task's captures may do anything when released.
  return dropped.size();
}

}  // namespace zm
