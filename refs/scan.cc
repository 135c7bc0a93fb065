#include "refs/scan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "base/json.h"
#include "base/log.h"
#include "refs/scan_common.h"

namespace zm {

std::string JsonDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  // Python writes a float with a '.' or an exponent; keep it a float.
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + "]";
}

namespace {
std::string NumberList(const std::vector<uint64_t>& v) {
  std::vector<std::string> items;
  for (uint64_t x : v) items.push_back(std::to_string(x));
  return JsonList(items);
}
}  // namespace

std::string ZarrayJson(const std::vector<uint64_t>& shape, const std::vector<uint64_t>& chunks,
                       std::string_view dtype_json, std::string_view fill_json,
                       std::string_view filters_json) {
  std::string out = "{\"chunks\": " + NumberList(chunks) + ", \"compressor\": null, \"dtype\": ";
  out += dtype_json;
  out += ", \"fill_value\": ";
  out += fill_json;
  out += ", \"filters\": ";
  out += filters_json;
  out += ", \"order\": \"C\", \"shape\": " + NumberList(shape) + ", \"zarr_format\": 2}";
  return out;
}

std::string ZattrsJson(const JsonAttributes& attrs) {
  std::string out = "{";
  for (size_t i = 0; i < attrs.size(); ++i)
    out += (i ? ", " : "") + JsonQuote(attrs[i].first) + ": " + attrs[i].second;
  return out + "}";
}

std::string ChunkKey(std::string_view path, const std::vector<uint64_t>& index) {
  std::string key(path);
  if (!key.empty()) key += '/';
  if (index.empty()) return key + "0";
  for (size_t i = 0; i < index.size(); ++i) key += (i ? "." : "") + std::to_string(index[i]);
  return key;
}

Result<std::string> ReadFileRange(int fd, const std::string& path, uint64_t offset, uint64_t size) {
  std::string out(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(path + ": " + std::strerror(errno));
    if (n == 0)
      return InvalidArgument(path + ": truncated: " + std::to_string(size) + " bytes at offset " +
                             std::to_string(offset) + " pass the end of the file");
    done += static_cast<uint64_t>(n);
  }
  return out;
}

ScanSink::ScanSink(const ScanInput& input, const ScanOptions& options)
    : input_(input), inline_threshold_(options.inline_threshold_bytes), url_id_(builder_.InternUrl(input.url)) {}

Result<std::string> ScanSink::Read(uint64_t offset, uint64_t size) const {
  if (offset > input_.size || size > input_.size - offset)
    return InvalidArgument(input_.name + ": truncated: " + std::to_string(size) + " bytes at offset " +
                           std::to_string(offset) + " pass the end (" + std::to_string(input_.size) +
                           " bytes)");
  auto bytes = input_.read(offset, size);
  if (!bytes.ok()) return bytes.status().WithContext(input_.name);
  if (bytes->size() != size) return IoError(input_.name + ": short read at offset " + std::to_string(offset));
  return bytes;
}

void ScanSink::AddMetadata(std::string_view dir, std::string_view name, std::string_view json) {
  std::string key(dir);
  if (!key.empty()) key += '/';
  key += name;
  builder_.AddInline(key, json);
}

Status ScanSink::AddChunk(const std::string& key, uint64_t offset, uint64_t size) {
  if (offset > input_.size || size > input_.size - offset)
    return InvalidArgument(input_.name + ": chunk '" + key + "' (" + std::to_string(size) +
                           " bytes at offset " + std::to_string(offset) +
                           ") passes the end of the file (" + std::to_string(input_.size) +
                           " bytes)");
  if (size < inline_threshold_) {
    ZM_ASSIGN_OR_RETURN(std::string bytes, Read(offset, size));
    builder_.AddInline(key, bytes);
  } else {
    builder_.AddRange(key, url_id_, offset, size);
  }
  return Status();
}

void ScanSink::AddInline(const std::string& key, std::string_view bytes) {
  builder_.AddInline(key, bytes);
}

void ScanSink::Skip(std::string line) {
  LogWarning(input_.name + ": " + line);
  skipped_.push_back(std::move(line));
}

Result<ScanResult> ScanSink::Finish() && {
  auto index = std::move(builder_).Finish();
  if (!index.ok()) return index.status().WithContext(input_.name);
  return ScanResult{std::move(index).value(), std::move(skipped_)};
}

bool LooksLikeNetcdf3(std::string_view head) {
  return head.size() >= 4 && head.substr(0, 3) == "CDF" &&
         (head[3] == 1 || head[3] == 2 || head[3] == 5);
}

namespace {

// Closes a file descriptor at scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";

}  // namespace

std::optional<uint64_t> FindHdf5Signature(const ScanSink& sink) {
  for (uint64_t at = 0; at + 8 <= sink.file_size(); at = at ? at * 2 : 512) {
    auto head = sink.Read(at, 8);
    if (head.ok() && *head == std::string_view(kHdf5Signature, 8)) return at;
    if (!head.ok()) return std::nullopt;
  }
  return std::nullopt;
}

Result<ScanResult> ScanObject(const ScanInput& input, const ScanOptions& options) {
  ScanSink sink(input, options);
  auto head = sink.Read(0, std::min<uint64_t>(input.size, 4));
  if (!head.ok()) return head.status();
  if (LooksLikeNetcdf3(*head)) {
    ZM_RETURN_IF_ERROR(ScanNetcdf3(&sink));
  } else if (FindHdf5Signature(sink)) {
    ZM_RETURN_IF_ERROR(ScanHdf5(&sink));
  } else {
    return InvalidArgument(input.name + ": not a NetCDF or HDF5 file");
  }
  return std::move(sink).Finish();
}

Result<ScanResult> ScanFile(const std::string& path, const std::string& url,
                            const ScanOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(path + ": " + std::strerror(errno));
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + ": not a regular file");
  ScanInput input{path, url, static_cast<uint64_t>(st.st_size),
                  [fd, &path](uint64_t offset, uint64_t size) { return ReadFileRange(fd, path, offset, size); }};
  return ScanObject(input, options);
}

}  // namespace zm
