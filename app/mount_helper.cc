#include "app/mount_helper.h"

#include <string_view>

namespace zm {
namespace {

// Drops each "rw" from an -o list, keeping everything else as written
// (quotes included, for the -o parser to read): a comma inside double
// quotes separates nothing.
std::string WithoutReadWrite(std::string_view list) {
  std::string out;
  std::string part;
  bool quoted = false;
  auto flush = [&] {
    if (!part.empty() && part != "rw") out += (out.empty() ? "" : ",") + part;
    part.clear();
  };
  for (char c : list) {
    if (c == ',' && !quoted) {
      flush();
      continue;
    }
    if (c == '"') quoted = !quoted;
    part += c;
  }
  flush();
  return out;
}

}  // namespace

bool IsMountHelper(const char* argv0) {
  std::string_view name(argv0 ? argv0 : "");
  if (size_t slash = name.rfind('/'); slash != std::string_view::npos)
    name.remove_prefix(slash + 1);
  return name.starts_with("mount.");
}

Result<MountHelperCall> TranslateMountHelperArgs(int argc, char** argv) {
  MountHelperCall call;
  std::vector<std::string> positional;
  std::string options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      positional.emplace_back(arg);
      continue;
    }
    if (arg == "-o" || arg == "-N" || arg == "-t") {
      if (i + 1 >= argc)
        return InvalidArgument("mount helper: option '" + std::string(arg) + "' needs a value");
      std::string_view value = argv[++i];
      // Another mount namespace would need setns() before mounting; the
      // daemon mounts where it runs.
      if (arg == "-N")
        return InvalidArgument("mount helper: option '-N': mount namespaces are not supported");
      if (arg == "-o" && !value.empty()) options += (options.empty() ? "" : ",") + std::string(value);
      continue;  // -t: the type is ours (fuse.zarrmount)
    }
    // -s (sloppy), -n (no mtab) and -v (verbose) change nothing here.
    for (char c : arg.substr(1)) {
      if (c == 'f') {
        call.fake = true;
      } else if (c != 's' && c != 'n' && c != 'v') {
        return InvalidArgument("mount helper: unknown option '" + std::string(arg) + "'");
      }
    }
  }
  if (positional.size() != 2)
    return InvalidArgument("mount helper: expected SOURCE and MOUNTPOINT, got " +
                           std::to_string(positional.size()) + " arguments");
  call.args = {"zarrmount"};
  if (std::string kept = WithoutReadWrite(options); !kept.empty()) {
    call.args.push_back("-o");
    call.args.push_back(std::move(kept));
  }
  call.args.push_back(positional[0]);
  call.args.push_back(positional[1]);
  return call;
}

}  // namespace zm
