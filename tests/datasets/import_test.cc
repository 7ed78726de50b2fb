// datasets/import: lenient reading of robomimic files written elsewhere (float64 data,
// extra keys), and precise refusals of bad ones.
#include "datasets/import.h"

#include <H5Cpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "datasets/episode_store.h"
#include "test_util.h"

namespace dreamforge::datasets {
namespace {

using ::testing::HasSubstr;
using testing_util::ScratchDirTest;

// What another tool writes: float64 actions and proprioception, a camera image, robomimic
// attributes, none of dreamforge's.
struct ForeignDemo {
  MatrixRXd actions;
  int image_rows = -1;  // rows of obs/agentview_image; -1: as many as actions
  int action_cols = 7;  // written width (the first action_cols columns)
  bool int_actions = false;
};

void WriteForeign(const std::filesystem::path& path, const std::vector<ForeignDemo>& demos,
                  const std::string& env_args = R"({"env_name": "bottle_place", "type": 1})") {
  H5::H5File f(path.string(), H5F_ACC_TRUNC);
  H5::Group data = f.createGroup("/data");
  H5::StrType str(H5::PredType::C_S1, H5T_VARIABLE);
  if (!env_args.empty()) {
    data.createAttribute("env_args", str, H5::DataSpace(H5S_SCALAR)).write(str, env_args);
  }
  for (std::size_t k = 0; k < demos.size(); ++k) {
    const ForeignDemo& d = demos[k];
    const hsize_t n = static_cast<hsize_t>(d.actions.rows());
    H5::Group g = data.createGroup("demo_" + std::to_string(k));
    const int64_t ns = static_cast<int64_t>(n);
    g.createAttribute("num_samples", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT64, &ns);
    const hsize_t adims[2] = {n, static_cast<hsize_t>(d.action_cols)};
    MatrixRXd a = d.actions.leftCols(d.action_cols);
    if (d.int_actions) {
      g.createDataSet("actions", H5::PredType::STD_I32LE, H5::DataSpace(2, adims))
          .write(a.cast<int>().eval().data(), H5::PredType::NATIVE_INT);
    } else {
      g.createDataSet("actions", H5::PredType::IEEE_F64LE, H5::DataSpace(2, adims))
          .write(a.data(), H5::PredType::NATIVE_DOUBLE);
    }
    H5::Group obs = g.createGroup("obs");
    const hsize_t rows = d.image_rows < 0 ? n : static_cast<hsize_t>(d.image_rows);
    const hsize_t idims[4] = {rows, 8, 8, 3};
    std::vector<uint8_t> pixels(rows * 8 * 8 * 3, 128);
    obs.createDataSet("agentview_image", H5::PredType::STD_U8LE, H5::DataSpace(4, idims))
        .write(pixels.data(), H5::PredType::NATIVE_UINT8);
    MatrixRXd eef = MatrixRXd::Constant(n, 3, 0.3);
    const hsize_t edims[2] = {n, 3};
    obs.createDataSet("robot0_eef_pos", H5::PredType::IEEE_F64LE, H5::DataSpace(2, edims))
        .write(eef.data(), H5::PredType::NATIVE_DOUBLE);
    std::vector<double> rewards(n, 0.0);
    const hsize_t rdims[1] = {n};
    g.createDataSet("rewards", H5::PredType::IEEE_F64LE, H5::DataSpace(1, rdims))
        .write(rewards.data(), H5::PredType::NATIVE_DOUBLE);
  }
}

MatrixRXd Actions(int n) {
  MatrixRXd a(n, 7);
  for (int t = 0; t < n; ++t) {
    for (int c = 0; c < 7; ++c) a(t, c) = std::sin(0.1 * t + c) * 0.9;
  }
  return a;
}

class ImportTest : public ScratchDirTest {
 protected:
  std::string Error(const std::vector<ForeignDemo>& demos,
                    const std::string& env = R"({"env_name": "bottle_place"})") {
    const auto path = dir_ / "foreign.hdf5";
    WriteForeign(path, demos, env);
    try {
      ReadRobomimicDemos(path);
    } catch (const DatasetError& e) {
      return e.what();
    }
    return "(accepted)";
  }
};

TEST_F(ImportTest, ReadsFloat64ActionsAndIgnoresExtraKeys) {
  const auto path = dir_ / "foreign.hdf5";
  WriteForeign(path, {{Actions(30)}, {Actions(12)}});
  // Our strict reader refuses it (float64, no dreamforge keys)...
  EXPECT_THROW(EpisodeReader{path}, DatasetError);
  // ...the lenient one reads it.
  const RobomimicFile f = ReadRobomimicDemos(path);
  EXPECT_EQ(f.env_args["env_name"], "bottle_place");
  ASSERT_EQ(f.demos.size(), 2u);
  EXPECT_EQ(f.demos[0].path, "/data/demo_0");
  EXPECT_EQ(f.demos[1].num_samples(), 12);
  EXPECT_EQ(f.demos[0].actions, Actions(30));  // bit-exact float64
  EXPECT_EQ(f.demos[0].eef_pos.rows(), 30);
}

TEST_F(ImportTest, RefusesBadFilesNamingFileAndPath) {
  const std::string file = (dir_ / "foreign.hdf5").string();
  EXPECT_EQ(Error({{Actions(20), -1, 6}}),
            file + ": /data/demo_0/actions: expected shape (N,7) with N > 0, got (20,6)");
  MatrixRXd nan = Actions(20);
  nan(5, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(Error({{Actions(10)}, {nan}}),
              HasSubstr(file + ": /data/demo_1/actions: non-finite value nan at index (5,1)"));
  MatrixRXd big = Actions(20);
  big(3, 2) = 1.5;
  EXPECT_EQ(Error({{big}}), file +
                                ": /data/demo_0/actions: value 1.5 at index (3,2) is outside "
                                "the normalized action range [-1, 1]");
  EXPECT_THAT(Error({{Actions(20), 19}}),
              HasSubstr(file + ": /data/demo_0/obs/agentview_image: expected 20 rows"));
  EXPECT_THAT(
      Error({{Actions(20), -1, 7, true}}),
      HasSubstr(file + ": /data/demo_0/actions: expected float32 or float64 values, got int32"));
  EXPECT_THAT(Error({}), HasSubstr(file + ": /data: no demo_<k> groups"));
  EXPECT_THAT(Error({{Actions(5)}}, "{not json"),
              HasSubstr(file + ": /data: attribute 'env_args' is not valid JSON"));
}

TEST_F(ImportTest, RefusesMissingAndNonHdf5Files) {
  const auto text = dir_ / "notes.hdf5";
  std::ofstream(text) << "not hdf5";
  try {
    ReadRobomimicDemos(text);
    FAIL();
  } catch (const DatasetError& e) {
    EXPECT_THAT(e.what(), HasSubstr(text.string() + ": not an HDF5 file"));
  }
  EXPECT_THROW(ReadRobomimicDemos(dir_ / "missing.hdf5"), DatasetError);
  // An HDF5 file without /data.
  { H5::H5File f((dir_ / "empty.hdf5").string(), H5F_ACC_TRUNC); }
  try {
    ReadRobomimicDemos(dir_ / "empty.hdf5");
    FAIL();
  } catch (const DatasetError& e) {
    EXPECT_THAT(e.what(), HasSubstr("empty.hdf5: /data: missing group"));
  }
}

}  // namespace
}  // namespace dreamforge::datasets
