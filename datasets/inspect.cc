#include "datasets/inspect.h"

#include <algorithm>
#include <cstdio>

#include "datasets/episode_store.h"

namespace dreamforge::datasets {

namespace {

// The name, width, height, fovy and mount of each element of env_args["cameras"] (the
// renderer's camera descriptions), as far as present: inspect shows what the file holds
// and leaves judging the descriptions to the renderer.
nlohmann::json CameraSummary(const nlohmann::json& env_args) {
  nlohmann::json out = nlohmann::json::array();
  if (!env_args.contains("cameras") || !env_args["cameras"].is_array()) return out;
  for (const nlohmann::json& camera : env_args["cameras"]) {
    nlohmann::json c = nlohmann::json::object();
    if (camera.is_object()) {
      for (const char* field : {"name", "width", "height", "fovy", "mount"}) {
        if (camera.contains(field)) c[field] = camera[field];
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

nlohmann::json Inspect(const std::filesystem::path& path) {
  const EpisodeReader reader(path);
  nlohmann::json out;
  out["file"] = path.string();
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  out["bytes"] = ec ? 0 : bytes;
  out["episodes"] = reader.num_episodes();
  out["samples"] = reader.num_samples();
  int successes = 0;
  int min_n = 0;
  int max_n = 0;
  for (int i = 0; i < reader.num_episodes(); ++i) {
    successes += reader.episode_success(i) ? 1 : 0;
    const int n = reader.episode_num_samples(i);
    min_n = i == 0 ? n : std::min(min_n, n);
    max_n = std::max(max_n, n);
  }
  out["successes"] = successes;
  if (reader.num_episodes() > 0) {
    out["samples_per_episode"] = {
        {"min", min_n},
        {"max", max_n},
        {"mean", static_cast<double>(reader.num_samples()) / reader.num_episodes()}};
  }

  nlohmann::json keys = nlohmann::json::object();
  nlohmann::json dtypes = nlohmann::json::object();
  auto add = [&](const std::string& key, nlohmann::json shape, const char* dtype) {
    keys[key] = std::move(shape);
    dtypes[key] = dtype;
  };
  add("actions", {7}, "float32");
  add("rewards", nlohmann::json::array(), "float32");
  add("dones", nlohmann::json::array(), "uint8");
  if (reader.num_episodes() > 0) add("states", {reader.state_dim()}, "float64");
  for (const auto& [key, d] : reader.obs_dims()) {
    add("obs/" + key, {d}, "float32");
    add("next_obs/" + key, {d}, "float32");
  }
  for (const auto& [key, s] : reader.image_shapes()) add("obs/" + key, {s[0], s[1], s[2]}, "uint8");
  for (const auto& [key, s] : reader.depth_shapes()) add("obs/" + key, {s[0], s[1], 1}, "float32");
  if (reader.num_episodes() > 0) add("datagen_info/eef_pose", {4, 4}, "float64");
  for (const std::string& obj : reader.object_names()) {
    add("datagen_info/object_poses/" + obj, {4, 4}, "float64");
  }
  for (const std::string& sig : reader.subtask_signals()) {
    add("datagen_info/subtask_term_signals/" + sig, nlohmann::json::array(), "int32");
  }
  out["keys"] = std::move(keys);
  out["dtypes"] = std::move(dtypes);
  out["env_args"] = reader.env_args();
  const nlohmann::json cameras = CameraSummary(out["env_args"]);
  if (!cameras.empty()) out["cameras"] = cameras;
  nlohmann::json masks = nlohmann::json::object();
  for (const char* name : {"train", "valid"}) masks[name] = reader.Mask(name).size();
  out["masks"] = std::move(masks);
  return out;
}

namespace {

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

std::string ShapeText(const nlohmann::json& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + shape[i].dump();
  return s + (shape.size() == 1 ? ",)" : ")");
}

// A camera field for the terminal: strings unquoted, numbers as JSON has them, "?" if absent.
std::string Field(const nlohmann::json& camera, const char* field) {
  if (!camera.contains(field)) return "?";
  const nlohmann::json& v = camera[field];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

std::string FormatInspect(const nlohmann::json& j) {
  auto get = [&](const char* key) { return j.contains(key) ? j[key] : nlohmann::json(); };
  std::string out;
  out += "file:      " + get("file").get<std::string>();
  if (j.contains("bytes")) out += " (" + HumanBytes(j["bytes"].get<double>()) + ")";
  out += "\n";
  out += "episodes:  " + get("episodes").dump() + " (" + get("successes").dump() + " successful)\n";
  out += "samples:   " + get("samples").dump();
  if (j.contains("samples_per_episode")) {
    const nlohmann::json& s = j["samples_per_episode"];
    char buf[96];
    std::snprintf(buf, sizeof(buf), " (per episode: min %d, mean %.1f, max %d)", s.value("min", 0),
                  s.value("mean", 0.0), s.value("max", 0));
    out += buf;
  }
  out += "\n";
  if (j.contains("masks")) {
    out += "masks:    ";
    std::string sep = " ";
    for (const auto& [name, n] : j["masks"].items()) {
      out += sep + name + " " + n.dump();
      sep = ", ";
    }
    out += "\n";
  }
  if (j.contains("keys")) {
    out += "keys (per-sample shape, dtype):\n";
    std::size_t width = 0;
    for (const auto& [key, shape] : j["keys"].items()) width = std::max(width, key.size());
    for (const auto& [key, shape] : j["keys"].items()) {
      std::string line = "  " + key + std::string(width - key.size() + 2, ' ');
      std::string shape_text = ShapeText(shape);
      line += shape_text + std::string(shape_text.size() < 8 ? 8 - shape_text.size() : 1, ' ');
      if (j.contains("dtypes") && j["dtypes"].contains(key)) {
        line += j["dtypes"][key].get<std::string>();
      }
      out += line + "\n";
    }
  }
  if (j.contains("cameras")) {
    out += "cameras (size, vertical field of view, mount):\n";
    for (const nlohmann::json& c : j["cameras"]) {
      out += "  " + Field(c, "name") + "  " + Field(c, "width") + "x" + Field(c, "height") +
             "  fovy " + Field(c, "fovy") + " deg  mount " + Field(c, "mount") + "\n";
    }
  }
  if (j.contains("env_args")) {
    std::string env = j["env_args"].dump(2);
    out += "env_args:\n  ";
    for (char c : env) out += c == '\n' ? std::string("\n  ") : std::string(1, c);
    out += "\n";
  }
  return out;
}

}  // namespace dreamforge::datasets
