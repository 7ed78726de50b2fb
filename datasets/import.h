// Lenient reading of robomimic-layout demo files recorded elsewhere (robomimic,
// robosuite or MimicGen tools, other simulators), for `dreamforge record --import`.
//
// EpisodeReader accepts only files written the way dreamforge writes them. Files from
// elsewhere store actions and observations as float64, carry extra keys (camera images,
// depth, another simulator's states) and lack dreamforge's attributes and datagen_info.
// This reader reads only what an import needs, validates that, and ignores the rest:
//   /data                 attr env_args (JSON, optional): parsed if present
//   /data/demo_<k>        attr num_samples (optional; if present it must equal N)
//     actions (N,7)       float32 or float64, N > 0, finite, within [-1, 1]
//     obs/<key>, next_obs/<key>, rewards, dones, states (all optional): if present, each
//                         must have N rows; obs/robot0_eef_pos, if present, must be (N,3)
//                         float and finite, and is read (to compare with a replay)
// Other groups and datasets (images, masks, extra attributes) are ignored. Errors name
// the file, the HDF5 path and the problem:
//   "other.hdf5: /data/demo_0/actions: expected shape (N,7), got (120,6)"
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/episode.h"

namespace dreamforge::datasets {

struct RobomimicDemo {
  std::string name;   // "demo_0"
  std::string path;   // "/data/demo_0"
  MatrixRXd actions;  // (N x 7), widened to double
  MatrixRXd eef_pos;  // (N x 3) from obs/robot0_eef_pos; empty if absent
  int num_samples() const { return static_cast<int>(actions.rows()); }
};

struct RobomimicFile {
  std::string file;                  // the path as given, as messages name it
  nlohmann::json env_args;           // data/env_args; null if the file has none
  std::vector<RobomimicDemo> demos;  // numeric order (demo_0, demo_1, ..., demo_10)
};

// Reads and validates every demo_<k> of `path` (see the file comment). Throws
// DatasetError naming the file and HDF5 path of the first problem, including a file
// without any demo.
RobomimicFile ReadRobomimicDemos(const std::filesystem::path& path);

}  // namespace dreamforge::datasets
