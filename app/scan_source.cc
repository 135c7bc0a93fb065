#include "app/scan_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <filesystem>

#include "app/scan_workers.h"
#include "base/files.h"
#include "base/json.h"
#include "base/log.h"
#include "base/units.h"
#include "refs/aggregate.h"

namespace zm {
namespace {

constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";
constexpr size_t kHeadBytes = 4096;
constexpr char kRecordMagic[] = "zarrmount scan record 1\n";

// FNV-1a, 64 bits: names records and checks their contents. Not a defence
// against anyone writing the cache directory (whoever can write it can
// write the blocks too), only against torn or damaged files.
uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string RecordHeader(const ScanRecordKey& key, std::string_view references) {
  return std::string(kRecordMagic) + JsonQuote(key.url) + "\n" + JsonQuote(key.version) + "\n" +
         std::to_string(key.size) + " " + std::to_string(key.inline_threshold_bytes) + " " +
         std::to_string(references.size()) + " " + Hex64(Fnv1a64(references)) + "\n";
}

bool IsRemote(const std::string& url) {
  return url.find("://") != std::string::npos && !url.starts_with("file://");
}

// A scan record's bytes (at most 1 GiB: a larger one is not used).
Result<std::string> ReadRecord(const std::string& path) { return ReadLocalFile(path, 1_GiB); }

// Writes a record under its directory (made on first use), by a rename:
// a reader sees the old record or the new one, never a torn one.
Status WriteRecord(const std::string& path, std::string_view data) {
  const std::string dir = path.substr(0, path.rfind('/'));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return IoError(dir + ": " + std::strerror(errno));
  return WriteFileAtomically(path, data, 0600);
}

}  // namespace

bool LooksLikeScannable(std::string_view head) {
  if (LooksLikeNetcdf3(head)) return true;
  for (size_t at : {0, 512, 1024, 2048})
    if (head.size() >= at + 8 && head.substr(at, 8) == std::string_view(kHdf5Signature, 8)) return true;
  return false;
}

bool IsScannableFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string head(kHeadBytes, '\0');
  ssize_t n = ::pread(fd, head.data(), head.size(), 0);
  ::close(fd);
  if (n <= 0) return false;
  head.resize(static_cast<size_t>(n));
  return LooksLikeScannable(head);
}

bool IsScanName(std::string_view name) {
  for (std::string_view ext : {".nc", ".nc4", ".h5", ".hdf5", ".he5", ".cdf", ".netcdf"})
    if (name.size() > ext.size() && name.ends_with(ext)) return true;
  return false;
}

bool IsScannableSource(const std::string& source) {
  if (IsRemote(source)) return IsScanName(std::string_view(source).substr(0, source.find('?')));
  return IsScannableFile(source.starts_with("file://") ? source.substr(7) : source);
}

std::string ScanRecordPath(const std::string& cache_dir, const std::string& url) {
  return cache_dir + "/scans/" + Hex64(Fnv1a64(url)) + ".refs";
}

std::string EncodeScanRecord(const ScanRecordKey& key, std::string_view references) {
  return RecordHeader(key, references) + std::string(references);
}

std::optional<std::string_view> DecodeScanRecord(std::string_view record, const ScanRecordKey& key) {
  // The header is four lines; the references are what follows.
  size_t end = 0;
  for (int line = 0; line < 4; ++line) {
    end = record.find('\n', end);
    if (end == std::string_view::npos) return std::nullopt;
    ++end;
  }
  std::string_view references = record.substr(end);
  if (record.substr(0, end) != RecordHeader(key, references)) return std::nullopt;
  return references;
}

namespace {

std::string ScanRecordDir(const std::string& cache_dir) { return cache_dir + "/scans"; }

bool IsRecordName(const std::string& name) { return name.size() > 5 && name.ends_with(".refs"); }

// The files of the records' directory, by name; none if it does not exist.
Result<std::vector<std::filesystem::path>> ScanRecordFiles(const std::string& cache_dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  const std::string dir = ScanRecordDir(cache_dir);
  if (!std::filesystem::exists(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) out.push_back(e.path());
  if (ec) return IoError(dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

ScanRecordUsage GetScanRecordUsage(const std::string& cache_dir) {
  ScanRecordUsage u;
  auto files = ScanRecordFiles(cache_dir);
  if (!files.ok()) return u;
  for (const auto& f : *files) {
    std::error_code ec;
    if (!IsRecordName(f.filename().string())) continue;
    uint64_t size = std::filesystem::file_size(f, ec);
    if (ec) continue;  // removed meanwhile
    ++u.records;
    u.bytes += size;
  }
  return u;
}

bool IsIntactScanRecord(std::string_view record) {
  size_t end = 0, last_line = 0;
  for (int line = 0; line < 4; ++line) {
    last_line = end;
    end = record.find('\n', end);
    if (end == std::string_view::npos) return false;
    ++end;
  }
  if (!record.starts_with(kRecordMagic)) return false;
  // The last header line: "<size> <inline threshold> <length> <checksum>".
  std::string_view sums = record.substr(last_line, end - 1 - last_line);
  const size_t space = sums.rfind(' ');
  if (space == std::string_view::npos) return false;
  std::string_view before = sums.substr(0, space);
  const size_t length_at = before.rfind(' ');
  if (length_at == std::string_view::npos) return false;
  const std::string_view references = record.substr(end);
  return before.substr(length_at + 1) == std::to_string(references.size()) &&
         sums.substr(space + 1) == Hex64(Fnv1a64(references));
}

Result<ScanRecordCheck> VerifyScanRecords(const std::string& cache_dir) {
  ZM_ASSIGN_OR_RETURN(auto files, ScanRecordFiles(cache_dir));
  ScanRecordCheck check;
  for (const auto& f : files) {
    if (!IsRecordName(f.filename().string())) continue;
    auto data = ReadRecord(f.string());
    if (!data.ok()) continue;  // removed meanwhile
    ++check.checked;
    if (IsIntactScanRecord(*data)) continue;
    ++check.bad;
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) return IoError(f.string() + ": " + std::strerror(errno));
  }
  return check;
}

Result<uint64_t> ClearScanRecords(const std::string& cache_dir) {
  ZM_ASSIGN_OR_RETURN(auto files, ScanRecordFiles(cache_dir));
  uint64_t deleted = 0;
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    const bool record = IsRecordName(name);
    if (!record && name.find(".refs.tmp.") == std::string::npos) continue;
    if (::unlink(f.c_str()) != 0) {
      if (errno == ENOENT) continue;
      return IoError(f.string() + ": " + std::strerror(errno));
    }
    if (record) ++deleted;
  }
  return deleted;
}

SourceScanner::SourceScanner(ReadThroughCache* cache, SourceScanOptions options)
    : cache_(cache), options_(std::move(options)) {}

Result<ReferenceIndex> SourceScanner::Load(const std::string& url) {
  // The version check is the one request a recorded file costs; the cache
  // remembers its answer, so the mount's own check does not ask again.
  ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, cache_->Object(url));
  const ScanRecordKey key{url, info.version, info.size, options_.scan.inline_threshold_bytes};
  const bool recordable = !options_.cache_dir.empty() && !info.version.empty();
  const std::string path = recordable ? ScanRecordPath(options_.cache_dir, url) : "";
  if (auto it = scanned_by_workers_.find(url); it != scanned_by_workers_.end()) {
    auto index = ParseReferences(it->second, "", options_.load);
    scanned_by_workers_.erase(it);
    if (!index.ok()) return index.status().WithContext(RedactUrl(url));
    ++scanned_;
    return index;
  }
  if (recordable) {
    if (auto data = ReadRecord(path); data.ok()) {
      if (auto refs = DecodeScanRecord(*data, key)) {
        auto index = ParseReferences(*refs, "", options_.load);
        if (index.ok()) {
          ++reused_;
          return index;
        }
        LogWarning(path + ": unreadable scan record (" + index.status().message() + "); rescanning");
      }
    }
  }
  ZM_ASSIGN_OR_RETURN(ReferenceIndex index, Scan(url, info.size));
  ++scanned_;
  if (recordable) Record(path, key, index);
  return index;
}

bool SourceScanner::HasValidRecord(const std::string& url, const Origin::ObjectInfo& info) const {
  if (options_.cache_dir.empty() || info.version.empty()) return false;
  auto data = ReadRecord(ScanRecordPath(options_.cache_dir, url));
  return data.ok() &&
         DecodeScanRecord(*data, {url, info.version, info.size, options_.scan.inline_threshold_bytes});
}

void SourceScanner::Prepare(const std::vector<std::string>& urls, int threads) {
  std::vector<std::string> remote;
  for (const std::string& url : urls)
    if (IsRemote(url)) remote.push_back(url);
  std::atomic<size_t> next{0};
  std::mutex mu;  // guards targets
  std::vector<PrefetchTarget> targets;
  std::vector<std::thread> workers;
  const size_t n = std::min<size_t>(std::max(threads, 1), remote.size());
  for (size_t t = 0; t < n; ++t)
    workers.emplace_back([&] {
      for (size_t i; (i = next++) < remote.size();) {
        // A file scanned before needs only its version, to check its record;
        // one never scanned is read next, so its first block comes with its
        // version, in one request.
        const bool recorded = !options_.cache_dir.empty() &&
                              ::access(ScanRecordPath(options_.cache_dir, remote[i]).c_str(), F_OK) == 0;
        auto info = recorded ? cache_->Object(remote[i]) : cache_->ObjectForReading(remote[i]);
        // Errors come again when loaded.
        if (!recorded || !info.ok() || info->size == 0 || HasValidRecord(remote[i], *info)) continue;
        std::lock_guard<std::mutex> lock(mu);
        targets.push_back({remote[i], ByteRange{0, info->size}, 0, std::min<uint64_t>(info->size, 1_MiB)});
      }
    });
  for (std::thread& w : workers) w.join();
  if (!targets.empty()) cache_->Prefetch(std::move(targets));
}

Status SourceScanner::ScanInWorkers(const std::vector<std::string>& urls, int jobs,
                                    const std::vector<std::string>& command) {
  std::vector<std::string> missing;
  std::vector<ScanRecordKey> keys;
  for (const std::string& url : urls) {
    if (IsRemote(url) || scanned_by_workers_.count(url) || !IsScannableSource(url)) continue;
    ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, cache_->Object(url));
    if (HasValidRecord(url, info)) continue;
    missing.push_back(url);
    keys.push_back({url, info.version, info.size, options_.scan.inline_threshold_bytes});
  }
  if (missing.size() < 2) return Status::Ok();  // Load scans it, without a process more
  const bool recordable = !options_.cache_dir.empty();
  LogInfo("scanning " + std::to_string(missing.size()) + " NetCDF/HDF5 files in " +
          std::to_string(std::min<size_t>(std::max(jobs, 1), missing.size())) + " worker processes");
  return zm::ScanInWorkers(missing, jobs, command, [&](size_t i, ScannedInput in) {
    if (recordable && !keys[i].version.empty()) {
      const std::string path = ScanRecordPath(options_.cache_dir, missing[i]);
      Status st = WriteRecord(path, EncodeScanRecord(keys[i], in.references));
      if (!st.ok()) LogWarning("scan record of " + RedactUrl(missing[i]) + " not kept: " + st.message());
    }
    for (const std::string& line : in.left_out) LogWarning(RedactUrl(missing[i]) + ": " + line);
    scanned_by_workers_[missing[i]] = std::move(in.references);
    return Status::Ok();
  });
}

Result<ReferenceIndex> SourceScanner::Scan(const std::string& url, uint64_t size) {
  Result<ScanResult> result = InvalidArgument("unreachable");
  if (!IsRemote(url)) {
    const std::string path = url.starts_with("file://") ? url.substr(7) : url;
    result = ScanFile(path, url, options_.scan);
  } else {
    // The whole object is the region, so libhdf5's many small reads share
    // the cache's blocks (as `zarrmount scan` reads).
    ScanInput in{RedactUrl(url), url, size, [this, &url, size](uint64_t offset, uint64_t n) {
                   return cache_->Read(url, ByteRange{0, size}, offset, n);
                 }};
    result = ScanObject(in, options_.scan);
  }
  if (!result.ok()) return result.status();
  return std::move(result->index);
}

void SourceScanner::Record(const std::string& path, const ScanRecordKey& key, const ReferenceIndex& index) {
  auto text = WriteReferencesV1(index);
  Status st = text.ok() ? WriteRecord(path, EncodeScanRecord(key, *text)) : text.status();
  // Not fatal: the mount serves what it scanned; the next one scans again.
  if (!st.ok()) LogWarning("scan record of " + RedactUrl(key.url) + " not kept: " + st.message());
}

}  // namespace zm
