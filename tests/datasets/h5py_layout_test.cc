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
    const std::string cmd = std::string(kPython) + " '" + script_.string() + "' '" + file.string() +
                            "' " + value + " " + valid + " 2>&1";
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

}  // namespace
}  // namespace dreamforge::datasets
