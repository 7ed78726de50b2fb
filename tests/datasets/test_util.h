// Shared by the datasets/ tests: deterministic synthetic episodes and a scratch directory.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "datasets/episode.h"

namespace dreamforge::datasets::testing_util {

// An episode of n steps with every field filled from a generator seeded with `seed`.
inline Episode MakeEpisode(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto fill_f = [&](int rows, int cols) {
    MatrixRXf m(rows, cols);
    for (int i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(u(rng));
    return m;
  };
  auto fill_d = [&](int rows, int cols) {
    MatrixRXd m(rows, cols);
    for (int i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
    return m;
  };
  Episode ep;
  ep.actions = fill_f(n, 7);
  ep.rewards = fill_f(n, 1).col(0);
  ep.dones.assign(n, 0);
  ep.dones.back() = 1;
  ep.states = fill_d(n, 12);
  ep.obs["robot0_eef_pos"] = fill_f(n, 3);
  ep.obs["object"] = fill_f(n, 10);
  for (const auto& [key, m] : ep.obs) ep.next_obs[key] = fill_f(n, static_cast<int>(m.cols()));
  ep.eef_pose = fill_d(n, 16);
  ep.object_poses["cube"] = fill_d(n, 16);
  ep.object_poses["target"] = fill_d(n, 16);
  for (const char* sig : {"grasp", "lift"}) {
    std::vector<int32_t>& v = ep.subtask_term_signals[sig];
    for (int t = 0; t < n; ++t) v.push_back(t >= n / 2 ? 1 : 0);
  }
  ep.scene_key = seed;
  ep.source_demo = seed % 2 == 0 ? "" : "sha256:" + std::to_string(seed);
  ep.perturbation = {{"object_mass", u(rng)}, {"friction", {u(rng), u(rng)}}};
  ep.success = seed % 2 == 1;
  return ep;
}

// Adds camera observations to `ep` (N = ep.num_samples()), filled from a generator seeded
// with `seed`: smooth gradients that move with the step, plus noise. RGB image `key` of
// (h, w, channels) and, if depth_key is non-empty, its depth map (metres, 0.5..1.5).
inline void AddCamera(Episode* ep, const std::string& key, const std::string& depth_key, int h,
                      int w, int channels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> noise(-3, 3);
  const int n = ep->num_samples();
  ImageSeq& im = ep->images[key];
  im.height = h;
  im.width = w;
  im.channels = channels;
  im.data.resize(static_cast<std::size_t>(n) * h * w * channels);
  DepthSeq* dm = depth_key.empty() ? nullptr : &ep->depths[depth_key];
  if (dm != nullptr) {
    dm->height = h;
    dm->width = w;
    dm->data.resize(static_cast<std::size_t>(n) * h * w);
  }
  for (int t = 0; t < n; ++t) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const std::size_t p = (static_cast<std::size_t>(t) * h + y) * w + x;
        for (int c = 0; c < channels; ++c) {
          const int v = (x * 255) / w + (y * 128) / h + 40 * c + 3 * t + noise(rng);
          im.data[p * channels + c] = static_cast<uint8_t>(std::clamp(v, 0, 255));
        }
        if (dm != nullptr) dm->data[p] = 0.5f + static_cast<float>(y) / h + 0.001f * t;
      }
    }
  }
}

// True if both arrays have the same size and the same bytes.
template <typename A, typename B>
bool BitwiseEqual(const A& a, const B& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(a.data()[0]) * a.size()) == 0;
}

// Fresh directory per test, removed afterwards.
class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("df_datasets_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

}  // namespace dreamforge::datasets::testing_util
