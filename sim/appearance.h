// What a scene looks like: colours, procedural textures, light, camera jitter and sensor
// effects. Pure data, sampled per dream beside the physical parameters (SceneParams) and
// stored with the episode (attr `perturbation`, key "appearance"). Physics never reads it;
// render/ draws it. Nominal(task) is the unperturbed look; a file or spec without visual
// fields gets exactly that.
#pragma once

#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace dreamforge::sim {

class Task;

// Procedural textures, computed per fragment from the surface's own coordinates (metres
// divided by the texture's scale), so a texture moves with its object.
enum class Texture { kFlat = 0, kChecker, kNoise, kStripes, kWood };
constexpr int kNumTextures = 5;
const char* TextureName(Texture t);
// Throws SimError naming `field` and listing the known names.
Texture TextureFromName(const std::string& name, const std::string& field);

struct SurfaceLook {
  Eigen::Vector3f color = Eigen::Vector3f::Constant(0.5f);  // linear RGB in [0, 1]
  Texture texture = Texture::kFlat;
  float texture_scale = 0.05f;  // m per texture period (> 0)
};

// The surfaces a spec can recolour. kTarget is what the object is placed on or in: the
// target zone's marker (bottle_place) or the lower cube (cube_stack).
enum class Surface { kTable = 0, kObject, kTarget, kRobot, kBackground };
constexpr int kNumSurfaces = 5;
const char* SurfaceName(Surface s);  // "table", "object", "target", "robot", "background"

struct Appearance {
  std::array<SurfaceLook, kNumSurfaces> surfaces;
  // Directional light: the direction the light comes from (unit, world frame), its
  // intensity and colour, and the ambient level.
  Eigen::Vector3f light_dir = Eigen::Vector3f(0.3f, -0.4f, 0.866f).normalized();
  float light_intensity = 0.8f;
  Eigen::Vector3f light_color = Eigen::Vector3f::Ones();
  float ambient = 0.35f;
  // Camera jitter, applied to every camera in its own frame (OpenCV axes: x right, y down,
  // z forward): position (m), rotation (rad, xyz Euler), vertical field of view (deg).
  Eigen::Vector3d camera_offset = Eigen::Vector3d::Zero();
  Eigen::Vector3d camera_rotation = Eigen::Vector3d::Zero();
  double camera_fov_offset = 0.0;
  // Sensor effects applied to the rendered RGB (render/sensor.h), in this order: gamma,
  // Gaussian blur (sigma, px; 0 = none), Gaussian noise (std in 0..255 levels; 0 = none),
  // JPEG round trip (quality 1..100; 0 = none). Noise is drawn from sensor_seed, the
  // camera and the step, so a frame renders the same bytes every time.
  double gamma = 1.0;
  double blur_sigma = 0.0;
  double noise_std = 0.0;
  int jpeg_quality = 0;
  uint64_t sensor_seed = 0;

  const SurfaceLook& look(Surface s) const { return surfaces[static_cast<int>(s)]; }
  SurfaceLook& look(Surface s) { return surfaces[static_cast<int>(s)]; }
  // The unperturbed look of a task's scene.
  static Appearance Nominal(const Task& task);
};

nlohmann::json ToJson(const Appearance& a);
// The inverse of ToJson. Throws SimError naming the missing or malformed field.
Appearance AppearanceFromJson(const nlohmann::json& j);
// Throws SimError naming the first value out of range (colours in [0, 1], scale > 0, ...).
void Validate(const Appearance& a);

}  // namespace dreamforge::sim
