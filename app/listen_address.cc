#include "app/listen_address.h"

#include <cstdlib>

namespace zm {

Result<ListenAddress> ParseListenAddress(const std::string& spec) {
  ListenAddress a;
  std::string port = spec;
  const size_t colon = spec.rfind(':');
  if (!spec.empty() && spec[0] == '[') {  // [IPv6]:PORT
    const size_t close = spec.find(']');
    if (close == std::string::npos || close + 1 >= spec.size() || spec[close + 1] != ':')
      return InvalidArgument("--metrics '" + spec + "': expected [ADDRESS]:PORT");
    a.host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
  } else if (colon != std::string::npos) {
    a.host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
    if (a.host.find(':') != std::string::npos)
      return InvalidArgument("--metrics '" + spec + "': write an IPv6 address as [ADDRESS]:PORT");
  }
  if (a.host.empty()) a.host = "127.0.0.1";
  char* end = nullptr;
  const long n = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || n < 1 || n > 65535)
    return InvalidArgument("--metrics '" + spec + "': '" + port + "' is not a port in [1, 65535]");
  a.port = static_cast<int>(n);
  return a;
}

}  // namespace zm
