// zarrmount: the daemon's entry point. Parses options, forks into the
// background (unless -f) and runs the daemon (app/daemon.h), or a
// subcommand (app/commands.h).
//
// The parent process waits on a pipe until the child reports that the mount
// answers requests (exit 0) or why it could not (one line, exit 1), so a
// script can use the mount as soon as the command returns.

#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "app/commands.h"
#include "app/daemon.h"
#include "app/mount_helper.h"
#include "app/options.h"
#include "app/service_notify.h"
#include "app/sources.h"
#include "app/stack.h"
#include "app/version.h"
#include "io/object_listing.h"

namespace zm {
namespace {

// Reports start-up to whoever waits: the parent through a pipe, or nobody in
// the foreground. Exactly one report.
class StartupReporter {
 public:
  explicit StartupReporter(int fd) : fd_(fd) {}
  void Report(const Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    if (fd_ < 0) {
      if (!st.ok()) std::fprintf(stderr, "zarrmount: %s\n", st.message().c_str());
      return;
    }
    std::string msg = st.ok() ? "OK\n" : "ERR " + st.message() + "\n";
    ssize_t ignored = ::write(fd_, msg.data(), msg.size());
    (void)ignored;
    ::close(fd_);
    fd_ = -1;
  }

 private:
  std::mutex mu_;
  int fd_;
  bool done_ = false;
};

std::string Absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

// The daemon (app/daemon.h), reporting its start-up through `reporter`
// and to a service manager (app/service_notify.h).
int Serve(const Options& opt, const std::vector<ReferenceSource>& inputs,
          StartupReporter* reporter) {
  int code = RunDaemon(opt, inputs, [reporter, &opt](const Status& st) {
    reporter->Report(st);
    if (st.ok() && !opt.check_only) NotifyReady(opt.mountpoint);
  });
  if (!opt.check_only) NotifyStopping();
  return code;
}

// The log of a daemon nobody watches on a terminal (a service's, whose
// stderr the journal collects without levels) goes to syslog, with levels;
// -d keeps stderr for its FUSE trace, --check is a command, not a daemon.
void ChooseForegroundLog(const Options& opt) {
  if (opt.log_file.empty() && !opt.debug && !opt.check_only && !::isatty(STDERR_FILENO))
    SetLogToSyslog(true);
}

// zarrmount's own command line, made from mount(8)'s call of its helper
// (app/mount_helper.h), as main's argc and argv.
class HelperCommandLine {
 public:
  explicit HelperCommandLine(std::vector<std::string> args) : args_(std::move(args)) {
    for (std::string& a : args_) argv_.push_back(a.data());
    argv_.push_back(nullptr);
  }
  HelperCommandLine(const HelperCommandLine&) = delete;  // argv_ points into args_
  HelperCommandLine& operator=(const HelperCommandLine&) = delete;
  int argc() const { return static_cast<int>(args_.size()); }
  char** argv() { return argv_.data(); }

 private:
  std::vector<std::string> args_;
  std::vector<char*> argv_;
};

// Parent of the daemon: waits for its word on `fd` and returns the exit code
// of the command.
int WaitForDaemon(int fd, pid_t pid) {
  std::string msg;
  char buf[4096];
  ssize_t r;
  while ((r = ::read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    if (r > 0) msg.append(buf, static_cast<size_t>(r));
  ::close(fd);
  if (msg == "OK\n") return 0;
  if (msg.starts_with("ERR ")) {
    std::fprintf(stderr, "zarrmount: %s", msg.substr(4).c_str());
    ::waitpid(pid, nullptr, 0);
    return 1;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::fprintf(stderr, "zarrmount: the daemon exited during start-up (status %d)\n", status);
  return 1;
}

// The daemon's process: its own session, no terminal, no working directory.
void Detach(const Options& opt) {
  ::setsid();
  if (opt.log_file.empty()) SetLogToSyslog(true);
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    if (devnull > 2) ::close(devnull);
  }
  // Do not keep the caller's directory busy (all paths are absolute now).
  if (::chdir("/") != 0) LogWarning("cannot change directory to /");
}

// Forks the daemon; the command returns once the mount answers requests
// (0) or with the daemon's one-line reason (1).
int ServeInBackground(const Options& opt, const std::vector<ReferenceSource>& inputs) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("zarrmount: pipe");
    return 1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("zarrmount: fork");
    return 1;
  }
  if (pid > 0) {
    ::close(fds[1]);
    return WaitForDaemon(fds[0], pid);
  }
  ::close(fds[0]);
  Detach(opt);
  StartupReporter reporter(fds[1]);
  return Serve(opt, inputs, &reporter);
}

}  // namespace
}  // namespace zm

int main(int argc, char** argv) {
  using namespace zm;
  // Dozens of threads allocate ~1 MiB blocks: with one heap arena per
  // thread, freed blocks pile up unused in arenas. Few arenas keep the
  // daemon's memory close to what its caches hold. Blocks come from the
  // heaps, not from mmap, and freed heap memory is kept for the next blocks
  // rather than handed back: either way each reuse would cost a page fault
  // and a zeroed page per 4 KiB, a fifth of the daemon's CPU on cold reads.
  mallopt(M_ARENA_MAX, 4);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  std::optional<HelperCommandLine> helper;
  if (IsMountHelper(argv[0])) {
    auto call = TranslateMountHelperArgs(argc, argv);
    if (!call.ok()) {
      std::fprintf(stderr, "zarrmount: %s\n", call.status().message().c_str());
      return 2;
    }
    if (call->fake) return 0;
    helper.emplace(std::move(call->args));
    argc = helper->argc();
    argv = helper->argv();
  } else if (IsCommand(argc, argv)) {
    return RunCommand(argc, argv);
  }
  auto parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "zarrmount: %s\n", parsed.status().message().c_str());
    return 2;
  }
  Options opt = std::move(parsed).value();
  if (opt.help) {
    std::fputs(HelpText().c_str(), stdout);
    return 0;
  }
  if (opt.version) {
    std::fputs(VersionText().c_str(), stdout);
    return 0;
  }
  if (!IsRemoteSource(opt.source)) opt.source = Absolute(opt.source);
  // Expanded here, before the daemon leaves the working directory.
  // The inputs of an aggregation, or the files of a collection (none for
  // one SOURCE that is not a collection). Bucket globs are listed through
  // an origin stack of their own, gone before the daemon starts.
  std::vector<ReferenceSource> inputs;
  {
    std::optional<Stack> listing;
    if (std::any_of(opt.sources.begin(), opt.sources.end(),
                    [](const std::string& s) { return IsObjectGlob(s); })) {
      Options lo = opt;
      lo.check_only = true;
      lo.disk_cache = false;
      auto built = BuildStack(lo);
      if (!built.ok()) {
        std::fprintf(stderr, "zarrmount: %s\n", built.status().message().c_str());
        return 1;
      }
      listing.emplace(std::move(built).value());
    }
    Origin* lister = listing ? listing->origin.get() : nullptr;
    auto expanded = opt.aggregate() ? ExpandSources(opt.sources, lister)
                                    : ExpandFileCollection(opt.sources, lister);
    if (!expanded.ok()) {
      std::fprintf(stderr, "zarrmount: %s\n", expanded.status().message().c_str());
      // Several SOURCEs that are not a collection: the command line is wrong.
      return !opt.aggregate() && opt.sources.size() > 1 ? 2 : 1;
    }
    inputs = std::move(expanded).value();
  }
  if (!opt.cache_dir.empty() && opt.cache_dir.front() != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) opt.cache_dir = std::string(cwd) + "/" + opt.cache_dir;
  }
  if (!opt.shared_cache_key_file.empty() && opt.shared_cache_key_file.front() != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) opt.shared_cache_key_file = std::string(cwd) + "/" + opt.shared_cache_key_file;
  }
  if (!opt.log_file.empty()) {
    if (opt.log_file.front() != '/') {
      char cwd[PATH_MAX];
      if (getcwd(cwd, sizeof cwd)) opt.log_file = std::string(cwd) + "/" + opt.log_file;
    }
    if (!SetLogFile(opt.log_file)) {
      std::fprintf(stderr, "zarrmount: cannot open log file %s: %s\n", opt.log_file.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  if (!opt.check_only) {
    struct stat st;
    if (::stat(opt.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      std::fprintf(stderr, "zarrmount: mountpoint %s: %s\n", opt.mountpoint.c_str(),
                   errno && !S_ISDIR(st.st_mode) ? std::strerror(errno) : "not a directory");
      return 1;
    }
    opt.mountpoint = Absolute(opt.mountpoint);
  }

  if (opt.foreground || opt.check_only) {
    ChooseForegroundLog(opt);
    StartupReporter reporter(-1);
    return Serve(opt, inputs, &reporter);
  }

  return ServeInBackground(opt, inputs);
}
