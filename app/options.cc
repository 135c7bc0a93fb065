#include "app/options.h"

#include <cstdlib>
#include <utility>

#include "app/option_table.h"

namespace zm {

std::string DefaultCacheDir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/zarrmount";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/zarrmount";
  return "/var/cache/zarrmount";
}

namespace {

constexpr char kHelpHead[] =
    "Usage: zarrmount [OPTIONS] SOURCE MOUNTPOINT\n"
    "       zarrmount [OPTIONS] --concat DIM [--concat DIM2] SOURCE... MOUNTPOINT\n"
    "       zarrmount combine --concat DIM [OPTIONS] SOURCE... -o OUT.json\n"
    "                                                          write an aggregation\n"
    "       zarrmount scan [OPTIONS] FILE... -o OUT.json       references for NetCDF/HDF5\n"
    "       zarrmount convert SOURCE -o OUT                    JSON <-> Parquet references\n"
    "       zarrmount warm [OPTIONS] SOURCE [PATH_PREFIX...]   fill the disk cache\n"
    "       zarrmount status MOUNTPOINT [--json]               a daemon's counters\n"
    "       zarrmount cache stats|verify|clear|prune [OPTIONS] maintain a cache\n"
    "       (each command has its own --help)\n"
    "\n"
    "Mounts the kerchunk reference set SOURCE (JSON, version 0 or 1, optionally\n"
    "gzip- or zstd-compressed, or a directory of Parquet references in kerchunk's\n"
    "layout) read-only at MOUNTPOINT as a Zarr directory tree.\n"
    "SOURCE may also be a catalog: an Intake catalog (YAML) or a STAC catalog,\n"
    "collection or item (JSON); each of its reference sets is then a directory,\n"
    "loaded on first access.\n"
    "SOURCE may also be NetCDF/HDF5 files: one file, or with --concat several,\n"
    "is scanned at mount time, the result kept in the cache directory per file\n"
    "and version, and served as its references would be. Without --concat,\n"
    "several such files (or a directory, glob or list of them) are a\n"
    "collection: each file is a directory named by the file, scanned when\n"
    "first used.\n"
    "SOURCE may be a path or an http(s)://, s3:// or gs:// URL. Reads fetch the\n"
    "referenced byte ranges from http(s)://, s3://, gs:// URLs or local files,\n"
    "through a memory cache and a persistent on-disk block cache.\n"
    "With --concat, the SOURCEs (reference files, directories of them, quoted\n"
    "globs, zip archives of them or text files listing them) are aggregated\n"
    "along DIM at mount time, as kerchunk's MultiZarrToZarr does.\n"
    "Without -f, zarrmount returns once the mount is serving and the daemon\n"
    "continues in the background; unmount with 'fusermount3 -u MOUNTPOINT'.\n"
    "\n"
    "Options:\n";

constexpr char kHelpTail[] =
    "\n"
    "SIZE takes a unit: 512K, 64M, 20G, 1T (powers of 1024).\n"
    "Exit status: 0 once the mount serves (or --check passed); 1 with one line\n"
    "on stderr naming what is wrong otherwise; 2 for a usage error.\n";

// The positional arguments: SOURCE... then MOUNTPOINT, which --check does
// not need (but allows, for a single SOURCE).
Status AssignPositionals(std::vector<std::string> positional, Options* o) {
  const size_t want = o->check_only ? 1 : 2;
  if (positional.size() < want)
    return InvalidArgument(o->check_only ? "expected SOURCE (see --help)"
                                         : "expected SOURCE and MOUNTPOINT (see --help)");
  if (!o->check_only) {
    o->mountpoint = positional.back();
    positional.pop_back();
  }
  o->source = positional[0];
  o->sources = positional;
  if (o->aggregate()) return Status();
  if (o->check_only && positional.size() == 2) {
    o->mountpoint = positional[1];  // not needed, but allowed
    o->sources.pop_back();
  }
  // Several SOURCEs without --concat are a collection of NetCDF/HDF5 files
  // or an error; which, only their contents tell (ExpandFileCollection).
  return Status();
}

// Options that only mean something together with another.
Status CheckCombinations(const Options& o) {
  if (!o.aggregate() && !o.identical_dims.empty())
    return InvalidArgument("option '--identical-dims' needs --concat DIM");
  return Status();
}

}  // namespace

std::string HelpText() {
  return kHelpHead + OptionListText(Command::kMount, Options{}) + kHelpTail;
}

Result<Options> ParseOptions(int argc, char** argv) {
  Options o;
  ZM_ASSIGN_OR_RETURN(std::vector<std::string> positional,
                      ParseCommandLine(Command::kMount, argc, argv, 1, &o, " (see --help)"));
  if (o.help || o.version) return o;
  ZM_RETURN_IF_ERROR(AssignPositionals(std::move(positional), &o));
  ZM_RETURN_IF_ERROR(CheckCombinations(o));
  return o;
}

}  // namespace zm
