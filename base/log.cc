#include "base/log.h"

#include "base/status.h"

#include <syslog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace zm {
namespace {

std::mutex g_mu;  // guards g_file; held only while writing one line
FILE* g_file = nullptr;  // nullptr: stderr
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_syslog{false};

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "?";
}

}  // namespace

bool SetLogFile(const std::string& path) {
  FILE* f = nullptr;
  if (!path.empty()) {
    f = std::fopen(path.c_str(), "a");
    if (!f) return false;
    setvbuf(f, nullptr, _IOLBF, 0);
  }
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_file) std::fclose(g_file);
  g_file = f;
  return true;
}

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

void SetLogToSyslog(bool on) {
  if (on) openlog("zarrmount", LOG_PID, LOG_DAEMON);
  g_syslog = on;
}

bool LogGoesToStderr() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_file == nullptr && !g_syslog.load();
}

void Log(LogLevel level, std::string_view text) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  // A log entry is one line, whatever user text (a key, a URL) it quotes.
  const std::string message = EscapeControl(std::string(text));
  if (g_syslog.load(std::memory_order_relaxed)) {
    static const int kPrio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    syslog(kPrio[static_cast<int>(level)], "%.*s", static_cast<int>(message.size()),
           message.data());
    return;
  }
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  struct tm tm;
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::lock_guard<std::mutex> lock(g_mu);
  FILE* out = g_file ? g_file : stderr;
  std::fprintf(out, "%s zarrmount %s: %.*s\n", stamp, LevelName(level),
               static_cast<int>(message.size()), message.data());
}

std::string RedactUrl(std::string_view url) {
  std::string out(url);
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t host_start = scheme + 3;
    // The user information ends at the last '@' before the path, query or
    // fragment (a password may itself contain '@').
    size_t auth_end = out.find_first_of("/?#", host_start);
    if (auth_end == std::string::npos) auth_end = out.size();
    size_t at = out.rfind('@', auth_end);
    if (at != std::string::npos && at >= host_start && at < auth_end)
      out.erase(host_start, at + 1 - host_start);
  }
  // A local path may contain '?' as an ordinary character.
  size_t q = scheme == std::string::npos ? std::string::npos : out.find('?');
  if (q != std::string::npos) out.erase(q);
  return out;
}

std::string RedactHeader(std::string_view header) {
  size_t colon = header.find(':');
  if (colon == std::string_view::npos) return "***";
  return std::string(header.substr(0, colon)) + ": ***";
}

}  // namespace zm
