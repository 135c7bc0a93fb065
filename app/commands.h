// The commands beside mounting: `zarrmount cache ...` on a cache directory,
// `zarrmount warm SOURCE [PREFIX...]` to fill it, and `zarrmount status
// MOUNTPOINT` for a running daemon. Each
// takes the arguments after its name, prints its result (as JSON with
// --json), and returns the process exit code: 0 done, 1 failed, 2 usage.
#pragma once

namespace zm {

// True if argv[1] names a command (rather than a reference file to mount).
bool IsCommand(int argc, char** argv);

// Runs the command argv[1] with argv[2...].
int RunCommand(int argc, char** argv);

}  // namespace zm
