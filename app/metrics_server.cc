#include "app/metrics_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace zm {

namespace {

// A socket listening on `a`; MHD takes it over (and closes it).
Result<int> Listen(const ListenAddress& a, const std::string& spec) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(a.port);
  if (int rc = ::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return InvalidArgument("--metrics '" + spec + "': " + ::gai_strerror(rc));
  int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  int err = errno;
  if (fd >= 0) {
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 16) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0)
    return IoError("--metrics '" + spec + "': cannot listen: " + std::strerror(err));
  return fd;
}

MHD_Result Reply(MHD_Connection* connection, unsigned int code, const std::string& body,
                 const char* content_type) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (!response) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  const MHD_Result queued = MHD_queue_response(connection, code, response);
  MHD_destroy_response(response);
  return queued;
}

}  // namespace

struct MetricsServer::Impl {
  std::function<std::string()> exposition;
  MHD_Daemon* daemon = nullptr;

  static MHD_Result Answer(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char*, const char*, size_t*, void**) {
    auto* self = static_cast<Impl*>(cls);
    const char* text = "text/plain; charset=utf-8";
    if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0)
      return Reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n", text);
    if (std::strcmp(url, "/metrics") != 0)
      return Reply(connection, MHD_HTTP_NOT_FOUND, "only GET /metrics\n", text);
    return Reply(connection, MHD_HTTP_OK, self->exposition(),
                 "text/plain; version=0.0.4; charset=utf-8");
  }
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  if (impl_ && impl_->daemon) MHD_stop_daemon(impl_->daemon);
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& spec, std::function<std::string()> exposition) {
  ZM_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(spec));
  ZM_ASSIGN_OR_RETURN(int fd, Listen(address, spec));
  auto impl = std::make_unique<Impl>();
  impl->exposition = std::move(exposition);
  // One thread polls and answers: scrapes are rare and small, and one at a
  // time keeps them off the cores the readers use.
  impl->daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, nullptr, nullptr, &Impl::Answer,
      impl.get(), MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 16u,
      MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  if (!impl->daemon) {
    ::close(fd);
    return IoError("--metrics '" + spec + "': cannot start the HTTP server");
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace zm
