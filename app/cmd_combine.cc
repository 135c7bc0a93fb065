// `zarrmount combine --concat DIM SOURCE... -o OUT.json`: the aggregation a
// mount with --concat would serve, written as one kerchunk version 1 file.

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "app/sources.h"
#include "app/stack.h"
#include "base/json.h"
#include "base/units.h"
#include "refs/aggregate.h"
#include "refs/reference_loader.h"

namespace zm {

const char kCombineUsage[] =
    "Usage: zarrmount combine --concat DIM [options] SOURCE... -o OUT.json\n"
    "       zarrmount combine --concat DIM [options] SOURCE... --format parquet -o DIR\n"
    "\n"
    "Aggregates the reference sets SOURCE... along DIM, as a mount with --concat\n"
    "would present them, and writes the result as one kerchunk version 1\n"
    "reference file (URLs absolute, each written once as a template), or with\n"
    "--format parquet as a directory in kerchunk's Parquet layout. A SOURCE\n"
    "is a reference file, a directory of them (*.json, *.json.gz, *.json.zst),\n"
    "a quoted glob, a zip archive of them, or a text file listing them.\n"
    "\n"
    "Options:\n"
    "  --concat DIM           dimension to concatenate along (repeatable)\n"
    "  --identical-dims A,B   arrays that must hold the same values in every input\n"
    "  -o, --output FILE      where to write (replaced atomically); '-' for stdout\n"
    "  --format json|parquet  'json' (the default for a name ending in .json or '-')\n"
    "                         or 'parquet' (a new or empty directory)\n"
    "  --record-size N        Parquet: chunk references per record file\n"
    "  --local-root DIR       local references may also read files under DIR\n"
    "                         (repeatable; as for mounting)\n"
    "  --map, --header, --bearer-token-env, --s3-endpoint, --s3-region,\n"
    "  --s3-profile, --s3-anonymous, --max-connections\n"
    "                         for URL sources and data, as for mounting\n"
    "  --json                 print the summary as one JSON object\n"
    "  -h, --help             this text\n";

int CombineCommand(int argc, char** argv) {
  Options opt;
  std::vector<std::string> positional;
  if (int rc = ParseCommandArgs(Command::kCombine, argc, argv, kCombineUsage, &opt, &positional);
      rc >= 0)
    return rc;
  if (!opt.aggregate()) return UsageError(kCombineUsage, "--concat DIM is needed");
  if (positional.empty()) return UsageError(kCombineUsage, "which reference sets?");
  if (opt.output.empty()) return UsageError(kCombineUsage, "-o OUT.json is needed");
  opt.sources = positional;
  opt.source = positional[0];
  opt.check_only = true;
  opt.disk_cache = false;
  opt.prefetch = false;

  auto t0 = std::chrono::steady_clock::now();
  auto inputs = ExpandSources(opt.sources);
  if (!inputs.ok()) return Fail(inputs.status());
  for (std::string& dir : SourceDirectories(*inputs)) opt.local_roots.push_back(std::move(dir));
  auto built = BuildStack(opt);
  if (!built.ok()) return Fail(built.status());
  AggregateOptions ao;
  ao.concat_dims = opt.concat_dims;
  ao.identical_arrays = opt.identical_dims;
  auto index = LoadAggregation(*inputs, ao, ReferenceLoadOptions{}, built->cache.get());
  if (!index.ok()) return Fail(index.status());
  const std::string format = OutputFormat(opt.output_format, opt.output);
  if (format == "parquet" && opt.output == "-")
    return UsageError(kCombineUsage, "Parquet references are a directory, not '-'");
  auto bytes = WriteReferences(*index, format, opt.output, opt.record_size);
  if (!bytes.ok()) return Fail(bytes.status());
  const uint64_t written = *bytes;

  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  FILE* summary = opt.output == "-" ? stderr : stdout;
  if (opt.json) {
    std::fprintf(summary,
                 "{\"inputs\": %zu, \"keys\": %zu, \"urls\": %zu, \"bytes\": %zu, "
                 "\"seconds\": %.3f, \"output\": %s}\n",
                 inputs->size(), index->file_count(), index->url_count(), static_cast<size_t>(written), secs,
                 JsonQuote(opt.output).c_str());
  } else {
    std::fprintf(summary,
                 "combined %zu reference sets: %zu keys, %zu URLs, %s written to %s in %.2f s\n",
                 inputs->size(), index->file_count(), index->url_count(),
                 FormatSize(written).c_str(), opt.output.c_str(), secs);
  }
  return 0;
}

}  // namespace zm
