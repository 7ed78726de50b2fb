// The perturbation spec (YAML): which physical quantities a dream perturbs, with what
// distribution and range, and the sampler that turns (spec, run seed, episode index) into
// one scene. Every draw comes from a generator seeded from (seed, index), so episode i is
// the same whatever the worker count, order or machine.
//
// Layout (every field optional; absent = not perturbed):
//   object_x, object_y: offset of every task object's start, m          (uniform | normal)
//   object_yaw:         rotation of every task object's start, rad
//   target_x, target_y, target_yaw: the same for the target zone
//   mass_scale:   x nominal mass (> 0)          friction: lateral friction (>= 0)
//   restitution:  [0, 1]                        size_scale: x nominal size (> 0)
//   table_height: table surface offset, m       start_joints: offset per arm joint, rad
//   damping_scale, gain_scale: x nominal joint damping / motor gain (> 0)
//   latency_steps: control steps of latency (integer, uniform_int)
//   action_noise, obs_noise: noise std (>= 0)
// Visual fields (what the scene looks like; sampled from a stream of their own, so adding
// or removing them never changes the physical draws, states or actions of a dream):
//   <surface>_hue (deg, added), <surface>_saturation, <surface>_brightness (x nominal),
//   <surface>_texture ({dist: choice, values: [flat, checker, noise, stripes, wood]}),
//   <surface>_texture_scale (m per period), for surface in table, object, target, robot,
//   background (target: the zone marker or the lower cube)
//   light_azimuth, light_elevation (deg, added), light_intensity (x nominal),
//   light_warmth ([-1, 1]: bluish .. warm), ambient (absolute, [0, 1])
//   camera_position (cm, per axis), camera_rotation (deg, per axis), camera_fov (deg, added)
//   image_gamma, image_blur (sigma, px), image_noise (std, 0..255 levels),
//   jpeg_quality (integer 1..100, uniform_int)
// Each field is {dist: uniform, min: A, max: B} | {dist: normal, mean: M, std: S[, min, max]}
// | {dist: uniform_int, min: A, max: B} | {dist: constant, value: V}
// | {dist: choice, values: [names]} (texture fields only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "augment/augment_error.h"
#include "sim/world.h"

namespace dreamforge::augment {

struct Distribution {
  enum class Kind { kConstant, kUniform, kNormal, kUniformInt, kChoice };
  Kind kind = Kind::kConstant;
  double a = 0.0;  // constant: value; uniform(_int): min; normal: mean
  double b = 0.0;  // uniform(_int): max; normal: std
  // normal only: optional truncation bounds (re-drawn until inside; bounded attempts).
  std::optional<double> lo, hi;
  // choice only: the names; a draw is an index into them (uniform).
  std::vector<std::string> choices;
  double Lower() const;  // smallest value a draw can take
  double Upper() const;  // largest value a draw can take
};

// A counter-based generator: draws depend only on (seed, index, draw number).
class Rng {
 public:
  Rng(uint64_t seed, uint64_t index);
  uint64_t Next();        // 64 random bits
  double Uniform();       // [0, 1)
  double Normal();        // standard normal (Box-Muller)
  double Draw(const Distribution& d);

 private:
  uint64_t state_;
};

struct PerturbationSpec {
  std::map<std::string, Distribution> fields;  // field name -> distribution
  std::string source;                          // file it came from (for messages)
  nlohmann::json ToJson() const;               // stored in env_args
};

// Parses and validates a spec. Throws AugmentError naming the file and the field, e.g.
// "spec.yaml: mass_scale.min: must be > 0" or "spec.yaml: masss_scale: unknown field".
// An empty file and a key given twice are refused; `{}` is the spec that perturbs nothing.
PerturbationSpec LoadSpec(const std::filesystem::path& path);
PerturbationSpec ParseSpec(const std::string& yaml, const std::string& source);
// The shipped default spec of a task: augment/specs/<task>.yaml in the source tree.
std::filesystem::path DefaultSpecPath(const std::string& task);

// One perturbed scene: the task's nominal scene with every spec field drawn, in a fixed
// order, from Rng(seed, index). noise_seed is drawn too. When the spec has any visual
// field, params.appearance is SampleAppearance's; otherwise it stays empty (nominal).
sim::SceneParams SampleScene(const sim::SceneModel& model, const PerturbationSpec& spec,
                             uint64_t seed, uint64_t index);

// The visual fields of `spec` drawn for episode `index`: the task's nominal appearance
// changed by each field present, from a generator of its own (seed, index, "visual").
sim::Appearance SampleAppearance(const sim::Task& task, const PerturbationSpec& spec,
                                 uint64_t seed, uint64_t index);
// True when `spec` has a visual field.
bool HasVisualFields(const PerturbationSpec& spec);

}  // namespace dreamforge::augment
