// ThreadPool: up to a fixed number of worker threads running submitted
// tasks in the order they were submitted. A worker is started when a task
// finds none waiting, so a pool that is seldom busy holds few threads (a
// daemon's prefetch pool of 64 on a mount nobody walks, a scan's on local
// files).
//
// Shutdown (explicitly, or by the destructor) DROPS the tasks still queued:
// they are destroyed without running, and the number dropped is returned.
// Tasks already running are waited for. A caller that needs every queued
// task to run calls WaitIdle() first.
//
// The queue may be bounded (`max_queued`): a Submit that does not fit is
// refused, never waited for, so submitting never blocks a caller on the
// pool's work.
//
// Tasks must not throw, and must not call WaitIdle() or Shutdown() of the
// pool they run on (they would wait for themselves).
//
// Thread-safety: Submit, WaitIdle, Shutdown and the accessors are safe for
// concurrent use. mu_ is a leaf lock, never held while a task runs or while
// a task is destroyed; it is held while a worker is started (one clone, so
// that Shutdown finds every started worker to join).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace zm {

class ThreadPool {
 public:
  using Task = std::function<void()>;
  static constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();

  // Allows up to `threads` workers, started as tasks need them; with none
  // (threads <= 0) every Submit is refused. At most `max_queued` tasks wait
  // for a worker at a time.
  explicit ThreadPool(int threads, size_t max_queued = kUnbounded);
  // Shutdown(): queued tasks are dropped, running ones waited for.
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task` for a worker, starting one if none is waiting and fewer
  // than threads() run. Returns false, and destroys `task` unrun, when the
  // pool may have no workers (or none could be started), the queue is full,
  // or Shutdown has begun.
  bool Submit(Task task);

  // Blocks until no task is queued or running (tasks submitted meanwhile
  // are waited for too). A finished task is destroyed before it counts as
  // done, so what it captured is released when this returns.
  void WaitIdle();

  // Refuses new tasks, drops the queued ones, waits for the running ones
  // and joins the workers. Returns the number of tasks dropped. Later calls
  // return 0.
  size_t Shutdown();

  // The most workers the pool runs at once (not how many have started).
  int threads() const { return max_threads_; }
  // Workers started so far (for tests).
  int started() const;
  // Tasks waiting for a worker now (for stats and tests).
  size_t queued() const;

 private:
  void Work();

  const int max_threads_;
  const size_t max_queued_;
  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable work_cv_;  // a task was queued, or stopping_
  std::condition_variable idle_cv_;  // queue_ empty and running_ == 0
  std::deque<Task> queue_;
  int running_ = 0;
  int waiting_ = 0;  // workers blocked waiting for a task
  bool stopping_ = false;
  std::vector<std::thread> workers_;  // grows until stopping_; then Shutdown takes it
  std::mutex join_mu_;  // serializes Shutdowns' joins; taken before mu_, never inside it
};

}  // namespace zm
