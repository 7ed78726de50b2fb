// End-to-end tests of the dreamforge command line: the real binary, real physics, real files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/common/test_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using test::CmdResult;
using test::ReadBytes;
using test::Shell;

CmdResult Dreamforge(const std::string& args) { return Shell(std::string(DF_DREAMFORGE_BIN) + " " + args); }

std::string Script(const std::string& task) {
  return std::string(DF_SOURCE_DIR) + "/datasets/demos/" + task + ".script.yaml";
}

using CliTest = test::TempDirTest;

class RecordTaskTest : public CliTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(RecordTaskTest, RecordsOneSuccessfulEpisodeThatInspectAndH5pyRead) {
  const std::string task = GetParam();
  const fs::path out = dir_ / "demo.hdf5";
  const CmdResult rec = Dreamforge("record --task " + task + " --device script:" + Script(task) +
                             " --out " + out.string());
  ASSERT_EQ(rec.status, 0) << rec.output;
  EXPECT_THAT(rec.output, HasSubstr("success"));
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));

  const CmdResult ins = Dreamforge("inspect --json " + out.string());
  ASSERT_EQ(ins.status, 0) << ins.output;
  const nlohmann::json j = nlohmann::json::parse(ins.output);
  EXPECT_EQ(j["episodes"], 1);
  EXPECT_EQ(j["successes"], 1);
  EXPECT_GT(j["samples"].get<int>(), 50);

  // An independent reader: Debian's h5py, robomimic layout.
  if (!fs::exists("/usr/bin/python3") || Shell("/usr/bin/python3 -c 'import h5py'").status != 0) {
    GTEST_SKIP() << "Debian python3-h5py is not installed";
  }
  const fs::path py = dir_ / "check.py";
  std::ofstream(py) << R"PY(
import json, sys, h5py
f = h5py.File(sys.argv[1], "r")
data = f["data"]
env = json.loads(data.attrs["env_args"])
assert env["env_name"] == sys.argv[2], env
assert data.attrs["total"] > 0
demos = sorted(data.keys())
assert demos == ["demo_0"], demos
d = data["demo_0"]
n = int(d.attrs["num_samples"])
assert d["actions"].shape == (n, 7) and d["actions"].dtype == "float32"
assert d["rewards"].shape == (n,) and d["dones"].shape == (n,)
assert d["dones"][-1] == 1 and d["rewards"][-1] == 1.0
assert d["states"].dtype == "float64" and d["states"].shape[0] == n
for k in ["robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "robot0_joint_pos",
          "robot0_joint_vel", "object"]:
    assert d["obs"][k].shape[0] == n, k
    assert d["next_obs"][k].shape == d["obs"][k].shape, k
assert d["datagen_info/eef_pose"].shape == (n, 4, 4)
assert "grasp" in d["datagen_info/subtask_term_signals"]
assert bool(d.attrs["success"])
train = [x.decode() for x in f["mask/train"][:]]
assert train == ["demo_0"], train
print("OK")
)PY";
  const CmdResult check = Shell("/usr/bin/python3 " + py.string() + " " + out.string() + " " + task);
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("OK"));
}

INSTANTIATE_TEST_SUITE_P(Tasks, RecordTaskTest, ::testing::Values("bottle_place", "cube_stack"));

TEST_F(CliTest, TwoProcessesRecordTheSameBytes) {
  const std::string args = "record --task bottle_place --device script:" + Script("bottle_place");
  ASSERT_EQ(Dreamforge(args + " --out " + (dir_ / "a.hdf5").string()).status, 0);
  ASSERT_EQ(Dreamforge(args + " --out " + (dir_ / "b.hdf5").string()).status, 0);
  const std::string a = ReadBytes(dir_ / "a.hdf5"), b = ReadBytes(dir_ / "b.hdf5");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "the two recordings differ";
}

TEST_F(CliTest, BadInputGivesOneLineAndNonZeroExit) {
  const fs::path out = dir_ / "x.hdf5";
  CmdResult r = Dreamforge("record --task bottle_place --device script:/nope.yaml --out " + out.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("/nope.yaml: cannot open script file"));

  r = Dreamforge("record --task juggle --device script:" + Script("bottle_place") + " --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("juggle"));

  r = Dreamforge("record --task cube_stack --device script:" + Script("bottle_place") + " --out " + out.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("task: the script is for 'bottle_place'"));

  r = Dreamforge("record --device keyboard --out " + out.string() + " </dev/null");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("--device 'keyboard'"));
  EXPECT_FALSE(fs::exists(out));

  const fs::path garbage = dir_ / "garbage.hdf5";
  std::ofstream(garbage) << "not an hdf5 file";
  r = Dreamforge("inspect " + garbage.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr(garbage.string()));

  r = Dreamforge("inspect");
  EXPECT_NE(r.status, 0);
}

// README "Exit codes": 2 for bad input (dreamforge::Error and command-line parse errors,
// never CLI11's own 104-109), 1 for a runtime failure; one line naming what was wrong.
TEST_F(CliTest, ExitCodesAreTwoForBadInputAndOneForRuntimeFailures) {
  const auto lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  CmdResult r = Dreamforge("frobnicate --out x");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("unknown command 'frobnicate'"));
  EXPECT_THAT(r.output, HasSubstr("record, dream"));
  EXPECT_EQ(lines(r.output), 1) << r.output;
  r = Dreamforge("");
  EXPECT_EQ(r.status, 2) << r.output;
  r = Dreamforge("inspect");  // a required positional: CLI11 says 106
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("dreamforge: inspect: "));
  EXPECT_EQ(lines(r.output), 1) << r.output;
  r = Dreamforge("dream --demo d.hdf5 --out o.hdf5 --count many");  // conversion: 104
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--count"));
  EXPECT_EQ(lines(r.output), 1) << r.output;
  r = Dreamforge("inspect a.hdf5 --no-such-flag");  // extras: 109
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--no-such-flag"));
  EXPECT_EQ(Dreamforge("--version").status, 0);
  EXPECT_EQ(Dreamforge("dream --help").status, 0);

  // Valid input, failed work: a script that never reaches the target.
  const fs::path script = dir_ / "short.yaml";
  std::ofstream(script) << "task: bottle_place\nwaypoints:\n  - {frame: object, pos: [0, 0, 0.15]}\n";
  r = Dreamforge("record --task bottle_place --device script:" + script.string() + " --out " +
                 (dir_ / "d.hdf5").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("did not succeed"));
  EXPECT_FALSE(fs::exists(dir_ / "d.hdf5"));
}

TEST_F(CliTest, NegativeSeedsAreRefusedByEveryCommand) {
  const std::string d = (dir_ / "x").string();
  for (const std::string& cmd : {"dream --demo " + d + " --out " + d, "train --data " + d + " --out " + d,
                                "eval --baseline replay --demo " + d, "control --bundle " + d}) {
    for (const char* seed : {"-1", "1.5", "18446744073709551616", "0x10"}) {
      const CmdResult r = Dreamforge(cmd + " --seed " + seed);
      EXPECT_EQ(r.status, 2) << cmd << " --seed " << seed << ": " << r.output;
      EXPECT_THAT(r.output, HasSubstr("--seed")) << cmd;
      EXPECT_THAT(r.output, HasSubstr(std::string("got '") + seed + "'")) << cmd;
    }
  }
}

TEST_F(CliTest, ControlDurationIsFiniteAndBounded) {
  for (const char* d : {"inf", "nan", "0", "-1", "1e9"}) {
    const CmdResult r = Dreamforge("control --bundle " + (dir_ / "b").string() + " --hardware mock --duration " + d);
    EXPECT_EQ(r.status, 2) << d << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("--duration " + std::string(d == std::string("1e9") ? "1e+09" : d) +
                                    ": expected seconds in (0, 86400]"));
  }
}

const std::string kTinyBundle = std::string(DF_SOURCE_DIR) + "/tests/robot/data/tiny_mlp";

TEST_F(CliTest, ControlOverUdpWithNobodyListeningIsAFailureAndPortsAreChecked) {
  const std::string stats = (dir_ / "stats.json").string();
  // 127.0.0.1:9 (discard) answers nothing: the loop gives up after its read timeouts.
  CmdResult r = Dreamforge("control --bundle " + kTinyBundle +
                           " --hardware udp --robot-address 127.0.0.1:9 --listen-port 39871 --duration 2 --stats " + stats);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("control: --hardware udp: hardware_lost after"));
  EXPECT_THAT(r.output, HasSubstr("127.0.0.1:9"));
  EXPECT_TRUE(fs::exists(stats));  // the statistics of the failed run are kept

  for (const std::string bad : {"--listen-port 99999", "--listen-port 0", "--listen-port -5"}) {
    r = Dreamforge("control --bundle " + kTinyBundle + " --hardware udp " + bad);
    EXPECT_EQ(r.status, 2) << bad << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("--listen-port")) << bad;
  }
  for (const std::string bad : {"127.0.0.1", "127.0.0.1:70000", "127.0.0.1:0", "127.0.0.1:x9", "robot:9870",
                                 ":9870"}) {
    r = Dreamforge("control --bundle " + kTinyBundle + " --hardware udp --robot-address " + bad);
    EXPECT_EQ(r.status, 2) << bad << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("--robot-address '" + bad + "'")) << bad;
  }
}

// An output equal to an input (by real path: "./", symlinks, hard links) is refused, naming
// both, and the input is left as it was.
TEST_F(CliTest, AnOutputThatWouldDestroyAnInputIsRefused) {
  const fs::path demo = dir_ / "demo.hdf5";
  fs::copy_file(std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5", demo);
  const std::string bytes = ReadBytes(demo);
  fs::create_symlink(demo, dir_ / "link.hdf5");
  fs::create_hard_link(demo, dir_ / "hard.hdf5");
  const std::string d = demo.string();
  const auto refused = [&](const std::string& args, const std::string& what) {
    const CmdResult r = Dreamforge(args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(what)) << args;
    EXPECT_TRUE(ReadBytes(demo) == bytes) << args << " changed the input";
  };
  const std::string same = " is the same path as ";
  refused("dream --count 1 --demo " + d + " --out " + (dir_ / "." / "demo.hdf5").string(),
          "dream: --out " + (dir_ / "." / "demo.hdf5").string() + same + "--demo " + d);
  refused("dream --count 1 --demo " + d + " --out " + (dir_ / "link.hdf5").string(), same);
  refused("dream --count 1 --demo " + d + " --out " + (dir_ / "hard.hdf5").string(), same);
  refused("merge " + (dir_ / "other.hdf5").string() + " " + d + " --out " + d,
          "merge: --out " + d + same + "input " + d);
  refused("train --data " + d + " --out " + d, "train: --out " + d + same + "--data " + d);
  refused("record --import " + d + " --out " + (dir_ / "link.hdf5").string(), "record: --out");

  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  std::ofstream(run / "run.json") << "{}";
  std::ofstream(run / "control.json") << "{\"hardware\": \"mock\"}";
  const auto run_json = [&] { return ReadBytes(run / "run.json"); };
  CmdResult r = Dreamforge("export --policy " + run.string() + " --out " + run.string() + "/");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("export: --out " + run.string() + "/" + same + "--policy " + run.string()));
  r = Dreamforge("export --policy " + run.string() + " --out " + dir_.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("export: --out " + dir_.string() + " contains --policy " + run.string()));
  EXPECT_EQ(run_json(), "{}");

  r = Dreamforge("report " + run.string() + " --out " + (run / "control.json").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("report: --out " + (run / "control.json").string() + same + "input"));
  r = Dreamforge("report " + run.string() + " --out " + (run / "run.json").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr((run / "run.json").string() + ": exists and is not an .html file"));
  EXPECT_EQ(run_json(), "{}");
  r = Dreamforge("report " + run.string() + " --out " + run.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_TRUE(fs::is_directory(run));
}

// An output directory that cannot be written is named with the reason before any work,
// not reported later as an HDF5 or filesystem failure.
TEST_F(CliTest, AnUnwritableOutputDirectoryIsNamedFirst) {
  fs::path ro = dir_ / "ro";
  fs::create_directories(ro);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  if (geteuid() == 0) ro = "/sys";  // root writes through permission bits, not into sysfs
  if (Shell("touch " + (ro / "probe").string()).status == 0) {
    fs::remove(ro / "probe");
    GTEST_SKIP() << "no unwritable directory to test with";
  }
  const std::string demo = std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5";
  const std::string r = ro.string();
  for (const std::string& args :
       {"record --task bottle_place --device script:" + Script("bottle_place") + " --out " + r + "/d.hdf5",
        "dream --demo " + demo + " --count 2 --out " + r + "/x.hdf5", "merge " + demo + " --out " + r + "/m.hdf5",
        "train --data " + demo + " --out " + r + "/run/sub", "export --policy " + (dir_ / "run").string() + " --out " + r + "/b/",
        "report " + dir_.string() + " --out " + r + "/r.html",
        "control --bundle " + kTinyBundle + " --hardware mock --duration 0.1 --stats " + r + "/s.json"}) {
    const CmdResult c = Dreamforge(args);
    EXPECT_EQ(c.status, 2) << args << ": " << c.output;
    EXPECT_THAT(c.output, HasSubstr(": cannot write in directory " + r + " (Permission denied)")) << args;
    EXPECT_EQ(std::count(c.output.begin(), c.output.end(), '\n'), 1) << c.output;
  }
  const CmdResult c = Dreamforge("dream --demo " + demo + " --out " + (dir_ / "no" / "x.hdf5").string());
  EXPECT_EQ(c.status, 2) << c.output;
  EXPECT_THAT(c.output, HasSubstr("directory " + (dir_ / "no").string() + " does not exist"));
  fs::permissions(dir_ / "ro", fs::perms::owner_all);
}

TEST_F(CliTest, HelpDocumentsTheCommands) {
  const CmdResult r = Dreamforge("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("record"));
  EXPECT_THAT(r.output, HasSubstr("inspect"));
  const CmdResult rec = Dreamforge("record --help");
  EXPECT_EQ(rec.status, 0);
  EXPECT_THAT(rec.output, HasSubstr("script:FILE"));
}

}  // namespace
}  // namespace dreamforge
