// The errno a Tree's failure becomes, one table per FUSE operation, kept in
// one place so that each mapping is written (and tested) once.
#pragma once

#include "base/status.h"

namespace zm {

enum class FuseOp { kLookup, kGetAttr, kReadDir, kOpenDir, kOpen, kRead };

// The errno for `st` (not OK) failing operation `op`:
//   lookup, readdir  kNotFound → ENOENT, kInvalidArgument (not a directory) → ENOTDIR, else EIO
//   getattr, opendir any failure → ENOENT (the inode is gone)
//   open             kNotFound → ENOENT, else EISDIR (the tree refuses only directories)
//   read             kPermissionDenied (the origin refused us) → EACCES,
//                    kInvalidArgument (a directory) → EISDIR, else EIO: every
//                    origin failure of a file that exists is an I/O error
int ErrnoFor(FuseOp op, const Status& st);

}  // namespace zm
