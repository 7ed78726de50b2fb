// dreamforge dream / merge end to end: the real binary, killed and resumed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "tests/common/test_util.h"
#include "tests/tools/writer_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using test::CmdResult;
using test::Shell;
const auto& Bytes = test::ReadBytes;

const std::string kBin = DF_DREAMFORGE_BIN;
const std::string kDemo = std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5";

class DreamCliTest : public test::TempDirTest {
 protected:
  std::string Dream(const std::string& out, const std::string& extra = "") const {
    return kBin + " dream --demo " + kDemo + " --count 8 --chunk 2 --seed 11 --workers 1 --out " +
           (dir_ / out).string() + " " + extra;
  }
};

// Several kills per run: each trial SIGKILLs the run once its part k (drawn) is on disk,
// then after random delays (drawn, within an uninterrupted run's length) in the runs that
// resume it, then lets it finish. No kill leaves a final file that is not the complete
// one, and the finished file equals the uninterrupted run's bytes.
TEST_F(DreamCliTest, KilledAndResumedEqualsUninterrupted) {
  const test::ProcRun full = test::RunArgs(test::Words(Dream("full.hdf5")), dir_ / "full.log");
  ASSERT_EQ(full.status, 0) << full.output;
  const std::string expected = Bytes(dir_ / "full.hdf5");

  const fs::path out = dir_ / "resumed.hdf5", parts = out.string() + ".parts";
  const std::vector<std::string> cmd = test::Words(Dream("resumed.hdf5"));
  const auto parts_on_disk = [&] {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(parts, ec)) {  // a part with its stats
      n += e.path().extension() == ".hdf5" && fs::exists(e.path().string() + ".json");
    }
    return n;
  };
  std::mt19937 rng(1101);
  std::map<std::string, int> phases;
  int kills = 0;
  constexpr int kTrials = 3, kDelayKills = 3;
  for (int trial = 0; trial < kTrials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    fs::remove_all(parts);
    fs::remove(out);
    fs::remove(dir_ / "resumed.summary.json");
    // Kill 1: once part k (of 4) is on disk.
    const int k = std::uniform_int_distribution<int>(0, 2)(rng);
    char name[32];
    std::snprintf(name, sizeof name, "chunk_%06d.hdf5", k);
    test::ProcRun r = test::RunArgs(cmd, dir_ / "killed.log", -1, 300, parts / name);
    ASSERT_TRUE(r.killed) << "the run finished before part " << k << " appeared";
    ++kills;
    ++phases["part " + std::to_string(k) + " written"];
    EXPECT_FALSE(fs::exists(out)) << "a killed run must not leave the final file";
    // Kills 2..: after random delays, each in a run resuming the last.
    bool finished = false;
    for (int d = 0; d < kDelayKills && !finished; ++d) {
      const int before = parts_on_disk();
      r = test::RunArgs(cmd, dir_ / "killed.log", std::uniform_real_distribution<double>(0, full.seconds)(rng));
      finished = !r.killed;
      if (finished) {
        ASSERT_EQ(r.status, 0) << r.output;
        ++phases["finished"];
      } else {
        ++kills;
        ++phases[fs::exists(out) ? "after the rename" : "with " + std::to_string(before) + " parts on disk"];
        EXPECT_TRUE(!fs::exists(out) || Bytes(out) == expected) << "a killed run left an incomplete " << out;
      }
    }
    if (!finished) {
      // The run resumes from every part on disk (after a kill past the final rename, the
      // parts its cleanup had not removed yet).
      const int parts_before = parts_on_disk();
      if (!fs::exists(out)) {
        EXPECT_GE(parts_before, k + 1);
      }
      const CmdResult again = Shell(Dream("resumed.hdf5"));
      ASSERT_EQ(again.status, 0) << again.output;
      const nlohmann::json summary = nlohmann::json::parse(Bytes(dir_ / "resumed.summary.json"));
      EXPECT_EQ(summary["resumed_chunks"].get<int>(), parts_before);
    }
    EXPECT_TRUE(Bytes(out) == expected) << "resumed file differs";
    const nlohmann::json summary = nlohmann::json::parse(Bytes(dir_ / "resumed.summary.json"));
    EXPECT_EQ(summary["kept"], 8);
    for (const char* key : {"attempts", "kept", "failures", "success_rate", "wall_seconds",
                            "kept_per_second", "workers"}) {
      EXPECT_TRUE(summary.contains(key)) << key;
    }
    EXPECT_FALSE(fs::exists(parts));
  }
  std::printf("kill summary: dream: %d runs, %d kills; phases: %s\n", kTrials, kills, test::Counts(phases).c_str());
}

TEST_F(DreamCliTest, ShardsFromTheCommandLineAndFromMpiMergeToTheSingleRun) {
  ASSERT_EQ(Shell(Dream("full.hdf5")).status, 0);
  ASSERT_EQ(Shell(Dream("s0.hdf5", "--shard 0/2")).status, 0);
  // The second shard learns its rank from mpirun's variables, and its file name from them.
  const CmdResult s1 = Shell("OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 " + Dream("s{shard}.hdf5"));
  ASSERT_EQ(s1.status, 0) << s1.output;
  const CmdResult m = Shell(kBin + " merge " + (dir_ / "s0.hdf5").string() + " " +
                            (dir_ / "s1.hdf5").string() + " --out " + (dir_ / "m.hdf5").string());
  ASSERT_EQ(m.status, 0) << m.output;
  EXPECT_TRUE(Bytes(dir_ / "full.hdf5") == Bytes(dir_ / "m.hdf5"));
  const CmdResult missing = Shell(kBin + " merge " + (dir_ / "s0.hdf5").string() + " --out " +
                                  (dir_ / "m2.hdf5").string());
  EXPECT_EQ(missing.status, 2);
  EXPECT_THAT(missing.output, HasSubstr("missing"));
}

// A real launcher: Open MPI's mpirun starts both shards with the same arguments; {shard}
// in --out gives each its file, and merge joins them into the single-process bytes. A
// Slurm array is simulated by its variables (no daemon needed).
TEST_F(DreamCliTest, MpirunAndSlurmArrayShardsMergeToTheSingleRun) {
  const std::string dream = kBin + " dream --demo " + kDemo + " --count 20 --chunk 4 --seed 5 --workers 1 --out ";
  ASSERT_EQ(Shell(dream + (dir_ / "full.hdf5").string()).status, 0);
  // Without {shard}, every process would write the same file: refused, naming the launcher.
  const CmdResult same = Shell("OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 " + dream + (dir_ / "x.hdf5").string());
  EXPECT_EQ(same.status, 2);
  EXPECT_THAT(same.output, HasSubstr("every process of this launch (OMPI_COMM_WORLD_SIZE=2) would write this one file; put {shard} in it"));
  const std::string shards = (dir_ / "mpi.{shard}.hdf5").string();
  if (Shell("command -v mpirun").status == 0) {
    const CmdResult r = Shell("mpirun --allow-run-as-root --oversubscribe -np 2 " + dream + shards);
    ASSERT_EQ(r.status, 0) << r.output;
    const CmdResult m = Shell(kBin + " merge " + (dir_ / "mpi.0.hdf5").string() + " " + (dir_ / "mpi.1.hdf5").string() +
                              " --out " + (dir_ / "mpi.hdf5").string());
    ASSERT_EQ(m.status, 0) << m.output;
    EXPECT_TRUE(Bytes(dir_ / "full.hdf5") == Bytes(dir_ / "mpi.hdf5"));
  } else {
    std::printf("mpirun is not installed (tools/setup.sh installs openmpi-bin): the mpirun launch was skipped\n");
  }
  const std::string slurm = (dir_ / "slurm.{shard}.hdf5").string();
  const CmdResult a = Shell("SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=3 SLURM_ARRAY_TASK_COUNT=2 " + dream + slurm);
  const CmdResult b = Shell("SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_MIN=3 SLURM_ARRAY_TASK_COUNT=2 " + dream + slurm);
  ASSERT_EQ(a.status, 0) << a.output;
  ASSERT_EQ(b.status, 0) << b.output;
  const CmdResult m = Shell(kBin + " merge " + (dir_ / "slurm.0.hdf5").string() + " " + (dir_ / "slurm.1.hdf5").string() +
                            " --out " + (dir_ / "slurm.hdf5").string());
  ASSERT_EQ(m.status, 0) << m.output;
  EXPECT_TRUE(Bytes(dir_ / "full.hdf5") == Bytes(dir_ / "slurm.hdf5"));
}

TEST_F(DreamCliTest, BadSpecsAndFlagsAreRejectedNamingTheField) {
  const fs::path spec = dir_ / "bad.yaml";
  const auto run_with = [&](const std::string& yaml) {
    std::ofstream(spec) << yaml;
    return Shell(Dream("x.hdf5", "--perturb " + spec.string()));
  };
  CmdResult r = run_with("friction: {dist: uniform, min: 1.2, max: 0.4}\n");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.yaml: friction: min (1.2) is greater than max (0.4)"));
  r = run_with("gravity: {dist: constant, value: 1}\n");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.yaml: gravity: unknown field"));
  r = run_with("mass_scale: {dist: uniform, min: -1, max: 2}\n");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.yaml: mass_scale: values must be > 0"));
  r = run_with("");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.yaml: empty spec"));
  r = run_with("friction: {dist: uniform, min: 0.4, max: 1.2}\nfriction: {dist: constant, value: 0}\n");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("bad.yaml: friction: duplicated key"));
  // An absurd count is refused at once (it used to list every index before any output).
  r = Shell(kBin + " dream --demo " + kDemo + " --count 2000000000 --out " + (dir_ / "x.hdf5").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("dream: --count 2000000000: expected 1..10000000 dreams"));
  r = Shell(Dream("x.hdf5", "--shard 3/2"));
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("--shard '3/2'"));
  r = Shell(kBin + " dream --demo /nope.hdf5 --out " + (dir_ / "x.hdf5").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("/nope.hdf5"));
  EXPECT_FALSE(fs::exists(dir_ / "x.hdf5"));
}

TEST_F(DreamCliTest, EvalOfTheReplayBaselinePrintsOneJsonObject) {
  const CmdResult r = Shell(kBin + " eval --baseline replay --demo " + kDemo +
                            " --episodes 4 --workers 2 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  // The progress lines go to stderr (merged here); the JSON object is the last line.
  std::string last = r.output.substr(0, r.output.find_last_not_of('\n') + 1);
  last = last.substr(last.find_last_of('\n') + 1);
  const nlohmann::json j = nlohmann::json::parse(last);
  for (const char* key : {"episodes", "successes", "success_rate", "ci_low", "ci_high", "failures"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["episodes"], 4);
  EXPECT_LE(j["ci_low"].get<double>(), j["success_rate"].get<double>());
  EXPECT_GE(j["ci_high"].get<double>(), j["success_rate"].get<double>());
  const CmdResult bad = Shell(kBin + " eval --baseline dance --demo " + kDemo);
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.output, HasSubstr("--baseline 'dance': expected replay or script:FILE"));
  const CmdResult no_demo = Shell(kBin + " eval --baseline replay");
  EXPECT_EQ(no_demo.status, 2);
  EXPECT_THAT(no_demo.output, HasSubstr("needs --demo"));
}

}  // namespace
}  // namespace dreamforge
