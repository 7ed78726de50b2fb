#include "sim/appearance.h"

#include <cmath>

#include "sim/sim_error.h"
#include "sim/task.h"

namespace dreamforge::sim {
namespace {

constexpr const char* kTextureNames[kNumTextures] = {"flat", "checker", "noise", "stripes", "wood"};
constexpr const char* kSurfaceNames[kNumSurfaces] = {"table", "object", "target", "robot",
                                                     "background"};

[[noreturn]] void Fail(const std::string& field, const std::string& what) {
  throw SimError("appearance: " + field + ": " + what);
}

std::vector<double> Vec(const Eigen::Vector3f& v) { return {v.x(), v.y(), v.z()}; }
std::vector<double> Vec(const Eigen::Vector3d& v) { return {v.x(), v.y(), v.z()}; }

const nlohmann::json& Get(const nlohmann::json& j, const std::string& key, const std::string& path) {
  if (!j.is_object() || !j.contains(key)) Fail(path + key, "missing");
  return j.at(key);
}

double Number(const nlohmann::json& j, const std::string& key, const std::string& path) {
  const nlohmann::json& v = Get(j, key, path);
  if (!v.is_number()) Fail(path + key, "expected a number");
  return v.get<double>();
}

Eigen::Vector3d Vec3(const nlohmann::json& j, const std::string& key, const std::string& path) {
  const nlohmann::json& v = Get(j, key, path);
  if (!v.is_array() || v.size() != 3) Fail(path + key, "expected 3 numbers");
  Eigen::Vector3d out;
  for (int i = 0; i < 3; ++i) {
    if (!v[i].is_number()) Fail(path + key, "expected 3 numbers");
    out[i] = v[i].get<double>();
  }
  return out;
}

}  // namespace

const char* TextureName(Texture t) { return kTextureNames[static_cast<int>(t)]; }

Texture TextureFromName(const std::string& name, const std::string& field) {
  std::string known;
  for (int i = 0; i < kNumTextures; ++i) {
    if (name == kTextureNames[i]) return static_cast<Texture>(i);
    known += (i ? ", " : "") + std::string(kTextureNames[i]);
  }
  throw SimError(OneLine(field) + ": unknown texture '" + OneLine(name) + "' (known: " + known + ")");
}

const char* SurfaceName(Surface s) { return kSurfaceNames[static_cast<int>(s)]; }

Appearance Appearance::Nominal(const Task& task) {
  Appearance a;
  a.look(Surface::kTable).color = {0.62f, 0.50f, 0.38f};
  a.look(Surface::kRobot).color = {0.86f, 0.86f, 0.88f};
  a.look(Surface::kBackground).color = {0.30f, 0.33f, 0.38f};
  if (task.name() == "cube_stack") {
    a.look(Surface::kObject).color = {0.80f, 0.16f, 0.12f};  // cube A, red
    a.look(Surface::kTarget).color = {0.16f, 0.60f, 0.22f};  // cube B, green
  } else {
    a.look(Surface::kObject).color = {0.12f, 0.42f, 0.82f};  // the bottle, blue
    a.look(Surface::kTarget).color = {0.85f, 0.20f, 0.15f};  // the target zone, red
  }
  return a;
}

nlohmann::json ToJson(const Appearance& a) {
  nlohmann::json surfaces = nlohmann::json::object();
  for (int i = 0; i < kNumSurfaces; ++i) {
    const SurfaceLook& s = a.surfaces[i];
    surfaces[kSurfaceNames[i]] = {{"color", Vec(s.color)},
                                  {"texture", TextureName(s.texture)},
                                  {"texture_scale", s.texture_scale}};
  }
  return {{"surfaces", surfaces},
          {"light_dir", Vec(a.light_dir)},
          {"light_intensity", a.light_intensity},
          {"light_color", Vec(a.light_color)},
          {"ambient", a.ambient},
          {"camera_offset", Vec(a.camera_offset)},
          {"camera_rotation", Vec(a.camera_rotation)},
          {"camera_fov_offset", a.camera_fov_offset},
          {"gamma", a.gamma},
          {"blur_sigma", a.blur_sigma},
          {"noise_std", a.noise_std},
          {"jpeg_quality", a.jpeg_quality},
          {"sensor_seed", a.sensor_seed}};
}

Appearance AppearanceFromJson(const nlohmann::json& j) {
  Appearance a;
  const nlohmann::json& surfaces = Get(j, "surfaces", "");
  for (int i = 0; i < kNumSurfaces; ++i) {
    const std::string path = std::string("surfaces.") + kSurfaceNames[i] + ".";
    const nlohmann::json& s = Get(surfaces, kSurfaceNames[i], "surfaces.");
    SurfaceLook& look = a.surfaces[i];
    look.color = Vec3(s, "color", path).cast<float>();
    const nlohmann::json& tex = Get(s, "texture", path);
    if (!tex.is_string()) Fail(path + "texture", "expected a name");
    look.texture = TextureFromName(tex.get<std::string>(), "appearance: " + path + "texture");
    look.texture_scale = static_cast<float>(Number(s, "texture_scale", path));
  }
  a.light_dir = Vec3(j, "light_dir", "").cast<float>();
  a.light_intensity = static_cast<float>(Number(j, "light_intensity", ""));
  a.light_color = Vec3(j, "light_color", "").cast<float>();
  a.ambient = static_cast<float>(Number(j, "ambient", ""));
  a.camera_offset = Vec3(j, "camera_offset", "");
  a.camera_rotation = Vec3(j, "camera_rotation", "");
  a.camera_fov_offset = Number(j, "camera_fov_offset", "");
  a.gamma = Number(j, "gamma", "");
  a.blur_sigma = Number(j, "blur_sigma", "");
  a.noise_std = Number(j, "noise_std", "");
  const double q = Number(j, "jpeg_quality", "");
  if (q != std::floor(q)) Fail("jpeg_quality", "expected an integer");
  a.jpeg_quality = static_cast<int>(q);
  const nlohmann::json& seed = Get(j, "sensor_seed", "");
  if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<int64_t>() >= 0)) {
    Fail("sensor_seed", "expected a non-negative integer");
  }
  a.sensor_seed = seed.get<uint64_t>();
  Validate(a);
  return a;
}

void Validate(const Appearance& a) {
  for (int i = 0; i < kNumSurfaces; ++i) {
    const SurfaceLook& s = a.surfaces[i];
    const std::string path = std::string("surfaces.") + kSurfaceNames[i] + ".";
    if (!(s.color.minCoeff() >= 0.0f && s.color.maxCoeff() <= 1.0f)) Fail(path + "color", "must be in [0, 1]");
    if (!(s.texture_scale > 0.0f && s.texture_scale <= 10.0f)) Fail(path + "texture_scale", "must be in (0, 10] m");
  }
  if (!a.light_dir.allFinite() || a.light_dir.norm() < 1e-6f) Fail("light_dir", "must be a non-zero direction");
  if (!(a.light_intensity >= 0.0f && a.light_intensity <= 10.0f)) Fail("light_intensity", "must be in [0, 10]");
  if (!(a.light_color.minCoeff() >= 0.0f && a.light_color.maxCoeff() <= 1.0f)) Fail("light_color", "must be in [0, 1]");
  if (!(a.ambient >= 0.0f && a.ambient <= 1.0f)) Fail("ambient", "must be in [0, 1]");
  if (!a.camera_offset.allFinite() || a.camera_offset.cwiseAbs().maxCoeff() > 0.5) {
    Fail("camera_offset", "must be finite and within 0.5 m");
  }
  if (!a.camera_rotation.allFinite() || a.camera_rotation.cwiseAbs().maxCoeff() > 0.8) {
    Fail("camera_rotation", "must be finite and within 0.8 rad");
  }
  if (!(std::abs(a.camera_fov_offset) <= 40.0)) Fail("camera_fov_offset", "must be within 40 deg");
  if (!(a.gamma > 0.1 && a.gamma <= 10.0)) Fail("gamma", "must be in (0.1, 10]");
  if (!(a.blur_sigma >= 0.0 && a.blur_sigma <= 10.0)) Fail("blur_sigma", "must be in [0, 10] px");
  if (!(a.noise_std >= 0.0 && a.noise_std <= 100.0)) Fail("noise_std", "must be in [0, 100]");
  if (a.jpeg_quality < 0 || a.jpeg_quality > 100) Fail("jpeg_quality", "must be 0 (none) or 1..100");
}

}  // namespace dreamforge::sim
