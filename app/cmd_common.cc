#include "app/cmd_common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "base/files.h"
#include "refs/aggregate.h"
#include "refs/parquet_refs.h"

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
  return WriteFileAtomically(path, text);
}

Result<uint64_t> WriteParquetDirectory(const ReferenceIndex& index, const std::string& dir, uint64_t record_size) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string target = dir;
  while (target.size() > 1 && target.back() == '/') target.pop_back();
  if (fs::exists(target, ec) && !(fs::is_directory(target, ec) && fs::is_empty(target, ec)))
    return InvalidArgument(target + ": exists and is not an empty directory; refusing to write over it");
  const std::string tmp = target + ".tmp" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  uint64_t bytes = 0;
  ParquetRefsWriteOptions options;
  options.record_size = record_size;
  Status st = WriteParquetReferences(index, options, [&](const std::string& rel, const std::string& data) {
    fs::path path = fs::path(tmp) / rel;
    std::error_code mk;
    fs::create_directories(path.parent_path(), mk);
    if (mk) return IoError(path.parent_path().string() + ": " + mk.message());
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return IoError(path.string() + ": " + std::strerror(errno));
    bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) return IoError(path.string() + ": " + std::strerror(errno));
    bytes += data.size();
    return Status();
  });
  if (st.ok() && fs::exists(target, ec)) fs::remove(target, ec);  // the empty directory
  if (st.ok() && std::rename(tmp.c_str(), target.c_str()) != 0) st = IoError(target + ": " + std::strerror(errno));
  if (!st.ok()) {
    fs::remove_all(tmp, ec);
    return st;
  }
  return bytes;
}

std::string OutputFormat(const std::string& format, const std::string& output) {
  if (!format.empty()) return format;
  return output == "-" || output.ends_with(".json") ? "json" : "parquet";
}

Result<uint64_t> WriteReferences(const ReferenceIndex& index, const std::string& format,
                                 const std::string& output, uint64_t record_size) {
  if (format == "parquet") return WriteParquetDirectory(index, output, record_size);
  ZM_ASSIGN_OR_RETURN(std::string text, WriteReferencesV1(index));
  ZM_RETURN_IF_ERROR(WriteOutput(output, text));
  return static_cast<uint64_t>(text.size());
}

}  // namespace zm
