// Process-wide logging: one line per message, to stderr or a file, with a
// level filter. Thread-safe. Messages must never contain secrets: callers
// pass URLs through RedactUrl() first.
#pragma once

#include <string>
#include <string_view>

namespace zm {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Directs log output to `path` (appending); an empty path means stderr.
// Returns false (and keeps the old sink) if the file cannot be opened.
bool SetLogFile(const std::string& path);
void SetLogLevel(LogLevel level);
// Sends log lines to syslog (for a daemon without a log file).
void SetLogToSyslog(bool on);

void Log(LogLevel level, std::string_view message);
// True when log lines go to stderr (no file, no syslog).
bool LogGoesToStderr();
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }

// Removes user:password@ and query strings (which may hold signatures or
// tokens) from a URL for display.
std::string RedactUrl(std::string_view url);

// "Name: value" -> "Name: ***": header values are often credentials
// (Authorization, X-Api-Key, x-amz-security-token).
std::string RedactHeader(std::string_view header);

}  // namespace zm
