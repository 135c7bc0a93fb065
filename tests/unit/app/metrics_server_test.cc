// Unit tests of app/metrics_server.h: the listen address, and a live
// server answering GET /metrics on loopback.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "app/metrics_server.h"

namespace zm {
namespace {

TEST(ParseListenAddress, LoopbackUnlessAHostIsGiven) {
  for (const char* spec : {"9100", ":9100"}) {
    auto a = ParseListenAddress(spec);
    ASSERT_TRUE(a.ok()) << spec << ": " << a.status().ToString();
    EXPECT_EQ(a->host, "127.0.0.1") << spec;
    EXPECT_EQ(a->port, 9100) << spec;
  }
  auto any = ParseListenAddress("0.0.0.0:80");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "0.0.0.0");
  EXPECT_EQ(any->port, 80);
  auto v6 = ParseListenAddress("[::1]:9100");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  auto named = ParseListenAddress("localhost:1");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->host, "localhost");
}

TEST(ParseListenAddress, RefusesBadAddressesNamingThem) {
  for (const char* spec : {"", "host", "host:", "host:0", "host:65536", "host:9x", "::1:9100",
                           "[::1]9100", "[::1"}) {
    auto a = ParseListenAddress(spec);
    EXPECT_FALSE(a.ok()) << spec;
    if (!a.ok()) {
      EXPECT_EQ(a.status().code(), Code::kInvalidArgument) << spec;
      EXPECT_NE(a.status().message().find(std::string("'") + spec + "'"), std::string::npos)
          << a.status().message();
    }
  }
}

// A loopback port free a moment ago.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

// The whole response to `request` sent to 127.0.0.1:port.
std::string Ask(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(MetricsServer, ServesTheExpositionAtMetricsOnly) {
  const int port = FreePort();
  std::atomic<int> scrapes{0};
  auto server = MetricsServer::Start(std::to_string(port), [&] {
    ++scrapes;
    return std::string("# TYPE up gauge\nup 1\n");
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string ok = Ask(port, "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.", 0), 0u) << ok;
  EXPECT_NE(ok.find(" 200 "), std::string::npos) << ok;
  EXPECT_NE(ok.find("text/plain; version=0.0.4"), std::string::npos) << ok;
  EXPECT_EQ(ok.substr(ok.size() - 5), "up 1\n") << ok;
  EXPECT_NE(Ask(port, "GET /other HTTP/1.0\r\n\r\n").find(" 404 "), std::string::npos);
  EXPECT_NE(Ask(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n").find(" 405 "),
            std::string::npos);
  EXPECT_EQ(scrapes.load(), 1);
  server->reset();
  EXPECT_EQ(Ask(port, "GET /metrics HTTP/1.0\r\n\r\n"), "connect failed");
}

TEST(MetricsServer, APortInUseIsOneLineNamingTheAddress) {
  const int port = FreePort();
  auto first = MetricsServer::Start(std::to_string(port), [] { return std::string(); });
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = MetricsServer::Start("127.0.0.1:" + std::to_string(port),
                                     [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status().message();
}

TEST(MetricsServer, AnUnknownHostIsRefused) {
  auto s = MetricsServer::Start("no-such-host.invalid:9100", [] { return std::string(); });
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace zm
