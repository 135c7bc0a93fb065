// The commands beside mounting: `zarrmount cache ...` on a cache directory
// (cmd_cache.cc), `zarrmount warm SOURCE [PREFIX...]` to fill it
// (cmd_warm.cc), `zarrmount status MOUNTPOINT` for a running daemon
// (cmd_status.cc), `zarrmount combine` to write an aggregation
// (cmd_combine.cc), `zarrmount scan` to write references for NetCDF and HDF5
// files (cmd_scan.cc) and `zarrmount convert` between JSON and Parquet
// references (cmd_convert.cc). Each takes the arguments after its name (the options
// app/option_table.h gives it), prints its result (as JSON with --json), and
// returns the process exit code: 0 done, 1 failed, 2 usage.
#pragma once

namespace zm {

// True if argv[1] names a command (rather than a reference file to mount).
bool IsCommand(int argc, char** argv);

// Runs the command argv[1] with argv[2...].
// REQUIRES: IsCommand(argc, argv).
int RunCommand(int argc, char** argv);

int CacheCommand(int argc, char** argv);
int WarmCommand(int argc, char** argv);
int StatusCommand(int argc, char** argv);
int CombineCommand(int argc, char** argv);
int ScanCommand(int argc, char** argv);
int ConvertCommand(int argc, char** argv);

// Each command's --help text; it names every option the command takes.
extern const char kCacheUsage[];
extern const char kWarmUsage[];
extern const char kStatusUsage[];
extern const char kCombineUsage[];
extern const char kScanUsage[];
extern const char kConvertUsage[];

}  // namespace zm
