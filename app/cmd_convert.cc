// `zarrmount convert SOURCE -o OUT`: a reference set rewritten in the other
// form, JSON to kerchunk's Parquet layout or back.

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "app/stack.h"
#include "base/json.h"
#include "base/units.h"

namespace zm {

const char kConvertUsage[] =
    "Usage: zarrmount convert [options] SOURCE -o OUT\n"
    "\n"
    "Reads the reference set SOURCE (a JSON reference file, gzip or zstd\n"
    "compressed or not, or a directory of Parquet references; a path or a URL)\n"
    "and writes it to OUT: as a directory in kerchunk's Parquet layout (as\n"
    "fsspec's LazyReferenceMapper and kerchunk write it), or as one kerchunk\n"
    "version 1 JSON file when OUT ends in .json or is '-'.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE      where to write: a new or empty directory for\n"
    "                         Parquet; a file (replaced atomically) or '-' for JSON\n"
    "  --format json|parquet  'json' or 'parquet', instead of choosing by OUT's name\n"
    "  --record-size N        Parquet: chunk references per record file\n"
    "  --map, --header, --bearer-token-env, --s3-endpoint, --s3-region,\n"
    "  --s3-profile, --s3-anonymous, --max-connections, --local-root\n"
    "                         for a URL SOURCE, as for mounting\n"
    "  --json                 print the summary as one JSON object\n"
    "  -h, --help             this text\n";

int ConvertCommand(int argc, char** argv) {
  Options opt;
  std::vector<std::string> positional;
  if (int rc = ParseCommandArgs(Command::kConvert, argc, argv, kConvertUsage, &opt, &positional); rc >= 0)
    return rc;
  if (positional.size() != 1) return UsageError(kConvertUsage, "expected one SOURCE");
  if (opt.output.empty()) return UsageError(kConvertUsage, "-o OUT is needed");
  opt.source = positional[0];
  opt.check_only = true;
  opt.disk_cache = false;
  opt.prefetch = false;

  auto t0 = std::chrono::steady_clock::now();
  auto built = BuildStack(opt);
  if (!built.ok()) return Fail(built.status());
  auto index = LoadSource(opt.source, built->origin.get());
  if (!index.ok()) return Fail(index.status());
  const std::string format = OutputFormat(opt.output_format, opt.output);
  if (format == "parquet" && opt.output == "-")
    return UsageError(kConvertUsage, "Parquet references are a directory, not '-'");
  auto bytes = WriteReferences(*index, format, opt.output, opt.record_size);
  if (!bytes.ok()) return Fail(bytes.status());
  const uint64_t written = *bytes;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  FILE* summary = opt.output == "-" ? stderr : stdout;
  if (opt.json) {
    std::fprintf(summary, "{\"keys\": %zu, \"urls\": %zu, \"bytes\": %llu, \"seconds\": %.3f, \"format\": %s, \"output\": %s}\n",
                 index->file_count(), index->url_count(), static_cast<unsigned long long>(written), secs,
                 JsonQuote(format).c_str(), JsonQuote(opt.output).c_str());
  } else {
    std::fprintf(summary, "converted %zu keys, %zu URLs: %s of %s written to %s in %.2f s\n", index->file_count(),
                 index->url_count(), FormatSize(written).c_str(), format == "json" ? "JSON" : "Parquet",
                 opt.output.c_str(), secs);
  }
  return 0;
}

}  // namespace zm
