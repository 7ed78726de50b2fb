// The --out file of `dreamforge record` for recorded and imported demos: demos already in
// it are kept and new ones appended as demo_<k>. Every append rewrites the whole file
// through EpisodeWriter (<out>.tmp, then an atomic rename), so the file under its final
// name is always a complete episode file, whatever happens in between (Ctrl-C, a lost
// device, a crash): at worst a stale <out>.tmp is left, never a half-written <out>.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/episode.h"

namespace dreamforge::tools {

class DemoFile {
 public:
  // If `path` exists it must be a valid episode file (EpisodeReader) whose env_args equal
  // `env_args` (same task, robot, rates and action scale); otherwise throws UsageError or
  // DatasetError naming the file.
  DemoFile(std::filesystem::path path, nlohmann::json env_args);

  const std::filesystem::path& path() const { return path_; }
  int num_demos() const { return num_demos_; }

  // Rewrites the file with its demos plus `episodes` appended (demo_<num_demos()>, ...;
  // masks from EpisodeWriter::SplitTrainValid). Returns the new demo names. On failure
  // the file is unchanged and the exception (DatasetError) propagates.
  std::vector<std::string> Append(const std::vector<datasets::Episode>& episodes);

 private:
  std::filesystem::path path_;
  nlohmann::json env_args_;
  int num_demos_ = 0;
};

}  // namespace dreamforge::tools
