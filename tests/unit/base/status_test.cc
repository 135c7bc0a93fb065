// Unit tests of base/status.h: Status, Result and the error macros.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/status.h"

namespace zm {
namespace {

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

}  // namespace
}  // namespace zm
