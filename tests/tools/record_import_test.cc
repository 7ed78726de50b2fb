// `dreamforge record --import`: a robomimic file written elsewhere (float64 actions, an
// extra image key, none of our attributes) is validated, replayed and rewritten in our
// layout, or refused with the file, the HDF5 path and the reason.
#include <H5Cpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "datasets/episode_store.h"
#include "sim/rollout.h"
#include "sim/world.h"
#include "tests/common/replay.h"
#include "tests/common/test_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Runs a shell command; returns (exit status, stdout + stderr).
std::pair<int, std::string> Shell(const std::string& cmd) {
  const test::CmdResult r = test::Shell(cmd);
  return {r.status, r.output};
}

using RecordImportTest = test::TempDirTest;

using test::ReplayDemo;

// A robomimic file as another tool writes it: float64 actions, an image key, no
// dreamforge attributes. Actions come from the shipped scripted demo.
void WriteForeign(const fs::path& path, datasets::MatrixRXd actions, int cols = 7) {
  H5::H5File f(path.string(), H5F_ACC_TRUNC);
  H5::Group data = f.createGroup("/data");
  H5::StrType str(H5::PredType::C_S1, H5T_VARIABLE);
  data.createAttribute("env_args", str, H5::DataSpace(H5S_SCALAR))
      .write(str, std::string(R"({"env_name": "bottle_place", "type": 1, "env_kwargs": {}})"));
  H5::Group g = data.createGroup("demo_0");
  const hsize_t n = static_cast<hsize_t>(actions.rows());
  datasets::MatrixRXd a = actions.leftCols(cols);
  const hsize_t adims[2] = {n, static_cast<hsize_t>(cols)};
  g.createDataSet("actions", H5::PredType::IEEE_F64LE, H5::DataSpace(2, adims))
      .write(a.data(), H5::PredType::NATIVE_DOUBLE);
  const hsize_t idims[4] = {n, 4, 4, 3};
  std::vector<uint8_t> pixels(n * 48, 7);
  g.createGroup("obs")
      .createDataSet("agentview_image", H5::PredType::STD_U8LE, H5::DataSpace(4, idims))
      .write(pixels.data(), H5::PredType::NATIVE_UINT8);
}

TEST_F(RecordImportTest, ValidatesReplaysAndRewritesOrExplainsWhyNot) {
  const datasets::EpisodeReader shipped(std::string(DF_SOURCE_DIR) +
                                        "/datasets/demos/bottle_place.hdf5");
  const datasets::MatrixRXd good = shipped.ReadEpisode(0).actions.cast<double>();
  const fs::path in = dir_ / "other.hdf5", out = dir_ / "ours.hdf5";
  auto import = [&] {
    return Shell(std::string(DF_DREAMFORGE_BIN) + " record --task bottle_place --import " +
                 in.string() + " --out " + out.string() + " </dev/null");
  };
  WriteForeign(in, good, 6);
  auto [code, text] = import();
  EXPECT_NE(code, 0);
  EXPECT_THAT(text, HasSubstr(in.string() + ": /data/demo_0/actions: expected shape (N,7)"));
  datasets::MatrixRXd nan = good;
  nan(3, 2) = std::nan("");
  WriteForeign(in, nan);
  std::tie(code, text) = import();
  EXPECT_NE(code, 0);
  EXPECT_THAT(text, HasSubstr(in.string() + ": /data/demo_0/actions: non-finite value nan"));
  WriteForeign(in, good.topRows(60));  // stops before the bottle is placed
  std::tie(code, text) = import();
  EXPECT_NE(code, 0);
  EXPECT_THAT(text, HasSubstr(in.string() + ": /data/demo_0/actions: the 60 actions do not "
                                            "replay to success in bottle_place"));
  EXPECT_FALSE(fs::exists(out));

  WriteForeign(in, good);
  std::tie(code, text) = import();
  ASSERT_EQ(code, 0) << text;
  EXPECT_THAT(text, HasSubstr("imported 1 demo(s)"));
  const datasets::EpisodeReader reader(out);
  ASSERT_EQ(reader.num_episodes(), 1);
  EXPECT_TRUE(reader.episode_success(0));
  EXPECT_EQ(reader.subtask_signals(), (std::vector<std::string>{"grasp", "place"}));
  EXPECT_EQ(ReplayDemo(out, 0), sim::Outcome::kSuccess);
}

}  // namespace
}  // namespace dreamforge
