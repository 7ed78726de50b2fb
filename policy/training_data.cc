#include "policy/training_data.h"

#include <cstdio>
#include <map>

#include "datasets/episode_store.h"
#include "policy/policy_error.h"
#include "robot/image_encoder.h"
#include "robot/obs_layout.h"

namespace dreamforge::policy {

const std::vector<std::string>& DefaultObsKeys() { return robot::DefaultPolicyObsKeys(); }

torch::Tensor TrainingData::Chunks(const torch::Tensor& index, int horizon) const {
  const torch::Tensor steps = torch::arange(horizon, index.options()).unsqueeze(0);
  const torch::Tensor rows = torch::min(index.unsqueeze(1) + steps,
                                        episode_last.index_select(0, index).unsqueeze(1));
  return actions.index_select(0, rows.reshape({-1})).reshape({index.size(0), horizon * 7});
}

namespace {

std::string GiB(int64_t bytes) {
  char s[32];
  std::snprintf(s, sizeof s, "%.2f GiB",
                static_cast<double>(bytes) / static_cast<double>(int64_t{1} << 30));
  return s;
}

// The image keys of `file`, checked: present, square, RGB. The message of a missing key
// names the file and the key and says how to render it.
void CheckImageKeys(const datasets::EpisodeReader& reader, const std::vector<std::string>& keys) {
  const std::string file = reader.path().string();
  const auto shapes = reader.image_shapes();
  std::string cameras;
  for (const std::string& key : keys) {
    std::string camera;
    robot::IsImageKeyName(key, &camera);
    cameras += (cameras.empty() ? "" : ",") + camera;
  }
  for (const std::string& key : keys) {
    const auto it = shapes.find(key);
    if (it == shapes.end()) {
      std::string have;
      for (const auto& [k, shape] : shapes) have += (have.empty() ? "" : ", ") + k;
      throw datasets::DatasetError(
          file + ": obs key '" + key + "' is not in the file (" +
          (have.empty() ? "it has no camera images" : "its image keys: " + have) +
          "); render the cameras first: dreamforge render " + file +
          " --out WITH_IMAGES.hdf5 --cameras " + cameras +
          " [--size 84], then train on WITH_IMAGES.hdf5");
    }
    const auto [h, w, c] = it->second;
    if (h != w || c != robot::kImageChannels) {
      throw PolicyError(file + ": obs/" + key + ": images of " + std::to_string(h) + " x " +
                        std::to_string(w) + " x " + std::to_string(c) +
                        "; the image encoder reads square RGB images (H = W, 3 channels)");
    }
  }
}

}  // namespace

TrainingData LoadTrainingData(const std::filesystem::path& file,
                              const std::vector<std::string>& obs_keys,
                              const std::function<void(int, int)>& on_progress,
                              int64_t max_image_bytes) {
  const datasets::EpisodeReader reader(file);
  TrainingData data;
  for (const std::string& key : obs_keys) {
    (robot::IsImageKeyName(key) ? data.image_keys : data.obs_keys).push_back(key);
  }
  if (data.obs_keys.empty() && !data.image_keys.empty()) {
    throw PolicyError(
        "obs keys: only image keys given; an image policy also reads at least one low-dimensional "
        "key (e.g. " +
        DefaultObsKeys().front() + ")");
  }
  if (!data.image_keys.empty()) CheckImageKeys(reader, data.image_keys);
  data.normalizer = ComputeNormalizer(reader, data.obs_keys);  // checks mask/train and the keys
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
  const auto shapes = reader.image_shapes();
  int64_t frame_bytes = 0;  // all cameras of one sample
  for (const std::string& key : data.image_keys) {
    const auto [h, w, c] = shapes.at(key);
    frame_bytes += int64_t{h} * w * c;
  }
  if (frame_bytes > 0 && total * frame_bytes > max_image_bytes) {
    throw PolicyError(
        file.string() + ": the images of " + std::to_string(data.image_keys.size()) +
        " camera(s) over " + std::to_string(total) + " samples take " + GiB(total * frame_bytes) +
        " in memory, more than the limit of " + GiB(max_image_bytes) +
        " (train --image-memory MiB); train on fewer dreams or smaller images, or raise the limit");
  }
  for (const std::string& key : data.image_keys) {
    const auto [h, w, c] = shapes.at(key);
    data.images.push_back(torch::empty({total, h, w, c}, torch::kUInt8));
  }
  std::map<std::string, int> index_of;
  for (int i = 0; i < reader.num_episodes(); ++i) index_of[reader.demo_names()[i]] = i;
  data.obs = torch::empty({total, dim}, torch::kFloat32);
  data.actions = torch::empty({total, 7}, torch::kFloat32);
  data.episode_last = torch::empty({total}, torch::kInt64);
  auto obs = data.obs.accessor<float, 2>();
  auto act = data.actions.accessor<float, 2>();
  auto last = data.episode_last.accessor<int64_t, 1>();

  int64_t row = 0;
  std::map<std::string, Eigen::VectorXf> sample;
  for (size_t e = 0; e < demos.size(); ++e) {
    const int episode = index_of.at(demos[e]);
    const datasets::Episode ep = reader.ReadEpisode(episode, /*with_images=*/false);
    const int n = ep.num_samples();
    for (size_t k = 0; k < data.image_keys.size(); ++k) {
      uint8_t* dst = data.images[k].data_ptr<uint8_t>();
      const int64_t bytes = data.images[k].stride(0);
      for (int t = 0; t < n; ++t)
        reader.ReadImage(episode, t, data.image_keys[k], dst + (row + t) * bytes);
    }
    for (int t = 0; t < n; ++t, ++row) {
      for (const std::string& key : data.obs_keys) sample[key] = ep.obs.at(key).row(t).transpose();
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
