// Episode files: HDF5, robomimic-compatible (DESIGN.md "Formats" -> Episodes).
//
// Layout (readable by robomimic and h5py unchanged):
//   /data                          attrs: total (int64, sum of num_samples),
//                                         env_args (string, JSON)
//   /data/demo_<k>                 attrs: num_samples (int64), seed (uint64: the scene key,
//                                         Episode::scene_key, not a seed),
//                                         source_demo (string), perturbation (string, JSON),
//                                         success (uint8, 0 or 1)
//     actions (N,7) f32, rewards (N,) f32, dones (N,) u8, states (N,S) f64
//     obs/<key> (N,d) f32, next_obs/<key> (N,d) f32 (same keys and widths as obs)
//     obs/<camera>_image (N,H,W,C) u8 (C = 3 for RGB, 1..4 accepted), row 0 at the top
//     obs/<camera>_depth (N,H,W,1) f32, metres
//       Camera keys are stored under obs/ only, never under next_obs/ (the next frame is
//       obs/<key>[t+1]); tell robomimic not to load next_obs for them (its config
//       train.hdf5_load_next_obs = false). Chunked (up to 16 frames and 1 MiB per chunk)
//       and gzip-compressed (level 4, no shuffle): h5py reads them with its built-in
//       filters, and the bytes are still deterministic. Low-dimensional obs keys never
//       end in "_image" or "_depth".
//     datagen_info/eef_pose (N,4,4) f64
//     datagen_info/object_poses/<obj> (N,4,4) f64
//     datagen_info/subtask_term_signals/<sig> (N,) i32
//   /mask/train, /mask/valid       1-D datasets of fixed-length byte strings (b"demo_0", ...)
// String attributes are variable-length UTF-8 (h5py reads them as str). Every demo of a
// file has the same state width, obs keys and widths, image and depth keys and shapes,
// object names and signal names.
//
// Threading: HDF5 is one process-wide library. Calls into it must be serialized across the
// whole process (the C++ wrapper is not thread-safe even where the C library was built
// with its global lock), so readers and writers are thread-compatible, not thread-safe:
// use one thread at a time, including for const methods and for different files.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "datasets/episode.h"
#include "robot/error.h"

namespace dreamforge::datasets {

// Bad or unreadable episode data. The message names the file and the HDF5 path, e.g.
// "demo.hdf5: /data/demo_3/actions: expected shape (N,7), got (120,6)".
class DatasetError : public Error {
 public:
  using Error::Error;
};

// Streams episodes into `<path>.tmp`; Close() publishes it under `path` by an atomic
// rename, so a file under the final name is always complete. Each Append writes and
// flushes one demo group and keeps nothing of it in memory (memory use does not grow with
// the file). Destroying the writer without Close() deletes the .tmp file.
// The .tmp file is a valid episode file minus data/total and mask/: everything needed to
// resume it later (demo count, schema) can be recovered by scanning data/demo_*.
// Deterministic output ("same seed, same bytes"): the file's bytes depend only on env_args,
// the appended episodes and the masks, never on the time, path or process (HDF5 object
// modification times are off).
// Deflates the chunks that EpisodeWriter::Append will store for every image and depth
// sequence of `episode` (into their `deflated`), with no HDF5 call: thread-safe for
// different episodes. Worker threads call it so that the single writer thread only
// writes; the file's bytes are the same either way.
void DeflateCameraChunks(Episode* episode);

class EpisodeReader;
namespace internal {
struct Schema;
}  // namespace internal

class EpisodeWriter {
 public:
  // Creates (truncating) `<path>.tmp`; env_args (task, robot, rates, perturbation spec) is
  // stored as data/env_args. Throws DatasetError if the file cannot be created.
  EpisodeWriter(const std::filesystem::path& path, const nlohmann::json& env_args);
  ~EpisodeWriter();
  EpisodeWriter(const EpisodeWriter&) = delete;
  EpisodeWriter& operator=(const EpisodeWriter&) = delete;

  // Validates and writes `episode` as data/demo_<k>, k = num_episodes() before the call;
  // returns "demo_<k>". Validation: N > 0; actions (N x 7); every per-step field has N
  // rows; states, obs/next_obs (same keys and widths), eef_pose (N x 16), object poses
  // (N x 16); all float values finite; key and object names non-empty without '/'; images
  // keyed "<camera>_image" with H, W > 0, C in 1..4 and N*H*W*C bytes, depths keyed
  // "<camera>_depth" with H, W > 0 and N*H*W finite values, low-dimensional obs keys
  // ending in neither; state width, obs keys/widths, image and depth keys/shapes, object
  // and signal names equal to those of the first episode.
  // Throws DatasetError (naming the demo path) and writes nothing if validation fails.
  // Throws std::logic_error after Close(), or after an HDF5 write failure.
  std::string Append(const Episode& episode);

  // Appends episode i of `src` as the next demo: its low-dimensional data as Append writes
  // it, its camera datasets copied as stored (H5Ocopy: compressed chunks are not inflated
  // and deflated again), so joining parts of images costs about a file copy. The bytes do
  // not depend on how src was laid out. Same layout rule as Append; returns "demo_<k>".
  std::string AppendCopy(const EpisodeReader& src, int i);

  // Writes data/total, mask/train and mask/valid (demo names, each must have been
  // appended), flushes, closes and renames `<path>.tmp` -> `path` (replacing it).
  // Throws DatasetError on bad mask names or I/O failure (the .tmp stays until
  // destruction); std::logic_error if already closed.
  void Close(const std::vector<std::string>& train, const std::vector<std::string>& valid);

  int num_episodes() const;

  // Deterministic train/valid split of demo_0..demo_<n-1>. With
  // period = max(2, round(1 / valid_fraction)), demo_i goes to valid iff
  // (i + 1) % period == 0, i.e. for 0.1: demo_9, demo_19, ...; all others go to train.
  // valid_fraction == 0 puts everything in train; n == 1 always gives ({demo_0}, {}).
  // Throws std::invalid_argument if n < 0 or valid_fraction is outside [0, 1).
  static std::pair<std::vector<std::string>, std::vector<std::string>> SplitTrainValid(
      int n, double valid_fraction = 0.1);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Read-only access to an episode file. The constructor validates the whole file (layout,
// dtypes, shapes, num_samples, total, masks, env_args JSON, every float value finite) and
// throws DatasetError naming the file and path of the first problem; image and depth
// datasets are checked for dtype, shape and N there, and their values when read (depth
// finite), so that opening a file does not decompress its images. Episodes are
// indexed 0..num_episodes()-1 in numeric demo order (demo_0, demo_1, ..., demo_10).
// Index arguments out of range throw std::out_of_range.
class EpisodeReader {
 public:
  explicit EpisodeReader(const std::filesystem::path& path);
  ~EpisodeReader();
  EpisodeReader(const EpisodeReader&) = delete;
  EpisodeReader& operator=(const EpisodeReader&) = delete;

  // The path given to the constructor, as error messages name it.
  const std::filesystem::path& path() const;
  int num_episodes() const;
  int64_t num_samples() const;                  // total over all episodes
  std::vector<std::string> demo_names() const;  // numeric order
  nlohmann::json env_args() const;
  int episode_num_samples(int i) const;
  bool episode_success(int i) const;

  // Every field, images and depths included.
  Episode ReadEpisode(int i) const;
  Episode ReadEpisode(const std::string& name) const;  // DatasetError if no such demo
  // With with_images == false, Episode::images and depths are left empty (low-dim only).
  Episode ReadEpisode(int i, bool with_images) const;
  // One frame of image `key` (an image_shapes() key) of episode `episode` at `step`: H*W*C
  // bytes written to out, (y, x, c) row-major, read by an HDF5 hyperslab (the chunks of
  // the last episode read stay cached, so stepping through an episode is cheap).
  // DatasetError if the file has no such image key; std::out_of_range for a bad episode
  // or step.
  void ReadImage(int episode, int step, const std::string& key, uint8_t* out) const;
  // Episode i's attribute `perturbation` alone (parsed JSON), without reading its arrays.
  nlohmann::json ReadPerturbation(int i) const;

  // Demo names in mask/<name>; empty if the file has no such mask.
  std::vector<std::string> Mask(const std::string& name) const;

  // Low-dimensional obs keys -> width d (same for next_obs); no image or depth keys.
  std::map<std::string, int> obs_dims() const;
  std::map<std::string, std::array<int, 3>> image_shapes() const;  // image key -> {H, W, C}
  std::map<std::string, std::array<int, 2>> depth_shapes() const;  // depth key -> {H, W}
  int state_dim() const;                             // S; 0 if the file has no episodes
  std::vector<std::string> object_names() const;     // datagen_info/object_poses keys
  std::vector<std::string> subtask_signals() const;  // datagen_info/subtask_term_signals keys

  // Throws DatasetError naming other's file and path unless other's demos have this
  // file's layout: state width, obs keys and widths, image and depth keys and shapes,
  // object and signal names. A file without episodes matches any.
  void CheckSameLayout(const EpisodeReader& other) const;

  // Global sample g in [0, num_samples()) -> (episode, step), episodes in numeric order.
  std::pair<int, int> Locate(int64_t global_index) const;

  // Reads obs (every low-dim obs key, resized to its width) and action (7) of global
  // sample g.
  // Entries of *obs with keys the file lacks are removed; storage is reused when sizes
  // already match.
  void ReadSample(int64_t global_index, std::map<std::string, Eigen::VectorXf>* obs,
                  Eigen::VectorXf* action) const;

 private:
  friend class EpisodeWriter;  // AppendCopy reads the open file and its layout
  int64_t Hdf5FileId() const;  // hid_t of the open file
  const internal::Schema& schema() const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dreamforge::datasets
