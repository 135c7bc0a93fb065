#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <semaphore>
#include <thread>
#include <vector>

#include "base/log.h"
#include "io/cloud.h"
#include "io/origin.h"

namespace zm {
namespace {

using Clock = std::chrono::steady_clock;

// libcurl's global state, set up once, by the first request (libcurl 7.84
// and later make this safe while other threads run).
void InitHttpGlobal() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// What one transfer saw. The write callback decides, from the status code,
// whether the body is the data (206), a whole object to slice (200), or an
// error page to quote.
struct Transfer {
  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() { curl_slist_free_all(headers); }
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;  // the request's extra headers
  bool allow_link_local = false;
  std::string refused;  // an address the transfer was not allowed to connect to
  ByteRange want;
  bool ranged = true;
  long status = 0;
  std::string content_range;
  std::string etag, last_modified;
  // The data (206/200), written straight into pieces of the lengths the
  // caller asked for, each reserved up front: no copy after the socket's.
  std::vector<std::string> pieces;
  std::vector<uint64_t> lengths;
  size_t piece = 0;       // the piece being filled
  uint64_t got = 0;       // data bytes so far
  std::string error_page; // the start of a non-data answer, to quote
  uint64_t skipped = 0;   // 200: bytes before want.offset thrown away
  bool complete = false;  // 200: got everything, transfer stopped on purpose
  bool overflow = false;  // 206: server sent more than asked
  // The piece is reserved when the answer's length is known (its first
  // body bytes), not up front: asked for up to want.length bytes of an
  // object of unknown size.
  bool reserve_late = false;

  void Expect(ByteRange range, std::vector<uint64_t> piece_lengths) {
    want = range;
    lengths = std::move(piece_lengths);
    pieces.resize(lengths.size());
    for (size_t i = 0; i < lengths.size(); ++i) pieces[i].reserve(lengths[i]);
  }
  // Appends data bytes; REQUIRES got + d.size() <= want.length.
  void Append(std::string_view d) {
    got += d.size();
    while (!d.empty()) {
      while (pieces[piece].size() == lengths[piece]) ++piece;
      size_t n = std::min<size_t>(d.size(), lengths[piece] - pieces[piece].size());
      pieces[piece].append(d.data(), n);
      d.remove_prefix(n);
    }
  }
};

size_t OnHeader(char* data, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nitems;
  std::string_view line(data, n);
  auto value = [&](size_t name_len) {
    std::string_view v = line.substr(name_len);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
    return std::string(v);
  };
  if (line.starts_with("HTTP/")) {  // a new response (after a redirect or 100)
    t->content_range.clear();
    t->etag.clear();
    t->last_modified.clear();
  } else if (line.size() > 14 && strncasecmp(line.data(), "content-range:", 14) == 0) {
    t->content_range = value(14);
  } else if (line.size() > 5 && strncasecmp(line.data(), "etag:", 5) == 0) {
    t->etag = value(5);
  } else if (line.size() > 14 && strncasecmp(line.data(), "last-modified:", 14) == 0) {
    t->last_modified = value(14);
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  if (t->status == 0) {
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    curl_off_t length = -1;
    if (t->reserve_late && curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
        length > 0)
      t->pieces[0].reserve(std::min<uint64_t>(static_cast<uint64_t>(length), t->want.length));
  }
  if (t->status == 206 || (t->status == 200 && !t->ranged)) {
    if (t->got + n > t->want.length) {
      t->overflow = true;
      return 0;  // abort: longer than asked is never data
    }
    t->Append(std::string_view(data, n));
    return n;
  }
  if (t->status == 200) {
    // The server ignored Range and sends the whole object: keep our slice,
    // stop as soon as it is complete.
    std::string_view chunk(data, n);
    if (t->skipped < t->want.offset) {
      uint64_t drop = std::min<uint64_t>(t->want.offset - t->skipped, chunk.size());
      t->skipped += drop;
      chunk.remove_prefix(drop);
    }
    uint64_t need = t->want.length - t->got;
    t->Append(chunk.substr(0, std::min<uint64_t>(need, chunk.size())));
    if (t->got == t->want.length) {
      t->complete = true;
      return 0;
    }
    return n;
  }
  // Enough for an S3 error's Code and Message, which come first.
  if (t->error_page.size() < 2048)
    t->error_page.append(data, std::min<size_t>(n, 2048 - t->error_page.size()));
  return n;
}

// Link-local addresses are where clouds answer with instance credentials
// (169.254.169.254, fd00:ec2::254): a reference set from elsewhere must not
// make a mount on such a machine fetch them.
std::string ForbiddenAddress(const curl_sockaddr* a) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (a->family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&a->addr);
    uint32_t ip = ntohl(in->sin_addr.s_addr);
    if ((ip >> 16) != 0xA9FE) return "";  // 169.254.0.0/16
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return text;
  }
  if (a->family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a->addr);
    const uint8_t* b = in6->sin6_addr.s6_addr;
    static const uint8_t kEc2[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
    bool link_local = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;  // fe80::/10
    bool mapped = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 169 && b[13] == 254;
    if (!link_local && !mapped && std::memcmp(b, kEc2, 16) != 0) return "";
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return text;
  }
  return "";
}

// Runs where libcurl would create a socket: before any packet is sent to
// the address, which is the resolved one (a host name cannot hide it).
curl_socket_t OpenSocket(void* user, curlsocktype, curl_sockaddr* a) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->allow_link_local) {
    std::string bad = ForbiddenAddress(a);
    if (!bad.empty()) {
      t->refused = bad;
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(a->family, a->socktype, a->protocol);
}

Status Refused(const std::string& shown, const std::string& address) {
  return Status(Code::kPermissionDenied,
                shown + ": refused to connect to the link-local address " + address +
                    " (cloud metadata services live there; --allow-link-local permits it)");
}

bool ParseContentRange(std::string_view v, uint64_t* first, uint64_t* last) {
  // "bytes FIRST-LAST/TOTAL" (TOTAL may be '*')
  if (!v.starts_with("bytes ")) return false;
  v.remove_prefix(6);
  unsigned long long a, b;
  char slash;
  if (std::sscanf(std::string(v).c_str(), "%llu-%llu%c", &a, &b, &slash) != 3 || slash != '/')
    return false;
  *first = a;
  *last = b;
  return true;
}

// The TOTAL of a Content-Range ("bytes FIRST-LAST/TOTAL" or
// "bytes */TOTAL"); false when absent or '*'.
bool ContentRangeTotal(std::string_view v, uint64_t* total) {
  size_t slash = v.find('/');
  if (slash == std::string_view::npos || slash + 1 == v.size()) return false;
  std::string digits(v.substr(slash + 1));
  char* end = nullptr;
  unsigned long long n = std::strtoull(digits.c_str(), &end, 10);
  if (!std::isdigit(static_cast<unsigned char>(digits[0])) || !end || *end != '\0') return false;
  *total = n;
  return true;
}

// `shown` names the URL (already redacted); `hint` is added to refusals.
Status StatusForHttp(long code, const std::string& shown, const std::string& body,
                     const std::string& hint = "") {
  std::string msg = shown + ": HTTP " + std::to_string(code);
  // An object store says what is wrong in an XML body: its Code and Message
  // are what a person can act on (NoSuchBucket, SignatureDoesNotMatch, ...).
  if (std::string s3 = ParseS3Error(body); !s3.empty()) {
    msg += " " + s3;
  } else {
    std::string snippet;
    for (char c : body.substr(0, 160))
      snippet += (c == '\n' || c == '\r' || static_cast<unsigned char>(c) < 32) ? ' ' : c;
    if (!snippet.empty()) msg += " (" + snippet + ")";
  }
  if (code == 404 || code == 410) return NotFound(msg);
  if (code == 401 || code == 403) return Status(Code::kPermissionDenied, msg + hint);
  if (code == 416) return Status(Code::kOutOfRange, msg);
  if (code == 408 || code == 429 || code >= 500) return Unavailable(msg);
  return IoError(msg);
}

Status StatusForCurl(CURLcode rc, const std::string& shown, const char* errbuf) {
  std::string msg = shown + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return Unavailable(msg);
    default:
      return IoError(msg);
  }
}

long MillisUntil(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
}

std::string Seconds(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

class HttpOrigin : public Origin {
 public:
  explicit HttpOrigin(const HttpOptions& options)
      : options_(options), slots_(std::max(1, options.max_connections)) {}
  ~HttpOrigin() override {
    for (CURL* c : idle_) curl_easy_cleanup(c);
  }

  Result<std::string> Read(const std::string& url, ByteRange range) override {
    ZM_ASSIGN_OR_RETURN(std::vector<std::string> pieces, ReadPieces(url, range, {range.length}));
    return std::move(pieces[0]);
  }

  Result<std::vector<std::string>> ReadPieces(const std::string& url, ByteRange range,
                                              const std::vector<uint64_t>& lengths) override {
    uint64_t sum = 0;
    for (uint64_t n : lengths) sum += n;
    if (sum != range.length) return InvalidArgument("pieces do not add up to the range");
    ZM_ASSIGN_OR_RETURN(HttpRequest req, Plan(url));
    if (range.length == 0) return std::vector<std::string>(lengths.size());
    const std::string shown = Shown(url, req);
    return Scrub(req, WithRetries(shown, [&](CURL* curl, Clock::time_point deadline) {
      return ReadOnce(curl, req, shown, range, lengths, deadline);
    }));
  }

  Result<uint64_t> Size(const std::string& url) override {
    ZM_ASSIGN_OR_RETURN(ObjectInfo info, Stat(url));
    return info.size;
  }

  Result<ObjectInfo> Stat(const std::string& url) override {
    ZM_ASSIGN_OR_RETURN(HttpRequest req, Plan(url));
    const std::string shown = Shown(url, req);
    return Scrub(req, WithRetries(shown, [&](CURL* curl, Clock::time_point deadline) {
      return StatOnce(curl, req, shown, deadline);
    }));
  }

  Result<Head> ReadHead(const std::string& url, uint64_t length) override {
    if (length == 0) return Origin::ReadHead(url, length);
    ZM_ASSIGN_OR_RETURN(HttpRequest req, Plan(url));
    const std::string shown = Shown(url, req);
    return Scrub(req, WithRetries(shown, [&](CURL* curl, Clock::time_point deadline) {
      return ReadHeadOnce(curl, req, shown, length, deadline);
    }));
  }

  Result<std::string> Fetch(const std::string& url, uint64_t max_bytes) override {
    ZM_ASSIGN_OR_RETURN(HttpRequest req, Plan(url));
    const std::string shown = Shown(url, req);
    return Scrub(req, WithRetries(shown, [&](CURL* curl, Clock::time_point deadline) {
      return FetchOnce(curl, req, shown, max_bytes, deadline);
    }));
  }

 private:
  Result<HttpRequest> Plan(const std::string& url) const {
    if (options_.plan) return options_.plan(url);
    if (!url.starts_with("http://") && !url.starts_with("https://"))
      return Status(Code::kUnsupported, RedactUrl(url) + ": not an http(s):// URL");
    HttpRequest req;
    req.url = url;
    return req;
  }

  // How messages name a request: the caller's URL and, when it was
  // resolved to another (s3://b/k to https://...), that one too.
  static std::string Shown(const std::string& url, const HttpRequest& req) {
    if (req.url == url) return RedactUrl(url);
    return RedactUrl(url) + " (" + RedactUrl(req.url) + ")";
  }

  // Last line of defence: no secret of the request leaves in a message,
  // whatever a server chose to echo back.
  template <typename T>
  static Result<T> Scrub(const HttpRequest& req, Result<T> r) {
    if (r.ok() || req.secrets.empty()) return r;
    std::string msg = r.status().message();
    for (const std::string& secret : req.secrets)
      for (size_t p; !secret.empty() && (p = msg.find(secret)) != std::string::npos;)
        msg.replace(p, secret.size(), "***");
    return Status(r.status().code(), msg);
  }

  // Runs `attempt` until it succeeds, fails for good, runs out of attempts
  // or the call's deadline passes. Whatever ends in a failure here is
  // terminal (kIoError, or the attempt's own non-retriable code), so no
  // layer above retries again.
  template <typename F>
  auto WithRetries(const std::string& shown, F&& attempt)
      -> decltype(attempt(nullptr, Clock::time_point())) {
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = start + std::chrono::milliseconds(options_.deadline_ms);
    const std::string budget = " (read deadline " + Seconds(deadline - start) + ")";
    // Waiting for a slot counts against the deadline: when every connection
    // is stuck on a dead server, new reads must not queue behind them forever.
    if (!slots_.try_acquire_until(deadline))  // never held with mu_
      return IoError(shown + ": no free connection before the deadline" + budget);
    CURL* curl = Acquire();
    decltype(attempt(nullptr, deadline)) result = Status(Code::kIoError, "no attempt made");
    long backoff = options_.initial_backoff_ms;
    thread_local std::mt19937 rng{std::random_device{}()};
    for (int i = 1;; ++i) {
      result = attempt(curl, deadline);
      if (result.ok() || !result.status().retriable()) break;
      auto gave_up = [&](const std::string& why) {
        return IoError(result.status().message() + " (gave up after " + std::to_string(i) +
                       (i == 1 ? " attempt in " : " attempts in ") + Seconds(Clock::now() - start) +
                       ": " + why + ")");
      };
      if (i >= options_.max_attempts) {
        result = gave_up("no attempts left");
        break;
      }
      std::uniform_int_distribution<long> jitter(backoff / 2, backoff);
      long pause = jitter(rng);
      // The server knows best when it will be back; a bound keeps a silly
      // Retry-After from parking the read.
      curl_off_t retry_after_s = 0;
      if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after_s) == CURLE_OK &&
          retry_after_s > 0)
        pause = std::max(pause, static_cast<long>(std::min<curl_off_t>(
                                    retry_after_s * 1000, options_.max_retry_after_ms)));
      // Sleeping past the deadline only to fail later helps nobody.
      if (pause >= MillisUntil(deadline)) {
        result = gave_up(retry_after_s > 0 ? "the server asked to wait " +
                                                 std::to_string(retry_after_s) +
                                                 " s, past the deadline" + budget
                                           : "the deadline passed" + budget);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(pause));
      backoff = std::min<long>(backoff * 2, options_.max_backoff_ms);
    }
    Release(curl);
    slots_.release();
    return result;
  }

  // Prepares `curl` for one attempt that must end by `deadline`.
  void Setup(CURL* curl, const HttpRequest& req, Transfer* t, char* errbuf,
             Clock::time_point deadline) {
    // At least 1 ms: libcurl reads 0 as "no timeout".
    const long left = std::max(1L, MillisUntil(deadline));
    const long timeout = std::min(options_.request_timeout_ms, left);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
    // The list lives in the Transfer until the transfer is over.
    curl_slist_free_all(t->headers);
    t->headers = nullptr;
    for (const std::string& h : req.headers) t->headers = curl_slist_append(t->headers, h.c_str());
    if (t->headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, t->headers);
    if (!req.aws_sigv4.empty()) {
      // libcurl signs each request itself (Signature V4, with the Range and
      // method of that request), so a retry or a redirect is signed afresh.
      curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, req.aws_sigv4.c_str());
      curl_easy_setopt(curl, CURLOPT_USERNAME, req.access_key_id.c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, req.secret_access_key.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    if (options_.receive_buffer_bytes > 0)
      curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, options_.receive_buffer_bytes);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min(options_.connect_timeout_ms, timeout));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options_.low_speed_time_s);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, t);
    t->allow_link_local = options_.allow_link_local;
    t->curl = curl;
  }

  Result<std::vector<std::string>> ReadOnce(CURL* curl, const HttpRequest& req,
                                            const std::string& shown, ByteRange range,
                                            const std::vector<uint64_t>& lengths,
                                            Clock::time_point deadline) {
    Transfer t;
    t.Expect(range, lengths);
    char errbuf[CURL_ERROR_SIZE] = {0};
    Setup(curl, req, &t, errbuf, deadline);
    std::string spec = std::to_string(range.offset) + "-" + std::to_string(range.end() - 1);
    curl_easy_setopt(curl, CURLOPT_RANGE, spec.c_str());
    CURLcode rc = curl_easy_perform(curl);
    if (!t.refused.empty()) return Refused(shown, t.refused);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
    if (t.status == 200 && t.complete) return std::move(t.pieces);
    if (t.overflow)
      return Corruption(shown + ": server sent more bytes than the range " + spec);
    if (rc != CURLE_OK) return StatusForCurl(rc, shown, errbuf);
    if (t.status == 206) {
      uint64_t first, last, total;
      const bool parsed = ParseContentRange(t.content_range, &first, &last);
      // Servers end a range that runs past the object at its end.
      if (parsed && first == range.offset && last < range.end() - 1 &&
          ContentRangeTotal(t.content_range, &total) && total == last + 1)
        return Status(Code::kOutOfRange, shown + ": object is shorter than the range " + spec + " (" +
                                             std::to_string(total) + " bytes)");
      if (!parsed || first != range.offset || last != range.end() - 1)
        return Corruption(shown + ": asked for bytes " + spec +
                          ", server answered Content-Range '" + t.content_range + "'");
      if (t.got != range.length)
        return Unavailable(shown + ": short body (" + std::to_string(t.got) +
                           " of " + std::to_string(range.length) + " bytes)");
      return std::move(t.pieces);
    }
    if (t.status == 200)
      return Status(Code::kOutOfRange, shown + ": object is shorter than the range " + spec);
    return StatusForHttp(t.status, shown, t.error_page, req.denied_hint);
  }

  // One ranged GET of bytes [0, length): the answer's Content-Range says
  // the object's size. A server that ignores the range sends the whole
  // object: its Content-Length says the size, and the transfer stops once
  // `length` bytes are in. An empty object has no byte 0 (416): asked
  // again with a HEAD.
  Result<Head> ReadHeadOnce(CURL* curl, const HttpRequest& req, const std::string& shown,
                            uint64_t length, Clock::time_point deadline) {
    Transfer t;
    t.want = ByteRange{0, length};
    t.lengths = {length};
    t.pieces.resize(1);
    t.reserve_late = true;
    char errbuf[CURL_ERROR_SIZE] = {0};
    Setup(curl, req, &t, errbuf, deadline);
    const std::string spec = "0-" + std::to_string(length - 1);
    curl_easy_setopt(curl, CURLOPT_RANGE, spec.c_str());
    CURLcode rc = curl_easy_perform(curl);
    if (!t.refused.empty()) return Refused(shown, t.refused);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
    if (t.overflow) return Corruption(shown + ": server sent more bytes than the range " + spec);
    if (t.status == 200 && t.complete) {
      curl_off_t size = -1;
      curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &size);
      if (size < static_cast<curl_off_t>(length))
        return IoError(shown + ": the server ignored the range " + spec + " and did not say the object's size");
      return Head{ObjectInfo{static_cast<uint64_t>(size), VersionOf(t)}, std::move(t.pieces[0])};
    }
    if (rc != CURLE_OK) return StatusForCurl(rc, shown, errbuf);
    if (t.status == 200) return Head{ObjectInfo{t.got, VersionOf(t)}, std::move(t.pieces[0])};
    if (t.status == 206) {
      uint64_t first, last, total;
      const bool parsed = ParseContentRange(t.content_range, &first, &last);
      if (parsed && !ContentRangeTotal(t.content_range, &total)) {
        // "bytes 0-N/*": the server does not say the size here; its HEAD may.
        ZM_ASSIGN_OR_RETURN(ObjectInfo info, StatOnce(curl, req, shown, deadline));
        total = info.size;
      }
      if (!parsed || first != 0 || last + 1 != std::min(length, total))
        return Corruption(shown + ": asked for bytes " + spec + ", server answered Content-Range '" +
                          t.content_range + "'");
      if (t.got != last + 1)
        return Unavailable(shown + ": short body (" + std::to_string(t.got) + " of " +
                           std::to_string(last + 1) + " bytes)");
      return Head{ObjectInfo{total, VersionOf(t)}, std::move(t.pieces[0])};
    }
    if (t.status == 416) {
      ZM_ASSIGN_OR_RETURN(ObjectInfo info, StatOnce(curl, req, shown, deadline));
      if (info.size != 0)
        return Corruption(shown + ": server refused the range " + spec + " of a " + std::to_string(info.size) +
                          "-byte object");
      return Head{info, ""};
    }
    return StatusForHttp(t.status, shown, t.error_page, req.denied_hint);
  }

  Result<std::string> FetchOnce(CURL* curl, const HttpRequest& req, const std::string& shown,
                                uint64_t max_bytes, Clock::time_point deadline) {
    Transfer t;
    // The whole body is the data, up to max_bytes (no room reserved: the
    // size is not known).
    t.ranged = false;
    t.want = ByteRange{0, max_bytes};
    t.lengths = {max_bytes};
    t.pieces.resize(1);
    char errbuf[CURL_ERROR_SIZE] = {0};
    Setup(curl, req, &t, errbuf, deadline);
    CURLcode rc = curl_easy_perform(curl);
    if (!t.refused.empty()) return Refused(shown, t.refused);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
    if (t.overflow)
      return InvalidArgument(shown + ": more than " + std::to_string(max_bytes) + " bytes; refusing");
    if (rc != CURLE_OK) return StatusForCurl(rc, shown, errbuf);
    if (t.status == 200) return std::move(t.pieces[0]);
    return StatusForHttp(t.status, shown, t.error_page, req.denied_hint);
  }

  // The version: the ETag, else the Last-Modified date, else nothing.
  static std::string VersionOf(const Transfer& t) {
    if (!t.etag.empty()) return "etag " + t.etag;
    if (!t.last_modified.empty()) return "modified " + t.last_modified;
    return "";
  }

  Result<ObjectInfo> StatOnce(CURL* curl, const HttpRequest& req, const std::string& shown,
                              Clock::time_point deadline) {
    Transfer t;
    char errbuf[CURL_ERROR_SIZE] = {0};
    Setup(curl, req, &t, errbuf, deadline);
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(curl);
    if (!t.refused.empty()) return Refused(shown, t.refused);
    if (rc != CURLE_OK) return StatusForCurl(rc, shown, errbuf);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
    curl_off_t len = -1;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    if (t.status == 200 && len >= 0) return ObjectInfo{static_cast<uint64_t>(len), VersionOf(t)};
    // A retriable answer is retried as a HEAD; other failures, and servers
    // without a usable HEAD, are asked for the first byte: a HEAD's answer
    // has no body, and the body (an object store's error Code and Message)
    // is what says why.
    if (t.status == 408 || t.status == 429 || (t.status >= 500 && t.status != 501))
      return StatusForHttp(t.status, shown, "", req.denied_hint);
    Transfer g;
    g.Expect(ByteRange{0, 1}, {1});
    Setup(curl, req, &g, errbuf, deadline);
    curl_easy_setopt(curl, CURLOPT_RANGE, "0-0");
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &g.status);
    uint64_t total;
    if (g.status == 206 && ContentRangeTotal(g.content_range, &total)) return ObjectInfo{total, VersionOf(g)};
    if (rc != CURLE_OK && !g.complete) return StatusForCurl(rc, shown, errbuf);
    if (g.status >= 400) return StatusForHttp(g.status, shown, g.error_page, req.denied_hint);
    if (t.status >= 400 && t.status != 405 && t.status != 501)
      return StatusForHttp(t.status, shown, "", req.denied_hint);
    return IoError(shown + ": cannot learn the object's size (no Content-Length)");
  }

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        CURL* c = idle_.back();
        idle_.pop_back();
        return c;
      }
    }
    // Not when the origin is made: a mount or scan of local files never
    // sets up libcurl's global state (OpenSSL's, ~2 MiB of its pages).
    InitHttpGlobal();
    return curl_easy_init();
  }
  void Release(CURL* c) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(c);
  }

  const HttpOptions options_;
  std::mutex mu_;  // guards idle_; a leaf lock, never held across I/O
  std::vector<CURL*> idle_;  // handles keep their connections alive
  std::counting_semaphore<> slots_;
};

}  // namespace

std::unique_ptr<Origin> NewHttpOrigin(const HttpOptions& options) {
  return std::make_unique<HttpOrigin>(options);
}

}  // namespace zm
