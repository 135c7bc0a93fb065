#include "app/scan_worker.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "app/option_table.h"
#include "base/log.h"
#include "refs/aggregate.h"
#include "refs/reference_loader.h"

namespace zm {
namespace {

// Reads a byte range of a local file: the coordinates an aggregation
// compares and concatenates.
Result<std::string> ReadLocal(const std::string& url, uint64_t offset, uint64_t size) {
  int fd = ::open(url.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(url + ": " + std::strerror(errno));
  std::string out(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<uint64_t>(n);
  }
  ::close(fd);
  if (done != size) return IoError(url + ": short read at offset " + std::to_string(offset));
  return out;
}

// In a worker: what the parent's aggregation will read of the remote input
// `url` (its coordinates), read here from the blocks the scan fetched, by
// aggregating it alone. Local inputs: nothing (the parent reads them as
// cheaply). Errors are left to the parent, whose aggregation meets them
// again.
std::vector<FetchedBytes> AggregationReads(const std::string& url, uint64_t url_size,
                                           const ReferenceIndex& index, const Options& opt,
                                           ReadThroughCache* cache) {
  std::vector<FetchedBytes> out;
  if (!opt.aggregate() || !IsRemoteInput(url)) return out;
  AggregateOptions ao;
  ao.concat_dims = opt.concat_dims;
  ao.identical_arrays = opt.identical_dims;
  Aggregator probe(ao, [&](const std::string& u, uint64_t offset, uint64_t size) -> Result<std::string> {
    ZM_ASSIGN_OR_RETURN(std::string data, ReadForAggregation(u, offset, size, cache, u == url ? url_size : 0));
    out.push_back({u, offset, size, data});
    return data;
  });
  (void)probe.Add(url, index);
  return out;
}

// The worker's failure, as the main program's commands print theirs.
int Fail(const Status& status) {
  std::fprintf(stderr, "zarrmount: %s\n", status.message().c_str());
  return 1;
}

}  // namespace

bool IsRemoteInput(const std::string& input) {
  return input.find("://") != std::string::npos && !input.starts_with("file://");
}

// Blocks of 128 KiB or more (whole small files, fetched on up to
// --max-connections threads) are mapped for themselves and unmapped when
// freed. By default malloc raises that threshold after the first such
// free, and the blocks then come from the fetching threads' arenas, each
// of which keeps what it once held. A 20 ms scan of 1,000 small files
// (scripts/bench_scan.sh --latency 20, alternated runs): 24 MiB per worker
// at the peak this way, 32-33 MiB by default, 27-28 MiB with one arena,
// 29-30 MiB with the daemon's settings (app/main.cc); for 0.3 s more
// system CPU (each block's pages faulted in anew) and 2.00-2.06 s against
// 1.95-1.99 s. Local scans keep malloc's defaults: there the threshold
// cost 130,000 page faults (buffers of that size allocated and freed for
// each file, mapped anew each time) and a quarter more time.
void UseScanAllocator(const std::vector<std::string>& inputs) {
  if (std::any_of(inputs.begin(), inputs.end(), IsRemoteInput))
    mallopt(M_MMAP_THRESHOLD, static_cast<int>(128_KiB));
}

RemoteReadAhead::RemoteReadAhead(const std::vector<std::string>& inputs, ReadThroughCache* cache,
                                 const std::vector<uint64_t>& known_sizes, size_t ahead)
    : inputs_(inputs), cache_(cache), sizes_(inputs.size(), 0), ahead_(ahead) {
  for (size_t i = 0; i < known_sizes.size() && i < sizes_.size(); ++i) sizes_[i] = known_sizes[i];
}

Result<uint64_t> RemoteReadAhead::Before(size_t i) {
  if (IsRemoteInput(inputs_[i]) && sizes_[i] == 0) {
    // Fetched ahead already, or fetched now: the scan reads it next.
    ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, cache_->ObjectForReading(inputs_[i]));
    sizes_[i] = info.size;
    learned_bytes_ += sizes_[i];
    ++learned_;
  }
  // Only inputs after i: input i is read at once (its own prefetch could
  // run after the scan had dropped its blocks, and fetch it again).
  queued_ = std::max(queued_, i + 1);
  uint64_t window = 0;  // first blocks fetched for the files after i
  for (size_t j = i + 1; j < queued_; ++j) window += FirstBlock(j);
  std::vector<PrefetchTarget> targets;
  for (; queued_ < inputs_.size() && queued_ <= i + ahead_; ++queued_) {
    if (!IsRemoteInput(inputs_[queued_])) continue;
    const uint64_t first = FirstBlock(queued_);
    if (window + first > kWindowBytes) break;
    window += first;
    const uint64_t size = sizes_[queued_];
    targets.push_back({inputs_[queued_], ByteRange{0, size > 0 ? size : kUnknownObjectLength}, 0, first});
  }
  if (!targets.empty()) cache_->Prefetch(std::move(targets));
  return sizes_[i];
}

void RemoteReadAhead::After(size_t i) {
  if (sizes_[i] > 0) cache_->DropFromMemory(inputs_[i], ByteRange{0, sizes_[i]});
}

uint64_t RemoteReadAhead::FirstBlock(size_t j) const {
  if (!IsRemoteInput(inputs_[j])) return 0;
  const uint64_t size = sizes_[j] > 0 ? sizes_[j] : learned_ > 0 ? learned_bytes_ / learned_ : 1_MiB;
  return std::min<uint64_t>(size, 1_MiB);
}

Result<std::string> ReadForAggregation(const std::string& url, uint64_t offset, uint64_t size,
                                       ReadThroughCache* cache, uint64_t known_size) {
  if (IsRemoteInput(url)) {
    uint64_t object_size = known_size;
    if (object_size == 0) {
      ZM_ASSIGN_OR_RETURN(object_size, cache->Size(url));
    }
    if (size == ReferenceIndex::kUnknownSize) {
      size = object_size;
      offset = 0;
    }
    return cache->Read(url, ByteRange{0, object_size}, offset, size);
  }
  if (size == ReferenceIndex::kUnknownSize) {
    struct stat st;
    if (::stat(url.c_str(), &st) != 0) return IoError(url + ": " + std::strerror(errno));
    return ReadLocal(url, 0, static_cast<uint64_t>(st.st_size));
  }
  return ReadLocal(url, offset, size);
}

Result<ScanResult> ScanOne(const std::string& input, const ScanOptions& so, ReadThroughCache* cache,
                           uint64_t known_size) {
  if (!IsRemoteInput(input)) return ScanFile(input, input, so);
  uint64_t size = known_size;
  if (size == 0) {
    ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, cache->ObjectForReading(input));
    size = info.size;
  }
  // The whole object is the region, so libhdf5's many small reads share
  // the cache's blocks (one request per block, not per read).
  ScanInput in{input, input, size, [cache, &input, size](uint64_t offset, uint64_t n) {
                 return cache->Read(input, ByteRange{0, size}, offset, n);
               }};
  return ScanObject(in, so);
}

void UseScanStack(const std::string& first_input, Options* opt) {
  opt->source = first_input;
  opt->check_only = true;
  opt->disk_cache = false;
  opt->prefetch = true;  // RemoteReadAhead's background fetches
  // Blocks of the files scanned already are not read again, and leave the
  // memory tier (RemoteReadAhead::After): it need only hold the read-ahead
  // window and the file being scanned. Twice the window leaves room for a
  // large file's blocks; its LRU evicts the least recent block of any shard,
  // so the window's blocks, the most recent, stay until used.
  opt->memory_cache = 2 * RemoteReadAhead::kWindowBytes;
}

// `zarrmount scan --worker OPTION...`: one of ScanInWorkers' processes
// (app/scan_workers.h). Its inputs come on stdin, its answers go to stdout.
int ScanWorkerMain(int argc, char** argv) {
  Options opt;
  auto parsed = ParseCommandLine(Command::kScan, argc, argv, 3, &opt);
  if (!parsed.ok()) return Fail(parsed.status());
  UseScanStack("", &opt);
  // Its warnings (variables left out) go to the parent with the answers.
  SetLogLevel(LogLevel::kError);
  auto stack = BuildMemoryStack(opt);
  if (!stack.ok()) return Fail(stack.status());
  ReadThroughCache* cache = stack->cache.get();
  ScanOptions so;
  so.inline_threshold_bytes = opt.inline_threshold;
  std::unique_ptr<RemoteReadAhead> ahead;
  return ServeScanWorker([&](const std::vector<std::string>& inputs, const std::vector<uint64_t>& sizes,
                             size_t i) -> Result<ScannedInput> {
    // As many files ahead as this worker's share of the connections.
    if (!ahead) {
      UseScanAllocator(inputs);
      ahead = std::make_unique<RemoteReadAhead>(
          inputs, cache, sizes, std::max<size_t>(RemoteReadAhead::kAhead, static_cast<size_t>(opt.max_connections)));
    }
    ZM_ASSIGN_OR_RETURN(const uint64_t size, ahead->Before(i));
    ZM_ASSIGN_OR_RETURN(ScanResult r, ScanOne(inputs[i], so, cache, size));
    ZM_ASSIGN_OR_RETURN(std::string text, WriteReferencesV1(r.index));
    ScannedInput out{std::move(text), std::move(r.skipped), AggregationReads(inputs[i], size, r.index, opt, cache)};
    ahead->After(i);
    return out;
  });
}

}  // namespace zm
