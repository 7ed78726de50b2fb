// `render`: images for an episode file from its stored states and appearances, and
// `video`: an MP4 of some of its episodes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "datasets/episode_store.h"
#include "render/camera.h"
#include "render/dataset_render.h"
#include "render/render_error.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace dreamforge::tools {
namespace {

namespace fs = std::filesystem;

// The cameras a command asked for: the named ones from the defaults and from
// --camera-file (a JSON list of camera descriptions, see render/camera.h), resized.
std::vector<render::CameraSpec> ResolveCameras(const std::string& names, const std::string& camera_file, int size) {
  std::vector<render::CameraSpec> available = render::DefaultCameras();
  if (!camera_file.empty()) {
    std::ifstream f(camera_file);
    if (!f) throw UsageError("--camera-file " + camera_file + ": cannot be read");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError("--camera-file " + camera_file + ": not JSON: " + e.what());
    }
    if (!j.is_array()) throw UsageError("--camera-file " + camera_file + ": expected a list of camera descriptions");
    for (const auto& c : j) {
      try {
        render::CameraSpec spec = render::CameraSpec::FromJson(c);
        available.erase(std::remove_if(available.begin(), available.end(),
                                       [&](const render::CameraSpec& a) { return a.name == spec.name; }),
                        available.end());
        available.push_back(spec);
      } catch (const render::RenderError& e) {
        throw UsageError("--camera-file " + camera_file + ": " + e.what());
      }
    }
  }
  if (size != 0 && (size < 8 || size > 2048)) throw UsageError("--size: must be in [8, 2048], got " + std::to_string(size));
  return render::SelectCameras(names, available, size);
}

struct RenderArgs {
  std::string in, out, cameras = "agentview,robot0_eye_in_hand", camera_file;
  int size = 84;
  bool depth = false;
  int workers = 0;
  int chunk = 32;
};

void CheckSize(const std::string& cmd, int size) {
  if (size < 8 || size > 2048) throw UsageError(cmd + ": --size: must be in [8, 2048], got " + std::to_string(size));
}

void RunRender(const RenderArgs& a) {
  CheckSize("render", a.size);
  RefuseOutputOverInput("render", "FILE", a.in, "--out", a.out);
  CheckOutputWritable("render", "--out", a.out);
  render::RenderOptions o;
  o.cameras = ResolveCameras(a.cameras, a.camera_file, a.size);
  o.depth = a.depth;
  if (a.workers < 0) throw UsageError("render: --workers: must be >= 0 (0: all cores)");
  if (a.chunk < 1) throw UsageError("render: --chunk: must be >= 1");
  o.workers = a.workers > 0 ? a.workers : std::max(1u, std::thread::hardware_concurrency());
  o.chunk = a.chunk;
  long total = 0;
  {
    datasets::EpisodeReader r(a.in);
    total = r.num_episodes();
  }
  const auto t0 = std::chrono::steady_clock::now();
  Progress progress("render", total);
  o.on_progress = [&](int64_t done, int64_t) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, "episodes, %.1f /s", s > 0 ? done / s : 0.0);
    progress.Update(static_cast<long>(done), suffix);
  };
  render::RenderDataset(a.in, a.out, o);
  progress.Finish();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string names;
  for (const auto& c : o.cameras) names += (names.empty() ? "" : ",") + c.name;
  std::printf("rendered %ld episodes (%s, %dx%d%s) in %.1f s with %d workers -> %s\n", total, names.c_str(),
              o.cameras.front().width, o.cameras.front().height, a.depth ? ", depth" : "", s, o.workers,
              a.out.c_str());
}

struct VideoArgs {
  std::string in, out, episodes, grid, camera = "agentview", camera_file;
  int size = 84;
  double speed = 1.0;
};

std::vector<int> ParseEpisodes(const std::string& list, int n) {
  std::vector<int> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    char* end = nullptr;
    const long k = std::strtol(item.c_str(), &end, 10);
    if (*end != '\0' || k < 0 || k >= n) {
      throw UsageError("video: --episodes: '" + item + "' is not an episode index in 0.." + std::to_string(n - 1));
    }
    out.push_back(static_cast<int>(k));
  }
  if (out.empty()) throw UsageError("video: --episodes: empty list");
  return out;
}

void RunVideo(const VideoArgs& a) {
  CheckSize("video", a.size);
  if (!(a.speed > 0.05 && a.speed <= 20)) throw UsageError("video: --speed: must be in (0.05, 20]");
  if (!a.episodes.empty() && !a.grid.empty()) throw UsageError("video: give --episodes or --grid, not both");
  const fs::path out(a.out);
  if (out.extension() != ".mp4") throw UsageError("video: --out " + a.out + ": must end in .mp4");
  RefuseOutputOverInput("video", "FILE", a.in, "--out", a.out);
  CheckOutputWritable("video", "--out", a.out);
  std::vector<render::CameraSpec> cams = ResolveCameras(a.camera, a.camera_file, a.size);
  if (cams.size() != 1) throw UsageError("video: --camera: name one camera");
  render::EpisodeImages images(a.in, cams);
  const int n = images.num_episodes();
  if (n == 0) throw UsageError("video: " + a.in + ": has no episodes");
  int rows = 1, cols = 1;
  std::vector<int> eps;
  if (!a.grid.empty()) {
    char x = 0, extra = 0;
    if (std::sscanf(a.grid.c_str(), "%d%c%d%c", &cols, &x, &rows, &extra) != 3 || (x != 'x' && x != 'X') ||
        rows < 1 || cols < 1 || rows * cols > 64) {
      throw UsageError("video: --grid '" + a.grid + "': expected CxR, e.g. 4x4 (at most 64 tiles)");
    }
    for (int k = 0; k < std::min(n, rows * cols); ++k) eps.push_back(k);
  } else {
    eps = a.episodes.empty() ? std::vector<int>{0} : ParseEpisodes(a.episodes, n);
  }
  datasets::EpisodeReader reader(a.in);
  const double hz = reader.env_args().value("env_kwargs", nlohmann::json::object()).value("control_freq", 20.0);
  // Tiles are scaled up so that the label is legible: at least 252 px high.
  const int w = cams[0].width, h = cams[0].height;
  const int scale = std::max(1, (252 + h - 1) / h / (a.grid.empty() ? 1 : std::max(1, rows / 2)));
  const int tw = w * scale, th = h * scale;
  cv::Mat canvas(th * rows, tw * (a.grid.empty() ? 1 : cols), CV_8UC3, cv::Scalar(0, 0, 0));
  const fs::path tmp = out.parent_path() / (out.stem().string() + ".tmp.mp4");
  cv::VideoWriter writer(tmp.string(), cv::VideoWriter::fourcc('m', 'p', '4', 'v'), hz * a.speed, canvas.size());
  if (!writer.isOpened()) throw UsageError("video: cannot open " + tmp.string() + " for writing (OpenCV without FFmpeg?)");
  int frames = 0;
  auto label_of = [&](int e) {
    return reader.demo_names()[e] + (reader.episode_success(e) ? " success" : " failed");
  };
  render::Image img;
  auto draw_tile = [&](int e, int step, int r, int c) {
    images.Render(e, std::min(step, images.num_steps(e) - 1), 0, &img);
    cv::Mat rgb(h, w, CV_8UC3, img.rgb.data()), bgr, big;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    cv::resize(bgr, big, cv::Size(tw, th), 0, 0, cv::INTER_NEAREST);
    const double font = std::max(0.35, 0.4 * th / 252.0);
    const std::string label = label_of(e) + "  t=" + std::to_string(std::min(step, images.num_steps(e) - 1));
    cv::putText(big, label, cv::Point(4, static_cast<int>(14 * font / 0.4)), cv::FONT_HERSHEY_SIMPLEX, font,
                cv::Scalar(0, 0, 0), 3, cv::LINE_AA);
    cv::putText(big, label, cv::Point(4, static_cast<int>(14 * font / 0.4)), cv::FONT_HERSHEY_SIMPLEX, font,
                reader.episode_success(e) ? cv::Scalar(120, 255, 120) : cv::Scalar(90, 90, 255), 1, cv::LINE_AA);
    big.copyTo(canvas(cv::Rect(c * tw, r * th, tw, th)));
  };
  if (!a.grid.empty()) {
    int longest = 0;
    for (int e : eps) longest = std::max(longest, images.num_steps(e));
    for (int t = 0; t < longest; ++t) {
      canvas.setTo(cv::Scalar(0, 0, 0));
      for (size_t k = 0; k < eps.size(); ++k) draw_tile(eps[k], t, static_cast<int>(k) / cols, static_cast<int>(k) % cols);
      writer.write(canvas);
      ++frames;
    }
  } else {
    for (int e : eps) {
      for (int t = 0; t < images.num_steps(e); ++t) {
        draw_tile(e, t, 0, 0);
        writer.write(canvas);
        ++frames;
      }
    }
  }
  writer.release();
  fs::rename(tmp, out);
  std::printf("video: %d frames (%zu episodes, %s, %.0f fps) -> %s\n", frames, eps.size(), cams[0].name.c_str(),
              hz * a.speed, a.out.c_str());
}

}  // namespace

void AddRenderCommand(CLI::App& app) {
  auto a = std::make_shared<RenderArgs>();
  auto* cmd = app.add_subcommand(
      "render", "Render camera images for every step of an episode file from its stored states and appearances.");
  cmd->add_option("file", a->in, "Episode file with states (a demo or dreams)")->required();
  cmd->add_option("--out", a->out, "Output episode file: the same episodes plus obs/<camera>_image")->required();
  cmd->add_option("--cameras", a->cameras, "Comma-separated camera names")->capture_default_str();
  cmd->add_option("--camera-file", a->camera_file, "JSON list of camera descriptions (adds or replaces cameras)");
  cmd->add_option("--size", a->size, "Image width and height, px")->capture_default_str();
  cmd->add_flag("--depth", a->depth, "Also write obs/<camera>_depth (metres, float32)");
  cmd->add_option("--workers", a->workers, "Render threads, one GL context each (0: all cores)")->capture_default_str();
  cmd->add_option("--chunk", a->chunk, "Episodes per resumable part")->capture_default_str();
  cmd->callback([a] { RunRender(*a); });
}

void AddVideoCommand(CLI::App& app) {
  auto a = std::make_shared<VideoArgs>();
  auto* cmd = app.add_subcommand("video", "Write an MP4 of episodes of a file, rendered from their states.");
  cmd->add_option("file", a->in, "Episode file with states")->required();
  cmd->add_option("--out", a->out, "Output .mp4")->required();
  cmd->add_option("--episodes", a->episodes, "Comma-separated episode indices, one after another (default 0)");
  cmd->add_option("--grid", a->grid, "CxR: the first C*R episodes side by side, e.g. 4x4");
  cmd->add_option("--camera", a->camera, "Camera name")->capture_default_str();
  cmd->add_option("--camera-file", a->camera_file, "JSON list of camera descriptions");
  cmd->add_option("--size", a->size, "Rendered size, px (tiles are scaled up for legibility)")->capture_default_str();
  cmd->add_option("--speed", a->speed, "Playback speed (1: real time at the control rate)")->capture_default_str();
  cmd->callback([a] { RunVideo(*a); });
}

}  // namespace dreamforge::tools
