// A real memcached (Debian's /usr/bin/memcached) on a free loopback port for
// one test, killed when the object goes out of scope; and a raw client of
// its text protocol, to play a writer that does not have the key.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace zm::testing {

// A port nothing listens on now (the kernel's pick for an ephemeral bind).
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class MemcachedServer {
 public:
  // `extra`: more memcached arguments ({"-I", "2m"}).
  explicit MemcachedServer(std::vector<std::string> extra = {}) : port_(FreePort()), extra_(std::move(extra)) {
    Start();
  }
  ~MemcachedServer() { Stop(); }
  MemcachedServer(const MemcachedServer&) = delete;
  MemcachedServer& operator=(const MemcachedServer&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void Start() {
    const char* bin = "/usr/bin/memcached";
    ASSERT_EQ(::access(bin, X_OK), 0) << "memcached is not installed (scripts/install-deps.sh)";
    std::string port = std::to_string(port_);
    std::vector<std::string> args = {bin, "-p", port, "-U", "0", "-l", "127.0.0.1", "-m", "64", "-t", "2"};
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "nobody"});
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(::posix_spawn(&pid_, bin, nullptr, nullptr, argv.data(), environ), 0);
    for (int i = 0; i < 500; ++i) {  // up to 5 s
      int fd = ConnectLoopback(port_);
      if (fd >= 0) {
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "memcached did not listen on port " << port_;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // One text-protocol command and its whole answer (up to `until`).
  std::string Command(const std::string& request, const std::string& until) const {
    int fd = ConnectLoopback(port_);
    if (fd < 0) return "";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string answer;
    char buf[65536];
    while (answer.find(until) == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return answer;
  }

  bool Set(const std::string& name, const std::string& value) const {
    return Command("set " + name + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n", "\r\n") ==
           "STORED\r\n";
  }
  // The value of `name`, or "" if there is none.
  std::string Get(const std::string& name) const {
    std::string a = Command("get " + name + "\r\n", "END\r\n");
    size_t eol = a.find("\r\n");
    if (!a.starts_with("VALUE") || eol == std::string::npos) return "";
    size_t len = std::stoul(a.substr(a.rfind(' ', eol) + 1, eol));
    return a.substr(eol + 2, len);
  }
  bool Delete(const std::string& name) const {
    return Command("delete " + name + "\r\n", "\r\n") == "DELETED\r\n";
  }

 private:
  const int port_;
  const std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

}  // namespace zm::testing
