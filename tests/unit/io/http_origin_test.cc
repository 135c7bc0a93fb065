// Unit tests of the HTTP origin (io/http_origin.cc) against a tiny local server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "io/origin.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/tiny_http.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::RandomBytes;

// Each origin of these tests: libcurl's default receive buffer, and the
// daemon's larger one (more bytes per write callback, so a piece, the
// range's end or the end of what a range-ignoring answer is wanted for
// falls inside one callback's bytes).
HttpOptions WithReceiveBuffer(long bytes) {
  HttpOptions o;
  o.receive_buffer_bytes = bytes;
  return o;
}
constexpr long kReceiveBuffers[] = {0, 128 * 1024};

// ReadPieces puts the bytes of one request straight into pieces of the
// asked lengths, whether the server answers 206 or sends the whole object.
TEST(HttpOrigin, ReadPiecesCutsOneResponse) {
  std::string data = RandomBytes(300'000, 21);
  for (long buffer : kReceiveBuffers)
  for (bool ignore_ranges : {false, true}) {
    SCOPED_TRACE("receive buffer " + std::to_string(buffer));
    testing::TinyHttpServer server(data, ignore_ranges);
    auto origin = NewHttpOrigin(WithReceiveBuffer(buffer));
    ByteRange range{1000, 250'000};
    std::vector<uint64_t> lengths = {1, 65'535, 0, 100'000, 84'464};
    auto got = origin->ReadPieces(server.url(), range, lengths);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), lengths.size());
    uint64_t at = range.offset;
    for (size_t i = 0; i < lengths.size(); ++i) {
      EXPECT_TRUE((*got)[i] == data.substr(at, lengths[i])) << "piece " << i;
      at += lengths[i];
    }
    EXPECT_EQ(server.requests(), 1);
    auto whole = origin->Read(server.url(), ByteRange{299'990, 10});
    ASSERT_TRUE(whole.ok()) << whole.status().ToString();
    EXPECT_EQ(*whole, data.substr(299'990, 10));
    auto bad = origin->ReadPieces(server.url(), range, {1, 2});
    EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  }
}

// ReadHead learns the object's size and version from the answer to one
// ranged GET, whether the server clamps the range to a shorter object,
// ignores ranges (the size from Content-Length, the transfer stopped once
// the bytes asked for are in) or has no byte 0 to send (an empty object:
// asked again with a HEAD).
TEST(HttpOrigin, ReadHeadLearnsTheSizeWithTheFirstBytes) {
  const std::string data = RandomBytes(300'000, 23);
  for (long buffer : kReceiveBuffers)
  for (bool ignore_ranges : {false, true}) {
    SCOPED_TRACE(ignore_ranges ? "server ignores ranges" : "server clamps ranges");
    SCOPED_TRACE("receive buffer " + std::to_string(buffer));
    testing::TinyHttpServer server(data, ignore_ranges);
    auto origin = NewHttpOrigin(WithReceiveBuffer(buffer));
    auto stat = origin->Stat(server.url());
    ASSERT_TRUE(stat.ok()) << stat.status().ToString();
    EXPECT_FALSE(stat->version.empty());
    const int before = server.requests();
    for (uint64_t length : {uint64_t{1000}, uint64_t{300'000}, uint64_t{1} << 20}) {
      auto head = origin->ReadHead(server.url(), length);
      ASSERT_TRUE(head.ok()) << length << ": " << head.status().ToString();
      EXPECT_EQ(head->info.size, data.size()) << length;
      EXPECT_EQ(head->info.version, stat->version) << length;
      EXPECT_TRUE(head->bytes == data.substr(0, length)) << length;
    }
    EXPECT_EQ(server.requests() - before, 3);
  }
  // A Content-Range that does not say the size: the HEAD does.
  testing::TinyHttpServer hiding(data, false, /*hide_size=*/true);
  auto origin = NewHttpOrigin(HttpOptions{});
  auto hidden = origin->ReadHead(hiding.url(), 1000);
  ASSERT_TRUE(hidden.ok()) << hidden.status().ToString();
  EXPECT_EQ(hidden->info.size, data.size());
  EXPECT_TRUE(hidden->bytes == data.substr(0, 1000));
  EXPECT_EQ(hiding.requests(), 2);
  testing::TinyHttpServer empty("");
  auto head = origin->ReadHead(empty.url(), 1 << 20);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->info.size, 0u);
  EXPECT_TRUE(head->bytes.empty());
  EXPECT_EQ(empty.requests(), 2) << "the range refused, then a HEAD";
}

// A range past the object's end is kOutOfRange, as the Origin contract
// says, whether the server clamps it or sends the whole object.
TEST(HttpOrigin, ReadPastTheEndIsOutOfRange) {
  const std::string data = RandomBytes(5000, 24);
  for (bool ignore_ranges : {false, true}) {
    testing::TinyHttpServer server(data, ignore_ranges);
    auto origin = NewHttpOrigin(HttpOptions{});
    auto got = origin->Read(server.url(), ByteRange{4000, 2000});
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), Code::kOutOfRange) << got.status().ToString();
    EXPECT_THAT(got.status().message(), HasSubstr("shorter than the range"));
  }
}

// Link-local addresses (cloud metadata) are refused where libcurl would
// open the socket: the message can only come from there, so no connection
// (not even a SYN) was attempted. A routable address still works.
TEST(HttpOrigin, RefusesLinkLocalAddressesBeforeConnecting) {
  HttpOptions o;
  o.connect_timeout_ms = 5000;
  auto origin = NewHttpOrigin(o);
  for (const char* url : {"http://169.254.169.254/latest/meta-data/", "http://169.254.1.2:8080/x",
                          "http://[fd00:ec2::254]/latest", "http://[fe80::1]/x",
                          "http://[::ffff:169.254.169.254]/x"}) {
    auto start = std::chrono::steady_clock::now();
    auto r = origin->Read(url, ByteRange{0, 10});
    auto s = origin->Stat(url);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << url << ": " << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr("link-local")) << url;
    EXPECT_EQ(s.status().code(), Code::kPermissionDenied) << url;
    EXPECT_LT(took, 1.0) << url << ": refused at once, not retried";
  }
  testing::TinyHttpServer server(RandomBytes(100, 3));
  EXPECT_TRUE(origin->Read(server.url(), ByteRange{0, 10}).ok());
}

// Fetch takes the whole answer without a range (a directory listing has no
// size beforehand), within its bound.
TEST(HttpOrigin, FetchTakesTheWholeBodyWithinItsBound) {
  std::string data = RandomBytes(70'000, 22);
  testing::TinyHttpServer server(data);
  auto origin = NewHttpOrigin(HttpOptions{});
  auto got = origin->Fetch(server.url(), 1 << 20);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data);
  EXPECT_EQ(server.requests(), 1);
  auto exact = origin->Fetch(server.url(), data.size());
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  auto big = origin->Fetch(server.url(), data.size() - 1);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("refusing"));
}

}  // namespace
}  // namespace zm
