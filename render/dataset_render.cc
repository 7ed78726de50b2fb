#include "render/dataset_render.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <thread>

#include "render/render_error.h"
#include "sim/sim_error.h"

namespace dreamforge::render {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const sim::SceneModel> ModelOf(const datasets::EpisodeReader& reader) {
  const nlohmann::json env = reader.env_args();
  const std::string task = env.value("env_name", "");
  try {
    return std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  } catch (const sim::SimError& e) {
    throw datasets::DatasetError(reader.path().string() + ": /data env_args.env_name: " + e.what());
  }
}

void CheckStates(const datasets::EpisodeReader& reader, const sim::SceneModel& model) {
  const int need = 18 + 13 * static_cast<int>(model.task().objects().size());
  if (reader.num_episodes() > 0 && reader.state_dim() != need) {
    throw datasets::DatasetError(reader.path().string() + ": /data/" + reader.demo_names().front() +
                                 "/states: has " + std::to_string(reader.state_dim()) +
                                 " values per step, rendering needs the full physics state (" +
                                 std::to_string(need) + "); this file has no stored states to render from");
  }
}

void AddFrames(std::vector<CameraFrames> frames, bool depth, datasets::Episode* ep) {
  for (CameraFrames& f : frames) {
    datasets::ImageSeq img;
    img.height = f.height;
    img.width = f.width;
    img.channels = 3;
    img.data = std::move(f.rgb);
    ep->images[f.camera + "_image"] = std::move(img);
    if (depth) {
      datasets::DepthSeq d;
      d.height = f.height;
      d.width = f.width;
      d.data = std::move(f.depth);
      ep->depths[f.camera + "_depth"] = std::move(d);
    }
  }
}

nlohmann::json Manifest(const fs::path& in, const RenderOptions& o, int n) {
  nlohmann::json cams = nlohmann::json::array();
  for (const CameraSpec& c : o.cameras) cams.push_back(c.ToJson());
  std::error_code ec;
  const auto size = fs::file_size(in, ec);
  return {{"input", fs::weakly_canonical(in).string()},
          {"input_bytes", ec ? 0 : size},
          {"cameras", cams},
          {"depth", o.depth},
          {"chunk", o.chunk},
          {"episodes", n}};
}

}  // namespace

sim::SceneParams EpisodeScene(const sim::SceneModel& model, const datasets::Episode& episode,
                              const std::string& file, const std::string& demo) {
  const nlohmann::json& p = episode.perturbation;
  if (!p.is_object() || !p.contains("object_start")) return model.Nominal();
  try {
    sim::SceneParams params = sim::SceneParamsFromJson(p);
    model.Validate(params);
    return params;
  } catch (const sim::SimError& e) {
    throw datasets::DatasetError(file + ": /data/" + demo + " attr perturbation: " + e.what());
  }
}

void RenderDataset(const fs::path& in, const fs::path& out, const RenderOptions& o) {
  if (o.cameras.empty()) throw RenderError("render: no cameras given");
  if (o.workers < 1 || o.chunk < 1) throw RenderError("render: workers and chunk must be >= 1");
  std::error_code ec;
  if (fs::exists(out) && fs::equivalent(in, out, ec)) {
    throw RenderError("render: --out " + out.string() + " is the input file " + in.string() + "; choose another path");
  }
  datasets::EpisodeReader reader(in);
  auto model = ModelOf(reader);
  CheckStates(reader, *model);
  auto visual = std::make_shared<const VisualModel>(model);
  const int n = reader.num_episodes();
  const std::vector<std::string> names = reader.demo_names();
  nlohmann::json env = reader.env_args();
  nlohmann::json cams = nlohmann::json::array();
  for (const CameraSpec& c : o.cameras) cams.push_back(c.ToJson());
  env["cameras"] = cams;

  // Parts of a killed run are reused when they were made for the same input and options.
  const fs::path dir = out.string() + ".render";
  const nlohmann::json manifest = Manifest(in, o, n);
  const fs::path manifest_path = dir / "manifest.json";
  if (fs::exists(manifest_path)) {
    nlohmann::json old;
    try {
      std::ifstream f(manifest_path);
      old = nlohmann::json::parse(f);
    } catch (const std::exception&) {
      old = nullptr;
    }
    if (old != manifest) fs::remove_all(dir);
  }
  fs::create_directories(dir);
  if (!fs::exists(manifest_path)) {
    std::ofstream f(manifest_path.string() + ".tmp");
    f << manifest.dump(2) << "\n";
    f.close();
    fs::rename(manifest_path.string() + ".tmp", manifest_path);
  }

  std::vector<std::unique_ptr<FrameRenderer>> renderers(o.workers);
  const int parts = (n + o.chunk - 1) / o.chunk;
  std::vector<fs::path> part_paths;
  for (int p = 0; p < parts; ++p) {
    char name[32];
    std::snprintf(name, sizeof name, "part_%05d.hdf5", p);
    const fs::path path = dir / name;
    part_paths.push_back(path);
    const int begin = p * o.chunk, end = std::min(n, begin + o.chunk);
    if (fs::exists(path)) {
      if (o.on_progress) o.on_progress(end, n);
      continue;
    }
    std::vector<datasets::Episode> eps;
    std::vector<sim::SceneParams> scenes;
    for (int i = begin; i < end; ++i) {
      eps.push_back(reader.ReadEpisode(i, false));
      scenes.push_back(EpisodeScene(*model, eps.back(), in.string(), names[i]));
    }
    std::vector<std::exception_ptr> errors(o.workers);
    std::vector<std::thread> threads;
    for (int w = 0; w < o.workers; ++w) {
      threads.emplace_back([&, w] {
        try {
          if (!renderers[w]) renderers[w] = std::make_unique<FrameRenderer>(visual, o.cameras);
          for (size_t j = w; j < eps.size(); j += o.workers) {
            AddFrames(renderers[w]->RenderStates(scenes[j], eps[j].states, o.depth), o.depth, &eps[j]);
            datasets::DeflateCameraChunks(&eps[j]);  // here, in parallel; the writer only writes
          }
          renderers[w]->renderer().Release();
        } catch (...) {
          errors[w] = std::current_exception();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (const auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    datasets::EpisodeWriter writer(path, env);
    std::vector<std::string> written;
    for (const datasets::Episode& ep : eps) written.push_back(writer.Append(ep));
    writer.Close(written, {});
    if (o.on_progress) o.on_progress(end, n);
  }

  // The final file: every part's episodes in order, under the input's masks.
  std::map<std::string, std::string> rename;  // input demo name -> output name
  for (int i = 0; i < n; ++i) rename[names[i]] = "demo_" + std::to_string(i);
  auto mask = [&](const std::string& m) {
    std::vector<std::string> v;
    for (const std::string& name : reader.Mask(m)) v.push_back(rename.at(name));
    return v;
  };
  datasets::EpisodeWriter writer(out, env);
  for (const fs::path& path : part_paths) {
    datasets::EpisodeReader part(path);
    for (int i = 0; i < part.num_episodes(); ++i) writer.AppendCopy(part, i);  // chunks copied as stored
  }
  writer.Close(mask("train"), mask("valid"));
  fs::remove_all(dir);
}

EpisodeImages::EpisodeImages(const fs::path& path, std::vector<CameraSpec> cameras)
    : reader_(std::make_unique<datasets::EpisodeReader>(path)) {
  model_ = ModelOf(*reader_);
  CheckStates(*reader_, *model_);
  frames_ = std::make_unique<FrameRenderer>(std::make_shared<const VisualModel>(model_), std::move(cameras));
}

int EpisodeImages::num_episodes() const { return reader_->num_episodes(); }
int EpisodeImages::num_steps(int episode) const { return reader_->episode_num_samples(episode); }

void EpisodeImages::Load(int episode) {
  if (loaded_ == episode) return;
  const datasets::Episode ep = reader_->ReadEpisode(episode, false);
  params_ = EpisodeScene(*model_, ep, reader_->path().string(), reader_->demo_names().at(episode));
  states_ = ep.states;
  loaded_ = episode;
}

void EpisodeImages::Render(int episode, int step, int k, Image* rgb) {
  Load(episode);
  if (step < 0 || step >= states_.rows()) throw std::out_of_range("EpisodeImages::Render: step out of range");
  frames_->RenderState(params_, states_.row(step).transpose(), step, k, rgb);
}

}  // namespace dreamforge::render
