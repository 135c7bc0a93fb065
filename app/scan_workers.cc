#include "app/scan_workers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <string_view>

#include "base/units.h"

extern char** environ;

namespace zm {
namespace {

constexpr char kSelf[] = "/proc/self/exe";
constexpr char kScanProgramName[] = "zarrmount-scan";
constexpr size_t kFrameHeaderBytes = 1 + 8;

void PutU64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

// Takes a u64 off the front of `in`; false if too short.
bool TakeU64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = GetU64(*in);
  in->remove_prefix(8);
  return true;
}

// Takes a length-prefixed string off the front of `in`.
bool TakeString(std::string_view* in, std::string* out) {
  uint64_t n = 0;
  if (!TakeU64(in, &n) || in->size() < n) return false;
  out->assign(in->substr(0, n));
  in->remove_prefix(n);
  return true;
}

void PutString(std::string_view s, std::string* out) {
  PutU64(s.size(), out);
  out->append(s);
}

std::string EncodeScanned(const ScannedInput& in) {
  std::string out;
  PutString(in.references, &out);
  PutU64(in.left_out.size(), &out);
  for (const std::string& line : in.left_out) PutString(line, &out);
  PutU64(in.fetched.size(), &out);
  for (const FetchedBytes& f : in.fetched) {
    PutString(f.url, &out);
    PutU64(f.offset, &out);
    PutU64(f.size, &out);
    PutString(f.data, &out);
  }
  return out;
}

bool DecodeScanned(std::string_view in, ScannedInput* out) {
  uint64_t n = 0;
  if (!TakeString(&in, &out->references) || !TakeU64(&in, &n)) return false;
  for (uint64_t k = 0; k < n; ++k) {
    std::string line;
    if (!TakeString(&in, &line)) return false;
    out->left_out.push_back(std::move(line));
  }
  if (!TakeU64(&in, &n)) return false;
  for (uint64_t k = 0; k < n; ++k) {
    FetchedBytes f;
    if (!TakeString(&in, &f.url) || !TakeU64(&in, &f.offset) || !TakeU64(&in, &f.size) ||
        !TakeString(&in, &f.data))
      return false;
    out->fetched.push_back(std::move(f));
  }
  return in.empty();
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ExitDescription(int wstatus) {
  if (WIFSIGNALED(wstatus))
    return "was killed by signal " + std::to_string(WTERMSIG(wstatus)) + " (" + ::strsignal(WTERMSIG(wstatus)) + ")";
  if (WIFEXITED(wstatus)) return "exited with status " + std::to_string(WEXITSTATUS(wstatus));
  return "ended";
}

// One answer of a worker, as read from its pipe.
struct Frame {
  char kind = 0;
  std::string payload;
};

// The parent's view of one worker process.
struct Worker {
  pid_t pid = -1;
  int to = -1;    // its stdin
  int from = -1;  // its stdout
  std::vector<size_t> assigned;  // input indexes, in the order it scans them
  size_t framed = 0;             // answers read so far
  std::string buffer;            // bytes read, not yet a whole answer
  std::deque<Frame> frames;      // answers not yet consumed

  // Moves the whole answers at the front of `buffer` into `frames`.
  void TakeFrames() {
    size_t at = 0;
    while (buffer.size() - at >= kFrameHeaderBytes) {
      const std::string_view head(buffer.data() + at, kFrameHeaderBytes);
      const uint64_t length = GetU64(head.substr(1));
      if (buffer.size() - at - kFrameHeaderBytes < length) break;
      Frame f;
      f.kind = head[0];
      f.payload = buffer.substr(at + kFrameHeaderBytes, length);
      frames.push_back(std::move(f));
      ++framed;
      at += kFrameHeaderBytes + length;
    }
    buffer.erase(0, at);
  }
};

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

// The scan program's and its workers' environment: ours, and
// GNUTLS_NO_IMPLICIT_INIT=1. libgnutls is loaded into every process that
// loads libcurl (through librtmp), and by default its constructor
// initialises it: 0.7-0.9 MiB of each process's peak (scripts/bench_scan.sh),
// for a library a scan never calls (libcurl's TLS is OpenSSL's; librtmp
// initialises GnuTLS itself if ever used).
std::vector<std::string> WorkerEnvironment() {
  constexpr std::string_view kNoImplicitInit = "GNUTLS_NO_IMPLICIT_INIT=";
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with(kNoImplicitInit)) env.emplace_back(*e);
  env.push_back(std::string(kNoImplicitInit) + "1");
  return env;
}

// `strings` as the null-terminated array of pointers exec takes; valid
// while `strings` is.
std::vector<char*> ExecArray(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// This program's path, links resolved; empty if unknown.
std::string SelfPath() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::canonical(kSelf, ec);
  return ec ? std::string() : self.string();
}

// Starts `command` with pipes for its stdin and stdout; its stderr is ours
// (its warnings are the scan's).
Status Spawn(const std::vector<std::string>& command, Worker* w) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return IoError(std::string("scan workers: pipe: ") + std::strerror(errno));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return IoError(std::string("scan workers: pipe: ") + std::strerror(errno));
  }
  std::vector<std::string> owned = command;
  owned[0] = "zarrmount";
  std::vector<char*> argv = ExecArray(owned);
  std::vector<std::string> env = WorkerEnvironment();
  std::vector<char*> envp = ExecArray(env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  int rc = ::posix_spawn(&w->pid, command[0].c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    w->pid = -1;
    return IoError("scan workers: cannot start " + command[0] + ": " + std::strerror(rc));
  }
  w->to = in[1];
  w->from = out[0];
  return Status::Ok();
}

// Ends every worker still running (on an error) and reaps it.
void KillAll(std::vector<Worker>* workers) {
  for (Worker& w : *workers) {
    CloseFd(&w.to);
    CloseFd(&w.from);
    if (w.pid <= 0) continue;
    ::kill(w.pid, SIGKILL);
    int wstatus = 0;
    while (::waitpid(w.pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    w.pid = -1;
  }
}

// The error of worker `w` ending (end of its output) before answering for
// every input: it names the input it was scanning.
Status WorkerDied(const std::vector<std::string>& inputs, Worker* w) {
  int wstatus = 0;
  while (::waitpid(w->pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  w->pid = -1;
  const std::string& file = inputs[w->assigned[std::min(w->framed, w->assigned.size() - 1)]];
  return IoError(file + ": the scan's worker process " + ExitDescription(wstatus) + " while scanning it");
}

// Reads what the workers have written, waiting until at least one has
// written something or ended.
Status ReadSome(const std::vector<std::string>& inputs, std::vector<Worker>* workers) {
  std::vector<pollfd> fds;
  std::vector<Worker*> owners;
  for (Worker& w : *workers)
    if (w.from >= 0) {
      fds.push_back({w.from, POLLIN, 0});
      owners.push_back(&w);
    }
  if (fds.empty()) return IoError("scan workers: no worker left to answer");
  int n = ::poll(fds.data(), fds.size(), -1);
  if (n < 0) return errno == EINTR ? Status::Ok() : IoError(std::string("scan workers: poll: ") + std::strerror(errno));
  char buf[64 * 1024];
  for (size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents == 0) continue;
    Worker* w = owners[k];
    ssize_t got = ::read(w->from, buf, sizeof buf);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got > 0) {
      w->buffer.append(buf, static_cast<size_t>(got));
      w->TakeFrames();
      // A scan's error ends the run at once, whatever comes before it.
      for (const Frame& f : w->frames)
        if (f.kind != 'R') return InvalidArgument(f.payload);
      continue;
    }
    CloseFd(&w->from);  // its end of output
    if (w->framed < w->assigned.size() || !w->buffer.empty()) return WorkerDied(inputs, w);
  }
  return Status::Ok();
}

// Reaps the workers after their last answer; one that then fails is an error.
Status ReapAll(std::vector<Worker>* workers) {
  Status first;
  for (Worker& w : *workers) {
    CloseFd(&w.to);
    CloseFd(&w.from);
    if (w.pid <= 0) continue;
    int wstatus = 0;
    while (::waitpid(w.pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    w.pid = -1;
    if (first.ok() && !(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0))
      first = IoError("a scan worker process " + ExitDescription(wstatus) + " after its last file");
  }
  return first;
}

Status RunWorkers(const std::vector<std::string>& inputs, const std::vector<uint64_t>& sizes,
                  const std::vector<std::string>& command,
                  const std::function<Status(size_t, ScannedInput)>& consume, std::vector<Worker>* workers) {
  for (size_t i = 0; i < inputs.size(); ++i) (*workers)[i % workers->size()].assigned.push_back(i);
  for (Worker& w : *workers) ZM_RETURN_IF_ERROR(Spawn(command, &w));
  // A worker reads all its inputs before it writes anything, so these
  // writes cannot wait on our reads.
  for (Worker& w : *workers) {
    std::string message;
    PutU64(w.assigned.size(), &message);
    for (size_t i : w.assigned) {
      PutString(inputs[i], &message);
      PutU64(i < sizes.size() ? sizes[i] : 0, &message);
    }
    if (!WriteAll(w.to, message)) {
      CloseFd(&w.to);
      CloseFd(&w.from);
      return WorkerDied(inputs, &w);
    }
    CloseFd(&w.to);
  }
  for (size_t next = 0; next < inputs.size();) {
    Worker& w = (*workers)[next % workers->size()];
    if (w.frames.empty()) {
      ZM_RETURN_IF_ERROR(ReadSome(inputs, workers));
      continue;
    }
    Frame f = std::move(w.frames.front());
    w.frames.pop_front();
    if (f.kind != 'R') return InvalidArgument(f.payload);
    ScannedInput in;
    if (!DecodeScanned(f.payload, &in))
      return IoError(inputs[next] + ": the scan's worker process sent a malformed answer");
    ZM_RETURN_IF_ERROR(consume(next, std::move(in)));
    ++next;
  }
  return ReapAll(workers);
}

}  // namespace

int ScanJobs(const Options& opt) {
  if (opt.jobs > 0) return opt.jobs;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? static_cast<int>(cpus) : 1;
}

std::string ScanProgram(const std::string& self) {
  if (!self.empty()) {
    const std::filesystem::path dir = std::filesystem::path(self).parent_path();
    for (const std::filesystem::path& place : {dir, dir / ".." / "libexec" / "zarrmount"}) {
      const std::filesystem::path program = (place / kScanProgramName).lexically_normal();
      struct stat st;
      if (::stat(program.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(program.c_str(), X_OK) == 0)
        return program.string();
    }
  }
  return kSelf;
}

void ExecScanProgram(int argc, char** argv) {
  const std::string self = SelfPath();
  if (self.empty()) return;
  const std::string program = ScanProgram(self);
  std::error_code ec;
  if (program == kSelf || std::filesystem::equivalent(program, self, ec)) return;
  std::vector<std::string> args(argv, argv + argc);
  std::vector<std::string> env = WorkerEnvironment();
  ::execve(program.c_str(), ExecArray(args).data(), ExecArray(env).data());  // returns only if it failed
}

std::vector<std::string> ScanWorkerCommand(const Options& opt, int jobs) {
  // Found once: a daemon keeps the program it started with.
  static const std::string program = ScanProgram(SelfPath());
  const int connections = std::max(1, opt.max_connections / std::max(jobs, 1));
  std::vector<std::string> args = {program, "scan", "--worker", "--inline-threshold", std::to_string(opt.inline_threshold),
                                   "--max-connections", std::to_string(connections)};
  auto each = [&](const char* name, const std::vector<std::string>& values) {
    for (const std::string& v : values) {
      args.push_back(name);
      args.push_back(v);
    }
  };
  each("--concat", opt.concat_dims);
  if (!opt.identical_dims.empty()) {
    std::string joined;
    for (const std::string& a : opt.identical_dims) joined += (joined.empty() ? "" : ",") + a;
    args.push_back("--identical-dims");
    args.push_back(joined);
  }
  each("--local-root", opt.local_roots);
  each("--map", opt.maps);
  each("--header", opt.headers);
  each("--bearer-token-env", opt.bearer_envs);
  auto one = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    args.push_back(name);
    args.push_back(value);
  };
  one("--s3-endpoint", opt.s3_endpoint);
  one("--s3-region", opt.s3_region);
  one("--s3-profile", opt.s3_profile);
  if (opt.s3_anonymous) args.push_back("--s3-anonymous");
  return args;
}

Status ScanInWorkers(const std::vector<std::string>& inputs, int jobs,
                     const std::vector<std::string>& command,
                     const std::function<Status(size_t, ScannedInput)>& consume,
                     const std::vector<uint64_t>& sizes) {
  if (inputs.empty()) return Status::Ok();
  if (command.empty()) return InvalidArgument("scan workers: no command");
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<Worker> workers(std::min<size_t>(std::max(jobs, 1), inputs.size()));
  Status st = RunWorkers(inputs, sizes, command, consume, &workers);
  if (!st.ok()) KillAll(&workers);
  return st;
}

int ServeScanWorker(
    const std::function<Result<ScannedInput>(const std::vector<std::string>& inputs,
                                             const std::vector<uint64_t>& sizes, size_t i)>& scan,
    int requests_fd, int answers_fd) {
  int out = answers_fd;
  if (answers_fd == 1) {
    // The answers get a descriptor of their own; stray prints go to stderr.
    out = ::fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (out < 0 || ::dup2(2, 1) < 0) return 1;
  }
  std::string request;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(requests_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 1;
    if (n == 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  std::vector<std::string> inputs;
  std::vector<uint64_t> sizes;
  std::string_view rest(request);
  uint64_t count = 0;
  if (!TakeU64(&rest, &count)) return 1;
  for (uint64_t k = 0; k < count; ++k) {
    std::string input;
    uint64_t size = 0;
    if (!TakeString(&rest, &input) || !TakeU64(&rest, &size)) return 1;
    inputs.push_back(std::move(input));
    sizes.push_back(size);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    Result<ScannedInput> r = scan(inputs, sizes, i);
    std::string frame(1, r.ok() ? 'R' : 'E');
    const std::string payload = r.ok() ? EncodeScanned(*r) : r.status().message();
    PutU64(payload.size(), &frame);
    if (!WriteAll(out, frame) || !WriteAll(out, payload)) return 1;
    if (!r.ok()) return 1;
  }
  return 0;
}

}  // namespace zm
