// dreamforge render / dream --cameras / video end to end: the real binary on real dreams.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "tests/common/test_util.h"

extern char** environ;

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using test::CmdResult;
using test::Shell;
const auto& Bytes = test::ReadBytes;

const std::string kBin = DF_DREAMFORGE_BIN;
const std::string kDemo = std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5";

class RenderCliTest : public test::TempDirTest {
 protected:
  std::string Dream(const fs::path& out, int workers, const std::string& extra = "") const {
    return kBin + " dream --demo " + kDemo + " --count 20 --chunk 8 --seed 3 --workers " + std::to_string(workers) +
           " --out " + out.string() + " " + extra;
  }
  std::string Render(const fs::path& in, const fs::path& out, int workers, const std::string& extra = "") const {
    return kBin + " render " + in.string() + " --out " + out.string() + " --size 64 --chunk 4 --workers " +
           std::to_string(workers) + " " + extra;
  }
};

// render on 20 dreams equals dream --cameras on the same 20, byte for byte, with 1 and 2
// workers; h5py reads the image keys as robomimic expects.
TEST_F(RenderCliTest, RenderEqualsDreamWithCamerasForAnyWorkerCount) {
  const fs::path plain = dir_ / "plain.hdf5", with = dir_ / "with.hdf5", r1 = dir_ / "r1.hdf5", r2 = dir_ / "r2.hdf5";
  CmdResult r = Shell(Dream(plain, 2));
  ASSERT_EQ(r.status, 0) << r.output;
  r = Shell(Dream(with, 1, "--cameras agentview,robot0_eye_in_hand --size 64"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rendered agentview,robot0_eye_in_hand at 64x64"));
  EXPECT_FALSE(fs::exists(with.string() + ".states.hdf5"));
  r = Shell(Render(plain, r1, 1));
  ASSERT_EQ(r.status, 0) << r.output;
  r = Shell(Render(plain, r2, 2));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(fs::exists(r2.string() + ".render"));
  const std::string b = Bytes(with);
  ASSERT_GT(b.size(), Bytes(plain).size());
  EXPECT_TRUE(Bytes(r1) == b) << "render --workers 1 differs from dream --cameras";
  EXPECT_TRUE(Bytes(r2) == b) << "render --workers 2 differs from dream --cameras";

  const std::string py =
      "import h5py, json\n"
      "f = h5py.File('" + r2.string() + "', 'r')\n"
      "d = f['data/demo_0']\n"
      "n = d.attrs['num_samples']\n"
      "for k in ('agentview_image', 'robot0_eye_in_hand_image'):\n"
      "    x = d['obs'][k]\n"
      "    assert x.shape == (n, 64, 64, 3), (k, x.shape)\n"
      "    assert str(x.dtype) == 'uint8', (k, x.dtype)\n"
      "    assert 20 < x[0].mean() < 235\n"
      "assert d['obs']['robot0_eef_pos'].shape == (n, 3)\n"
      "cams = json.loads(f['data'].attrs['env_args'])['cameras']\n"
      "assert [c['name'] for c in cams] == ['agentview', 'robot0_eye_in_hand'], cams\n"
      "print('h5py ok', n)\n";
  r = Shell("/usr/bin/python3 -c \"" + py + "\"");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("h5py ok"));
  r = Shell(kBin + " inspect " + r2.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("agentview_image"));
}

TEST_F(RenderCliTest, KilledRenderResumesToTheSameBytes) {
  const fs::path plain = dir_ / "plain.hdf5", full = dir_ / "full.hdf5", resumed = dir_ / "resumed.hdf5";
  CmdResult r = Shell(Dream(plain, 2));
  ASSERT_EQ(r.status, 0) << r.output;
  r = Shell(Render(plain, full, 2));
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string cmd = Render(plain, resumed, 1);
  std::vector<std::string> words;
  std::istringstream is(cmd);
  for (std::string w; is >> w;) words.push_back(w);
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  const fs::path second = resumed.string() + ".render/part_00001.hdf5";
  bool killed = false;
  for (int k = 0; k < 1200 && !killed; ++k) {
    if (fs::exists(second)) {
      kill(pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "render finished before it could be killed";
  EXPECT_FALSE(fs::exists(resumed));
  r = Shell(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(Bytes(resumed) == Bytes(full));
}

TEST_F(RenderCliTest, BadInputIsOneLineNamingIt) {
  CmdResult r = Shell(Render(kDemo, dir_ / "x.hdf5", 1, "--cameras agentview,frontview"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("unknown camera 'frontview'"));
  r = Shell(kBin + " render " + kDemo + " --out " + (dir_ / "x.hdf5").string() + " --size 0");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--size"));
  r = Shell(Render(kDemo, kDemo, 1));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("would destroy the input"));
  // dream checks its cameras before any dream is made: no progress line, no output
  r = Shell(kBin + " dream --demo " + kDemo + " --count 2 --cameras agentview,frontview --out " +
            (dir_ / "d.hdf5").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("dream: --cameras: unknown camera 'frontview'"));
  EXPECT_THAT(r.output, Not(HasSubstr("kept")));
  r = Shell(kBin + " dream --demo " + kDemo + " --count 2 --depth --out " + (dir_ / "d.hdf5").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--depth needs --cameras"));
  EXPECT_FALSE(fs::exists(dir_ / "d.hdf5"));
  r = Shell(kBin + " render " + (dir_ / "missing.hdf5").string() + " --out " + (dir_ / "y.hdf5").string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("missing.hdf5"));
  r = Shell(kBin + " video " + kDemo + " --out " + (dir_ / "v.avi").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(".mp4"));
  EXPECT_FALSE(fs::exists(dir_ / "x.hdf5"));
}

TEST_F(RenderCliTest, VideoOfTheDemoAndAGrid) {
  const fs::path mp4 = dir_ / "demo.mp4";
  CmdResult r = Shell(kBin + " video " + kDemo + " --out " + mp4.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("video: "));
  const std::string b = Bytes(mp4);
  ASSERT_GT(b.size(), 10000u);
  EXPECT_EQ(b.substr(4, 4), "ftyp");  // an MP4 container
  const fs::path dreams = dir_ / "d.hdf5";
  r = Shell(Dream(dreams, 2));
  ASSERT_EQ(r.status, 0) << r.output;
  r = Shell(kBin + " video " + dreams.string() + " --grid 2x2 --camera robot0_eye_in_hand --out " + (dir_ / "g.mp4").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("4 episodes"));
}

}  // namespace
}  // namespace dreamforge
