// Scans of many NetCDF/HDF5 files in worker processes.
//
// Debian's libhdf5 is the serial build (one thread in the library at a
// time), so scans run in parallel as processes: each worker is the small
// program zarrmount-scan (app/scan_main.cc), or this program
// started again where that is not found (`PROGRAM scan --worker
// OPTION...`, by posix_spawn, which is safe in a multi-threaded daemon),
// reads its inputs
// on stdin, scans them in order and writes each one's references (kerchunk
// JSON) on stdout. Input i goes to worker i % jobs; the parent reads every
// worker's pipe with poll and hands the results over in input order, so
// what is built from them is what a serial scan builds.
//
// Wire format, all integers little-endian u64: stdin is the input count,
// then each input as length and bytes, and its size (0: unknown); stdout is, per input, one byte
// ('R' references, 'E' an error message), the payload's length and the
// payload: an error's message, or the references (length, text), the
// count of lines left out and each (length, text), the count of fetched
// ranges and each as URL (length, bytes), offset, size, data (length,
// bytes). A worker stops after an error.
//
// Thread-safety: ScanInWorkers may be called from any thread, one call at a
// time per process (it ignores SIGPIPE for the process: a worker that dies
// must not kill the parent writing to it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "app/options.h"
#include "base/status.h"

namespace zm {

// Bytes a worker read for the parent: what an aggregation reads of an
// input (its coordinates), so that the parent, whose cache is cold, need
// not fetch them again.
struct FetchedBytes {
  std::string url;
  uint64_t offset = 0;
  uint64_t size = 0;
  std::string data;
};

// One input's scan, as a worker sends it.
struct ScannedInput {
  std::string references;  // kerchunk JSON (WriteReferencesV1)
  // One line per variable left out (ScanResult::skipped); a worker logs
  // only errors, so that these reach the parent's log, in input order.
  std::vector<std::string> left_out;
  std::vector<FetchedBytes> fetched;
};

// The worker processes to use for `opt`: --jobs, else the online CPUs.
int ScanJobs(const Options& opt);

// The scan program, zarrmount-scan (app/scan_main.cc: `zarrmount scan` and
// its workers, linking only what a scan needs), beside the program at path
// `self` (a build tree) or in its ../libexec/zarrmount (the package); else
// "/proc/self/exe", this program itself.
std::string ScanProgram(const std::string& self);

// Replaces this process with the scan program (ScanProgram), with the same
// arguments, unless that is this program or is not installed; returns only
// then (or if the exec failed), and the caller scans itself.
void ExecScanProgram(int argc, char** argv);

// The command of a worker scanning as `opt` says: ScanProgram of this
// program, `scan --worker`, the inline threshold, the aggregation's dimensions
// (--concat, --identical-dims: what it reads for the parent) and how URLs
// are reached (--map, headers, S3, local roots; --max-connections shared
// out among `jobs` workers). The first element is the program's path; the
// process is given "zarrmount" as its name.
std::vector<std::string> ScanWorkerCommand(const Options& opt, int jobs);

// Scans `inputs` in min(jobs, inputs.size()) worker processes running
// `command` and calls `consume(i, result)` for i = 0, 1, ... in order.
// `sizes`, if not empty, holds each input's size as the caller knows it
// (0: unknown), so that a worker need not ask the origin again.
// The first error (a scan's, one from `consume`, a worker that exits or is
// killed before answering) ends it: the workers still running are killed
// and reaped, and the error names the input concerned.
// REQUIRES: jobs >= 1; `command` not empty.
Status ScanInWorkers(const std::vector<std::string>& inputs, int jobs,
                     const std::vector<std::string>& command,
                     const std::function<Status(size_t, ScannedInput)>& consume,
                     const std::vector<uint64_t>& sizes = {});

// The worker's side: reads the inputs and their sizes (0: unknown) from
// `requests_fd` (stdin), calls `scan(inputs, sizes, i)` for each in order and writes the answers to
// `answers_fd` (stdout; then anything else the process prints to stdout
// goes to stderr instead). Returns the exit code.
int ServeScanWorker(
    const std::function<Result<ScannedInput>(const std::vector<std::string>& inputs,
                                             const std::vector<uint64_t>& sizes, size_t i)>& scan,
    int requests_fd = 0, int answers_fd = 1);

}  // namespace zm
