// `zarrmount scan FILE... -o OUT.json`: kerchunk references for NetCDF-3,
// NetCDF-4 and HDF5 files (refs/scan.h), one file's or, with --concat, the
// files' aggregation as a mount with --concat would build it.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "app/option_table.h"
#include "app/scan_worker.h"
#include "app/scan_workers.h"
#include "app/sources.h"
#include "app/stack.h"
#include "base/json.h"
#include "base/log.h"
#include "base/units.h"
#include "io/object_listing.h"
#include "refs/aggregate.h"
#include "refs/reference_loader.h"
#include "refs/scan.h"

namespace zm {

const char kScanUsage[] =
    "Usage: zarrmount scan [options] INPUT... -o OUT.json\n"
    "       zarrmount scan [options] INPUT... --format parquet -o DIR\n"
    "\n"
    "Writes a kerchunk version 1 reference set (URLs absolute, each written once\n"
    "as a template) for NetCDF-3 (classic, 64-bit offset, CDF-5), NetCDF-4 and\n"
    "HDF5 files. An INPUT is a file, a directory (its *.nc, *.nc4, *.h5, *.hdf5,\n"
    "*.he5 and *.cdf files, by name), a quoted glob (s3://B/dir/*.nc and gs://\n"
    "globs list the bucket), a text file listing files or URLs, or an http(s)://,\n"
    "s3:// or gs:// URL of one file (read range by range, only what the scan needs,\n"
    "with the mount's retries, signing, --map and headers). Several files need\n"
    "--concat: they are aggregated as a mount with --concat would. Variables that\n"
    "cannot be said as references are left out, one line each on stderr.\n"
    "\n"
    "Options:\n"
    "  --concat DIM           dimension to concatenate along (repeatable)\n"
    "  --identical-dims A,B   arrays that must hold the same values in every input\n"
    "  --inline-threshold SIZE  chunks smaller than SIZE are written into the\n"
    "                         references (default: 500; 0: none)\n"
    "  --jobs N               files scanned at once, each by a process of its own\n"
    "                         (default: the online CPUs)\n"

    "  -o, --output FILE      where to write (replaced atomically); '-' for stdout\n"
    "  --format json|parquet  'json' (a kerchunk version 1 file, the default) or\n"
    "                         'parquet' (a new or empty directory in kerchunk's\n"
    "                         Parquet layout)\n"
    "  --record-size N        Parquet: chunk references per record file\n"
    "  --map, --header, --bearer-token-env, --s3-endpoint, --s3-region,\n"
    "  --s3-profile, --s3-anonymous, --max-connections, --local-root\n"
    "                         for URL inputs, as for mounting\n"
    "  --json                 print the summary as one JSON object\n"
    "  -h, --help             this text\n";

namespace {

bool IsScanName(const std::string& name) {
  for (const char* ext : {".nc", ".nc4", ".h5", ".hdf5", ".he5", ".cdf", ".netcdf"})
    if (name.size() > std::strlen(ext) && name.ends_with(ext)) return true;
  return false;
}

std::string Absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// The files of one INPUT argument, in name order for directories and
// globs. Files named like NetCDF/HDF5 and directories are scan's own;
// globs (local, or in a bucket: listed through `lister`'s origin) and list
// files are expanded as SOURCE arguments are (app/sources.h).
Status ExpandInput(const std::string& arg, const std::function<Result<Origin*>()>& lister,
                   std::vector<std::string>* out) {
  if (IsRemoteInput(arg) && !IsObjectGlob(arg)) {
    out->push_back(arg);
    return Status();
  }
  struct stat st;
  const bool exists = !IsRemoteInput(arg) && ::stat(arg.c_str(), &st) == 0;
  if (exists && !S_ISDIR(st.st_mode) && IsScanName(arg)) {
    out->push_back(Absolute(arg));
    return Status();
  }
  if (exists && S_ISDIR(st.st_mode)) {
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(arg, ec))
      if (e.is_regular_file(ec) && IsScanName(e.path().filename().string()))
        found.push_back(Absolute(e.path().string()));
    if (ec) return IoError(arg + ": " + ec.message());
    if (found.empty()) return InvalidArgument(arg + ": no NetCDF or HDF5 files in this directory");
    std::sort(found.begin(), found.end());
    out->insert(out->end(), found.begin(), found.end());
    return Status();
  }
  Origin* origin = nullptr;
  if (IsObjectGlob(arg)) {
    ZM_ASSIGN_OR_RETURN(origin, lister());
  }
  ZM_ASSIGN_OR_RETURN(std::vector<ReferenceSource> sources, ExpandSources({arg}, origin));
  for (const ReferenceSource& src : sources) {
    if (!src.zip_entry.empty()) return InvalidArgument(src.name() + ": a zip entry cannot be scanned");
    out->push_back(IsRemoteInput(src.path) ? src.path : Absolute(src.path));
  }
  return Status();
}

using KnownBytes = std::map<std::tuple<std::string, uint64_t, uint64_t>, std::string>;

struct ScanTotals {
  size_t files = 0;
  size_t skipped = 0;
};

// Scans every input and returns the one index, or the aggregation along
// `opt.concat_dims`.
Result<ReferenceIndex> ScanInputs(const std::vector<std::string>& inputs, const Options& opt,
                                  ReadThroughCache* cache, ScanTotals* totals) {
  ScanOptions so;
  so.inline_threshold_bytes = opt.inline_threshold;
  if (!opt.aggregate()) {
    ZM_ASSIGN_OR_RETURN(ScanResult r, ScanOne(inputs[0], so, cache));
    totals->files = 1;
    totals->skipped = r.skipped.size();
    return std::move(r.index);
  }
  AggregateOptions ao;
  ao.concat_dims = opt.concat_dims;
  ao.identical_arrays = opt.identical_dims;
  // What workers read for the aggregation (ScannedInput::fetched), until used.
  KnownBytes known;
  Aggregator agg(ao, [cache, &known](const std::string& url, uint64_t offset, uint64_t size) {
    if (auto it = known.find({url, offset, size}); it != known.end()) return Result<std::string>(it->second);
    return ReadForAggregation(url, offset, size, cache);
  });
  if (const int jobs = ScanJobs(opt); jobs > 1) {
    // Each worker returns a file's references as JSON; parsed here, they
    // are the index the scan made, aggregated in input order as below.
    ZM_RETURN_IF_ERROR(ScanInWorkers(inputs, jobs, ScanWorkerCommand(opt, jobs), [&](size_t i, ScannedInput in) -> Status {
      auto index = ParseReferences(in.references, "");
      if (!index.ok()) return index.status().WithContext(inputs[i]);
      known.clear();
      for (FetchedBytes& f : in.fetched) known[{f.url, f.offset, f.size}] = std::move(f.data);
      ZM_RETURN_IF_ERROR(agg.Add(inputs[i], *index));
      ++totals->files;
      // The worker logs only errors: its lines are logged here, in order.
      for (const std::string& line : in.left_out) LogWarning(inputs[i] + ": " + line);
      totals->skipped += in.left_out.size();
      return Status();
    }));
    return agg.Finish();
  }
  UseScanAllocator(inputs);
  RemoteReadAhead ahead(inputs, cache);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& path = inputs[i];
    ZM_ASSIGN_OR_RETURN(const uint64_t size, ahead.Before(i));
    ZM_ASSIGN_OR_RETURN(ScanResult r, ScanOne(path, so, cache, size));
    ZM_RETURN_IF_ERROR(agg.Add(path, r.index));
    ahead.After(i);
    ++totals->files;
    totals->skipped += r.skipped.size();
  }
  return agg.Finish();
}

}  // namespace

int ScanCommand(int argc, char** argv) {
  if (argc > 2 && std::strcmp(argv[2], "--worker") == 0) return ScanWorkerMain(argc, argv);
  Options opt;
  std::vector<std::string> positional;
  if (int rc = ParseCommandArgs(Command::kScan, argc, argv, kScanUsage, &opt, &positional); rc >= 0)
    return rc;
  if (positional.empty()) return UsageError(kScanUsage, "which files?");
  if (opt.output.empty()) return UsageError(kScanUsage, "-o OUT.json is needed");
  // JSON unless asked: scan wrote JSON to any name before it had --format.
  const std::string format = opt.output_format.empty() ? "json" : opt.output_format;
  if (format == "parquet" && opt.output == "-")
    return UsageError(kScanUsage, "Parquet references are a directory, not '-'");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> inputs;
  // Bucket globs are listed through an origin stack of their own, built
  // when the first one is met.
  std::optional<Stack> listing;
  for (const std::string& arg : positional) {
    auto lister = [&]() -> Result<Origin*> {
      if (!listing) {
        Options lo = opt;
        lo.source = arg;
        lo.check_only = true;
        lo.disk_cache = false;
        ZM_ASSIGN_OR_RETURN(Stack built, BuildMemoryStack(lo));
        listing.emplace(std::move(built));
      }
      return listing->origin.get();
    };
    if (Status st = ExpandInput(arg, lister, &inputs); !st.ok()) return Fail(st);
  }
  if (inputs.size() > 1 && !opt.aggregate())
    return UsageError(kScanUsage, std::to_string(inputs.size()) + " files need --concat DIM");

  // URLs are read through the mount's origin stack (memory cache only).
  UseScanStack(inputs[0], &opt);
  auto stack = BuildMemoryStack(opt);
  if (!stack.ok()) return Fail(stack.status());
  ScanTotals totals;
  auto index = ScanInputs(inputs, opt, stack->cache.get(), &totals);
  if (!index.ok()) return Fail(index.status());
  auto written = WriteReferences(*index, format, opt.output, opt.record_size);
  if (!written.ok()) return Fail(written.status());

  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  FILE* summary = opt.output == "-" ? stderr : stdout;
  if (opt.json) {
    std::fprintf(summary,
                 "{\"files\": %zu, \"keys\": %zu, \"left_out\": %zu, \"bytes\": %zu, "
                 "\"seconds\": %.3f, \"output\": %s}\n",
                 totals.files, index->file_count(), totals.skipped, static_cast<size_t>(*written), secs,
                 JsonQuote(opt.output).c_str());
  } else {
    std::fprintf(summary, "scanned %zu files: %zu keys, %zu variables left out, %s written to %s in %.2f s\n",
                 totals.files, index->file_count(), totals.skipped, FormatSize(*written).c_str(),
                 opt.output.c_str(), secs);
  }
  return 0;
}

}  // namespace zm
