// Summary of an episode file, for `dreamforge inspect`.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace dreamforge::datasets {

// Opens (and so fully validates) the file with EpisodeReader and summarizes it:
//   {"file": path, "bytes": file size, "episodes": n, "samples": total, "successes": k,
//    "samples_per_episode": {"min", "max", "mean"} (absent if there are no episodes),
//    "keys": {"actions": [7], "rewards": [], "dones": [], "states": [S],
//             "obs/<k>": [d], "next_obs/<k>": [d],
//             "obs/<camera>_image": [H,W,C], "obs/<camera>_depth": [H,W,1],
//             "datagen_info/eef_pose": [4,4],
//             "datagen_info/object_poses/<o>": [4,4],
//             "datagen_info/subtask_term_signals/<s>": []},   // per-sample shapes
//    "dtypes": {same keys: "float32" | "float64" | "uint8" | "int32"},
//    "env_args": {...}, "masks": {"train": n_train, "valid": n_valid, ...},
//    "cameras": [{"name", "width", "height", "fovy", "mount"}, ...]}
// "cameras" lists env_args["cameras"] (the renderer's camera descriptions), those of the
// five fields each has; absent if env_args has no such array.
// Throws DatasetError (naming file and HDF5 path) if the file is missing or invalid.
nlohmann::json Inspect(const std::filesystem::path& path);

// Multi-line, human-readable rendering of Inspect()'s result for a terminal.
std::string FormatInspect(const nlohmann::json& summary);

}  // namespace dreamforge::datasets
