#include "augment/generator.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "datasets/episode_store.h"
#include "robot/fuzz_plant.h"

namespace dreamforge::augment {
namespace fs = std::filesystem;
namespace {

// A failed write (a full disk) is a runtime failure, not bad input: std::runtime_error
// naming the file and the reason, and no .tmp left behind.
void WriteJsonAtomically(const fs::path& path, const nlohmann::json& j) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream o(tmp);
    o << j.dump(2) << "\n";
    o.close();
    if (!o) {
      const std::string reason = std::strerror(errno);
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error(path.string() + ": cannot write (" + reason + ")");
    }
  }
  fs::rename(tmp, path);
}

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw AugmentError(path.string() + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw AugmentError(path.string() + ": not valid JSON: " + e.what());
  }
}

fs::path ChunkPath(const fs::path& parts, int c) {
  char name[32];
  std::snprintf(name, sizeof name, "chunk_%06d.hdf5", c);
  return parts / name;
}

bool IsValid(int64_t dream_index) { return (dream_index + 1) % 10 == 0; }

std::string FailureText(const std::map<std::string, int>& f) {
  std::string s;
  for (const auto& [k, v] : f) s += (s.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return s;
}

}  // namespace

int64_t ShardSize(int count, int shard, int shards) {
  return shard >= count ? 0 : (static_cast<int64_t>(count) - shard + shards - 1) / shards;
}

std::vector<int64_t> ShardIndices(int count, int shard, int shards) {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(0, ShardSize(count, shard, shards))));
  for (int64_t i = shard; i < count; i += shards) out.push_back(i);
  return out;
}

double GridOccupancy(const std::vector<std::pair<double, double>>& xy, double x_lo, double x_hi,
                     double y_lo, double y_hi) {
  constexpr int kCells = 10;
  if (!(x_hi > x_lo) || !(y_hi > y_lo)) return xy.empty() ? 0.0 : 1.0;
  std::vector<bool> hit(kCells * kCells, false);
  for (const auto& [x, y] : xy) {
    const int cx = std::clamp(static_cast<int>((x - x_lo) / (x_hi - x_lo) * kCells), 0, kCells - 1);
    const int cy = std::clamp(static_cast<int>((y - y_lo) / (y_hi - y_lo) * kCells), 0, kCells - 1);
    hit[cy * kCells + cx] = true;
  }
  return static_cast<double>(std::count(hit.begin(), hit.end(), true)) / (kCells * kCells);
}

nlohmann::json GeneratorSummary::ToJson(const PerturbationSpec& spec,
                                        const sim::SceneModel& model) const {
  nlohmann::json failures_json = nlohmann::json::object();
  for (const auto& [k, v] : failures) failures_json[k] = v;
  nlohmann::json phases_json = nlohmann::json::object();
  for (const auto& [k, v] : failures_by_phase) phases_json[k] = v;
  const auto inf = failures.find("infeasible");
  const int64_t infeasible = inf == failures.end() ? 0 : inf->second;
  const sim::SceneParams nominal = model.Nominal();
  auto range = [&](const char* field, double nominal_value, double* lo, double* hi) {
    auto it = spec.fields.find(field);
    *lo = nominal_value + (it == spec.fields.end() ? 0.0 : it->second.Lower());
    *hi = nominal_value + (it == spec.fields.end() ? 0.0 : it->second.Upper());
  };
  double xl, xh, yl, yh;
  range("object_x", nominal.object_start[0].x(), &xl, &xh);
  range("object_y", nominal.object_start[0].y(), &yl, &yh);
  nlohmann::json phases = nlohmann::json::object();
  for (const auto& [phase, t] : phase_seconds) {
    const auto it = phase_steps.find(phase);
    phases[phase] = {{"seconds", t}, {"control_steps", it == phase_steps.end() ? 0 : it->second}};
  }
  return {{"attempts", attempts},
          {"kept", kept},
          {"failures", failures_json},
          {"failures_by_phase", phases_json},
          {"success_rate", attempts > 0 ? static_cast<double>(kept) / attempts : 0.0},
          {"infeasible", infeasible},
          {"feasible_success_rate",
           attempts > infeasible ? static_cast<double>(kept) / (attempts - infeasible) : 0.0},
          {"wall_seconds", wall_seconds},
          {"kept_per_second", wall_seconds > 0 ? kept / wall_seconds : 0.0},
          {"workers", workers},
          {"physics_steps", physics_steps},
          {"physics_seconds", physics_seconds},
          {"dream_seconds", dream_seconds},
          {"physics_by_phase", phases},
          {"resumed_chunks", resumed_chunks},
          {"diversity",
           {{"object_xy_grid", "10x10 over the spec's object_x/object_y range"},
            {"object_xy_occupancy", GridOccupancy(object_xy, xl, xh, yl, yh)}}}};
}

nlohmann::json DreamEnvArgs(const DreamSource& source, const GeneratorOptions& options) {
  nlohmann::json env = source.model->EnvArgs();
  env["dreamforge"] = {{"source_demo", source.demo_hash},
                       {"spec", source.spec.ToJson()},
                       {"seed", source.seed},
                       {"count", options.count},
                       {"max_attempts", options.max_attempts}};
  return env;
}

int64_t MergeDreamFiles(const std::vector<std::string>& inputs, const std::string& out,
                        const std::vector<int64_t>& expected) {
  if (inputs.empty()) throw AugmentError("merge: no input files");
  struct Item {
    int64_t dream;
    size_t file;
    int demo;
  };
  std::vector<std::unique_ptr<datasets::EpisodeReader>> readers;
  std::vector<Item> items;
  nlohmann::json identity;
  nlohmann::json env0;
  for (size_t f = 0; f < inputs.size(); ++f) {
    readers.push_back(std::make_unique<datasets::EpisodeReader>(inputs[f]));
    nlohmann::json env = readers.back()->env_args();
    if (!env.contains("dreamforge") || !env["dreamforge"].is_object()) {
      throw AugmentError(inputs[f] + ": /data env_args: not a dream file (no 'dreamforge' object)");
    }
    env["dreamforge"].erase("shard");
    env["dreamforge"].erase("shard_indices");
    nlohmann::json id = {{"env_name", env.contains("env_name") ? env["env_name"] : nlohmann::json("")},
                         {"dreamforge", env["dreamforge"]}};
    if (f == 0) {
      identity = id;
      env0 = env;
    } else if (id != identity) {
      for (const char* key : {"source_demo", "spec", "seed", "count", "max_attempts"}) {
        if (id["dreamforge"][key] != identity["dreamforge"][key]) {
          throw AugmentError(inputs[f] + ": /data env_args.dreamforge." + key + " differs from " +
                             inputs[0] + "'s");
        }
      }
      throw AugmentError(inputs[f] + ": /data env_args differ from " + inputs[0] + "'s (" +
                         (id["env_name"] != identity["env_name"] ? "env_name" : "dreamforge") + ")");
    }
    // Same states, obs, camera keys and shapes, objects and signals as the first file.
    readers.front()->CheckSameLayout(*readers.back());
    for (int d = 0; d < readers.back()->num_episodes(); ++d) {
      const nlohmann::json p = readers.back()->ReadPerturbation(d);
      if (!p.contains("dream_index") || !p["dream_index"].is_number_integer()) {
        throw AugmentError(inputs[f] + ": /data/demo_" + std::to_string(d) +
                           " perturbation: no integer dream_index");
      }
      items.push_back({p["dream_index"].get<int64_t>(), f, d});
      // Planted (fuzz-plant builds only): dream 0 in a later shard (shards given out of
      // order), as if the merge took the first shard's first dream as its base. No seed has
      // one. Earlier plants on dream 7 (JSON text, several steps away) and a two-step demo
      // (num_samples: its 8-byte pattern recurs in every dataspace) were not found in 600 s.
      DF_FUZZ_PLANT_IF(f >= 1 && items.back().dream == 0);
    }
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.dream < b.dream; });
  for (size_t k = 1; k < items.size(); ++k) {
    if (items[k].dream == items[k - 1].dream) {
      throw AugmentError("merge: dream " + std::to_string(items[k].dream) + " appears in both " +
                         inputs[items[k - 1].file] + " and " + inputs[items[k].file]);
    }
  }
  std::vector<int64_t> have;
  for (const Item& it : items) have.push_back(it.dream);
  std::vector<int64_t> missing;
  std::set_difference(expected.begin(), expected.end(), have.begin(), have.end(),
                      std::back_inserter(missing));
  if (!missing.empty()) {
    throw AugmentError("merge: " + std::to_string(missing.size()) + " dream(s) missing, first " +
                       std::to_string(missing.front()));
  }
  std::vector<int64_t> extra;
  std::set_difference(have.begin(), have.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  if (!extra.empty()) {
    throw AugmentError("merge: unexpected dream " + std::to_string(extra.front()) +
                       " (not part of this run or shard)");
  }
  const bool complete = static_cast<int64_t>(expected.size()) == env0["dreamforge"]["count"].get<int64_t>();
  nlohmann::json out_env = env0;
  if (!complete) {
    out_env["dreamforge"]["shard_indices"] = {expected.front(), expected.size()};
  }
  datasets::EpisodeWriter writer(out, out_env);
  std::vector<std::string> train, valid;
  for (const Item& it : items) {
    const std::string name = writer.Append(readers[it.file]->ReadEpisode(it.demo));
    (IsValid(it.dream) ? valid : train).push_back(name);
  }
  writer.Close(train, valid);
  return static_cast<int64_t>(items.size());
}

int64_t MergeDreamShards(const std::vector<std::string>& inputs, const std::string& out) {
  if (inputs.empty()) throw AugmentError("merge: no input files");
  int64_t count = -1;
  {
    datasets::EpisodeReader first(inputs.at(0));
    const nlohmann::json env = first.env_args();
    if (!env.contains("dreamforge") || !env["dreamforge"].is_object()) {
      throw AugmentError("merge: " + inputs[0] + ": not a dream file");
    }
    const nlohmann::json& c = env["dreamforge"].contains("count") ? env["dreamforge"]["count"] : nlohmann::json();
    if (!c.is_number_integer()) {
      throw AugmentError("merge: " + inputs[0] + ": env_args.dreamforge.count: expected an integer 1.." +
                         std::to_string(kMaxDreamCount));
    }
    count = c.get<int64_t>();
  }
  if (count < 1 || count > kMaxDreamCount) {
    throw AugmentError("merge: " + inputs[0] + ": env_args.dreamforge.count " + std::to_string(count) +
                       ": expected 1.." + std::to_string(kMaxDreamCount));
  }
  std::vector<int64_t> expected(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) expected[static_cast<size_t>(i)] = i;
  return MergeDreamFiles(inputs, out, expected);
}

namespace {

// Workers make the dreams of `work` (dream indices) in any order; Take hands them out in
// order. A window bounds how far the workers may run ahead of Take, so memory stays flat
// however many dreams are asked for. The destructor stops and joins the workers.
class DreamPool {
 public:
  DreamPool(const DreamSource& source, const std::vector<int64_t>& work, int workers, int max_attempts)
      : source_(source), work_(work), max_attempts_(max_attempts), window_(static_cast<size_t>(workers) * 4 + 4) {
    for (int w = 0; w < workers && !work_.empty(); ++w) threads_.emplace_back([this] { Work(); });
  }
  DreamPool(const DreamPool&) = delete;
  DreamPool& operator=(const DreamPool&) = delete;
  ~DreamPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      abort_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // The result for work[pos]; positions must be taken in order. Rethrows a worker's error.
  DreamResult Take(size_t pos) {
    DreamResult r;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return abort_ || done_.count(pos); });
      if (!done_.count(pos)) {
        if (error_) std::rethrow_exception(error_);
        throw AugmentError("dream generation stopped");
      }
      r = std::move(done_.at(pos));
      done_.erase(pos);
      next_write_ = pos + 1;
    }
    cv_.notify_all();
    return r;
  }

 private:
  void Work() {
    while (true) {
      size_t pos;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return abort_ || next_take_ < next_write_ + window_; });
        if (abort_) return;
        pos = next_take_++;
      }
      if (pos >= work_.size()) return;
      DreamResult r;
      try {
        r = MakeDream(source_, static_cast<uint64_t>(work_[pos]), max_attempts_);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
        abort_ = true;
        cv_.notify_all();
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      done_.emplace(pos, std::move(r));
      cv_.notify_all();
    }
  }

  const DreamSource& source_;
  const std::vector<int64_t>& work_;
  const int max_attempts_;
  const size_t window_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<size_t, DreamResult> done_;  // position in work_ -> result
  size_t next_write_ = 0;
  size_t next_take_ = 0;
  bool abort_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

// The per-chunk statistics file beside each part ("<chunk>.hdf5.json").
nlohmann::json EmptyChunkStats() {
  return {{"attempts", 0}, {"kept", 0}, {"physics_steps", 0.0},
          {"failures", nlohmann::json::object()}, {"failures_by_phase", nlohmann::json::object()},
          {"object_xy", nlohmann::json::array()}};
}

void AddChunkStats(const nlohmann::json& s, GeneratorSummary* summary) {
  summary->attempts += s["attempts"].get<int64_t>();
  summary->kept += s["kept"].get<int64_t>();
  summary->physics_steps += s["physics_steps"].get<double>();
  for (const auto& [k, v] : s["failures"].items()) summary->failures[k] += v.get<int64_t>();
  // Parts written before phases were counted have none.
  const nlohmann::json phases = s.value("failures_by_phase", nlohmann::json::object());
  for (const auto& [k, v] : phases.items()) summary->failures_by_phase[k] += v.get<int64_t>();
  for (const auto& p : s["object_xy"]) summary->object_xy.emplace_back(p[0], p[1]);
}

void AddDreamStats(const DreamResult& r, nlohmann::json* stats) {
  nlohmann::json& s = *stats;
  s["attempts"] = s["attempts"].get<int64_t>() + r.attempts;
  s["kept"] = s["kept"].get<int64_t>() + 1;
  s["physics_steps"] = s["physics_steps"].get<double>() + r.physics_steps;
  for (const auto& [reason, n] : r.failures) s["failures"][reason] = s["failures"].value(reason, 0) + n;
  if (!s.contains("failures_by_phase")) s["failures_by_phase"] = nlohmann::json::object();
  for (const auto& [phase, n] : r.failure_phases) {
    const int64_t before = s["failures_by_phase"].value(phase, int64_t{0});
    s["failures_by_phase"][phase] = before + n;
  }
  const auto& start = r.episode.perturbation["object_start"][0];
  s["object_xy"].push_back({start[0], start[1]});
}

// OUT.parts/run.json: created for a new run; for an existing one it must describe this run.
void OpenParts(const fs::path& parts, const nlohmann::json& run) {
  if (fs::exists(parts / "run.json")) {
    if (ReadJson(parts / "run.json") != run) {
      throw AugmentError(parts.string() + ": left by a different run (demo, spec, seed, count, "
                         "shard or chunk differ); remove it or choose another --out");
    }
  } else {
    fs::create_directories(parts);
    WriteJsonAtomically(parts / "run.json", run);
  }
}

}  // namespace

GeneratorSummary GenerateDreams(const DreamSource& source, const std::string& out,
                                const GeneratorOptions& opt) {
  if (opt.count < 1 || opt.count > kMaxDreamCount || opt.workers < 1 || opt.shards < 1 || opt.shard < 0 ||
      opt.shard >= opt.shards || opt.chunk < 1 || opt.max_attempts < 1) {
    throw AugmentError("generator options: count must be 1.." + std::to_string(kMaxDreamCount) +
                       ", workers, chunk, max_attempts >= 1 and 0 <= shard < shards");
  }
  const auto t0 = std::chrono::steady_clock::now();
  GeneratorSummary summary;
  summary.workers = opt.workers;
  const std::vector<int64_t> indices = ShardIndices(opt.count, opt.shard, opt.shards);
  if (indices.empty()) throw AugmentError("shard " + std::to_string(opt.shard) + "/" +
                                          std::to_string(opt.shards) + " holds no dream");
  const fs::path parts = out + ".parts";
  nlohmann::json chunk_env = DreamEnvArgs(source, opt);
  chunk_env["dreamforge"]["shard"] = {opt.shard, opt.shards};
  nlohmann::json run = chunk_env;
  run["chunk"] = opt.chunk;
  OpenParts(parts, run);

  // Chunk c holds the shard's dreams [c * chunk, (c + 1) * chunk); finished chunks of an
  // earlier run are kept, the others (re)made.
  const int num_chunks = static_cast<int>((indices.size() + opt.chunk - 1) / opt.chunk);
  const auto chunk_begin = [&](int c) { return static_cast<size_t>(c) * opt.chunk; };
  const auto chunk_end = [&](int c) { return std::min(indices.size(), static_cast<size_t>(c + 1) * opt.chunk); };
  std::vector<int> pending;
  for (int c = 0; c < num_chunks; ++c) {
    const fs::path h5 = ChunkPath(parts, c), stats = h5.string() + ".json";
    if (fs::exists(h5) && fs::exists(stats)) {
      AddChunkStats(ReadJson(stats), &summary);
      ++summary.resumed_chunks;
    } else {
      pending.push_back(c);
    }
  }
  std::vector<int64_t> work;  // the dreams still to make, in order
  for (int c : pending) {
    for (size_t k = chunk_begin(c); k < chunk_end(c); ++k) work.push_back(indices[k]);
  }

  {
    DreamPool pool(source, work, opt.workers, opt.max_attempts);
    size_t pos = 0;
    const int64_t total = static_cast<int64_t>(indices.size());
    for (int c : pending) {
      nlohmann::json stats = EmptyChunkStats();
      const fs::path h5 = ChunkPath(parts, c);
      datasets::EpisodeWriter writer(h5, chunk_env);
      std::vector<std::string> train, valid;
      for (size_t k = chunk_begin(c); k < chunk_end(c); ++k, ++pos) {
        const DreamResult r = pool.Take(pos);
        if (!r.kept) {
          throw AugmentError("dream " + std::to_string(work[pos]) + " failed all " +
                             std::to_string(r.attempts) + " attempts (" + FailureText(r.failures) +
                             "): the spec looks too hard for this demo; narrow it or raise --max-attempts");
        }
        summary.physics_seconds += r.physics_seconds;
        summary.dream_seconds += r.total_seconds;
        for (const auto& [phase, t] : r.phase_seconds) summary.phase_seconds[phase] += t;
        for (const auto& [phase, n] : r.phase_steps) summary.phase_steps[phase] += n;
        AddDreamStats(r, &stats);
        const std::string name = writer.Append(r.episode);
        (IsValid(work[pos]) ? valid : train).push_back(name);
        if (opt.on_progress) {
          opt.on_progress(summary.kept + stats["kept"].get<int64_t>(), total,
                          summary.attempts + stats["attempts"].get<int64_t>());
        }
      }
      WriteJsonAtomically(h5.string() + ".json", stats);
      writer.Close(train, valid);
      AddChunkStats(stats, &summary);
    }
  }

  std::vector<std::string> chunk_files;
  for (int c = 0; c < num_chunks; ++c) chunk_files.push_back(ChunkPath(parts, c).string());
  MergeDreamFiles(chunk_files, out, indices);
  fs::remove_all(parts);
  summary.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace dreamforge::augment
