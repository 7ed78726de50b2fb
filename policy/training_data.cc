#include "policy/training_data.h"

#include <map>

#include "datasets/episode_store.h"
#include "robot/obs_layout.h"

namespace dreamforge::policy {

const std::vector<std::string>& DefaultObsKeys() { return robot::DefaultPolicyObsKeys(); }

torch::Tensor TrainingData::Chunks(const torch::Tensor& index, int horizon) const {
  const torch::Tensor steps = torch::arange(horizon, index.options()).unsqueeze(0);
  const torch::Tensor rows = torch::min(index.unsqueeze(1) + steps,
                                        episode_last.index_select(0, index).unsqueeze(1));
  return actions.index_select(0, rows.reshape({-1})).reshape({index.size(0), horizon * 7});
}

TrainingData LoadTrainingData(const std::filesystem::path& file,
                              const std::vector<std::string>& obs_keys,
                              const std::function<void(int, int)>& on_progress) {
  const datasets::EpisodeReader reader(file);
  TrainingData data;
  data.obs_keys = obs_keys;
  data.normalizer = ComputeNormalizer(reader, obs_keys);  // checks mask/train and the keys
  data.env_args = reader.env_args();
  const std::vector<std::string> train = reader.Mask("train");
  const std::vector<std::string> valid = reader.Mask("valid");
  data.train_episodes = static_cast<int>(train.size());
  data.valid_episodes = static_cast<int>(valid.size());

  std::vector<std::string> demos = train;
  demos.insert(demos.end(), valid.begin(), valid.end());
  int64_t total = 0;
  std::map<std::string, int> sizes;
  for (int i = 0; i < reader.num_episodes(); ++i) sizes[reader.demo_names()[i]] = reader.episode_num_samples(i);
  for (const std::string& d : demos) {
    const auto it = sizes.find(d);
    if (it == sizes.end()) {
      throw datasets::DatasetError(file.string() + ": /mask: names " + d + ", which is not in /data");
    }
    total += it->second;
  }
  const int dim = data.normalizer.ObsDim();
  data.obs = torch::empty({total, dim}, torch::kFloat32);
  data.actions = torch::empty({total, 7}, torch::kFloat32);
  data.episode_last = torch::empty({total}, torch::kInt64);
  auto obs = data.obs.accessor<float, 2>();
  auto act = data.actions.accessor<float, 2>();
  auto last = data.episode_last.accessor<int64_t, 1>();

  int64_t row = 0;
  std::map<std::string, Eigen::VectorXf> sample;
  for (size_t e = 0; e < demos.size(); ++e) {
    const datasets::Episode ep = reader.ReadEpisode(demos[e]);
    const int n = ep.num_samples();
    for (int t = 0; t < n; ++t, ++row) {
      for (const std::string& key : obs_keys) sample[key] = ep.obs.at(key).row(t).transpose();
      const Eigen::VectorXf o = data.normalizer.NormalizeObs(sample);
      const Eigen::VectorXf a = data.normalizer.NormalizeAction(ep.actions.row(t).transpose());
      for (int k = 0; k < dim; ++k) obs[row][k] = o[k];
      for (int k = 0; k < 7; ++k) act[row][k] = a[k];
      last[row] = row - t + n - 1;
    }
    if (e + 1 == train.size()) {
      data.train_index = torch::arange(row, torch::kInt64);
    }
    if (on_progress) on_progress(static_cast<int>(e + 1), static_cast<int>(demos.size()));
  }
  const int64_t n_train = data.train_index.size(0);
  data.valid_index = torch::arange(n_train, total, torch::kInt64);
  return data;
}

}  // namespace dreamforge::policy
