// Unit tests of base/thread_pool.h: order, bounds, shutdown, and stress.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "base/thread_pool.h"

namespace zm {
namespace {

// ---- ThreadPool -------------------------------------------------------------

// Polls `done` for up to five seconds.
template <typename F>
bool Eventually(F done) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Occupies one worker until Release(); Started() once it runs.
class Gate {
 public:
  ThreadPool::Task Task() {
    return [this] {
      started_.set_value();
      open_.wait();
    };
  }
  void WaitStarted() { started_.get_future().wait(); }
  void Release() { release_.set_value(); }

 private:
  std::promise<void> started_, release_;
  std::shared_future<void> open_ = release_.get_future().share();
};

TEST(ThreadPool, RunsEverySubmittedTask) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.Submit([&] { ++ran; }));
  pool.WaitIdle();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_EQ(pool.queued(), 0u);
}

TEST(ThreadPool, OneWorkerRunsTasksInSubmissionOrder) {
  ThreadPool pool(1);
  std::vector<int> order;  // written by the one worker only
  for (int i = 0; i < 20; ++i) pool.Submit([&order, i] { order.push_back(i); });
  pool.WaitIdle();
  std::vector<int> want;
  for (int i = 0; i < 20; ++i) want.push_back(i);
  EXPECT_EQ(order, want);
}

TEST(ThreadPool, StartsWorkersOnlyAsTasksNeedThem) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.started(), 0) << "no task, no thread";
  Gate a, b, c, d;
  ASSERT_TRUE(pool.Submit(a.Task()));
  a.WaitStarted();
  EXPECT_EQ(pool.started(), 1);
  ASSERT_TRUE(pool.Submit(b.Task()));  // the one worker is busy: a second
  b.WaitStarted();
  ASSERT_TRUE(pool.Submit(c.Task()));
  c.WaitStarted();
  EXPECT_EQ(pool.started(), 3);
  ASSERT_TRUE(pool.Submit(d.Task()));  // at the limit: queued, no fourth
  EXPECT_EQ(pool.started(), 3);
  EXPECT_EQ(pool.queued(), 1u);
  a.Release();
  d.WaitStarted();  // the freed worker took it
  b.Release();
  c.Release();
  d.Release();
  pool.WaitIdle();
  // Idle workers are reused: tasks one at a time start no more threads.
  std::atomic<int> ran{0};
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(pool.Submit([&] { ++ran; }));
    pool.WaitIdle();
  }
  EXPECT_EQ(ran.load(), 20);
  EXPECT_EQ(pool.started(), 3);
}

TEST(ThreadPool, WithoutWorkersEverySubmitIsRefused) {
  ThreadPool pool(0);
  auto owned = std::make_shared<int>(1);
  EXPECT_FALSE(pool.Submit([owned] {}));
  EXPECT_EQ(owned.use_count(), 1) << "a refused task is destroyed";
  pool.WaitIdle();  // nothing to wait for
  EXPECT_EQ(pool.Shutdown(), 0u);
}

TEST(ThreadPool, WaitIdleReleasesWhatTasksCaptured) {
  ThreadPool pool(2);
  auto owned = std::make_shared<int>(1);
  for (int i = 0; i < 10; ++i) pool.Submit([owned] {});
  pool.WaitIdle();
  EXPECT_EQ(owned.use_count(), 1);
}

TEST(ThreadPool, BoundedQueueRefusesWhatDoesNotFit) {
  ThreadPool pool(1, /*max_queued=*/2);
  Gate gate;
  ASSERT_TRUE(pool.Submit(gate.Task()));
  gate.WaitStarted();  // the worker is busy: what follows waits in the queue
  std::atomic<int> ran{0};
  EXPECT_TRUE(pool.Submit([&] { ++ran; }));
  EXPECT_TRUE(pool.Submit([&] { ++ran; }));
  EXPECT_FALSE(pool.Submit([&] { ++ran; })) << "the queue holds two";
  EXPECT_EQ(pool.queued(), 2u);
  gate.Release();
  pool.WaitIdle();
  EXPECT_EQ(ran.load(), 2);
  EXPECT_TRUE(pool.Submit([&] { ++ran; })) << "room again once the queue drained";
  pool.WaitIdle();
  EXPECT_EQ(ran.load(), 3);
}

// The contract's choice: shutdown drops queued tasks unrun, waits for the
// running ones, and refuses new ones.
TEST(ThreadPool, ShutdownDropsQueuedTasksAndWaitsForRunningOnes) {
  ThreadPool pool(1);
  Gate gate;
  std::atomic<bool> running_finished{false};
  ASSERT_TRUE(pool.Submit([&, task = gate.Task()] {
    task();
    running_finished = true;
  }));
  gate.WaitStarted();
  std::atomic<int> ran{0};
  auto owned = std::make_shared<int>(1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.Submit([&ran, owned] { ++ran; }));
  size_t dropped = 0;
  std::thread stopper([&] { dropped = pool.Shutdown(); });
  // Shutdown takes the queue at once, then waits for the running task.
  ASSERT_TRUE(Eventually([&] { return pool.queued() == 0; }));
  EXPECT_FALSE(running_finished.load());
  gate.Release();
  stopper.join();
  EXPECT_TRUE(running_finished.load()) << "Shutdown returned before the running task ended";
  EXPECT_EQ(dropped, 3u);
  EXPECT_EQ(ran.load(), 0) << "a dropped task ran";
  EXPECT_EQ(owned.use_count(), 1) << "dropped tasks are destroyed";
  EXPECT_FALSE(pool.Submit([&] { ++ran; }));
  EXPECT_EQ(pool.Shutdown(), 0u) << "a second Shutdown has nothing left to drop";
}

// For ThreadSanitizer: many submitters, concurrent WaitIdle callers, tasks
// that share state under a lock and submit further tasks.
TEST(ThreadPool, StressSubmittersWaitersAndNestedSubmits) {
  constexpr int kSubmitters = 6, kTasksEach = 500;
  ThreadPool pool(4);
  std::atomic<int> ran{0}, nested{0};
  std::mutex mu;
  std::vector<int> seen;  // guarded by mu
  std::vector<std::thread> threads;
  for (int s = 0; s < kSubmitters; ++s)
    threads.emplace_back([&, s] {
      for (int i = 0; i < kTasksEach; ++i) {
        bool ok = pool.Submit([&, s, i] {
          ++ran;
          {
            std::lock_guard<std::mutex> lock(mu);
            seen.push_back(s * kTasksEach + i);
          }
          // Submitted while this task runs, so WaitIdle waits for it too.
          if (i % 50 == 0) {
            EXPECT_TRUE(pool.Submit([&] { ++nested; }));
          }
        });
        ASSERT_TRUE(ok);
        if (i % 100 == 0) pool.WaitIdle();
      }
    });
  for (auto& t : threads) t.join();
  pool.WaitIdle();
  EXPECT_EQ(ran.load(), kSubmitters * kTasksEach);
  EXPECT_EQ(nested.load(), kSubmitters * (kTasksEach / 50));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), size_t{kSubmitters * kTasksEach});
}

// For ThreadSanitizer: Shutdown racing submitters. Every task is accounted
// for exactly once: run, dropped, or refused.
TEST(ThreadPool, StressShutdownWhileSubmitting) {
  for (int round = 0; round < 20; ++round) {
    ThreadPool pool(3, /*max_queued=*/64);
    std::atomic<int> ran{0}, refused{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> submitters;
    for (int s = 0; s < 4; ++s)
      submitters.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        for (int i = 0; i < 200; ++i)
          if (!pool.Submit([&] { ++ran; })) ++refused;
      });
    go = true;
    std::this_thread::sleep_for(std::chrono::microseconds(200 * round));
    size_t dropped = pool.Shutdown();
    for (auto& t : submitters) t.join();
    EXPECT_EQ(ran.load() + static_cast<int>(dropped) + refused.load(), 4 * 200) << "round " << round;
  }
}

}  // namespace
}  // namespace zm
