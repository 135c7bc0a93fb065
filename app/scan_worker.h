// Scanning inputs one after the other in one process: what each of `zarrmount
// scan`'s worker processes does (app/scan_workers.h), and what the scan does
// in its own process with one job.
//
// `zarrmount scan` and its workers run in a small program of their own,
// `zarrmount-scan` (main in app/scan_main.cc): it links only what a scan
// needs (libhdf5, the origins, a memory tier, the codecs and the reference
// writers), not FUSE, LMDB, memcached or the views, so each of its
// processes maps fewer libraries. Where it is not found, zarrmount itself
// scans and runs `zarrmount scan --worker` as the workers.
//
// Thread-safety: RemoteReadAhead is used by one thread; the functions may
// be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "app/options.h"
#include "app/scan_workers.h"
#include "app/stack.h"
#include "base/status.h"
#include "base/units.h"
#include "cache/read_through.h"
#include "refs/reference_index.h"
#include "refs/scan.h"

namespace zm {

// True for an input read through the origin (a URL other than file://).
bool IsRemoteInput(const std::string& input);

// Remote inputs are scanned one after the other (libhdf5 is the serial
// build), but their I/O need not wait: while one is scanned, the first
// block of each of the next few is fetched in the background, with the
// object's size in the same request where it is not known
// (ReadThroughCache::ObjectForReading), so a scan of many small files waits
// about one round trip per window rather than several per file. The files
// ahead hold about kWindowBytes of first blocks (sizes not yet learned are
// taken to be the mean of those learned); the scan stack's memory tier
// (UseScanStack) keeps them until they are scanned.
class RemoteReadAhead {
 public:
  static constexpr size_t kAhead = 16;
  // A 20 ms origin's 1,000 small files (scripts/bench_scan.sh --latency
  // 20), per worker at its peak: 2 MiB took 1.5 s and 20.4 MiB, 1.5 MiB
  // 1.9 s and 19.7 MiB, 1 MiB 2.75 s and 19.4 MiB. Memory is the tighter
  // of the scan's targets.
  static constexpr uint64_t kWindowBytes = 3 * 512_KiB;

  // `known_sizes` (empty, or 0 for unknown) need not be asked; up to
  // `ahead` files are fetched ahead. REQUIRES: `cache` outlives it.
  RemoteReadAhead(const std::vector<std::string>& inputs, ReadThroughCache* cache,
                  const std::vector<uint64_t>& known_sizes = {}, size_t ahead = kAhead);

  // Call before scanning input `i`: returns its size (0 for a local
  // input), learned with its first block if not known yet, and starts
  // fetching the first blocks of the files after it.
  Result<uint64_t> Before(size_t i);

  // Call once input `i` is scanned and read: its blocks leave the memory
  // tier, which then holds the files ahead and the one being scanned.
  void After(size_t i);

 private:
  // The bytes fetched ahead for input `j`: its first block (by the mean
  // size learned so far when its own is not known).
  uint64_t FirstBlock(size_t j) const;

  const std::vector<std::string> inputs_;
  ReadThroughCache* cache_;
  std::vector<uint64_t> sizes_;  // 0: local, or not known yet
  size_t ahead_;
  size_t queued_ = 0;  // inputs considered for read-ahead so far
  uint64_t learned_bytes_ = 0, learned_ = 0;  // the sizes learned by Before
};

// Sets how the process allocates for a scan of `inputs`: when any is a URL,
// blocks of 128 KiB or more are mapped alone, so that memory freed by a
// scanned file goes back rather than staying in a fetching thread's arena.
// Call before the first fetch.
void UseScanAllocator(const std::vector<std::string>& inputs);

// Scans one input: a local file by pread, a URL through `cache`.
// `known_size`: the URL's size, if known (else 0: asked of the cache, with
// the first block).
Result<ScanResult> ScanOne(const std::string& input, const ScanOptions& so, ReadThroughCache* cache,
                           uint64_t known_size = 0);

// Reads what an aggregation asks of an input: a remote one through `cache`
// with the whole object as the region (the blocks the scan read), a local
// one directly. `size` may be ReferenceIndex::kUnknownSize: the whole
// object. `known_size`: the remote object's size, if known (else 0).
Result<std::string> ReadForAggregation(const std::string& url, uint64_t offset, uint64_t size,
                                       ReadThroughCache* cache, uint64_t known_size = 0);

// Sets what a scan's stack is (for BuildScanStack): `first_input` as its
// source, a memory tier sized for RemoteReadAhead's window, prefetch on,
// no disk cache.
void UseScanStack(const std::string& first_input, Options* opt);

// The worker: `PROGRAM scan --worker OPTION...` (ScanWorkerCommand), its
// inputs on stdin and its answers on stdout (ServeScanWorker). Returns the
// exit code.
int ScanWorkerMain(int argc, char** argv);

}  // namespace zm
