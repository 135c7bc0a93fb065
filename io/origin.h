// Origins: where object bytes come from. Origin::Read is the only way bytes
// enter the process; everything above it (caches, coalescing) trusts that a
// successful Read returned exactly the bytes asked for.
//
// Thread-safety: every Origin is safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

  // Read, with the bytes cut into consecutive pieces of `lengths` (which
  // must sum to range.length). An origin that can put the bytes straight
  // where they belong overrides it and saves the caller a copy; by default
  // Read's result is split.
  virtual Result<std::vector<std::string>> ReadPieces(const std::string& url, ByteRange range,
                                                      const std::vector<uint64_t>& lengths);

  // The object's size in bytes.
  virtual Result<uint64_t> Size(const std::string& url) = 0;

  // The object's size and what identifies its present contents (the ETag,
  // else the Last-Modified date; for a file its modification time): a
  // version that changes when the object does. Empty when the origin tells
  // nothing. By default Size with an empty version.
  struct ObjectInfo {
    uint64_t size = 0;
    std::string version;
  };
  virtual Result<ObjectInfo> Stat(const std::string& url);

  // The object's first `length` bytes (all of it when it is shorter) with
  // its size and version, in one request where the origin can: for a
  // reader about to read an object from its start, such as a scan, this
  // saves asking its size first. HTTP asks for the range and learns the
  // size from the answer's Content-Range. Errors as for Read and Stat. By
  // default Stat, then Read.
  struct Head {
    ObjectInfo info;
    std::string bytes;  // min(length, info.size) bytes
  };
  virtual Result<Head> ReadHead(const std::string& url, uint64_t length);

  // The whole answer at `url`, fetched without a range (a directory
  // listing, an object store's list answer: no size is known beforehand),
  // at most `max_bytes` (kInvalidArgument beyond). Errors as for Read. By
  // default Stat, then Read of the whole object.
  virtual Result<std::string> Fetch(const std::string& url, uint64_t max_bytes);
};

// One request as the HTTP origin sends it (see cache/cloud.h, which plans
// them for s3://, gs:// and header options).
struct HttpRequest {
  std::string url;      // what is fetched: http:// or https://
  std::vector<std::string> headers;  // extra "Name: value" lines
  // AWS Signature V4: libcurl's provider string "aws:amz:REGION:s3" and the
  // key pair; empty: unsigned.
  std::string aws_sigv4;
  std::string access_key_id, secret_access_key;
  // Strings that must never appear in a message (secrets, header values):
  // replaced by "***" in every error the origin returns.
  std::vector<std::string> secrets;
  // Appended to the message of a refused (401/403) request, e.g. that it
  // went unsigned because no credentials were found.
  std::string denied_hint;
};

struct HttpOptions {
  // Deadline for one attempt's TCP (and TLS) connect.
  long connect_timeout_ms = 10'000;
  // An attempt slower than low_speed_bytes/s for low_speed_time_s is aborted.
  long low_speed_bytes = 1024;
  long low_speed_time_s = 30;
  // Deadline for one attempt (one HTTP request), all of it.
  long request_timeout_ms = 30'000;
  // Deadline for one Read or Size call, all of it: waiting for a connection
  // slot, every attempt and the pauses between them. When it passes the call
  // fails with kIoError. Each attempt's connect and request deadlines are
  // cut to what is left of it.
  long deadline_ms = 60'000;
  // Attempts for transient failures (connection errors, 5xx, 429), at most.
  int max_attempts = 4;
  // Pauses between attempts grow from initial_backoff_ms, doubling up to
  // max_backoff_ms, each drawn uniformly from [b/2, b] (jitter).
  long initial_backoff_ms = 100;
  long max_backoff_ms = 5'000;
  // A Retry-After (seconds or HTTP date) on a failed answer lengthens the
  // pause to what it asks, up to max_retry_after_ms. When the pause would
  // not end before the deadline the call fails at once instead.
  long max_retry_after_ms = 20'000;
  std::string user_agent = "zarrmount";
  // Requests in flight at once, at most; more wait for a free slot.
  int max_connections = 64;
  // Bytes each connection takes off its socket per receive, into a buffer
  // it keeps while it lives; 0: libcurl's default (16 KiB).
  long receive_buffer_bytes = 0;
  // Connecting to link-local addresses (169.254.0.0/16, fe80::/10,
  // fd00:ec2::254: cloud metadata services) is refused with
  // kPermissionDenied before any packet is sent, unless allowed.
  bool allow_link_local = false;
  // Turns the URL a caller asked for into the request to send (s3:// and
  // gs:// become https, headers and signing are added). Null: http(s)://
  // URLs are sent as they are. Errors are returned by the Read or Stat.
  // Messages name the caller's URL and, when different, the one fetched.
  std::function<Result<HttpRequest>(const std::string& url)> plan;
};

// http:// and https:// via libcurl, reusing connections; s3:// and gs://
// too when options.plan resolves them.
std::unique_ptr<Origin> NewHttpOrigin(const HttpOptions& options);
// Local files: "file:///abs/path" or a plain path, readable only when the
// file, symbolic links resolved, lies under one of `roots` (absolute,
// canonical directory paths; "/" allows every file). Anything else is
// kPermissionDenied. A path that is not a regular file is kIoError
// (a FIFO or a device could block a reader or never end). A reference set downloaded
// from elsewhere must not expose the files of whoever mounts it.
std::unique_ptr<Origin> NewFileOrigin(std::vector<std::string> roots);
// Whether the local file `url` names ("file://..." or a plain path) lies
// under one of `roots`, symbolic links resolved: kPermissionDenied naming
// the file if not. A file that does not exist passes (reading it fails).
Status CheckLocalAccess(const std::string& url, const std::vector<std::string>& roots);
// Fails every call at once with kIoError ("offline"): the origin of a mount
// that serves only what its cache holds.
std::unique_ptr<Origin> NewOfflineOrigin();
// Dispatches on the URL's scheme: http(s)://, s3:// and gs:// to `http`,
// file:// and plain paths to `file`; others are kUnsupported. Takes
// ownership.
std::unique_ptr<Origin> NewRoutingOrigin(std::unique_ptr<Origin> http,
                                         std::unique_ptr<Origin> file);

}  // namespace zm
