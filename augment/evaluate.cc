#include "augment/evaluate.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "augment/dream.h"

namespace dreamforge::augment {

Interval WilsonInterval(int64_t successes, int64_t trials, double z) {
  if (trials <= 0) return {0.0, 1.0};
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / n;
  const double z2 = z * z;
  const double center = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

nlohmann::json EvalResult::ToJson() const {
  const Interval ci = WilsonInterval(successes, episodes);
  nlohmann::json f = nlohmann::json::object();
  for (const auto& [k, v] : failures) f[k] = v;
  return {{"episodes", episodes},
          {"successes", successes},
          {"success_rate", episodes > 0 ? static_cast<double>(successes) / episodes : 0.0},
          {"ci_low", ci.low},
          {"ci_high", ci.high},
          {"failures", f},
          {"wall_seconds", wall_seconds}};
}

EvalResult Evaluate(std::shared_ptr<const sim::SceneModel> model, const PerturbationSpec& spec,
                    uint64_t seed, int episodes, int workers, const ControllerFactory& factory,
                    const std::function<void(int64_t done)>& on_progress) {
  if (episodes < 1 || workers < 1) throw AugmentError("evaluate: episodes and workers must be >= 1");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> outcome(episodes);  // "" = success, else the failure reason
  std::atomic<int> next{0};
  std::atomic<int64_t> done{0};
  std::mutex mu;
  std::exception_ptr error;
  auto worker = [&]() {
    for (int k = next++; k < episodes; k = next++) {
      try {
        const sim::SceneParams params =
            SampleScene(*model, spec, seed, kEvalIndexBit | static_cast<uint64_t>(k));
        sim::World world(model, params);
        std::unique_ptr<sim::Controller> controller = factory();
        sim::RolloutOptions opt;
        opt.record = false;
        const sim::RolloutResult r = sim::Rollout(world, *controller, opt);
        if (r.outcome != sim::Outcome::kSuccess) outcome[k] = FailureReason(r);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        next = episodes;
        return;
      }
      const int64_t d = ++done;
      if (on_progress) {
        std::lock_guard<std::mutex> lock(mu);
        on_progress(d);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  EvalResult result;
  result.episodes = episodes;
  for (const std::string& o : outcome) {
    if (o.empty()) ++result.successes;
    else ++result.failures[o];
  }
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

GraspPlaceMeasure MeasureGraspAndPlace(const datasets::Episode& episode, const std::string& object,
                                       double lift) {
  GraspPlaceMeasure m;
  const auto obj = episode.object_poses.find(object);
  const auto target = episode.object_poses.find("target");
  const int n = episode.num_samples();
  if (obj == episode.object_poses.end() || obj->second.rows() < n || n == 0) return m;
  // Rows are row-major 4x4 poses: the translation is at 3, 7 and 11.
  auto x = [&](const datasets::MatrixRXd& p, int t) { return Eigen::Vector3d(p(t, 3), p(t, 7), p(t, 11)); };
  if (target != episode.object_poses.end() && target->second.rows() >= n) {
    m.place_error = (x(obj->second, n - 1) - x(target->second, n - 1)).head<2>().norm();
  }
  int close = 0;
  while (close < n && !(episode.actions(close, 6) > 0.0f)) ++close;
  if (close == n) return m;
  const Eigen::Vector3d at_close = x(obj->second, close);
  for (int t = close; t < n; ++t) {
    const Eigen::Vector3d p = x(obj->second, t);
    if (p.z() >= at_close.z() + lift) {
      m.slide = (p - at_close).head<2>().norm();
      break;
    }
  }
  return m;
}

}  // namespace dreamforge::augment
