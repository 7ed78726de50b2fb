#include "datasets/schema.h"

#include <cctype>

namespace dreamforge::datasets::internal {

namespace {

template <typename Range>
std::string Braced(const Range& keys) {
  std::string s = "{";
  for (const auto& k : keys) s += (s.size() > 1 ? ", " : "") + k;
  return s + "}";
}

template <typename Value>
std::vector<std::string> Keys(const std::map<std::string, Value>& m) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : m) keys.push_back(k);
  return keys;
}

template <std::size_t K>
std::string ShapeText(const std::array<int64_t, K>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < K; ++i) s += (i > 0 ? "," : "") + std::to_string(shape[i]);
  return s + ")";
}

// Camera keys (images or depth maps, `what`) of the demo at `obs_path` against the reference.
template <std::size_t K>
void CheckSameCameraKeys(const Ctx& ctx, const std::string& obs_path, const char* what,
                         const std::map<std::string, std::array<int64_t, K>>& ref,
                         const std::map<std::string, std::array<int64_t, K>>& keys,
                         const std::string& ref_demo) {
  if (Keys(ref) != Keys(keys)) {
    ctx.Fail(obs_path, std::string(what) + " keys " + Braced(Keys(keys)) + " differ from " +
                           ref_demo + "'s " + Braced(Keys(ref)));
  }
  for (const auto& [key, shape] : keys) {
    if (shape != ref.at(key)) {
      ctx.Fail(obs_path + "/" + key, std::string(what) + " shape " + ShapeText(shape) +
                                         " differs from " + ref_demo + "'s " +
                                         ShapeText(ref.at(key)));
    }
  }
}

}  // namespace

std::optional<int> DemoIndex(const std::string& name) {
  const std::string prefix = "demo_";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 9 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::stoi(digits);
}

void CheckSameObs(const Ctx& ctx, const std::string& path,
                  const std::map<std::string, int64_t>& ref,
                  const std::map<std::string, int64_t>& dims, const std::string& ref_label) {
  if (Keys(ref) != Keys(dims)) {
    ctx.Fail(path, "keys " + Braced(Keys(dims)) + " differ from " + ref_label + " keys " +
                       Braced(Keys(ref)));
  }
  for (const auto& [key, d] : dims) {
    if (d != ref.at(key)) {
      ctx.Fail(path + "/" + key, "width " + std::to_string(d) + " differs from " + ref_label +
                                     " width " + std::to_string(ref.at(key)));
    }
  }
}

void CheckSameSchema(const Ctx& ctx, const std::string& demo_path, const Schema& ref,
                     const Schema& s, const std::string& ref_demo) {
  if (s.state_dim != ref.state_dim) {
    ctx.Fail(demo_path + "/states", "width " + std::to_string(s.state_dim) + " differs from " +
                                        ref_demo + "'s " + std::to_string(ref.state_dim));
  }
  CheckSameObs(ctx, demo_path + "/obs", ref.obs_dims, s.obs_dims, ref_demo + "'s obs");
  CheckSameCameraKeys(ctx, demo_path + "/obs", "image", ref.images, s.images, ref_demo);
  CheckSameCameraKeys(ctx, demo_path + "/obs", "depth", ref.depths, s.depths, ref_demo);
  if (s.objects != ref.objects) {
    ctx.Fail(
        demo_path + "/datagen_info/object_poses",
        "objects " + Braced(s.objects) + " differ from " + ref_demo + "'s " + Braced(ref.objects));
  }
  if (s.signals != ref.signals) {
    ctx.Fail(
        demo_path + "/datagen_info/subtask_term_signals",
        "signals " + Braced(s.signals) + " differ from " + ref_demo + "'s " + Braced(ref.signals));
  }
}

}  // namespace dreamforge::datasets::internal
