// MetricsServer: serves GET /metrics (the Prometheus text exposition) over
// HTTP, with libmicrohttpd on a thread of its own, for --metrics HOST:PORT.
//
// The listen address is HOST:PORT, [IPV6]:PORT, :PORT or PORT; without a
// host it is 127.0.0.1 (loopback: only this machine may scrape). Any other
// path is 404, any method other than GET or HEAD is 405.
//
// Thread-safety: `exposition` is called on the server's thread, one scrape
// at a time, while the mount serves reads.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "app/listen_address.h"
#include "base/status.h"

namespace zm {


class MetricsServer {
 public:
  // Listens on `spec` (ParseListenAddress) and serves until destroyed.
  // Errors: a bad address, an unknown host, or one that cannot be bound
  // (in use, not local), each naming `spec`.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& spec,
                                                      std::function<std::string()> exposition);
  ~MetricsServer();  // stops listening; waits for a scrape under way

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zm
