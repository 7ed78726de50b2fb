#include "tools/teleop_store.h"

#include <optional>
#include <system_error>

#include "datasets/episode_store.h"
#include "tools/cli_util.h"

namespace dreamforge::tools {

namespace fs = std::filesystem;

DemoFile::DemoFile(fs::path path, nlohmann::json env_args)
    : path_(std::move(path)), env_args_(std::move(env_args)) {
  std::error_code ec;
  if (!fs::exists(path_, ec)) return;
  const datasets::EpisodeReader reader(path_);
  const nlohmann::json& theirs = reader.env_args();
  if (theirs != env_args_) {
    const std::string task = theirs.value("env_name", std::string("?"));
    throw UsageError("record: " + path_.string() + ": /data attribute env_args: the file holds " +
                     "demos recorded with other settings (task '" + task +
                     "', or another robot, rate or action scale) than this run; "
                     "choose another --out");
  }
  num_demos_ = reader.num_episodes();
}

std::vector<std::string> DemoFile::Append(const std::vector<datasets::Episode>& episodes) {
  std::optional<datasets::EpisodeReader> old;
  if (num_demos_ > 0) old.emplace(path_);
  datasets::EpisodeWriter writer(path_, env_args_);
  for (int i = 0; i < num_demos_; ++i) writer.Append(old->ReadEpisode(i));
  std::vector<std::string> names;
  for (const datasets::Episode& ep : episodes) names.push_back(writer.Append(ep));
  const int n = writer.num_episodes();
  const auto [train, valid] = datasets::EpisodeWriter::SplitTrainValid(n);
  writer.Close(train, valid);
  num_demos_ = n;
  return names;
}

}  // namespace dreamforge::tools
