// Internal to datasets/: what every demo of one episode file must share.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datasets/h5_io.h"

namespace dreamforge::datasets::internal {

struct Schema {
  int64_t state_dim = 0;                    // S
  std::map<std::string, int64_t> obs_dims;  // low-dim obs key -> d (next_obs has the same)
  std::vector<std::string> objects;         // datagen_info/object_poses names, sorted
  std::vector<std::string> signals;         // datagen_info/subtask_term_signals names, sorted
  // Camera keys of obs/ (never in next_obs/).
  std::map<std::string, std::array<int64_t, 3>> images;  // image key -> (H, W, C)
  std::map<std::string, std::array<int64_t, 2>> depths;  // depth key -> (H, W)
};

// "demo_12" -> 12; nullopt unless the name is "demo_" followed by a canonical decimal int.
std::optional<int> DemoIndex(const std::string& name);

// Throws unless `dims` (at `path`) has the same keys and widths as `ref`, described by
// `ref_label` in the message ("obs", "demo_0's obs").
void CheckSameObs(const Ctx& ctx, const std::string& path,
                  const std::map<std::string, int64_t>& ref,
                  const std::map<std::string, int64_t>& dims, const std::string& ref_label);

// Throws unless the schema of the demo at `demo_path` equals `ref` (that of `ref_demo`;
// `ref_demo` is the label in the message, a demo name or "<file>: demo_0").
void CheckSameSchema(const Ctx& ctx, const std::string& demo_path, const Schema& ref,
                     const Schema& s, const std::string& ref_demo = "demo_0");

}  // namespace dreamforge::datasets::internal
