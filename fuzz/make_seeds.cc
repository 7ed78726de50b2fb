// Writes the small synthetic seeds of the corpora that have no shipped file of their own
// size or kind (checked in under fuzz/corpus/; rerun only to regenerate them):
//   episode_reader/tiny.hdf5          one demo of 3 steps, every kind of field
//   merge/two_shards, merge/one_run   dream shards of a 2-dream run (as `dream --shard`)
//   udp_protocol/state, command       one valid datagram of each type (flag byte 0)
// Usage: fuzz_make_seeds OUT_CORPUS_DIR (build target fuzz_make_seeds, fuzz preset).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "datasets/episode_store.h"
#include "robot/udp_protocol.h"

namespace {

namespace fs = std::filesystem;
using namespace dreamforge;

datasets::Episode TinyEpisode(int dream_index) {
  const int n = 3;
  datasets::Episode ep;
  ep.actions = datasets::MatrixRXf::Constant(n, 7, 0.1f);
  ep.rewards = Eigen::VectorXf::Zero(n);
  ep.dones = {0, 0, 1};
  ep.states = datasets::MatrixRXd::Constant(n, 4, 0.5);
  ep.obs["robot0_eef_pos"] = datasets::MatrixRXf::Constant(n, 3, 0.2f);
  ep.obs["object"] = datasets::MatrixRXf::Constant(n, 2, 0.3f);
  ep.next_obs = ep.obs;
  ep.eef_pose = datasets::MatrixRXd::Identity(n, 16);
  ep.object_poses["cube"] = datasets::MatrixRXd::Identity(n, 16);
  ep.subtask_term_signals["grasp"] = {0, 1, 1};
  ep.scene_key = static_cast<uint64_t>(dream_index) << 20;
  ep.source_demo = "abc";
  ep.perturbation = {{"dream_index", dream_index}, {"object_x", 0.1}};
  ep.success = true;
  return ep;
}

nlohmann::json DreamEnv(int count) {
  return {{"env_name", "cube_stack"},
          {"dreamforge",
           {{"source_demo", "abc"}, {"spec", {{"object_x", 0.1}}}, {"seed", 7}, {"count", count},
            {"max_attempts", 3}}}};
}

void WriteEpisodes(const fs::path& path, const nlohmann::json& env, const std::vector<int>& dreams) {
  datasets::EpisodeWriter w(path, env);
  std::vector<std::string> names;
  for (int d : dreams) names.push_back(w.Append(TinyEpisode(d)));
  w.Close(names, {});
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Put(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_CORPUS_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path tmp = fs::temp_directory_path() / "dreamforge-make-seeds";
  fs::create_directories(tmp);
  for (const char* d : {"episode_reader", "merge", "udp_protocol"}) fs::create_directories(out / d);

  WriteEpisodes(tmp / "tiny.hdf5", {{"env_name", "cube_stack"}}, {0});
  Put(out / "episode_reader" / "tiny.hdf5", Slurp(tmp / "tiny.hdf5"));

  const std::string split = "\n#DFSPLIT#\n";
  WriteEpisodes(tmp / "s0.hdf5", DreamEnv(2), {0});
  WriteEpisodes(tmp / "s1.hdf5", DreamEnv(2), {1});
  Put(out / "merge" / "two_shards", Slurp(tmp / "s0.hdf5") + split + Slurp(tmp / "s1.hdf5"));
  WriteEpisodes(tmp / "all.hdf5", DreamEnv(2), {0, 1});
  Put(out / "merge" / "one_run", Slurp(tmp / "all.hdf5"));

  robot::RobotState s;
  s.seq = 42;
  s.time = 1.5;
  s.q << 0, -0.5, 0, -2, 0, 1.5, 0.8;
  std::string state(1 + robot::kStatePacketSize, '\0');
  robot::EncodeState(s, reinterpret_cast<uint8_t*>(&state[1]));
  Put(out / "udp_protocol" / "state", state);
  robot::Command c;
  c.seq = 43;
  c.q_target << 0, -0.5, 0, -2, 0, 1.5, 0.8;
  c.gripper = 1;
  c.hold = true;
  std::string command(1 + robot::kCommandPacketSize, '\0');
  robot::EncodeCommand(c, 42, reinterpret_cast<uint8_t*>(&command[1]));
  Put(out / "udp_protocol" / "command", command);
  fs::remove_all(tmp);
  return 0;
}
