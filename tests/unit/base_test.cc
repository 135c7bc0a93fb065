// Unit tests of base/: sizes, Status/Result and the error macros, URL
// redaction, the thread pool.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "base/units.h"

namespace zm {
namespace {

// ---- ParseSize -------------------------------------------------------------

uint64_t MustParse(std::string_view s) {
  auto r = ParseSize(s);
  EXPECT_TRUE(r.ok()) << "'" << s << "': " << r.status().ToString();
  return r.ok() ? *r : ~uint64_t{0};
}

void ExpectBadSize(std::string_view s) {
  auto r = ParseSize(s);
  EXPECT_FALSE(r.ok()) << "'" << s << "' parsed as " << (r.ok() ? *r : 0);
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
    // The message quotes the input so a person can find it.
    EXPECT_NE(r.status().message().find("'" + std::string(s) + "'"), std::string::npos)
        << r.status().message();
  }
}

TEST(ParseSize, PlainNumbers) {
  EXPECT_EQ(MustParse("0"), 0u);
  EXPECT_EQ(MustParse("1"), 1u);
  EXPECT_EQ(MustParse("4096"), 4096u);
  EXPECT_EQ(MustParse("000123"), 123u);
  EXPECT_EQ(MustParse("123456789012"), 123456789012u);
}

TEST(ParseSize, Units) {
  EXPECT_EQ(MustParse("512K"), 512u * 1024);
  EXPECT_EQ(MustParse("64M"), 64u << 20);
  EXPECT_EQ(MustParse("20G"), uint64_t{20} << 30);
  EXPECT_EQ(MustParse("1T"), uint64_t{1} << 40);
  EXPECT_EQ(MustParse("3k"), 3u * 1024);
  EXPECT_EQ(MustParse("3m"), 3u << 20);
  EXPECT_EQ(MustParse("3g"), uint64_t{3} << 30);
  EXPECT_EQ(MustParse("3t"), uint64_t{3} << 40);
}

TEST(ParseSize, ByteSuffixes) {
  EXPECT_EQ(MustParse("100MB"), 100u << 20);
  EXPECT_EQ(MustParse("100mb"), 100u << 20);
  EXPECT_EQ(MustParse("100MiB"), 100u << 20);
  EXPECT_EQ(MustParse("100mib"), 100u << 20);
  EXPECT_EQ(MustParse("100MIB"), 100u << 20);
  EXPECT_EQ(MustParse("2KiB"), 2048u);
  EXPECT_EQ(MustParse("2Ki"), 2048u);
  EXPECT_EQ(MustParse("17B"), 17u);
  EXPECT_EQ(MustParse("17b"), 17u);
  EXPECT_EQ(MustParse("5 G"), uint64_t{5} << 30);
  EXPECT_EQ(MustParse("5 GiB"), uint64_t{5} << 30);
}

TEST(ParseSize, Decimals) {
  EXPECT_EQ(MustParse("1.5GiB"), uint64_t{3} << 29);
  EXPECT_EQ(MustParse("1.5G"), uint64_t{3} << 29);
  EXPECT_EQ(MustParse("0.5K"), 512u);
  EXPECT_EQ(MustParse("0.25M"), 256u * 1024);
  EXPECT_EQ(MustParse(".5K"), 512u);
  EXPECT_EQ(MustParse("2.K"), 2048u);
  EXPECT_EQ(MustParse("1.0"), 1u);
}

TEST(ParseSize, RejectsJunk) {
  for (const char* s : {"", " ", "K", "KiB", "abc", "1X", "1KK", "1KBB", "1iB", "10 iB",
                        "1Bi", "1.2.3", "1..2", ".", "1e3", "0x10", "inf", "nan", "1K ",
                        " 1", "1,5K", "1_000", "1 2", "12KiBs", "1P"}) {
    ExpectBadSize(s);
  }
}

TEST(ParseSize, RejectsNegative) {
  ExpectBadSize("-1");
  ExpectBadSize("-0");
  ExpectBadSize("-1K");
  ExpectBadSize("+1");
}

TEST(ParseSize, RejectsOverflow) {
  ExpectBadSize("18446744073709551616");   // 2^64
  ExpectBadSize("99999999999999999999999");
  ExpectBadSize("16777216T");               // 2^64
  ExpectBadSize("17179869184G");            // 2^64
  ExpectBadSize("17179869184GiB");
  ExpectBadSize("1" + std::string(400, '0'));  // beyond double's range
  // Just below the limit is fine and exact.
  EXPECT_EQ(MustParse("16777215T"), (uint64_t{16777215} << 40));
}

// A plain integer is a byte count: it must come back exactly, not rounded
// through a double.
TEST(ParseSize, LargeIntegersAreExact) {
  EXPECT_EQ(MustParse("9007199254740993"), uint64_t{9007199254740993ull});  // 2^53 + 1
  EXPECT_EQ(MustParse("18446744073709549999"), uint64_t{18446744073709549999ull});
}

// ---- FormatSize -------------------------------------------------------------

TEST(FormatSize, Bytes) {
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(17), "17 B");
  EXPECT_EQ(FormatSize(1023), "1023 B");
}

TEST(FormatSize, FractionalUnits) {
  EXPECT_EQ(FormatSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatSize(uint64_t{3} << 29), "1.5 GiB");  // header example
  EXPECT_EQ(FormatSize((uint64_t{5} << 20) + (uint64_t{1} << 19)), "5.5 MiB");
}

// The header's own examples: "1.5 GiB", "512 KiB", "17 B".
TEST(FormatSize, WholeUnitsAsInHeader) {
  EXPECT_EQ(FormatSize(512 * 1024), "512 KiB");
  EXPECT_EQ(FormatSize(1024), "1 KiB");
  EXPECT_EQ(FormatSize(uint64_t{10} << 30), "10 GiB");
}

TEST(FormatSize, LargeValuesDoNotOverflowTheBuffer) {
  std::string s = FormatSize(std::numeric_limits<uint64_t>::max());
  EXPECT_NE(s.find("PiB"), std::string::npos) << s;
  EXPECT_EQ(FormatSize(uint64_t{1} << 50).substr(0, 1), "1") << FormatSize(uint64_t{1} << 50);
}

TEST(FormatSize, RoundTripsThroughParseSizeForWholeUnits) {
  for (uint64_t v : {uint64_t{1} << 10, uint64_t{3} << 20, uint64_t{7} << 30, uint64_t{2} << 40,
                     uint64_t{3} << 29}) {
    std::string s = FormatSize(v);
    auto r = ParseSize(s);
    ASSERT_TRUE(r.ok()) << s << ": " << r.status().ToString();
    EXPECT_EQ(*r, v) << s;
  }
}

TEST(Units, Literals) {
  EXPECT_EQ(4_KiB, 4096u);
  EXPECT_EQ(1_MiB, 1048576u);
  EXPECT_EQ(10_GiB, uint64_t{10} << 30);
}

// ---- Status / Result -------------------------------------------------------

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_FALSE(s.retriable());
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(Status, Constructors) {
  EXPECT_EQ(InvalidArgument("a").code(), Code::kInvalidArgument);
  EXPECT_EQ(NotFound("a").code(), Code::kNotFound);
  EXPECT_EQ(IoError("a").code(), Code::kIoError);
  EXPECT_EQ(Unavailable("a").code(), Code::kUnavailable);
  EXPECT_EQ(Corruption("a").code(), Code::kCorruption);
  EXPECT_EQ(NotFound("no such key").message(), "no such key");
  EXPECT_EQ(NotFound("no such key").ToString(), "no such key");
}

TEST(Status, OnlyUnavailableIsRetriable) {
  EXPECT_TRUE(Unavailable("x").retriable());
  for (Code c : {Code::kInvalidArgument, Code::kNotFound, Code::kPermissionDenied, Code::kIoError,
                 Code::kCorruption, Code::kOutOfRange, Code::kReadOnly, Code::kUnsupported})
    EXPECT_FALSE(Status(c, "x").retriable()) << CodeName(c);
}

TEST(Status, WithContext) {
  Status s = NotFound("HTTP 404").WithContext("http://h/f.nc");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "http://h/f.nc: HTTP 404");
  EXPECT_EQ(s.WithContext("key 'a'").message(), "key 'a': http://h/f.nc: HTTP 404");
  // OK stays OK, without a message.
  Status ok = Status::Ok().WithContext("ctx");
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.message(), "");
}

// User text quoted in a message (a dtype, a key, a URL) cannot split it:
// every control character is escaped where the Status is made.
TEST(Status, MessageIsOneLineWhateverItQuotes) {
  Status s = InvalidArgument("dtype '<M8\ns]' \r\t\x01\x7f");
  EXPECT_EQ(s.message(), "dtype '<M8\\ns]' \\r\\t\\x01\\x7f");
  EXPECT_EQ(s.WithContext("key 'a\nb'").message().find('\n'), std::string::npos);
  EXPECT_EQ(Status(Code::kIoError, "caf\xc3\xa9 ok").message(), "caf\xc3\xa9 ok");  // UTF-8 kept
}

TEST(Status, CodeNamesAreDistinct) {
  std::set<std::string> names;
  for (int c = 0; c <= static_cast<int>(Code::kUnsupported); ++c)
    names.insert(CodeName(static_cast<Code>(c)));
  EXPECT_EQ(names.size(), static_cast<size_t>(Code::kUnsupported) + 1);
  EXPECT_STREQ(CodeName(Code::kOk), "OK");
}

TEST(Result, HoldsValue) {
  Result<std::string> r(std::string("hello"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(*r, "hello");
  EXPECT_EQ(r->size(), 5u);
  EXPECT_EQ(r.value(), "hello");
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "hello");
}

TEST(Result, HoldsError) {
  Result<int> r(NotFound("nope"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "nope");
}

TEST(Result, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(42));
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);
}

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x, int* steps) {
  ZM_ASSIGN_OR_RETURN(int h, Half(x));
  ++*steps;
  ZM_ASSIGN_OR_RETURN(int q, Half(h));
  ++*steps;
  return q;
}

Status QuarterInto(int x, int* out) {
  int tmp = 0;
  ZM_ASSIGN_OR_RETURN(tmp, Half(x));  // assignment to an existing variable
  ZM_ASSIGN_OR_RETURN(*out, Half(tmp));
  return Status::Ok();
}

TEST(Macros, AssignOrReturnSuccess) {
  int steps = 0;
  auto r = Quarter(12, &steps);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
  EXPECT_EQ(steps, 2);
  int out = 0;
  EXPECT_TRUE(QuarterInto(8, &out).ok());
  EXPECT_EQ(out, 2);
}

TEST(Macros, AssignOrReturnPropagatesFirstError) {
  int steps = 0;
  auto r = Quarter(7, &steps);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "odd: 7");
  EXPECT_EQ(steps, 0);

  steps = 0;
  r = Quarter(6, &steps);  // 6 -> 3 -> odd
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
  EXPECT_EQ(steps, 1);

  int out = -1;
  Status st = QuarterInto(10, &out);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "odd: 5");
  EXPECT_EQ(out, -1);
}

Status Check(bool fail, int* reached) {
  ZM_RETURN_IF_ERROR(fail ? IoError("boom") : Status::Ok());
  ++*reached;
  ZM_RETURN_IF_ERROR(Half(fail ? 1 : 2));  // a Result works too
  ++*reached;
  return Status::Ok();
}

Result<std::string> CheckResult(int x) {
  ZM_RETURN_IF_ERROR(Half(x));
  return std::string("even");
}

TEST(Macros, ReturnIfError) {
  int reached = 0;
  EXPECT_TRUE(Check(false, &reached).ok());
  EXPECT_EQ(reached, 2);
  reached = 0;
  Status st = Check(true, &reached);
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_EQ(st.message(), "boom");
  EXPECT_EQ(reached, 0);

  auto r = CheckResult(3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
  auto ok = CheckResult(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "even");
}

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

// ---- RedactUrl ----------------------------------------------------------------

TEST(RedactUrl, LeavesPlainUrlsAlone) {
  EXPECT_EQ(RedactUrl("http://example.com/data/x.nc"), "http://example.com/data/x.nc");
  EXPECT_EQ(RedactUrl("https://h:8443/a/b"), "https://h:8443/a/b");
  EXPECT_EQ(RedactUrl("/local/path/x.nc"), "/local/path/x.nc");
  EXPECT_EQ(RedactUrl("file:///local/x.nc"), "file:///local/x.nc");
  EXPECT_EQ(RedactUrl(""), "");
}

TEST(RedactUrl, RemovesUserInfo) {
  EXPECT_EQ(RedactUrl("https://user:secret@example.com/x.nc"), "https://example.com/x.nc");
  EXPECT_EQ(RedactUrl("https://user@example.com/x.nc"), "https://example.com/x.nc");
  EXPECT_EQ(RedactUrl("http://u:p@h:8080/x"), "http://h:8080/x");
  EXPECT_EQ(RedactUrl("http://u:p@h"), "http://h");
  EXPECT_EQ(RedactUrl("s3://AKIA:SECRET@bucket/key"), "s3://bucket/key");
}

TEST(RedactUrl, KeepsAtSignsInThePath) {
  EXPECT_EQ(RedactUrl("http://h/users/me@example.org/x.nc"), "http://h/users/me@example.org/x.nc");
}

TEST(RedactUrl, RemovesQueryStrings) {
  EXPECT_EQ(RedactUrl("https://h/x.nc?X-Amz-Signature=abc&X-Amz-Credential=k"), "https://h/x.nc");
  EXPECT_EQ(RedactUrl("https://u:p@h/x.nc?token=abc"), "https://h/x.nc");
  EXPECT_EQ(RedactUrl("https://h/x.nc?"), "https://h/x.nc");
  EXPECT_EQ(RedactUrl("https://h?sig=1"), "https://h");
  // Not URLs: a '?' in a local file name is part of the name.
  EXPECT_EQ(RedactUrl("/data/what?.nc"), "/data/what?.nc");
  EXPECT_EQ(RedactUrl("rel/a?b"), "rel/a?b");
}

// A password containing a raw '@' (common in hand-written URLs, and what
// curl accepts: the userinfo ends at the LAST '@' before the path) must not
// leak its tail.
TEST(RedactUrl, PasswordContainingAtSignDoesNotLeak) {
  std::string r = RedactUrl("https://user:p@ssw0rd@example.com/x.nc");
  EXPECT_EQ(r.find("ssw0rd"), std::string::npos) << r;
  EXPECT_EQ(r, "https://example.com/x.nc");
}

// An '@' inside the query of a URL with no path is not userinfo.
TEST(RedactUrl, AtSignInQueryWithoutPath) {
  EXPECT_EQ(RedactUrl("https://example.com?email=a@b.org"), "https://example.com");
}

TEST(RedactUrl, NeverContainsTheSecret) {
  for (const char* url :
       {"https://alice:hunter2@h/x", "http://alice:hunter2@h:1/x?y=hunter2",
        "https://h/x?sig=hunter2", "https://h/x?a=1&sig=hunter2#frag", "s3://k:hunter2@b/o"}) {
    EXPECT_EQ(RedactUrl(url).find("hunter2"), std::string::npos) << url << " -> " << RedactUrl(url);
  }
}

}  // namespace
}  // namespace zm
