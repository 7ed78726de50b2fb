// `train` on two processes (policy/distributed.h): torchrun-style variables set by hand and
// a real `mpirun` reach the single-process weights (across a --resume too), and a killed
// rank ends the run with an error naming it.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "policy/policy.h"
#include "tests/common/test_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using test::CmdResult;
using test::Shell;

const std::string kBin = DF_DREAMFORGE_BIN;
const std::string kDemo = std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5";

// A port of its own per test process (ctest runs tests in parallel).
int Port(int k) { return 20000 + static_cast<int>(getpid() % 15000) * 2 + k; }

// Largest absolute difference between the last weights of two runs.
double WeightDifference(const fs::path& a, const fs::path& b) {
  const auto pa = policy::Policy::Load(a, "last")->net->named_parameters();
  const auto pb = policy::Policy::Load(b, "last")->net->named_parameters();
  EXPECT_EQ(pa.size(), pb.size());
  double worst = 0;
  for (const auto& item : pa) worst = std::max(worst, (item.value() - pb[item.key()]).abs().max().item<double>());
  return worst;
}

std::vector<nlohmann::json> Metrics(const fs::path& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

class TrainDistTest : public test::TempDirTest {
 protected:
  fs::path Dreams() {
    const fs::path out = dir_ / "dreams.hdf5";
    const CmdResult r = Shell(kBin + " dream --demo " + kDemo + " --count 6 --seed 3 --out " + out.string());
    EXPECT_EQ(r.status, 0) << r.output;
    return out;
  }
  // Both ranks, torchrun style, in the background of one shell; returns rank 0's result.
  CmdResult TwoRanks(const std::string& args, int port) const {
    std::string cmd;
    for (int rank = 1; rank >= 0; --rank) {
      cmd += "RANK=" + std::to_string(rank) + " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
             std::to_string(port) + " " + kBin + " train " + args + (rank == 1 ? " >" + (dir_ / "rank1.log").string() + " 2>&1 & " : "");
    }
    CmdResult r = Shell(cmd + "; rc=$?; wait; exit $rc");
    r.output += "\n[rank 1] " + test::ReadBytes(dir_ / "rank1.log");
    return r;
  }
};

// The tolerance: the same global batches, draws and updates; only the order in which the
// two halves' gradients are added differs (float32 rounding, ~1e-7 relative per step),
// and Adam carries it on. Measured: at most 2e-6 here.
constexpr double kTolerance = 1e-4;

TEST_F(TrainDistTest, TwoProcessesReachTheSingleProcessWeightsAcrossAResumeAndUnderMpirun) {
  const fs::path data = Dreams();
  for (const std::string policy : {"mlp", "flow"}) {
    const std::string common = "--data " + data.string() + " --policy " + policy +
                               " --epochs 3 --batch 64 --hidden 64 64 --seed 4 --threads 1 --out ";
    const fs::path single = dir_ / (policy + "_single"), dist = dir_ / (policy + "_dist");
    CmdResult r = Shell(kBin + " train " + common + single.string());
    ASSERT_EQ(r.status, 0) << r.output;
    // Two ranks for 2 epochs, stopped, then resumed on two ranks for the third.
    r = TwoRanks(common + dist.string() + " --stop-after 2", Port(0));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("on 2 processes: 2/3 epochs (stopped; --resume continues)"));
    r = TwoRanks(common + dist.string() + " --resume", Port(0));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("on 2 processes: 3/3 epochs"));
    const double diff = WeightDifference(single, dist);
    std::printf("%s: largest weight difference, 2 processes (resumed) vs 1: %.3g\n", policy.c_str(), diff);
    EXPECT_LT(diff, kTolerance) << policy;
    const auto ms = Metrics(single), md = Metrics(dist);
    ASSERT_EQ(ms.size(), 3u);
    ASSERT_EQ(md.size(), 3u);
    for (size_t i = 0; i < ms.size(); ++i) {
      EXPECT_NEAR(md[i]["train_loss"].get<double>(), ms[i]["train_loss"].get<double>(),
                  1e-4 * ms[i]["train_loss"].get<double>())
          << policy << " epoch " << i + 1;
      EXPECT_EQ(md[i]["processes"], 2);
      EXPECT_GE(md[i]["allreduce_seconds"].get<double>(), 0.0);
    }
    if (policy != "mlp") continue;
    if (Shell("command -v mpirun").status != 0) {
      std::printf("mpirun is not installed (tools/setup.sh installs openmpi-bin): the mpirun launch was skipped\n");
      continue;
    }
    const fs::path mpi = dir_ / "mpi";
    r = Shell("mpirun --allow-run-as-root --oversubscribe -np 2 -x MASTER_PORT=" + std::to_string(Port(1)) + " " +
              kBin + " train " + common + mpi.string());
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("rank 1 of 2 (mpirun)"));
    EXPECT_THAT(r.output, HasSubstr("on 2 processes: 3/3 epochs"));
    EXPECT_LT(WeightDifference(single, mpi), kTolerance);
  }
}

TEST_F(TrainDistTest, AKilledRankEndsTheRunNamingIt) {
  const fs::path data = Dreams();
  const fs::path run = dir_ / "run";
  std::vector<pid_t> pids;
  const std::string port = std::to_string(Port(0));  // here: getpid() differs in the children
  for (int rank = 0; rank < 2; ++rank) {
    const fs::path log = dir_ / ("rank" + std::to_string(rank) + ".log");
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1), dup2(fd, 2);
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", "2", 1);
      setenv("MASTER_PORT", port.c_str(), 1);
      execl(kBin.c_str(), kBin.c_str(), "train", "--data", data.c_str(), "--epochs", "400", "--batch", "32",
            "--hidden", "32", "--threads", "1", "--out", run.c_str(), nullptr);
      _exit(127);
    }
    pids.push_back(pid);
  }
  // Once rank 0 has finished an epoch, rank 1 dies without a word.
  for (const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
       Metrics(run).empty() && std::chrono::steady_clock::now() < end;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(Metrics(run).empty()) << test::ReadBytes(dir_ / "rank0.log") << "\n[rank 1] " << test::ReadBytes(dir_ / "rank1.log");
  kill(pids[1], SIGKILL);
  waitpid(pids[1], nullptr, 0);
  const auto killed = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(pids[0], &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - killed > std::chrono::seconds(120)) {
      kill(pids[0], SIGKILL);
      waitpid(pids[0], &status, 0);
      FAIL() << "rank 0 still ran 120 s after rank 1 was killed";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string out = test::ReadBytes(dir_ / "rank0.log");
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_EQ(WEXITSTATUS(status), 1) << out;
  EXPECT_THAT(out, HasSubstr("rank 1 of 2 stopped answering; rank 0 ends the run"));
  std::printf("rank 0 ended %.1f s after rank 1 was killed\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
}

TEST_F(TrainDistTest, BadLauncherVariablesAreNamed) {
  const fs::path data = Dreams();
  CmdResult r = Shell("RANK=2 WORLD_SIZE=2 " + kBin + " train --data " + data.string() + " --out " + (dir_ / "x").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("rank 2 is outside 0..1 (torchrun variables)"));
  r = Shell("RANK=0 WORLD_SIZE=two " + kBin + " train --data " + data.string() + " --out " + (dir_ / "x").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("environment WORLD_SIZE='two': expected an integer >= 1"));
  // Nobody else comes: the rendezvous gives up after --dist-timeout, naming the address.
  r = Shell("RANK=0 WORLD_SIZE=2 MASTER_PORT=" + std::to_string(Port(1)) + " " + kBin + " train --data " +
            data.string() + " --dist-timeout 2 --out " + (dir_ / "y").string());
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("rank 0 of 2: the rendezvous at 127.0.0.1:" + std::to_string(Port(1))));
}

}  // namespace
}  // namespace dreamforge
