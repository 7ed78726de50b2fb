// `dreamforge record --import other.hdf5`: brings demos of a task recorded elsewhere in
// robomimic layout into our layout. Each demo is validated (datasets/import.h: keys,
// shapes, dtypes, finite actions within [-1, 1]), then its actions are replayed open-loop
// in our World (sim::ReplayController + sim::Rollout, the task's nominal scene) and must
// reach the task's success; the replay is recorded by our recorder, so the written demo
// has every key we store (states, obs, next_obs, datagen_info, subtask signals). All demos
// must pass, or nothing is written and the error names the file, the HDF5 path and why.
#pragma once

#include <string>

namespace dreamforge::tools {

struct ImportOptions {
  std::string task = "bottle_place";
  std::string input;  // the robomimic file
  std::string out;    // demos are appended (see DemoFile)
  std::string urdf;   // empty: the default robot
};

// Returns normally after writing; throws DatasetError, UsageError or SimError otherwise.
void RunImport(const ImportOptions& options);

}  // namespace dreamforge::tools
