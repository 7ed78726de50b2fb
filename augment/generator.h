// The parallel, resumable, shardable dream generator.
//
// Dream i (0 <= i < count) is made by MakeDream(source, i): the output depends only on the
// source demo, the spec, the run seed and the count; never on the worker count, the order
// workers finish in, the shard layout or interruptions.
//
// Work is cut into chunks of `chunk` dreams, each written as a complete episode file under
// OUT.parts/ (temporary name, then rename). A killed run restarts from the first missing
// chunk. When every chunk of the shard exists they are merged into OUT (one writer, in
// dream order) and the parts are removed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "augment/dream.h"

namespace dreamforge::augment {

// The most dreams one run may ask for (over all shards): far beyond any useful data set,
// small enough that the run's index lists stay in memory (~80 MB each).
constexpr int kMaxDreamCount = 10'000'000;

struct GeneratorOptions {
  int count = 10000;      // dreams to keep, over all shards (1..kMaxDreamCount)
  int workers = 1;        // threads, one world each
  int shard = 0;          // this process makes dreams i with i % shards == shard
  int shards = 1;
  int chunk = 64;         // dreams per part file
  int max_attempts = 20;  // scenes tried per dream before the spec is called hopeless
  // Called from the writer thread after every finished dream.
  std::function<void(int64_t done, int64_t total, int64_t attempts)> on_progress;
};

struct GeneratorSummary {
  int64_t attempts = 0;
  int64_t kept = 0;
  std::map<std::string, int64_t> failures;            // reason -> count ("infeasible" included)
  std::map<std::string, int64_t> failures_by_phase;   // phase it failed in -> count
  double physics_steps = 0;   // simulated physics steps, all attempts
  double wall_seconds = 0;    // this invocation
  double physics_seconds = 0; // time inside Bullet's step, summed over workers (this invocation)
  double dream_seconds = 0;   // time making dreams, summed over workers (this invocation)
  // Bullet time and control steps per dream phase (SegmentController::Phase), this invocation.
  std::map<std::string, double> phase_seconds;
  std::map<std::string, int64_t> phase_steps;
  int workers = 0;
  int resumed_chunks = 0;     // chunks found complete from an earlier run
  std::vector<std::pair<double, double>> object_xy;  // kept dreams' object start (x, y)
  nlohmann::json ToJson(const PerturbationSpec& spec, const sim::SceneModel& model) const;
};

// The env_args of a dream file: the task's, plus "dreamforge": {source_demo, spec, seed,
// count, max_attempts}.
nlohmann::json DreamEnvArgs(const DreamSource& source, const GeneratorOptions& options);

// Makes this shard's dreams into `out`. Throws AugmentError when a dream fails
// max_attempts times ("hopeless spec"), or when OUT.parts belongs to another run.
GeneratorSummary GenerateDreams(const DreamSource& source, const std::string& out,
                                const GeneratorOptions& options);

// Joins dream files (shards, or one shard's parts) into `out`, in dream order, camera
// images and depth maps included. They must share task, source demo, spec, seed and count
// (else AugmentError) and layout: states, obs, camera keys and shapes, objects, signals
// (else datasets::DatasetError naming the file); `expected` lists the dream indices the
// result must hold exactly (none missing, none doubled). Returns the number written.
int64_t MergeDreamFiles(const std::vector<std::string>& inputs, const std::string& out,
                        const std::vector<int64_t>& expected);

// `dreamforge merge`: joins the shards of one complete run. The run's dream count comes
// from the first input's env_args.dreamforge.count (AugmentError unless it is a dream file
// with a count in 1..kMaxDreamCount), and the inputs must hold dreams 0..count-1 exactly
// (MergeDreamFiles). Returns the number written.
int64_t MergeDreamShards(const std::vector<std::string>& inputs, const std::string& out);

// Dream indices of shard k of n for a run of `count` dreams, and how many there are
// (without listing them).
std::vector<int64_t> ShardIndices(int count, int shard, int shards);
int64_t ShardSize(int count, int shard, int shards);

// Occupancy of a 10 x 10 grid over [lo, hi] in x and y by the points: the fraction of
// cells that hold at least one.
double GridOccupancy(const std::vector<std::pair<double, double>>& xy, double x_lo, double x_hi,
                     double y_lo, double y_hi);

}  // namespace dreamforge::augment
