#include "augment/perturbation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "robot/fuzz_plant.h"
#include "sim/yaml_util.h"

#ifndef DF_AUGMENT_SPEC_DIR
#error "DF_AUGMENT_SPEC_DIR must name augment/specs"
#endif

namespace dreamforge::augment {
namespace {

// Field name -> the bounds a value must respect (after scaling) and whether it is integer.
struct FieldRule {
  double min;       // smallest allowed value
  bool min_open;    // true: value must be > min
  double max;       // largest allowed value
  bool integer;
  bool choice = false;  // a texture: {dist: choice, values: [...]}
};

const char* const kVisualSurfaces[] = {"table", "object", "target", "robot", "background"};

const std::map<std::string, FieldRule>& Rules() {
  static std::map<std::string, FieldRule> rules = {
      {"object_x", {-0.3, false, 0.3, false}},     {"object_y", {-0.3, false, 0.3, false}},
      {"object_yaw", {-M_PI, false, M_PI, false}}, {"target_x", {-0.3, false, 0.3, false}},
      {"target_y", {-0.3, false, 0.3, false}},     {"target_yaw", {-M_PI, false, M_PI, false}},
      {"mass_scale", {0.0, true, 100.0, false}},   {"friction", {0.0, false, 10.0, false}},
      {"restitution", {0.0, false, 1.0, false}},   {"size_scale", {0.0, true, 3.0, false}},
      {"table_height", {-0.1, false, 0.1, false}}, {"start_joints", {-0.5, false, 0.5, false}},
      {"damping_scale", {0.0, false, 10.0, false}}, {"gain_scale", {0.0, true, 10.0, false}},
      {"latency_steps", {0.0, false, 10.0, true}}, {"action_noise", {0.0, false, 1.0, false}},
      {"obs_noise", {0.0, false, 0.1, false}},
      // visual fields (what the scene looks like), see perturbation.h
      {"light_azimuth", {-180.0, false, 180.0, false}},
      {"light_elevation", {-80.0, false, 80.0, false}},
      {"light_intensity", {0.0, false, 5.0, false}},
      {"light_warmth", {-1.0, false, 1.0, false}},
      {"ambient", {0.0, false, 1.0, false}},
      {"camera_position", {-10.0, false, 10.0, false}},
      {"camera_rotation", {-15.0, false, 15.0, false}},
      {"camera_fov", {-20.0, false, 20.0, false}},
      {"image_gamma", {0.2, false, 5.0, false}},
      {"image_blur", {0.0, false, 3.0, false}},
      {"image_noise", {0.0, false, 50.0, false}},
      {"jpeg_quality", {1.0, false, 100.0, true}},
  };
  static const bool added = [] {
    for (const char* surface : kVisualSurfaces) {
      const std::string s = surface;
      rules[s + "_hue"] = {-180.0, false, 180.0, false};
      rules[s + "_saturation"] = {0.0, false, 5.0, false};
      rules[s + "_brightness"] = {0.0, false, 5.0, false};
      rules[s + "_texture"] = {0.0, false, sim::kNumTextures - 1.0, true, true};
      rules[s + "_texture_scale"] = {0.0, true, 1.0, false};
    }
    return true;
  }();
  (void)added;
  return rules;
}

[[noreturn]] void Fail(const std::string& source, const std::string& field, const std::string& what) {
  sim::yaml::Fail<AugmentError>(source, field, what);
}

double Num(const YAML::Node& n, const std::string& source, const std::string& field) {
  return sim::yaml::Number<AugmentError>(n, source, field);
}

std::string Fmt(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

Distribution ParseDistribution(const YAML::Node& node, const std::string& source,
                               const std::string& field) {
  if (!node.IsMap()) Fail(source, field, "expected a mapping like {dist: uniform, min: 0, max: 1}");
  sim::yaml::CheckUniqueKeys<AugmentError>(node, source, field);
  if (!node["dist"]) Fail(source, field + ".dist", "missing (uniform, normal, uniform_int or constant)");
  const std::string dist = sim::yaml::String<AugmentError>(node["dist"], source, field + ".dist");
  std::set<std::string> allowed;
  Distribution d;
  if (dist == "uniform" || dist == "uniform_int") {
    d.kind = dist == "uniform" ? Distribution::Kind::kUniform : Distribution::Kind::kUniformInt;
    allowed = {"dist", "min", "max"};
    if (!node["min"]) Fail(source, field + ".min", "missing");
    if (!node["max"]) Fail(source, field + ".max", "missing");
    d.a = Num(node["min"], source, field + ".min");
    d.b = Num(node["max"], source, field + ".max");
    if (d.a > d.b) Fail(source, field, "min (" + Fmt(d.a) + ") is greater than max (" + Fmt(d.b) + ")");
    if (d.kind == Distribution::Kind::kUniformInt &&
        (d.a != std::floor(d.a) || d.b != std::floor(d.b))) {
      Fail(source, field, "uniform_int bounds must be integers");
    }
    // Planted: a uniform_int of one value (min == max), as if sampled from [min, max): off by one.
    DF_FUZZ_PLANT_IF(d.kind == Distribution::Kind::kUniformInt && d.a == d.b);
  } else if (dist == "normal") {
    d.kind = Distribution::Kind::kNormal;
    allowed = {"dist", "mean", "std", "min", "max"};
    d.a = node["mean"] ? Num(node["mean"], source, field + ".mean") : 0.0;
    if (!node["std"]) Fail(source, field + ".std", "missing");
    d.b = Num(node["std"], source, field + ".std");
    if (d.b < 0) Fail(source, field + ".std", "must be >= 0");
    if (node["min"]) d.lo = Num(node["min"], source, field + ".min");
    if (node["max"]) d.hi = Num(node["max"], source, field + ".max");
    if (d.lo && d.hi && *d.lo > *d.hi) Fail(source, field, "min is greater than max");
    if (d.lo && d.a < *d.lo) Fail(source, field, "mean is below min");
    if (d.hi && d.a > *d.hi) Fail(source, field, "mean is above max");
  } else if (dist == "choice") {
    d.kind = Distribution::Kind::kChoice;
    allowed = {"dist", "values"};
    const YAML::Node values = node["values"];
    if (!values || !values.IsSequence() || values.size() == 0) {
      Fail(source, field + ".values", "expected a non-empty list of names");
    }
    for (const auto& v : values) {
      if (!v.IsScalar()) Fail(source, field + ".values", "expected a list of names");
      d.choices.push_back(v.as<std::string>());
    }
    d.a = 0;
    d.b = static_cast<double>(d.choices.size() - 1);
  } else if (dist == "constant") {
    d.kind = Distribution::Kind::kConstant;
    allowed = {"dist", "value"};
    if (!node["value"]) Fail(source, field + ".value", "missing");
    d.a = Num(node["value"], source, field + ".value");
  } else {
    Fail(source, field + ".dist", "unknown distribution '" + dist +
                                      "' (uniform, normal, uniform_int, constant or choice)");
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) Fail(source, field + "." + key, "unknown key for dist " + dist);
  }
  return d;
}

uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

double Distribution::Lower() const {
  switch (kind) {
    case Kind::kConstant: return a;
    case Kind::kUniform:
    case Kind::kUniformInt:
    case Kind::kChoice: return a;
    case Kind::kNormal: return lo ? *lo : (b == 0 ? a : -std::numeric_limits<double>::infinity());
  }
  return a;
}

double Distribution::Upper() const {
  switch (kind) {
    case Kind::kConstant: return a;
    case Kind::kUniform:
    case Kind::kUniformInt:
    case Kind::kChoice: return b;
    case Kind::kNormal: return hi ? *hi : (b == 0 ? a : std::numeric_limits<double>::infinity());
  }
  return a;
}

Rng::Rng(uint64_t seed, uint64_t index) {
  uint64_t s = seed;
  const uint64_t a = SplitMix(s);
  uint64_t t = index ^ a;
  state_ = SplitMix(t);
}

uint64_t Rng::Next() { return SplitMix(state_); }

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

double Rng::Normal() {
  // Box-Muller with u1 in (0, 1].
  const double u1 = 1.0 - Uniform();
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double Rng::Draw(const Distribution& d) {
  switch (d.kind) {
    case Distribution::Kind::kConstant: return d.a;
    case Distribution::Kind::kUniform: return d.a + (d.b - d.a) * Uniform();
    case Distribution::Kind::kChoice:
    case Distribution::Kind::kUniformInt: {
      const uint64_t span = static_cast<uint64_t>(d.b - d.a) + 1;
      return d.a + static_cast<double>(Next() % span);
    }
    case Distribution::Kind::kNormal: {
      for (int attempt = 0; attempt < 64; ++attempt) {
        const double v = d.a + d.b * Normal();
        if ((!d.lo || v >= *d.lo) && (!d.hi || v <= *d.hi)) return v;
      }
      return d.a;  // a truncation window far in the tail: fall back to the mean
    }
  }
  return d.a;
}

nlohmann::json PerturbationSpec::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, d] : fields) {
    nlohmann::json f;
    switch (d.kind) {
      case Distribution::Kind::kConstant: f = {{"dist", "constant"}, {"value", d.a}}; break;
      case Distribution::Kind::kUniform: f = {{"dist", "uniform"}, {"min", d.a}, {"max", d.b}}; break;
      case Distribution::Kind::kUniformInt:
        f = {{"dist", "uniform_int"}, {"min", d.a}, {"max", d.b}};
        break;
      case Distribution::Kind::kChoice: f = {{"dist", "choice"}, {"values", d.choices}}; break;
      case Distribution::Kind::kNormal:
        f = {{"dist", "normal"}, {"mean", d.a}, {"std", d.b}};
        if (d.lo) f["min"] = *d.lo;
        if (d.hi) f["max"] = *d.hi;
        break;
    }
    j[name] = f;
  }
  return j;
}

PerturbationSpec ParseSpec(const std::string& text, const std::string& source) {
  const YAML::Node root = sim::yaml::Parse<AugmentError>(text, source);
  PerturbationSpec spec;
  spec.source = source;
  // An empty file is more likely a mistake than a request for nominal dreams; `{}` says so.
  if (root.IsNull()) throw AugmentError(source + ": empty spec (write {} for one that perturbs nothing)");
  if (!root.IsMap()) throw AugmentError(source + ": expected a mapping of field: distribution");
  sim::yaml::CheckUniqueKeys<AugmentError>(root, source, "");
  for (const auto& kv : root) {
    const std::string field = kv.first.as<std::string>();
    auto rule = Rules().find(field);
    if (rule == Rules().end()) {
      std::string known;
      for (const auto& [n, r] : Rules()) known += (known.empty() ? "" : ", ") + n;
      Fail(source, field, "unknown field (known: " + known + ")");
    }
    Distribution d = ParseDistribution(kv.second, source, field);
    const FieldRule& r = rule->second;
    if (r.choice != (d.kind == Distribution::Kind::kChoice)) {
      Fail(source, field, r.choice ? "a texture field needs {dist: choice, values: [flat, checker, noise, stripes, wood]}"
                                   : "dist choice is only for texture fields");
    }
    if (r.choice) {
      for (const std::string& name : d.choices) {
        try {
          sim::TextureFromName(name, source + ": " + field + ".values");
        } catch (const sim::SimError& e) {
          throw AugmentError(e.what());
        }
      }
      spec.fields[field] = d;
      continue;
    }
    const double lo = d.Lower(), hi = d.Upper();
    if (r.min_open ? !(lo > r.min) : !(lo >= r.min)) {
      Fail(source, field, "values must be " + std::string(r.min_open ? "> " : ">= ") + Fmt(r.min) +
                              " but the range reaches " + Fmt(lo));
    }
    if (!(hi <= r.max)) {
      Fail(source, field, "values must be <= " + Fmt(r.max) + " but the range reaches " + Fmt(hi));
    }
    if (r.integer && d.kind != Distribution::Kind::kUniformInt &&
        !(d.kind == Distribution::Kind::kConstant && d.a == std::floor(d.a))) {
      Fail(source, field, "an integer field needs dist uniform_int or an integer constant");
    }
    spec.fields[field] = d;
  }
  return spec;
}

PerturbationSpec LoadSpec(const std::filesystem::path& path) {
  return ParseSpec(sim::yaml::ReadFile<AugmentError>(path, "perturbation spec"), path.string());
}

std::filesystem::path DefaultSpecPath(const std::string& task) {
  return std::filesystem::path(DF_AUGMENT_SPEC_DIR) / (task + ".yaml");
}

sim::SceneParams SampleScene(const sim::SceneModel& model, const PerturbationSpec& spec,
                             uint64_t seed, uint64_t index) {
  sim::SceneParams p = model.Nominal();
  Rng rng(seed, index);
  // A fixed draw order: every field draws whether or not the spec has it, so adding one
  // field to a spec does not change the values drawn for the others.
  auto draw = [&](const char* name, double nominal, bool scale) {
    // Each draw takes one key from the main stream and draws from its own generator, so
    // truncated normals that retry never shift the draws after them.
    const uint64_t key = rng.Next();
    auto it = spec.fields.find(name);
    if (it == spec.fields.end()) return nominal;
    Rng field_rng(key, index);
    const double v = field_rng.Draw(it->second);
    return scale ? nominal * v : nominal + v;
  };
  const int n = static_cast<int>(p.object_start.size());
  for (int i = 0; i < n; ++i) {
    p.object_start[i].x() = draw("object_x", p.object_start[i].x(), false);
    p.object_start[i].y() = draw("object_y", p.object_start[i].y(), false);
    p.object_start[i].z() = draw("object_yaw", p.object_start[i].z(), false);
    p.mass_scale[i] = draw("mass_scale", 1.0, true);
    p.size_scale[i] = draw("size_scale", 1.0, true);
    // friction and restitution are absolute values when perturbed.
    auto f = spec.fields.find("friction");
    p.friction[i] = draw("friction", f == spec.fields.end() ? p.friction[i] : 0.0, false);
    auto r = spec.fields.find("restitution");
    p.restitution[i] = draw("restitution", r == spec.fields.end() ? p.restitution[i] : 0.0, false);
  }
  p.target.x() = draw("target_x", p.target.x(), false);
  p.target.y() = draw("target_y", p.target.y(), false);
  p.target.z() = draw("target_yaw", p.target.z(), false);
  p.table_height = draw("table_height", p.table_height, false);
  for (int k = 0; k < 7; ++k) p.start_joints[k] = draw("start_joints", p.start_joints[k], false);
  p.damping_scale = draw("damping_scale", 1.0, true);
  p.gain_scale = draw("gain_scale", 1.0, true);
  p.latency_steps = static_cast<int>(std::lround(draw("latency_steps", 0.0, false)));
  p.action_noise = draw("action_noise", 0.0, false);
  p.obs_noise = draw("obs_noise", 0.0, false);
  p.noise_seed = rng.Next();
  if (HasVisualFields(spec)) p.appearance = SampleAppearance(model.task(), spec, seed, index);
  return p;
}

bool HasVisualFields(const PerturbationSpec& spec) {
  static const std::set<std::string> physical = {
      "object_x",     "object_y",      "object_yaw", "target_x",      "target_y",
      "target_yaw",   "mass_scale",    "friction",   "restitution",   "size_scale",
      "table_height", "start_joints",  "damping_scale", "gain_scale", "latency_steps",
      "action_noise", "obs_noise"};
  for (const auto& [name, d] : spec.fields) {
    if (!physical.count(name)) return true;
  }
  return false;
}

namespace {

// HSV adjustments of a linear RGB colour: hue rotated by `hue_deg`, saturation and value
// scaled (and clamped to [0, 1]).
Eigen::Vector3f AdjustHsv(const Eigen::Vector3f& rgb, double hue_deg, double sat, double val) {
  const float mx = rgb.maxCoeff(), mn = rgb.minCoeff(), c = mx - mn;
  double h = 0;
  if (c > 0) {
    if (mx == rgb.x()) h = std::fmod((rgb.y() - rgb.z()) / c, 6.0);
    else if (mx == rgb.y()) h = (rgb.z() - rgb.x()) / c + 2.0;
    else h = (rgb.x() - rgb.y()) / c + 4.0;
    h *= 60.0;
  }
  double s = mx > 0 ? c / mx : 0.0, v = mx;
  h = std::fmod(h + hue_deg + 720.0, 360.0);
  s = std::clamp(s * sat, 0.0, 1.0);
  v = std::clamp(v * val, 0.0, 1.0);
  const double cc = v * s, x = cc * (1 - std::abs(std::fmod(h / 60.0, 2.0) - 1)), m = v - cc;
  double r = 0, g = 0, b = 0;
  if (h < 60) { r = cc; g = x; }
  else if (h < 120) { r = x; g = cc; }
  else if (h < 180) { g = cc; b = x; }
  else if (h < 240) { g = x; b = cc; }
  else if (h < 300) { r = x; b = cc; }
  else { r = cc; b = x; }
  return Eigen::Vector3f(static_cast<float>(r + m), static_cast<float>(g + m), static_cast<float>(b + m));
}

}  // namespace

sim::Appearance SampleAppearance(const sim::Task& task, const PerturbationSpec& spec,
                                 uint64_t seed, uint64_t index) {
  sim::Appearance a = sim::Appearance::Nominal(task);
  // Its own stream: the physical draws of SampleScene never see these.
  Rng rng(seed ^ 0x56495355414C5354ULL, index);
  // Every field takes one key from the stream whether or not the spec has it (fixed order).
  enum Mode { kAdd, kScale, kAbsolute };
  auto draw = [&](const std::string& name, double nominal, Mode mode) {
    const uint64_t key = rng.Next();
    auto it = spec.fields.find(name);
    if (it == spec.fields.end()) return nominal;
    Rng field_rng(key, index);
    const double v = field_rng.Draw(it->second);
    return mode == kScale ? nominal * v : mode == kAdd ? nominal + v : v;
  };
  for (int i = 0; i < sim::kNumSurfaces; ++i) {
    const std::string s = kVisualSurfaces[i];
    sim::SurfaceLook& look = a.surfaces[i];
    const double hue = draw(s + "_hue", 0.0, kAdd);
    const double sat = draw(s + "_saturation", 1.0, kScale);
    const double val = draw(s + "_brightness", 1.0, kScale);
    look.color = AdjustHsv(look.color, hue, sat, val);
    const uint64_t key = rng.Next();
    auto tex = spec.fields.find(s + "_texture");
    if (tex != spec.fields.end()) {
      Rng field_rng(key, index);
      const auto k = static_cast<size_t>(field_rng.Draw(tex->second));
      look.texture = sim::TextureFromName(tex->second.choices.at(k), s + "_texture");
    }
    look.texture_scale = static_cast<float>(draw(s + "_texture_scale", look.texture_scale, kAbsolute));
  }
  // Light: direction from azimuth/elevation offsets of the nominal direction.
  const Eigen::Vector3d d0 = a.light_dir.cast<double>();
  const double az0 = std::atan2(d0.y(), d0.x()) * 180.0 / M_PI;
  const double el0 = std::asin(std::clamp(d0.z(), -1.0, 1.0)) * 180.0 / M_PI;
  const double az = draw("light_azimuth", az0, kAdd) * M_PI / 180.0;
  const double el = std::clamp(draw("light_elevation", el0, kAdd), 5.0, 90.0) * M_PI / 180.0;
  a.light_dir = Eigen::Vector3f(static_cast<float>(std::cos(el) * std::cos(az)),
                                static_cast<float>(std::cos(el) * std::sin(az)),
                                static_cast<float>(std::sin(el)));
  a.light_intensity = static_cast<float>(draw("light_intensity", a.light_intensity, kScale));
  const double warmth = draw("light_warmth", 0.0, kAdd);
  a.light_color = Eigen::Vector3f(static_cast<float>(std::min(1.0, 1.0 + 0.25 * warmth) - std::max(0.0, -0.1 * warmth)),
                                  static_cast<float>(1.0 - 0.05 * std::abs(warmth)),
                                  static_cast<float>(std::min(1.0, 1.0 - 0.25 * warmth)));
  a.ambient = static_cast<float>(draw("ambient", a.ambient, kAbsolute));
  for (int k = 0; k < 3; ++k) a.camera_offset[k] = draw("camera_position", 0.0, kAdd) / 100.0;
  for (int k = 0; k < 3; ++k) a.camera_rotation[k] = draw("camera_rotation", 0.0, kAdd) * M_PI / 180.0;
  a.camera_fov_offset = draw("camera_fov", 0.0, kAdd);
  a.gamma = draw("image_gamma", 1.0, kAbsolute);
  a.blur_sigma = draw("image_blur", 0.0, kAdd);
  a.noise_std = draw("image_noise", 0.0, kAdd);
  a.jpeg_quality = static_cast<int>(std::lround(draw("jpeg_quality", 0.0, kAdd)));
  a.sensor_seed = rng.Next();
  return a;
}

}  // namespace dreamforge::augment
