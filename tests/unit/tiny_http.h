// TinyHttpServer: a one-thread HTTP/1.1 server on 127.0.0.1 for origin unit
// tests. Serves one object, with an ETag; answers "Range: bytes=A-B" as
// RFC 9110 says (206 and a Content-Range, B clamped to the object's end;
// 416 and "bytes */SIZE" when A is past it), or, when told to ignore
// ranges, with 200 and the whole object; told to hide the size, its
// Content-Range ends in "/*". Keeps connections alive. Only as much HTTP as
// libcurl needs.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

namespace zm::testing {

class TinyHttpServer {
 public:
  TinyHttpServer(std::string object, bool ignore_ranges = false, bool hide_size = false)
      : object_(std::move(object)), ignore_ranges_(ignore_ranges), hide_size_(hide_size) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TinyHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/obj"; }
  int requests() const { return requests_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      Connection(fd);
      ::close(fd);
    }
  }
  void Connection(int fd) {
    std::string in;
    char buf[4096];
    while (!stop_) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (stop_) return;
        if (::poll(&p, 1, 50) <= 0) continue;
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return;
        in.append(buf, n);
      }
      std::string head = in.substr(0, end);
      in.erase(0, end + 4);
      ++requests_;
      unsigned long long a = 0, b = 0;
      size_t r = head.find("Range: bytes=");
      bool ranged = r != std::string::npos &&
                    std::sscanf(head.c_str() + r + 13, "%llu-%llu", &a, &b) == 2;
      std::string body, status = "200 OK", extra;
      if (ranged && !ignore_ranges_ && a <= b && a >= object_.size()) {
        status = "416 Range Not Satisfiable";
        extra = "Content-Range: bytes */" + std::to_string(object_.size()) + "\r\n";
      } else if (ranged && !ignore_ranges_ && a <= b) {
        b = std::min<unsigned long long>(b, object_.size() - 1);
        body = object_.substr(a, b - a + 1);
        status = "206 Partial Content";
        extra = "Content-Range: bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                (hide_size_ ? std::string("*") : std::to_string(object_.size())) + "\r\n";
      } else {
        body = object_;
      }
      std::string out = "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\nETag: \"" + std::to_string(object_.size()) + "\"\r\n" + extra + "\r\n";
      if (head.rfind("HEAD ", 0) != 0) out += body;
      for (size_t done = 0; done < out.size();) {
        ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return;
        done += n;
      }
    }
  }

  std::string object_;
  bool ignore_ranges_;
  bool hide_size_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace zm::testing
