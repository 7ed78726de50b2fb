// "Same seed, same bytes": the episode writer's output depends on the content alone, not
// on when or where it was written.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "datasets/episode_store.h"
#include "tests/datasets/test_util.h"

namespace dreamforge::datasets {
namespace {

namespace fs = std::filesystem;
using testing_util::MakeEpisode;

const nlohmann::json kEnvArgs = {{"env_name", "Lift"}, {"control_hz", 20}};

class EpisodeStoreDeterminismTest : public testing_util::ScratchDirTest {
 protected:
  // Writes two episodes (seeds 100, 101; demo_0 train, demo_1 valid) to dir_/name, with
  // an 84x84 RGB camera and its depth (chunked, compressed) if `cameras`.
  // If `tweak` is set, one action value of demo_1 is changed first.
  fs::path Write(const std::string& name, bool tweak = false, bool cameras = false) {
    const fs::path path = dir_ / name;
    EpisodeWriter writer(path, kEnvArgs);
    Episode first = MakeEpisode(5, 100);
    Episode second = MakeEpisode(20, 101);
    if (cameras) {
      testing_util::AddCamera(&first, "agentview_image", "agentview_depth", 84, 84, 3, 100);
      testing_util::AddCamera(&second, "agentview_image", "agentview_depth", 84, 84, 3, 101);
    }
    writer.Append(first);
    if (tweak) second.actions(1, 2) += 0.25f;
    writer.Append(second);
    writer.Close({"demo_0"}, {"demo_1"});
    return path;
  }

  static std::string Bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << path;
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // First differing byte offset, for the failure message.
  static std::string FirstDifference(const std::string& a, const std::string& b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (a[i] != b[i]) return "first difference at byte " + std::to_string(i);
    }
    return "sizes " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
  }
};

TEST_F(EpisodeStoreDeterminismTest, SameContentGivesSameBytesAcrossTimeAndPath) {
  const fs::path a = Write("a.hdf5");
  // Past a one-second boundary: HDF5's object modification times have 1 s resolution.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  fs::create_directories(dir_ / "elsewhere");
  const fs::path b = Write("elsewhere/b.hdf5");
  const std::string bytes_a = Bytes(a);
  const std::string bytes_b = Bytes(b);
  ASSERT_FALSE(bytes_a.empty());
  EXPECT_TRUE(bytes_a == bytes_b) << FirstDifference(bytes_a, bytes_b);
  // And the files are still ordinary, readable episode files.
  EpisodeReader reader(b);
  EXPECT_EQ(reader.num_episodes(), 2);
}

TEST_F(EpisodeStoreDeterminismTest, CompressedCameraKeysGiveSameBytes) {
  const std::string a = Bytes(Write("a.hdf5", false, /*cameras=*/true));
  fs::create_directories(dir_ / "elsewhere");
  const std::string b = Bytes(Write("elsewhere/b.hdf5", false, /*cameras=*/true));
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << FirstDifference(a, b);
  EXPECT_GT(a.size(), Bytes(Write("plain.hdf5")).size());
}

TEST_F(EpisodeStoreDeterminismTest, ChangedActionValueGivesDifferentBytes) {
  const std::string same = Bytes(Write("a.hdf5"));
  const std::string changed = Bytes(Write("b.hdf5", /*tweak=*/true));
  EXPECT_EQ(same.size(), changed.size());  // only the value differs, not the layout
  EXPECT_FALSE(same == changed);
}

}  // namespace
}  // namespace dreamforge::datasets
