#include "app/scan_workers.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

namespace zm {
namespace {

// The workers are this test binary running the DISABLED_ peer below, its
// answers on fd 3 (gtest prints on stdout), started by /bin/sh.
std::vector<std::string> PeerCommand() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  return {"/bin/sh", "-c",
          std::string("exec '") + self +
              "' --gtest_filter=ScanWorkersPeer.DISABLED_Worker --gtest_also_run_disabled_tests 3>&1 1>&2"};
}

// A worker whose scan answers by the input's name: "crash*" aborts,
// "exit*" exits with status 3 at once, "fail*" is a scan error, and any
// other input's references are "refs of NAME, SIZE" with two lines left
// out and one fetched range (the name, at offset SIZE).
TEST(ScanWorkersPeer, DISABLED_Worker) {
  int code = ServeScanWorker(
      [](const std::vector<std::string>& inputs, const std::vector<uint64_t>& sizes, size_t i) -> Result<ScannedInput> {
        const std::string& in = inputs[i];
        if (in.starts_with("crash")) std::abort();
        if (in.starts_with("exit")) ::_exit(3);
        if (in.starts_with("fail")) return InvalidArgument(in + ": not a NetCDF file");
        return ScannedInput{"refs of " + in + ", " + std::to_string(sizes[i]), {"v: left out", in},
                            {FetchedBytes{in, sizes[i], 4, std::string("\0bin", 4)}}};
      },
      0, 3);
  ::_exit(code);
}

// No worker is left behind, running or unreaped.
void ExpectNoChildren() {
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(ScanWorkers, AnswersComeInInputOrderWhateverTheWorkers) {
  std::vector<std::string> inputs;
  std::vector<uint64_t> sizes;
  for (int i = 0; i < 11; ++i) {
    inputs.push_back("f" + std::string(i, 'x'));
    sizes.push_back(1000 + i);
  }
  for (int jobs : {1, 3, 4, 20}) {
    std::vector<size_t> order;
    Status st = ScanInWorkers(inputs, jobs, PeerCommand(), [&](size_t i, ScannedInput in) {
      EXPECT_EQ(in.references, "refs of " + inputs[i] + ", " + std::to_string(1000 + i));
      EXPECT_EQ(in.left_out, std::vector<std::string>({"v: left out", inputs[i]}));
      EXPECT_EQ(in.fetched.size(), 1u);
      if (in.fetched.size() == 1) {
        EXPECT_EQ(in.fetched[0].url, inputs[i]);
        EXPECT_EQ(in.fetched[0].offset, 1000 + i);
        EXPECT_EQ(in.fetched[0].size, 4u);
        EXPECT_EQ(in.fetched[0].data, std::string("\0bin", 4));
      }
      order.push_back(i);
      return Status::Ok();
    }, sizes);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(order.size(), inputs.size()) << jobs;
    for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);
    ExpectNoChildren();
  }
}

TEST(ScanWorkers, AKilledWorkerIsOneErrorNamingItsFile) {
  const std::vector<std::string> inputs = {"a", "b", "c", "crash.nc", "d", "e"};
  Status st = ScanInWorkers(inputs, 2, PeerCommand(), [](size_t, ScannedInput) { return Status::Ok(); });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("crash.nc"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("signal " + std::to_string(SIGABRT)), std::string::npos) << st.message();
  ExpectNoChildren();
}

TEST(ScanWorkers, AWorkerExitingEarlyIsOneErrorNamingItsFile) {
  const std::vector<std::string> inputs = {"a", "exit.h5", "c"};
  Status st = ScanInWorkers(inputs, 3, PeerCommand(), [](size_t, ScannedInput) { return Status::Ok(); });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exit.h5"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("exited with status 3"), std::string::npos) << st.message();
  ExpectNoChildren();
}

TEST(ScanWorkers, AScanErrorIsPassedOnAsTheWorkerSaidIt) {
  const std::vector<std::string> inputs = {"a", "b", "fail.nc", "d", "e", "f", "g"};
  Status st = ScanInWorkers(inputs, 2, PeerCommand(), [](size_t, ScannedInput) { return Status::Ok(); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "fail.nc: not a NetCDF file");
  ExpectNoChildren();
}

TEST(ScanWorkers, AnErrorOfTheConsumerEndsTheRun) {
  const std::vector<std::string> inputs = {"a", "b", "c", "d"};
  size_t consumed = 0;
  Status st = ScanInWorkers(inputs, 2, PeerCommand(), [&](size_t i, ScannedInput) {
    ++consumed;
    return i == 1 ? InvalidArgument("b: bad references") : Status::Ok();
  });
  EXPECT_EQ(st.message(), "b: bad references");
  EXPECT_EQ(consumed, 2u);
  ExpectNoChildren();
}

TEST(ScanWorkers, AProgramThatCannotStartIsAnError) {
  Status st = ScanInWorkers({"a", "b"}, 2, {"/nonexistent/zarrmount"}, [](size_t, ScannedInput) {
    return Status::Ok();
  });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent/zarrmount"), std::string::npos) << st.message();
  ExpectNoChildren();
}

// The small worker program is used where it is installed beside the
// program (a build tree) or in ../libexec/zarrmount (the package); else the
// program itself, and never a worker that cannot run.
TEST(ScanWorkers, TheWorkerProgramIsTheSmallOneWhereFound) {
  char tmpl[] = "/tmp/zm-worker-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  auto make = [](const std::string& path, mode_t mode) {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr) << path;
    std::fclose(f);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  };
  ASSERT_EQ(::mkdir((root + "/bin").c_str(), 0755), 0);
  const std::string self = root + "/bin/zarrmount";
  make(self, 0755);
  EXPECT_EQ(ScanProgram(self), "/proc/self/exe");
  EXPECT_EQ(ScanProgram(""), "/proc/self/exe");

  ASSERT_EQ(::mkdir((root + "/libexec").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/libexec/zarrmount").c_str(), 0755), 0);
  const std::string packaged = root + "/libexec/zarrmount/zarrmount-scan";
  make(packaged, 0644);  // not executable: not used
  EXPECT_EQ(ScanProgram(self), "/proc/self/exe");
  ASSERT_EQ(::chmod(packaged.c_str(), 0755), 0);
  EXPECT_EQ(ScanProgram(self), packaged);

  const std::string beside = root + "/bin/zarrmount-scan";
  make(beside, 0755);
  EXPECT_EQ(ScanProgram(self), beside);  // the build tree's comes first
  for (const std::string& p : {beside, packaged, self}) ::unlink(p.c_str());
  for (const char* d : {"/libexec/zarrmount", "/libexec", "/bin", ""}) ::rmdir((root + d).c_str());
}

TEST(ScanWorkers, TheWorkerCommandCarriesTheScanOptions) {
  Options opt;
  opt.inline_threshold = 100;
  opt.maps = {"s3://b/=http://m/b/"};
  opt.s3_anonymous = true;
  opt.max_connections = 64;
  const std::vector<std::string> cmd = ScanWorkerCommand(opt, 4);
  ASSERT_GE(cmd.size(), 3u);
  EXPECT_EQ(cmd[0], "/proc/self/exe");  // no zarrmount-scan beside the test
  EXPECT_EQ(cmd[1], "scan");
  EXPECT_EQ(cmd[2], "--worker");
  auto has = [&](const std::string& a, const std::string& b) {
    for (size_t i = 0; i + 1 < cmd.size(); ++i)
      if (cmd[i] == a && cmd[i + 1] == b) return true;
    return false;
  };
  EXPECT_TRUE(has("--inline-threshold", "100"));
  EXPECT_TRUE(has("--map", "s3://b/=http://m/b/"));
  EXPECT_TRUE(has("--max-connections", "16"));  // shared out among the workers
  EXPECT_EQ(cmd.back(), "--s3-anonymous");
}

}  // namespace
}  // namespace zm
