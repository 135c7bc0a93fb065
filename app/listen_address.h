// --metrics' listen address: HOST:PORT, [IPV6]:PORT, :PORT or PORT; without
// a host it is 127.0.0.1. (Apart from app/metrics_server.h, so that parsing
// the options does not link libmicrohttpd.)
#pragma once

#include <string>

#include "base/status.h"

namespace zm {

// A listen address split into host and port.
struct ListenAddress {
  std::string host;  // "127.0.0.1" when the spec names none
  int port = 0;
};

// Errors name `spec`.
Result<ListenAddress> ParseListenAddress(const std::string& spec);

}  // namespace zm
