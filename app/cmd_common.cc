#include "app/cmd_common.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace zm {

int UsageError(const char* usage, const std::string& error) {
  std::string command = usage + std::strlen("Usage: ");
  command = command.substr(0, command.find(' ', command.find(' ') + 1));
  std::fprintf(stderr, "zarrmount: %s (see '%s --help')\n", error.c_str(), command.c_str());
  return 2;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "zarrmount: %s\n", status.message().c_str());
  return 1;
}

int ParseCommandArgs(Command command, int argc, char** argv, const char* usage,
                     Options* options, std::vector<std::string>* positional) {
  auto parsed = ParseCommandLine(command, argc, argv, 2, options);
  if (!parsed.ok()) return UsageError(usage, parsed.status().message());
  if (options->help) {
    std::fputs(usage, stdout);
    return 0;
  }
  *positional = std::move(parsed).value();
  return -1;
}

Status WriteOutput(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return Status();
  }
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return IoError(path + ": " + std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = IoError(path + ": " + std::strerror(errno));
    std::remove(tmp.c_str());
    return st;
  }
  return Status();
}

}  // namespace zm
