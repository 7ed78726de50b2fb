// The episode file layout as robomimic sees it: checked with Debian's h5py.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "datasets/episode_store.h"
#include "tests/datasets/test_util.h"

namespace dreamforge::datasets {
namespace {

// argv: file, expected demo_0 actions[1,2], expected valid mask ("-" for empty).
constexpr char kCheckLayout[] = R"PY(
import json, sys
import h5py
import numpy as np

path, action_1_2, valid_expected = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with h5py.File(path, "r") as f:
    data = f["data"]
    assert int(data.attrs["total"]) == 5 + 3, data.attrs["total"]
    env = json.loads(data.attrs["env_args"])
    assert env["env_name"] == "Lift" and env["env_kwargs"]["control_freq"] == 20, env
    demos = sorted(data.keys(), key=lambda k: int(k.split("_")[1]))
    assert demos == ["demo_0", "demo_1"], demos
    for name, n in zip(demos, [5, 3]):
        d = data[name]
        assert int(d.attrs["num_samples"]) == n, (name, d.attrs["num_samples"])
        assert d["actions"].shape == (n, 7) and d["actions"].dtype == np.float32
        assert d["rewards"].shape == (n,) and d["rewards"].dtype == np.float32
        assert d["dones"].shape == (n,) and d["dones"].dtype == np.uint8
        assert d["states"].shape == (n, 12) and d["states"].dtype == np.float64
        assert sorted(d["obs"].keys()) == ["object", "robot0_eef_pos"], list(d["obs"].keys())
        assert sorted(d["next_obs"].keys()) == sorted(d["obs"].keys())
        assert d["obs/robot0_eef_pos"].shape == (n, 3)
        assert d["obs/robot0_eef_pos"].dtype == np.float32
        assert d["next_obs/object"].shape == (n, 10)
        info = d["datagen_info"]
        assert info["eef_pose"].shape == (n, 4, 4) and info["eef_pose"].dtype == np.float64
        assert info["object_poses/cube"].shape == (n, 4, 4)
        assert info["subtask_term_signals/grasp"].shape == (n,)
        assert info["subtask_term_signals/grasp"].dtype == np.int32
        assert int(d.attrs["seed"]) in (100, 101), d.attrs["seed"]
        assert isinstance(d.attrs["source_demo"], str), type(d.attrs["source_demo"])
        assert isinstance(json.loads(d.attrs["perturbation"]), dict)
        assert int(d.attrs["success"]) in (0, 1)
    assert data["demo_0/actions"][1, 2] == np.float32(action_1_2), data["demo_0/actions"][1]
    train = f["mask/train"][:]
    assert all(isinstance(x, bytes) for x in train), train
    assert [x.decode() for x in train] == ["demo_0"], train
    valid = [x.decode() for x in f["mask/valid"][:]]
    assert valid == ([] if valid_expected == "-" else valid_expected.split(",")), valid
print("OK")
)PY";

// argv: file, then per demo "N:image_sum:depth_sum" (sums over all values of
// obs/agentview_image and obs/agentview_depth). What robomimic's image datasets read:
// obs/<camera>_image (N,H,W,3) uint8, obs/<camera>_depth (N,H,W,1) float32, gzip, with
// the built-in filters of h5py (no plugin).
constexpr char kCheckCameras[] = R"PY(
import sys
import h5py
import numpy as np

path, demos = sys.argv[1], sys.argv[2:]
with h5py.File(path, "r") as f:
    for k, spec in enumerate(demos):
        n, image_sum, depth_sum = int(spec.split(":")[0]), int(spec.split(":")[1]), float(spec.split(":")[2])
        d = f["data/demo_%d" % k]
        obs = d["obs"]
        assert sorted(obs.keys()) == ["agentview_depth", "agentview_image", "object",
                                      "robot0_eef_pos"], list(obs.keys())
        assert sorted(d["next_obs"].keys()) == ["object", "robot0_eef_pos"], list(d["next_obs"].keys())
        image, depth = obs["agentview_image"], obs["agentview_depth"]
        assert image.shape == (n, 84, 84, 3) and image.dtype == np.uint8, (image.shape, image.dtype)
        assert depth.shape == (n, 84, 84, 1) and depth.dtype == np.float32, (depth.shape, depth.dtype)
        for ds, c in ((image, 3), (depth, 1)):
            assert ds.compression == "gzip" and ds.compression_opts == 4, ds.compression
            assert ds.chunks == (min(n, 16), 84, 84, c), ds.chunks
        pixels = image[()]
        assert int(pixels.astype(np.uint64).sum()) == image_sum, (pixels.sum(), image_sum)
        assert abs(float(depth[()].astype(np.float64).sum()) - depth_sum) < 1e-6 * depth_sum
        assert np.array_equal(image[n - 1], pixels[n - 1]) and image[n - 1].shape == (84, 84, 3)
print("OK")
)PY";

constexpr char kPython[] = "/usr/bin/python3";

class H5pyLayoutTest : public testing_util::ScratchDirTest {
 protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    const std::string probe = std::string(kPython) + " -c 'import h5py' >/dev/null 2>&1";
    if (std::system(probe.c_str()) != 0) {
      GTEST_SKIP() << kPython << " cannot import h5py (Debian package python3-h5py)";
    }
    script_ = dir_ / "check_layout.py";
    std::ofstream(script_) << kCheckLayout;
  }

  // Runs the script on `file`; returns its exit status, stdout+stderr in *output.
  int RunCheck(const std::filesystem::path& file, float action_1_2, const std::string& valid,
               std::string* output) {
    char value[32];
    std::snprintf(value, sizeof(value), "%.9g", action_1_2);
    return Run(script_, "'" + file.string() + "' " + value + " " + valid, output);
  }

  // Runs python3 `script` with `args` (already quoted); stdout+stderr in *output.
  static int Run(const std::filesystem::path& script, const std::string& args,
                 std::string* output) {
    const std::string cmd = std::string(kPython) + " '" + script.string() + "' " + args + " 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return -1;
    char buf[512];
    while (fgets(buf, sizeof(buf), pipe) != nullptr) *output += buf;
    return pclose(pipe);
  }

  std::filesystem::path script_;
};

TEST_F(H5pyLayoutTest, H5pyReadsRobomimicLayout) {
  const nlohmann::json env = {
      {"env_name", "Lift"}, {"type", 1}, {"env_kwargs", {{"control_freq", 20}}}};
  const Episode first = testing_util::MakeEpisode(5, 100);
  for (const bool empty_valid : {false, true}) {
    SCOPED_TRACE(empty_valid);
    const std::filesystem::path path = dir_ / "layout.hdf5";
    EpisodeWriter writer(path, env);
    writer.Append(first);
    writer.Append(testing_util::MakeEpisode(3, 101));
    writer.Close({"demo_0"},
                 empty_valid ? std::vector<std::string>{} : std::vector<std::string>{"demo_1"});
    std::string output;
    const int status = RunCheck(path, first.actions(1, 2), empty_valid ? "-" : "demo_1", &output);
    EXPECT_EQ(status, 0) << output;
    EXPECT_NE(output.find("OK"), std::string::npos) << output;
  }
}

TEST_F(H5pyLayoutTest, H5pyReadsCameraKeysAsRobomimicDoes) {
  const std::filesystem::path script = dir_ / "check_cameras.py";
  std::ofstream(script) << kCheckCameras;
  const std::filesystem::path path = dir_ / "cameras.hdf5";
  std::string args = "'" + path.string() + "'";
  {
    EpisodeWriter writer(path, {{"env_name", "Lift"}});
    for (const int n : {20, 3}) {
      Episode ep = testing_util::MakeEpisode(n, 100 + n);
      testing_util::AddCamera(&ep, "agentview_image", "agentview_depth", 84, 84, 3, n);
      uint64_t image_sum = 0;
      for (uint8_t v : ep.images["agentview_image"].data) image_sum += v;
      double depth_sum = 0;
      for (float v : ep.depths["agentview_depth"].data) depth_sum += v;
      char spec[96];
      std::snprintf(spec, sizeof(spec), " %d:%llu:%.17g", n,
                    static_cast<unsigned long long>(image_sum), depth_sum);
      args += spec;
      writer.Append(ep);
    }
    writer.Close({"demo_0", "demo_1"}, {});
  }
  std::string output;
  EXPECT_EQ(Run(script, args, &output), 0) << output;
  EXPECT_NE(output.find("OK"), std::string::npos) << output;
}

}  // namespace
}  // namespace dreamforge::datasets
