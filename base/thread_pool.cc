#include "base/thread_pool.h"

#include <system_error>
#include <utility>

namespace zm {

ThreadPool::ThreadPool(int threads, size_t max_queued)
    : max_threads_(threads > 0 ? threads : 0), max_queued_(max_queued) {}

ThreadPool::~ThreadPool() { Shutdown(); }

bool ThreadPool::Submit(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || max_threads_ == 0 || queue_.size() >= max_queued_) return false;
    // Every queued task beyond the waiting workers gets a worker of its
    // own, up to the limit: a burst starts as many as it can use at once.
    if (static_cast<size_t>(waiting_) <= queue_.size() &&
        workers_.size() < static_cast<size_t>(max_threads_)) {
      try {
        workers_.emplace_back([this] { Work(); });
      } catch (const std::system_error&) {
        // Out of threads: the started workers take the task, if any exist.
        if (workers_.empty()) return false;
      }
    }
    queue_.push_back(std::move(task));
  }
  work_cv_.notify_one();
  return true;
}

size_t ThreadPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

int ThreadPool::started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(workers_.size());
}

void ThreadPool::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++waiting_;
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --waiting_;
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
  // A second Shutdown waits here until the first has joined every worker.
  std::lock_guard<std::mutex> joining(join_mu_);
  std::deque<Task> dropped;
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;  // from here on no worker is started
    dropped.swap(queue_);
    workers.swap(workers_);
    if (running_ == 0) idle_cv_.notify_all();
  }
  work_cv_.notify_all();
  for (auto& t : workers) t.join();
  // Destroyed outside mu_: a task's captures may do anything when released.
  return dropped.size();
}

}  // namespace zm
