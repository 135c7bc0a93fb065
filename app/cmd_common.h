// What the commands of app/commands.h share: parsing their arguments
// through the option table and reporting usage errors and failures the same
// way (one line on stderr).
#pragma once

#include <string>
#include <vector>

#include "app/option_table.h"
#include "app/options.h"
#include "base/status.h"

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

}  // namespace zm
