// Command-line options of the zarrmount daemon.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/units.h"

namespace zm {

struct Options {
  std::string source;      // reference file (the first SOURCE when aggregating)
  // Every SOURCE argument; more than one, or a directory, glob, list or zip
  // archive, only with --concat (see fs/sources.h).
  std::vector<std::string> sources;
  std::vector<std::string> concat_dims;     // --concat, in order
  std::vector<std::string> identical_dims;  // --identical-dims, split on ','
  bool aggregate() const { return !concat_dims.empty(); }
  std::string mountpoint;
  bool foreground = false;
  bool debug = false;
  bool check_only = false;
  bool help = false;
  bool version = false;
  std::vector<std::string> fuse_options;  // from -o, split on ','
  std::string cache_dir;                  // empty: the default location
  uint64_t cache_size = 10_GiB;
  uint64_t memory_cache = 512_MiB;
  bool disk_cache = true;
  bool offline = false;  // serve from the cache only
  // The shared (memcached) tier: its URL ("" for none), its HMAC key file,
  // or the explicit choice to run it unauthenticated.
  std::string shared_cache;
  std::string shared_cache_key_file;
  bool shared_cache_unauthenticated = false;
  bool shared_cache_publish_local = false;  // set by `warm`: local hits go to the shared tier too
  bool allow_link_local = false;  // let references reach 169.254.0.0/16 and the like
  // Directories whose files local references may read, besides the
  // reference file's own directory.
  std::vector<std::string> local_roots;
  uint64_t max_generated_keys = 100'000'000;  // keys that `gen` entries may make, together
  uint64_t block_size = 1_MiB;
  int threads = 16;          // FUSE worker threads, at most
  bool prefetch = true;
  int prefetch_threads = 64;  // concurrent prefetch requests, at most (and at most max_connections)
  uint64_t prefetch_memory = 256_MiB;
  uint64_t coalesce_gap = 64_KiB;
  uint64_t coalesce_max = 16_MiB;
  int size_threads = 16;     // parallel HEAD requests for whole-object refs
  std::string log_file;
  std::string metrics_listen;  // --metrics HOST:PORT; empty: no /metrics server
  // What the mount shows: "zarr" (the store's keys), "npy" or "netcdf"
  // (decoded arrays as files; see fs/views.h).
  std::string view = "zarr";
  // What SOURCE is: "auto" (detected), "zarr" (a plain Zarr store, see
  // app/store_source.h) or "references" (a reference set or catalog).
  std::string format = "auto";
  uint64_t view_cache = 256_MiB;  // decoded chunks kept in memory by the npy/netcdf views
  // Catalog SOURCEs (Intake YAML, STAC; see fs/catalog_tree.h): datasets
  // loaded on first access, released past these limits.
  uint64_t catalog_memory = 1_GiB;  // reference indexes kept loaded, in bytes
  int64_t catalog_datasets = 0;     // datasets kept loaded; 0: no limit
  int64_t catalog_idle_s = 600;     // release a dataset unused this long; 0: never
  // A Parquet reference directory SOURCE (refs/lazy_parquet.h): decoded
  // record files kept in memory, in bytes.
  uint64_t refs_memory = 256_MiB;
  // Origin deadlines (see HttpOptions): per attempt, and per fetch in all.
  long connect_timeout_ms = 10'000;
  long request_timeout_ms = 30'000;
  uint64_t low_speed_limit = 1_KiB;  // bytes per second
  long low_speed_time_s = 30;
  long read_timeout_ms = 60'000;
  int retries = 3;
  int max_connections = 64;
  // Remote origins (see cache/cloud.h): URL rewriting, S3, headers.
  std::vector<std::string> maps;         // --map OLD=NEW, as given
  std::string s3_endpoint, s3_region, s3_profile;
  bool s3_anonymous = false;
  std::vector<std::string> headers;      // --header '[PREFIX ]Name: value'
  std::vector<std::string> bearer_envs;  // --bearer-token-env '[PREFIX ]VAR'
  // The commands' own options (see app/commands.h).
  bool json = false;                 // --json: print the result as one JSON object
  std::string output;                // combine -o FILE
  uint64_t inline_threshold = 500;   // scan: chunks below this many bytes inline
  int jobs = 0;                      // NetCDF/HDF5 scans at once (processes); 0: the online CPUs
  std::string output_format;         // combine/convert --format json|parquet; "" by -o's name
  uint64_t record_size = 100'000;    // combine/convert --record-size N (Parquet)
  std::optional<uint64_t> prune_to;  // cache prune --to SIZE, in bytes
  int64_t unused_for_s = -1;         // cache prune --unused-for AGE; -1: not given
  bool prometheus = false;           // status --prometheus: the metrics exposition
  bool operator==(const Options&) const = default;
};

// Parses a mount's argv (options from app/option_table.h, then SOURCE...
// and MOUNTPOINT). Errors are one line ("unknown option '--x' (see --help)").
Result<Options> ParseOptions(int argc, char** argv);

// The --help text: usage and every option of a mount with its default.
std::string HelpText();

// $XDG_CACHE_HOME/zarrmount, else $HOME/.cache/zarrmount.
std::string DefaultCacheDir();

}  // namespace zm
