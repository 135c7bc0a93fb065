// zarrmount as mount(8)'s helper for the file system type fuse.zarrmount.
//
// `mount -t fuse.zarrmount SOURCE DIR -o OPTIONS`, an fstab line of that
// type and systemd's mount units run /sbin/mount.fuse.zarrmount (a link to
// zarrmount) the way mount(8) runs every helper:
//
//   mount.fuse.zarrmount SOURCE DIR [-sfnv] [-N NAMESPACE] [-o OPTIONS] [-t TYPE]
//
// This turns that into zarrmount's own command line, `zarrmount -o OPTIONS
// SOURCE DIR`, whose -o takes every option of the table (app/option_table.h)
// as name=value. The one difference: mount(8) always passes rw or ro, rw
// being its default rather than a request, so a helper's rw is dropped (the
// mount is read-only all the same) where zarrmount's own -o refuses it.
// fuse3's generic mount.fuse3 cannot tell the two apart, hence a helper of
// our own.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace zm {

// True when argv[0] runs zarrmount as a mount helper (its name starts with
// "mount.", as /sbin/mount.fuse.zarrmount does).
bool IsMountHelper(const char* argv0);

struct MountHelperCall {
  // zarrmount's argv: "zarrmount", then "-o" and the options if there are
  // any, then SOURCE and DIR.
  std::vector<std::string> args;
  bool fake = false;  // -f: mount(8) only records the mount; mount nothing
};

// Translates a helper's argv (argv[1...]); errors are one line naming the
// argument.
Result<MountHelperCall> TranslateMountHelperArgs(int argc, char** argv);

}  // namespace zm
