#include "policy/normalizer.h"

#include <cmath>
#include <set>
#include <stdexcept>

namespace dreamforge::policy {

namespace {

constexpr int kActionDim = 7;

// ---------------------------------------------------------------------------- statistics

// Running per-column count, mean, sum of squared deviations (M2), min and max.
class RunningStats {
 public:
  // Adds the rows of `m` (N x d): a two-pass mean/M2 of the block in double, merged into the
  // running totals with Chan et al.'s pairwise update (stable for any number of blocks).
  void Add(const datasets::MatrixRXf& m) {
    if (m.rows() == 0) return;
    const Eigen::MatrixXd x = m.cast<double>();
    const double nb = static_cast<double>(x.rows());
    const Eigen::ArrayXd mean_b = x.colwise().mean().transpose().array();
    const Eigen::ArrayXd m2_b =
        (x.rowwise() - mean_b.matrix().transpose()).array().square().colwise().sum().transpose();
    const Eigen::ArrayXd min_b = x.colwise().minCoeff().transpose().array();
    const Eigen::ArrayXd max_b = x.colwise().maxCoeff().transpose().array();
    if (n_ == 0) {
      n_ = nb;
      mean_ = mean_b;
      m2_ = m2_b;
      min_ = min_b;
      max_ = max_b;
      return;
    }
    const double n = n_ + nb;
    const Eigen::ArrayXd delta = mean_b - mean_;
    mean_ += delta * (nb / n);
    m2_ += m2_b + delta.square() * (n_ * nb / n);
    min_ = min_.min(min_b);
    max_ = max_.max(max_b);
    n_ = n;
  }

  FeatureStats Finish() const {
    FeatureStats s;
    s.mean = mean_.matrix();
    s.std = (m2_ / n_).sqrt().max(Normalizer::kStdFloor).matrix();
    s.min = min_.matrix();
    s.max = max_.matrix();
    return s;
  }

 private:
  double n_ = 0;
  Eigen::ArrayXd mean_, m2_, min_, max_;
};

// ---------------------------------------------------------------------------------- JSON

[[noreturn]] void JsonFail(const std::string& field, const std::string& what) {
  throw std::invalid_argument("normalizer: " + field + ": " + what);
}

nlohmann::json VectorToJson(const Eigen::VectorXd& v) {
  return nlohmann::json(std::vector<double>(v.data(), v.data() + v.size()));
}

const nlohmann::json& Member(const nlohmann::json& j, const std::string& field,
                             const std::string& name) {
  const std::string path = field.empty() ? name : field + "." + name;
  if (!j.is_object()) JsonFail(field.empty() ? "(root)" : field, "expected an object");
  const auto it = j.find(name);
  if (it == j.end()) JsonFail(path, "missing");
  return *it;
}

// Array of `dim` finite numbers (dim < 0: any length > 0).
Eigen::VectorXd VectorFromJson(const nlohmann::json& j, const std::string& field, int dim) {
  if (!j.is_array()) JsonFail(field, "expected an array of numbers");
  if (dim >= 0 && j.size() != static_cast<std::size_t>(dim)) {
    JsonFail(field,
             "expected " + std::to_string(dim) + " numbers, got " + std::to_string(j.size()));
  }
  if (j.empty()) JsonFail(field, "expected at least one number");
  Eigen::VectorXd v(static_cast<Eigen::Index>(j.size()));
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (!j[i].is_number()) JsonFail(at, "expected a number");
    v[static_cast<Eigen::Index>(i)] = j[i].get<double>();
    if (!std::isfinite(v[static_cast<Eigen::Index>(i)])) JsonFail(at, "not finite");
  }
  return v;
}

nlohmann::json StatsToJson(const FeatureStats& s) {
  return {{"mean", VectorToJson(s.mean)},
          {"std", VectorToJson(s.std)},
          {"min", VectorToJson(s.min)},
          {"max", VectorToJson(s.max)}};
}

// `dim` < 0: the width is taken from "mean".
FeatureStats StatsFromJson(const nlohmann::json& j, const std::string& field, int dim) {
  FeatureStats s;
  s.mean = VectorFromJson(Member(j, field, "mean"), field + ".mean", dim);
  dim = s.dim();
  s.std = VectorFromJson(Member(j, field, "std"), field + ".std", dim);
  s.min = VectorFromJson(Member(j, field, "min"), field + ".min", dim);
  s.max = VectorFromJson(Member(j, field, "max"), field + ".max", dim);
  for (int i = 0; i < dim; ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    if (!(s.std[i] >= Normalizer::kStdFloor)) {
      JsonFail(field + ".std" + at, "must be >= " + std::to_string(Normalizer::kStdFloor));
    }
    if (!(s.min[i] <= s.max[i])) JsonFail(field + ".min" + at, "greater than max" + at);
  }
  return s;
}

constexpr char kObsMode[] = "z_score";
constexpr char kActionMode[] = "min_max";

}  // namespace

// ---------------------------------------------------------------------------- Normalizer

int Normalizer::ObsDim() const {
  int dim = 0;
  for (const std::string& key : obs_keys) dim += obs.at(key).dim();
  return dim;
}

Eigen::VectorXf Normalizer::NormalizeObs(const std::map<std::string, Eigen::VectorXf>& x) const {
  Eigen::VectorXf out(ObsDim());
  Eigen::Index offset = 0;
  for (const std::string& key : obs_keys) {
    const FeatureStats& s = obs.at(key);
    const auto it = x.find(key);
    if (it == x.end()) throw std::invalid_argument("NormalizeObs: missing obs key '" + key + "'");
    if (it->second.size() != s.dim()) {
      throw std::invalid_argument("NormalizeObs: obs key '" + key + "': expected width " +
                                  std::to_string(s.dim()) + ", got " +
                                  std::to_string(it->second.size()));
    }
    out.segment(offset, s.dim()) =
        ((it->second.cast<double>() - s.mean).array() / s.std.array()).cast<float>();
    offset += s.dim();
  }
  return out;
}

Eigen::VectorXf Normalizer::NormalizeAction(const Eigen::VectorXf& a) const {
  if (a.size() != action.dim()) {
    throw std::invalid_argument("NormalizeAction: expected " + std::to_string(action.dim()) +
                                " values, got " + std::to_string(a.size()));
  }
  Eigen::VectorXf out(a.size());
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    const double range = action.max[i] - action.min[i];
    const double shifted = static_cast<double>(a[i]) - action.min[i];
    out[i] = static_cast<float>(range < kConstantRange ? shifted : 2.0 * shifted / range - 1.0);
  }
  return out;
}

Eigen::VectorXf Normalizer::DenormalizeAction(const Eigen::VectorXf& y) const {
  if (y.size() != action.dim()) {
    throw std::invalid_argument("DenormalizeAction: expected " + std::to_string(action.dim()) +
                                " values, got " + std::to_string(y.size()));
  }
  Eigen::VectorXf out(y.size());
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    const double range = action.max[i] - action.min[i];
    const double yi = y[i];
    out[i] = static_cast<float>(action.min[i] +
                                (range < kConstantRange ? yi : (yi + 1.0) * 0.5 * range));
  }
  return out;
}

nlohmann::json Normalizer::ToJson() const {
  nlohmann::json per_key = nlohmann::json::object();
  for (const std::string& key : obs_keys) per_key[key] = StatsToJson(obs.at(key));
  return {{"obs_mode", kObsMode},
          {"action_mode", kActionMode},
          {"obs_keys", obs_keys},
          {"obs", per_key},
          {"action", StatsToJson(action)}};
}

Normalizer Normalizer::FromJson(const nlohmann::json& j) {
  const nlohmann::json& obs_mode = Member(j, "", "obs_mode");
  if (obs_mode != kObsMode) JsonFail("obs_mode", "expected \"z_score\", got " + obs_mode.dump());
  const nlohmann::json& action_mode = Member(j, "", "action_mode");
  if (action_mode != kActionMode) {
    JsonFail("action_mode", "expected \"min_max\", got " + action_mode.dump());
  }

  Normalizer n;
  const nlohmann::json& keys = Member(j, "", "obs_keys");
  if (!keys.is_array() || keys.empty()) JsonFail("obs_keys", "expected a non-empty array");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string at = "obs_keys[" + std::to_string(i) + "]";
    if (!keys[i].is_string() || keys[i].get<std::string>().empty()) {
      JsonFail(at, "expected a non-empty string");
    }
    const std::string key = keys[i].get<std::string>();
    for (const std::string& seen : n.obs_keys) {
      if (seen == key) JsonFail(at, "duplicate key '" + key + "'");
    }
    n.obs_keys.push_back(key);
  }

  const nlohmann::json& per_key = Member(j, "", "obs");
  if (!per_key.is_object()) JsonFail("obs", "expected an object");
  for (const std::string& key : n.obs_keys) {
    n.obs[key] = StatsFromJson(Member(per_key, "obs", key), "obs." + key, -1);
  }
  for (const auto& [key, unused] : per_key.items()) {
    if (n.obs.count(key) == 0) JsonFail("obs." + key, "not listed in obs_keys");
  }
  n.action = StatsFromJson(Member(j, "", "action"), "action", kActionDim);
  return n;
}

// ----------------------------------------------------------------------- ComputeNormalizer

Normalizer ComputeNormalizer(const datasets::EpisodeReader& reader,
                             const std::vector<std::string>& obs_keys) {
  const std::string file = reader.path().string();
  auto fail = [&](const std::string& what) -> void {
    throw datasets::DatasetError(file + ": " + what);
  };

  if (obs_keys.empty()) throw std::invalid_argument("ComputeNormalizer: obs_keys is empty");
  const std::map<std::string, int> dims = reader.obs_dims();
  std::set<std::string> unique_keys;
  for (const std::string& key : obs_keys) {
    if (!unique_keys.insert(key).second) {
      throw std::invalid_argument("ComputeNormalizer: obs key '" + key + "' listed twice");
    }
    if (dims.count(key) == 0) {
      std::string have;
      for (const auto& [k, d] : dims) have += (have.empty() ? "" : ", ") + k;
      fail("obs key '" + key +
           "' is not in the file (its obs keys: " + (have.empty() ? "none" : have) + ")");
    }
  }

  const std::vector<std::string> train = reader.Mask("train");
  if (train.empty()) {
    fail("/mask/train: missing or empty; normalization statistics need training demos");
  }
  const std::vector<std::string> demos = reader.demo_names();
  const std::set<std::string> known(demos.begin(), demos.end());
  std::set<std::string> seen;
  for (const std::string& name : train) {
    if (known.count(name) == 0) fail("/mask/train: names '" + name + "', which is not in /data");
    if (!seen.insert(name).second) fail("/mask/train: names '" + name + "' twice");
  }

  std::map<std::string, RunningStats> obs_stats;
  RunningStats action_stats;
  std::map<std::string, int> index_of;
  for (size_t i = 0; i < demos.size(); ++i) index_of[demos[i]] = static_cast<int>(i);
  for (const std::string& name : train) {
    // Low-dimensional fields only: a rendered file's images are not decompressed here.
    const datasets::Episode ep = reader.ReadEpisode(index_of.at(name), /*with_images=*/false);
    for (const std::string& key : obs_keys) obs_stats[key].Add(ep.obs.at(key));
    action_stats.Add(ep.actions);
  }

  Normalizer n;
  n.obs_keys = obs_keys;
  for (const std::string& key : obs_keys) n.obs[key] = obs_stats[key].Finish();
  n.action = action_stats.Finish();
  return n;
}

}  // namespace dreamforge::policy
