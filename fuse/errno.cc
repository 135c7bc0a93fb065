#include "fuse/errno.h"

#include <cerrno>
#include <initializer_list>

namespace zm {
namespace {

struct Rule {
  Code code;
  int err;
};

// The first rule whose code matches wins; `fallback` otherwise.
int Map(const Status& st, std::initializer_list<Rule> rules, int fallback) {
  for (const Rule& r : rules)
    if (r.code == st.code()) return r.err;
  return fallback;
}

}  // namespace

int ErrnoFor(FuseOp op, const Status& st) {
  switch (op) {
    case FuseOp::kLookup:
    case FuseOp::kReadDir:
      return Map(st, {{Code::kNotFound, ENOENT}, {Code::kInvalidArgument, ENOTDIR}}, EIO);
    case FuseOp::kGetAttr:
      // A file whose size cannot be learned (the origin fails) is EIO.
      return Map(st, {{Code::kNotFound, ENOENT}, {Code::kInvalidArgument, ENOENT}}, EIO);
    case FuseOp::kOpenDir:
      return ENOENT;
    case FuseOp::kOpen:
      return Map(st, {{Code::kNotFound, ENOENT}}, EISDIR);
    case FuseOp::kRead:
      return Map(st, {{Code::kPermissionDenied, EACCES}, {Code::kInvalidArgument, EISDIR}}, EIO);
  }
  return EIO;
}

}  // namespace zm
