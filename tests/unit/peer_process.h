// A second process for tests that need one (two daemons sharing an LMDB
// cache, a process holding LMDB's write lock): this test binary run again
// through posix_spawn, so the peer is a freshly exec'd process running one
// named test, not a fork() of the test process.
//
// Why not fork(): LMDB forbids using an environment across fork() and
// opening one file twice in one process, and a fork() of a process whose
// threads run (the store's writer thread, the sanitizers' own) copies
// whatever locks they hold into a child that can never release them.
#pragma once

#include <gtest/gtest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

extern char** environ;

namespace zm::testing {

// Starts this test binary running only `test` (a DISABLED_ test, which an
// ordinary run skips), with the environment variables `env` ("NAME=value")
// added. File descriptors without FD_CLOEXEC (pipe() ones) are inherited.
// Returns the child's pid, or -1.
inline pid_t SpawnPeer(const std::string& test, const std::vector<std::string>& env) {
  std::string filter = "--gtest_filter=" + test;
  std::vector<char*> argv = {const_cast<char*>("/proc/self/exe"), filter.data(),
                             const_cast<char*>("--gtest_also_run_disabled_tests")};
  argv.push_back(nullptr);
  std::vector<std::string> env_strings(env);
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()) != 0) return -1;
  return pid;
}

// Waits for `pid`; its exit status, or -1 if it did not exit normally.
inline int WaitPeer(pid_t pid) {
  int wstatus = 0;
  if (waitpid(pid, &wstatus, 0) != pid || !WIFEXITED(wstatus)) return -1;
  return WEXITSTATUS(wstatus);
}

// The value of an environment variable the parent set for its peer, or "".
inline std::string PeerArg(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

}  // namespace zm::testing
