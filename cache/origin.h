// Origins: where object bytes come from. Origin::Read is the only way bytes
// enter the process; everything above it (caches, coalescing) trusts that a
// successful Read returned exactly the bytes asked for.
//
// Thread-safety: every Origin is safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace zm {

// A half-open byte range [offset, offset + length) of an object.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const ByteRange&) const = default;
};

class Origin {
 public:
  virtual ~Origin() = default;

  // Returns exactly `range.length` bytes of the object at `url` starting at
  // `range.offset`, or an error: kNotFound (no such object), kOutOfRange
  // (the object is shorter), kPermissionDenied, kUnavailable (transient),
  // kIoError (terminal), kCorruption (the server's answer did not match the
  // request). Never a short or long result.
  virtual Result<std::string> Read(const std::string& url, ByteRange range) = 0;

  // The object's size in bytes.
  virtual Result<uint64_t> Size(const std::string& url) = 0;
};

struct HttpOptions {
  long connect_timeout_ms = 10'000;
  // A transfer slower than low_speed_bytes/s for low_speed_time_s is aborted.
  long low_speed_bytes = 1024;
  long low_speed_time_s = 30;
  // Deadline for one request, all of it.
  long request_timeout_ms = 120'000;
  // Attempts for transient failures (connection errors, 5xx, 429).
  int max_attempts = 4;
  long initial_backoff_ms = 100;
  std::string user_agent = "zarrmount";
  // Requests in flight at once, at most; more wait for a free slot.
  int max_connections = 64;
};

// http:// and https:// via libcurl, reusing connections.
std::unique_ptr<Origin> NewHttpOrigin(const HttpOptions& options);
// Local files: "file:///abs/path" or a plain path.
std::unique_ptr<Origin> NewFileOrigin();
// Dispatches on the URL's scheme: http(s):// to `http`, file:// and plain
// paths to `file`; others are kUnsupported. Takes ownership.
std::unique_ptr<Origin> NewRoutingOrigin(std::unique_ptr<Origin> http,
                                         std::unique_ptr<Origin> file);

// Initialises libcurl's global state; call once before starting threads.
void InitHttpGlobal();

}  // namespace zm
