// Killed writers: train, export, record (script device), merge and report, SIGKILLed at
// moments chosen by a seeded generator: just before one of their renames (strace's syscall
// tampering; when strace is missing those trials are skipped, saying so) and after a
// random delay within the length of an uninterrupted run. Afterwards the output under its
// final name is the old complete one or the new complete one, never a mix; a rerun (train:
// --resume) gives the uninterrupted run's bytes. Each test prints how many trials hit
// which phase ("kill summary: ...").
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "tests/tools/writer_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using test::Basename;
using test::RenameCall;
using test::ProcRun;
using test::RunArgs;
using test::Tree;
using test::Words;
const auto& Bytes = test::ReadBytes;

const std::string& kBin = test::kWriterBin;
const std::string& kDemo = test::kWriterDemo;
const std::string& kScript = test::kWriterScript;

std::vector<std::string> Bin(const std::string& args) { return test::WriterArgv(args); }

class WriterKillTest : public test::TempDirTest {
 protected:
  // Runs a command to its end; fails the test unless it exits 0.
  ProcRun Ok(const std::string& args) {
    const ProcRun r = RunArgs(Bin(args), dir_ / "ok.log");
    EXPECT_EQ(r.status, 0) << args << "\n" << r.output;
    return r;
  }
  fs::path Dreams(const std::string& name, int count, const std::string& extra = "") {
    const fs::path out = dir_ / name;
    Ok("dream --demo " + kDemo + " --count " + std::to_string(count) + " --chunk 2 --seed 11 --workers 1 " + extra +
       " --out " + out.string());
    return out;
  }

  // One kill trial: `reset` restores the state before the run, the run is killed (at a
  // rename when `rename` is given, else after `delay` s), and `check` judges what is left
  // and returns the phase the kill hit.
  struct Trials {
    std::string name;
    std::vector<std::string> args;
    std::function<void()> reset;
    std::function<std::string(const ProcRun& killed, const std::string& rename_phase)> check;
    fs::path appears;  // if set: kills also as soon as this path (its temporary) appears
    std::map<std::string, int> phases;
    int trials = 0, at_renames = 0, at_appearance = 0, killed = 0;
  };

  // `renames` trials at distinct renames of the run (drawn by `rng`; all of them when
  // there are fewer), 2 as soon as `t.appears` exists (if set) and `delays` trials after a
  // random delay in [0, seconds].
  void RunTrials(Trials& t, const std::vector<RenameCall>& calls, int renames, int delays, double seconds,
                 std::mt19937& rng) {
    std::vector<int> order(calls.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(std::min<size_t>(order.size(), static_cast<size_t>(renames)));
    std::sort(order.begin(), order.end());
    std::uniform_real_distribution<double> delay(0.0, seconds);
    for (int k : order) {
      t.reset();
      const ProcRun r = test::KillBeforeRename(t.args, calls[k], dir_);
      EXPECT_TRUE(r.killed) << t.name << ": not killed before rename " << calls[k].target << "\n" << r.output;
      t.killed += r.killed;
      ++t.trials, ++t.at_renames;
      ++t.phases[t.check(r, "rename " + Basename(calls[k].target))];
      if (::testing::Test::HasFatalFailure()) return;
    }
    for (int k = 0; k < 2 && !t.appears.empty(); ++k) {
      t.reset();
      fs::remove_all(t.appears);  // what an earlier kill left must not trigger this one
      // (A temporary that comes and goes between two looks, 1 ms apart, is missed: the run
      // then finishes, which the check accepts as any finished run.)
      const ProcRun r = RunArgs(t.args, dir_ / "killed.log", -1, 300, t.appears);
      EXPECT_TRUE(r.killed || r.status == 0) << t.name << ": " << r.output;
      t.killed += r.killed;
      ++t.trials, ++t.at_appearance;
      ++t.phases[t.check(r, "")];
      if (::testing::Test::HasFatalFailure()) return;
    }
    for (int k = 0; k < delays; ++k) {
      t.reset();
      const ProcRun r = RunArgs(t.args, dir_ / "killed.log", delay(rng));
      EXPECT_TRUE(r.killed || r.status == 0) << t.name << ": " << r.output;
      t.killed += r.killed;
      ++t.trials;
      ++t.phases[t.check(r, "")];
      if (::testing::Test::HasFatalFailure()) return;
    }
    std::printf(
        "kill summary: %s: %d trials (%d before a rename, %d when the temporary appeared, %d after a random delay), "
        "%d killed; phases: %s\n",
        t.name.c_str(), t.trials, t.at_renames, t.at_appearance, t.trials - t.at_renames - t.at_appearance, t.killed,
        test::Counts(t.phases).c_str());
  }

  // A writer of one file: `out` holds `old` before each trial, and after a kill it must
  // hold `old` or the uninterrupted run's bytes (`same` compares, e.g. ignoring a time).
  void FileTrials(const std::string& name, const std::vector<std::string>& args, const fs::path& out,
                  const std::string& old, const std::string& expected,
                  const std::function<bool(const std::string&, const std::string&)>& same, int delays,
                  double seconds, uint32_t seed, const std::vector<RenameCall>& calls) {
    Trials t;
    t.name = name;
    t.args = args;
    t.appears = out.string() + ".tmp";
    t.reset = [&] {
      std::ofstream(out, std::ios::binary | std::ios::trunc) << old;
      fs::remove(out.string() + ".tmp");  // so that the phase is told right
    };
    t.check = [&](const ProcRun& killed, const std::string& rename_phase) {
      const std::string now = Bytes(out);
      const bool is_old = now == old, is_new = same(now, expected);
      EXPECT_TRUE(is_old || is_new) << name << " killed at " << (rename_phase.empty() ? "a delay" : rename_phase)
                                    << ": " << out << " is neither the old nor the new file (" << now.size()
                                    << " bytes)";
      if (!rename_phase.empty()) return rename_phase + (is_new ? " (new)" : " (old)");
      if (!killed.killed) return std::string("finished");
      if (is_new) return std::string("after the rename");
      return std::string(fs::exists(out.string() + ".tmp") ? "writing .tmp" : "before .tmp");
    };
    std::mt19937 rng(seed);
    RunTrials(t, calls, static_cast<int>(calls.size()), delays, seconds, rng);
    // A run to the end over what a kill leaves (a stale .tmp) writes the new file and no .tmp.
    t.reset();
    std::ofstream(out.string() + ".tmp") << "half";
    const ProcRun r = RunArgs(args, dir_ / "final.log");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(same(Bytes(out), expected)) << name;
    EXPECT_FALSE(fs::exists(out.string() + ".tmp")) << name;
  }

  // Where the renames of a run writing `out` are counted: the same name in another folder.
  std::string Probe(const fs::path& out) {
    fs::create_directories(dir_ / "probe");
    return (dir_ / "probe" / out.filename()).string();
  }

  std::vector<RenameCall> RenamesOf(const std::vector<std::string>& args) {
    if (!test::HaveStrace()) {
      std::printf("strace is not installed (apt-get install strace): the kills at renames are skipped\n");
      return {};
    }
    const std::vector<RenameCall> calls = test::Renames(args, dir_);
    EXPECT_FALSE(calls.empty()) << "no rename seen";
    return calls;
  }
};

// ------------------------------------------------------------------------------- train

// What must equal between a resumed and an uninterrupted run: run.json, best.json, the
// weights of best.pt and of every checkpoints/epoch_N.pt (the last epoch's is the final
// weights; last.pt also holds the optimizer, whose archive keys are addresses), and the
// metrics without their timings.
std::map<std::string, std::string> TrainOutcome(const fs::path& run) {
  std::map<std::string, std::string> out;
  for (const auto& [name, bytes] : Tree(run)) {
    if (name == "run.json" || name == "best.json" || name == "best.pt" || name.rfind("checkpoints/epoch_", 0) == 0) {
      out[name] = bytes;
    }
  }
  std::ifstream in(run / "metrics.jsonl");
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    nlohmann::json m = nlohmann::json::parse(line, nullptr, false);
    if (m.is_object()) {
      m.erase("seconds");
      m.erase("samples_per_s");
      m.erase("time");  // where the seconds went: timing, not results
    }
    out["metrics.jsonl:" + std::to_string(++line_no)] = m.is_discarded() ? "unparsable: " + line : m.dump();
  }
  return out;
}

std::string Differences(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  std::string s;
  for (const auto& [k, v] : a) {
    if (!b.count(k)) s += " missing " + k + ";";
    else if (b.at(k) != v) s += " differs " + k + (k.rfind("metrics", 0) == 0 ? " (" + v + " vs " + b.at(k) + ")" : "") + ";";
  }
  for (const auto& [k, v] : b) {
    if (!a.count(k)) s += " extra " + k + ";";
  }
  return s;
}

TEST_F(WriterKillTest, TrainKilledAnywhereThenResumedEqualsUninterrupted) {
  const fs::path data = Dreams("dreams.hdf5", 10);  // demo_9 validates: best is by valid loss
  const std::string train = "train --data " + data.string() +
                            " --epochs 6 --batch 16 --hidden 16 16 --threads 1 --checkpoint-every 2 --seed 5 --out ";
  const fs::path ref = dir_ / "ref", run = dir_ / "run";
  const ProcRun full = Ok(train + ref.string());
  ASSERT_EQ(full.status, 0);
  const auto expected = TrainOutcome(ref);
  ASSERT_EQ(expected.count("metrics.jsonl:6"), 1u);

  Trials t;
  t.name = "train";
  t.args = Bin(train + run.string());
  t.reset = [&] { fs::remove_all(run); };
  t.check = [&](const ProcRun& killed, const std::string& rename_phase) {
    std::string phase = rename_phase;
    if (phase.empty()) {
      int epochs = 0;
      std::ifstream in(run / "metrics.jsonl");
      for (std::string line; std::getline(in, line);) epochs += nlohmann::json::parse(line, nullptr, false).is_object();
      phase = !killed.killed               ? "finished"
              : !fs::exists(run / "run.json") ? "start-up (no run.json yet)"
                                            : "epoch " + std::to_string(epochs + 1);
    }
    // Resume (a run killed before it wrote run.json is started again).
    const bool resume = fs::exists(run / "run.json");
    const ProcRun again = RunArgs(Bin(train + run.string() + (resume ? " --resume" : "")), dir_ / "resume.log");
    EXPECT_EQ(again.status, 0) << phase << ": " << again.output;
    EXPECT_THAT(again.output, ::testing::HasSubstr("6/6 epochs")) << phase;
    const std::string diff = Differences(expected, TrainOutcome(run));
    EXPECT_EQ(diff, "") << "killed at " << phase << ", then " << (resume ? "resumed" : "restarted");
    return phase;
  };
  std::mt19937 rng(2101);
  RunTrials(t, RenamesOf(t.args), 8, 6, full.seconds, rng);
}

// ------------------------------------------------------------------------------ export

TEST_F(WriterKillTest, ExportKilledLeavesTheOldOrTheNewBundle) {
  const fs::path data = Dreams("dreams.hdf5", 4);
  const std::string train = "train --data " + data.string() + " --batch 64 --hidden 16 16 --threads 1 ";
  Ok(train + "--epochs 2 --seed 1 --out " + (dir_ / "a").string());
  Ok(train + "--epochs 1 --seed 2 --out " + (dir_ / "b").string());
  const fs::path out = dir_ / "bundle", pristine = dir_ / "old_bundle";
  Ok("export --policy " + (dir_ / "b").string() + " --out " + pristine.string());
  const ProcRun full = Ok("export --policy " + (dir_ / "a").string() + " --out " + (dir_ / "new_bundle").string());
  const auto old_tree = Tree(pristine), new_tree = Tree(dir_ / "new_bundle");
  ASSERT_EQ(new_tree.size(), 4u);
  ASSERT_NE(old_tree, new_tree);

  Trials t;
  t.name = "export";
  t.args = Bin("export --policy " + (dir_ / "a").string() + " --out " + out.string());
  t.appears = out.string() + ".tmp";
  // The old bundle is put back before each trial, and what a killed export left beside it
  // removed (so that the phase is told right; the last run below starts over leftovers).
  t.reset = [&] {
    fs::remove_all(out);
    fs::remove_all(out.string() + ".tmp");
    fs::copy(pristine, out, fs::copy_options::recursive);
  };
  t.check = [&](const ProcRun& killed, const std::string& rename_phase) {
    const auto tree = Tree(out);
    const bool is_old = tree == old_tree, is_new = tree == new_tree;
    EXPECT_TRUE(is_old || is_new) << "killed at " << (rename_phase.empty() ? "a delay" : rename_phase) << ": "
                                  << out << " is neither the old nor the new bundle (" << tree.size() << " files)";
    if (!rename_phase.empty()) return rename_phase + (is_new ? " (new)" : " (old)");
    if (!killed.killed) return std::string("finished");
    if (is_new) return std::string("after the swap");
    return std::string(fs::exists(out.string() + ".tmp") ? "writing bundle.tmp/" : "before bundle.tmp/");
  };
  // The renames of an export over an existing bundle (as in the trials), counted in a
  // folder of its own.
  const fs::path probe = dir_ / "probe" / "bundle";
  fs::create_directories(probe.parent_path());
  fs::copy(pristine, probe, fs::copy_options::recursive);
  const std::vector<RenameCall> calls = RenamesOf(Bin("export --policy " + (dir_ / "a").string() + " --out " +
                                                      probe.string()));
  std::mt19937 rng(2102);
  RunTrials(t, calls, static_cast<int>(calls.size()), 8, full.seconds, rng);
  // An export over what a killed one left (a stale bundle.tmp/ and, from older versions,
  // bundle.old/) completes and cleans them up.
  t.reset();
  for (const char* stale : {".tmp", ".old"}) {
    fs::create_directories(out.string() + stale);
    std::ofstream(out.string() + stale + "/policy.json") << "{";
  }
  Ok("export --policy " + (dir_ / "a").string() + " --out " + out.string());
  EXPECT_TRUE(Tree(out) == new_tree);
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
  EXPECT_FALSE(fs::exists(out.string() + ".old"));
}

// ---------------------------------------------------------- record, merge, report: files

bool SameBytes(const std::string& a, const std::string& b) { return a == b; }

TEST_F(WriterKillTest, RecordKilledLeavesTheSavedDemosIntact) {
  const fs::path out = dir_ / "demo.hdf5";
  const std::string record = "record --task bottle_place --device script:" + kScript + " --out ";
  const ProcRun full = Ok(record + (dir_ / "new.hdf5").string());
  // An earlier file under --out (any complete episode file: the shipped cube_stack demo).
  const std::string old = Bytes(std::string(DF_SOURCE_DIR) + "/datasets/demos/cube_stack.hdf5");
  const std::string expected = Bytes(dir_ / "new.hdf5");
  ASSERT_TRUE(old != expected);
  const auto args = Bin(record + out.string());
  const auto calls = RenamesOf(Bin(record + Probe(out)));
  FileTrials("record", args, out, old, expected, SameBytes, 6, full.seconds, 2103, calls);
}

TEST_F(WriterKillTest, MergeKilledLeavesNothingHalfWritten) {
  const fs::path s0 = Dreams("s0.hdf5", 8, "--shard 0/2"), s1 = Dreams("s1.hdf5", 8, "--shard 1/2");
  const fs::path out = dir_ / "merged.hdf5";
  const std::string merge = "merge " + s0.string() + " " + s1.string() + " --out ";
  const ProcRun full = Ok(merge + (dir_ / "new.hdf5").string());
  const std::string old = Bytes(s0), expected = Bytes(dir_ / "new.hdf5");
  const auto args = Bin(merge + out.string());
  const auto calls = RenamesOf(Bin(merge + Probe(out)));
  FileTrials("merge", args, out, old, expected, SameBytes, 6, full.seconds, 2104, calls);
}

// The report's one time of day ("2026-12-03 12:22:08 UTC") blanked.
std::string WithoutTime(std::string html) {
  for (size_t p = html.find(" UTC<"); p != std::string::npos && p >= 19; p = html.find(" UTC<", p + 1)) {
    html.replace(p - 19, 19, 19, '#');
  }
  return html;
}

TEST_F(WriterKillTest, ReportKilledLeavesNothingHalfWritten) {
  const fs::path run_dir = dir_ / "rundir";
  fs::create_directories(run_dir);
  fs::copy_file(kDemo, run_dir / "demo.hdf5");
  Dreams("rundir/dreams.hdf5", 4);
  Ok("train --data " + (run_dir / "dreams.hdf5").string() + " --epochs 2 --batch 64 --hidden 16 16 --threads 1 --out " +
     (run_dir / "policy").string());
  const fs::path out = dir_ / "report.html";
  const std::string report = "report " + run_dir.string() + " --out ";
  const ProcRun full = Ok(report + (dir_ / "new.html").string());
  const std::string old = "<!DOCTYPE html>\n<html><body>an earlier report</body></html>\n";
  const std::string expected = Bytes(dir_ / "new.html");
  ASSERT_THAT(expected, ::testing::EndsWith("</html>\n"));
  const auto same = [](const std::string& a, const std::string& b) { return WithoutTime(a) == WithoutTime(b); };
  const auto args = Bin(report + out.string());
  const auto calls = RenamesOf(Bin(report + Probe(out)));
  FileTrials("report", args, out, old, expected, same, 6, full.seconds, 2105, calls);
}

}  // namespace
}  // namespace dreamforge
