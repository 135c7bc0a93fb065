// What the commands of app/commands.h share: parsing their arguments
// through the option table and reporting usage errors and failures the same
// way (one line on stderr).
#pragma once

#include <string>
#include <vector>

#include "app/option_table.h"
#include "app/options.h"
#include "base/status.h"
#include "refs/reference_index.h"

namespace zm {

// Prints "zarrmount: ERROR (see 'zarrmount COMMAND --help')", COMMAND taken
// from `usage`'s first line; returns 2, the usage exit status.
int UsageError(const char* usage, const std::string& error);

// Prints "zarrmount: MESSAGE"; returns 1, the failure exit status.
int Fail(const Status& status);

// Parses argv[2...] for `command` into *options (which holds the command's
// defaults) and *positional. Returns the exit code to stop with: 0 after
// printing `usage` for -h/--help, 2 after a usage error; or -1 to go on.
int ParseCommandArgs(Command command, int argc, char** argv, const char* usage,
                     Options* options, std::vector<std::string>* positional);

// Writes `text` to `path`, or to stdout for "-". A file is written beside
// the target and renamed: a reader never sees half a file.
Status WriteOutput(const std::string& path, const std::string& text);

// Writes `index` as a kerchunk Parquet reference directory at `dir`
// (refs/parquet_refs.h), `record_size` references per record file. The
// files are written into a new directory beside `dir`, which then takes
// its place; `dir` may not exist yet, or be empty. Returns the bytes
// written.
Result<uint64_t> WriteParquetDirectory(const ReferenceIndex& index, const std::string& dir, uint64_t record_size);

// What to write for `-o output`: `format` when given ("json" or
// "parquet"), else JSON for a name ending in ".json" or "-", Parquet
// otherwise.
std::string OutputFormat(const std::string& format, const std::string& output);

// Writes `index` to `output` in `format` ("json": a version 1 file through
// WriteOutput; "parquet": WriteParquetDirectory with `record_size`).
// Returns the bytes written. REQUIRES: not Parquet to "-".
Result<uint64_t> WriteReferences(const ReferenceIndex& index, const std::string& format,
                                 const std::string& output, uint64_t record_size);

}  // namespace zm
