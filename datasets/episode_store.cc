#include "datasets/episode_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>

#include <zlib.h>

#include "datasets/h5_io.h"
#include "datasets/schema.h"
#include "robot/obs_layout.h"

namespace dreamforge::datasets {

namespace fs = std::filesystem;
using internal::Ctx;

namespace {

constexpr int kActionDim = 7;
constexpr int kPoseDim = 16;  // row-major 4x4

// Camera images and depth maps are stored chunked, kImageChunkFrames consecutive frames
// per chunk but at most kImageChunkBytes (the default chunk cache of HDF5 and h5py, so a
// reader stepping through an episode decompresses each chunk once), gzip level
// kImageGzipLevel, no shuffle.
//
// Measured 2026-11-28 with a throwaway HDF5 program on this 2-core machine (one core,
// other builds running: speeds are rough) on synthetic 84x84 scenes: gradient wall,
// wood-striped table, shaded bottle, moving arm; N = 155 steps (a bottle_place demo),
// 8 episodes. Bytes per episode and camera (raw: RGB 3,281,040, depth 4,374,720); write
// MB/s of raw data; "frame ms": one random frame read from a freshly opened file.
//
//   data (N,84,84,C)          chunk     gzip 1 / 4 / 6: bytes        MB/s        frame ms
//   RGB, static camera        1 frame   788,189 / 696,105 / 686,781  92/63/46    0.14-0.20
//                             16 frames 323,091 / 176,025 / 146,528  146/83/71   0.5-1.0
//                             episode   301,950 / 139,925 / 108,410  140/91/73   3.3-6.8
//   RGB, moving camera        1 frame 1,045,176 / 960,149 / 956,349  46/41/35    0.16-0.22
//                             16 frames 845,899 / 640,007 / 616,385  65/43/34    1.7-2.0
//                             episode   831,901 / 615,004 / 590,986  63/45/40    14-17
//   RGB, static, sensor       1 frame 2,546,745 / 2,540,222 / same   27/24/23    0.3-0.4
//   noise sigma 2             16 frames 2,368,808 / 2,483,408 / same 22/16/17    2.9-3.7
//                             episode 2,355,915 / 2,481,524 / same   22/19/17    32-33
//   depth, static camera      1 frame   444,303 / 426,643 / 423,434  153/84/73   0.13-0.17
//                             16 frames 351,988 / 323,244 / 318,860  148/84/73   0.7-0.8
//                             episode   347,003 / 317,419 / 312,884  169/93/71   7.8-8.1
//     with shuffle            16 frames 360,860 / 338,358 / 277,020  160/66/51   1.2-1.8
//                             episode   350,979 / 325,654 / 263,349  100/79/49   11-15
//   depth, moving camera      1 frame   376,013 / 357,437 / 354,901  121/79/74   0.12-0.31
//                             16 frames 362,012 / 335,320 / 332,862  133/81/68   1.1-1.3
//                             episode   360,963 / 334,462 / 332,006  150/74/68   9.9-10.3
//   no compression (contiguous): RGB 3,281,552, depth 4,375,232; 0.02-0.09 ms per frame.
//
// Shuffle leaves uint8 data byte for byte the same (1-byte elements) and makes depth
// larger except at level 6. A static camera's background repeats from frame to frame
// within deflate's 32 KiB window, which one-frame chunks cannot use (4x larger at level
// 4); 16-frame chunks keep 93-96% of the whole-episode saving, while one random frame
// costs 1/6 to 1/11 of a whole-episode chunk (robomimic reads images per sample from the
// file by default, and h5py's 1 MiB chunk cache cannot hold a 3.3 MB episode chunk).
// With multi-frame chunks, level 4 (h5py's gzip default) takes 46-54% of level 1's bytes
// for a static camera and 74-76% for a moving one, at about 60% of its speed; level 6
// saves another 1-17% at 80-87% of level 4's speed.
// Sensor noise makes any lossless compression moot (1.2-1.4x).
constexpr int kImageChunkFrames = 16;
constexpr std::size_t kImageChunkBytes = std::size_t(1) << 20;
constexpr int kImageGzipLevel = 4;
constexpr bool kImageShuffle = false;

std::string Rows(const std::string& what, Eigen::Index rows, Eigen::Index cols) {
  return what + ", got (" + std::to_string(rows) + "," + std::to_string(cols) + ")";
}

void CheckName(const Ctx& ctx, const std::string& path, const std::string& name) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos) {
    ctx.Fail(path, "invalid name '" + name + "' (must be non-empty, without '/')");
  }
}

// Low-dimensional obs keys must not take the names of camera keys (the reader tells the
// kinds apart by name).
void CheckLowDimName(const Ctx& ctx, const std::string& path, const std::string& key) {
  if (robot::IsImageKeyName(key) || robot::IsDepthKeyName(key)) {
    ctx.Fail(path, "low-dimensional obs key '" + key +
                       "' ends in '_image' or '_depth', which name camera observations "
                       "(Episode::images, Episode::depths)");
  }
}

// Checks a camera sequence of n frames of (height, width, channels) holding `size` values.
void CheckCameraShape(const Ctx& ctx, const std::string& path, Eigen::Index n, int height,
                      int width, int channels, int max_channels, std::size_t size) {
  if (height <= 0 || width <= 0 || channels < 1 || channels > max_channels) {
    ctx.Fail(path, "expected height > 0, width > 0 and " +
                       (max_channels == 1 ? std::string("1 channel")
                                          : "1.." + std::to_string(max_channels) + " channels") +
                       ", got (H,W,C) = (" + std::to_string(height) + "," + std::to_string(width) +
                       "," + std::to_string(channels) + ")");
  }
  const std::size_t expected = static_cast<std::size_t>(n) * static_cast<std::size_t>(height) *
                               static_cast<std::size_t>(width) * static_cast<std::size_t>(channels);
  if (size != expected) {
    ctx.Fail(path, "expected N*H*W*C = " + std::to_string(n) + "*" + std::to_string(height) + "*" +
                       std::to_string(width) + "*" + std::to_string(channels) + " = " +
                       std::to_string(expected) + " values, got " + std::to_string(size));
  }
}

void CheckRows(const Ctx& ctx, const std::string& path, Eigen::Index rows, Eigen::Index n) {
  if (rows != n) {
    ctx.Fail(path, "expected " + std::to_string(n) + " rows (N from actions), got " +
                       std::to_string(rows));
  }
}

template <typename Matrix>
void CheckMatrix(const Ctx& ctx, const std::string& path, const Matrix& m, Eigen::Index n,
                 Eigen::Index cols, const std::vector<hsize_t>& disk_shape) {
  CheckRows(ctx, path, m.rows(), n);
  if (cols >= 0 && m.cols() != cols) {
    ctx.Fail(path, Rows("expected shape (N," + std::to_string(cols) + ")", m.rows(), m.cols()));
  }
  if (cols < 0 && m.cols() == 0) ctx.Fail(path, Rows("expected shape (N,d) with d > 0", n, 0));
  internal::CheckFinite(ctx, path, m.data(), disk_shape);
}

// Checks `ep` against the writer's contract; returns its schema.
internal::Schema ValidateEpisode(const Ctx& ctx, const std::string& d, const Episode& ep) {
  const Eigen::Index n = ep.actions.rows();
  const hsize_t hn = static_cast<hsize_t>(n);
  if (n == 0) ctx.Fail(d + "/actions", "episode has no samples (N = 0)");
  CheckMatrix(ctx, d + "/actions", ep.actions, n, kActionDim, {hn, kActionDim});
  CheckRows(ctx, d + "/rewards", ep.rewards.size(), n);
  internal::CheckFinite(ctx, d + "/rewards", ep.rewards.data(), {hn});
  CheckRows(ctx, d + "/dones", static_cast<Eigen::Index>(ep.dones.size()), n);
  CheckMatrix(ctx, d + "/states", ep.states, n, -1, {hn, hsize_t(ep.states.cols())});

  internal::Schema schema;
  schema.state_dim = ep.states.cols();
  for (const auto& [key, m] : ep.obs) {
    const std::string path = d + "/obs/" + key;
    CheckName(ctx, path, key);
    CheckLowDimName(ctx, path, key);
    CheckMatrix(ctx, path, m, n, -1, {hn, hsize_t(m.cols())});
    schema.obs_dims[key] = m.cols();
  }
  internal::Schema next;
  for (const auto& [key, m] : ep.next_obs) {
    const std::string path = d + "/next_obs/" + key;
    CheckName(ctx, path, key);
    CheckLowDimName(ctx, path, key);
    CheckMatrix(ctx, path, m, n, -1, {hn, hsize_t(m.cols())});
    next.obs_dims[key] = m.cols();
  }
  internal::CheckSameObs(ctx, d + "/next_obs", schema.obs_dims, next.obs_dims, "obs");
  for (const auto& [key, im] : ep.images) {
    const std::string path = d + "/obs/" + key;
    CheckName(ctx, path, key);
    if (!robot::IsImageKeyName(key)) {
      ctx.Fail(path, "image key '" + key + "' must be '<camera>_image'");
    }
    CheckCameraShape(ctx, path, n, im.height, im.width, im.channels, 4, im.data.size());
    schema.images[key] = {im.height, im.width, im.channels};
  }
  for (const auto& [key, dm] : ep.depths) {
    const std::string path = d + "/obs/" + key;
    CheckName(ctx, path, key);
    if (!robot::IsDepthKeyName(key)) {
      ctx.Fail(path, "depth key '" + key + "' must be '<camera>_depth'");
    }
    CheckCameraShape(ctx, path, n, dm.height, dm.width, 1, 1, dm.data.size());
    internal::CheckFinite(ctx, path, dm.data.data(),
                          {hn, hsize_t(dm.height), hsize_t(dm.width), 1});
    schema.depths[key] = {dm.height, dm.width};
  }

  CheckMatrix(ctx, d + "/datagen_info/eef_pose", ep.eef_pose, n, kPoseDim, {hn, 4, 4});
  for (const auto& [name, m] : ep.object_poses) {
    const std::string path = d + "/datagen_info/object_poses/" + name;
    CheckName(ctx, path, name);
    CheckMatrix(ctx, path, m, n, kPoseDim, {hn, 4, 4});
    schema.objects.push_back(name);
  }
  for (const auto& [name, v] : ep.subtask_term_signals) {
    const std::string path = d + "/datagen_info/subtask_term_signals/" + name;
    CheckName(ctx, path, name);
    CheckRows(ctx, path, static_cast<Eigen::Index>(v.size()), n);
    schema.signals.push_back(name);
  }
  return schema;
}

// Frames per stored chunk of a camera sequence of n frames of `frame_bytes` bytes.
hsize_t ChunkFrames(hsize_t n, std::size_t frame_bytes) {
  return std::max<hsize_t>(1, std::min<hsize_t>({n, kImageChunkFrames, kImageChunkBytes / frame_bytes}));
}

// The deflated chunks of n frames of `frame_elems` values of T: chunk k holds frames
// [k*f, (k+1)*f), the last one padded with zeros to f frames, as HDF5 stores an edge chunk.
template <typename T>
std::vector<std::vector<uint8_t>> DeflateChunks(const T* data, hsize_t n, std::size_t frame_elems) {
  const hsize_t f = ChunkFrames(n, frame_elems * sizeof(T));
  const std::size_t chunk_bytes = f * frame_elems * sizeof(T);
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> raw(chunk_bytes);
  for (hsize_t start = 0; start < n; start += f) {
    const std::size_t bytes = std::min<hsize_t>(f, n - start) * frame_elems * sizeof(T);
    std::memcpy(raw.data(), reinterpret_cast<const uint8_t*>(data + start * frame_elems), bytes);
    std::fill(raw.begin() + static_cast<std::ptrdiff_t>(bytes), raw.end(), uint8_t{0});
    uLongf size = compressBound(chunk_bytes);
    std::vector<uint8_t> z(size);
    if (compress2(z.data(), &size, raw.data(), chunk_bytes, kImageGzipLevel) != Z_OK) {
      throw std::runtime_error("zlib: cannot deflate an image chunk");
    }
    z.resize(size);
    out.push_back(std::move(z));
  }
  return out;
}

// Camera sequence `name` of obs: (n, h, w, c) values of T, chunked and gzip-compressed,
// written chunk by chunk as deflated (by DeflateCameraChunks ahead of time, or here).
template <typename T>
void WriteCameraSeq(const H5::Group& obs, const std::string& name, const T* data, hsize_t n, int h,
                    int w, int c, const std::vector<std::vector<uint8_t>>& deflated) {
  const std::size_t frame_elems = std::size_t(h) * std::size_t(w) * std::size_t(c);
  const hsize_t frames = ChunkFrames(n, frame_elems * sizeof(T));
  const hsize_t chunks = (n + frames - 1) / frames;
  std::vector<std::vector<uint8_t>> own;
  const std::vector<std::vector<uint8_t>>* z = &deflated;
  if (deflated.size() != chunks) {
    own = DeflateChunks(data, n, frame_elems);
    z = &own;
  }
  const hsize_t dims[4] = {n, hsize_t(h), hsize_t(w), hsize_t(c)};
  H5::DataSpace space(4, dims);
  H5::DataSet ds = obs.createDataSet(
      name, internal::H5Type<T>::File(), space,
      internal::CompressedDatasetCreateProps({frames, hsize_t(h), hsize_t(w), hsize_t(c)}, kImageGzipLevel,
                                             kImageShuffle));
  for (hsize_t k = 0; k < chunks; ++k) {
    const hsize_t offset[4] = {k * frames, 0, 0, 0};
    const std::vector<uint8_t>& bytes = (*z)[k];
    if (H5Dwrite_chunk(ds.getId(), H5P_DEFAULT, 0, offset, bytes.size(), bytes.data()) < 0) {
      throw H5::DataSetIException("H5Dwrite_chunk", "cannot write a chunk of " + name);
    }
  }
}

void WriteDemo(const H5::Group& data, const std::string& name, const Episode& ep,
               const std::string& perturbation) {
  using internal::WriteArray;
  const hsize_t n = ep.num_samples();
  H5::Group g = internal::CreateGroup(data, name);
  internal::WriteScalarAttr<int64_t>(g, "num_samples", static_cast<int64_t>(n));
  WriteArray(g, "actions", ep.actions.data(), {n, kActionDim});
  WriteArray(g, "rewards", ep.rewards.data(), {n});
  WriteArray(g, "dones", ep.dones.data(), {n});
  WriteArray(g, "states", ep.states.data(), {n, hsize_t(ep.states.cols())});
  H5::Group obs = internal::CreateGroup(g, "obs");
  for (const auto& [key, m] : ep.obs) WriteArray(obs, key, m.data(), {n, hsize_t(m.cols())});
  for (const auto& [key, im] : ep.images) {
    WriteCameraSeq(obs, key, im.data.data(), n, im.height, im.width, im.channels, im.deflated);
  }
  for (const auto& [key, dm] : ep.depths) {
    WriteCameraSeq(obs, key, dm.data.data(), n, dm.height, dm.width, 1, dm.deflated);
  }
  H5::Group next = internal::CreateGroup(g, "next_obs");
  for (const auto& [key, m] : ep.next_obs) WriteArray(next, key, m.data(), {n, hsize_t(m.cols())});
  H5::Group info = internal::CreateGroup(g, "datagen_info");
  WriteArray(info, "eef_pose", ep.eef_pose.data(), {n, 4, 4});
  H5::Group objects = internal::CreateGroup(info, "object_poses");
  for (const auto& [obj, m] : ep.object_poses) WriteArray(objects, obj, m.data(), {n, 4, 4});
  H5::Group signals = internal::CreateGroup(info, "subtask_term_signals");
  for (const auto& [sig, v] : ep.subtask_term_signals) WriteArray(signals, sig, v.data(), {n});
  internal::WriteScalarAttr<uint64_t>(g, "seed", ep.scene_key);
  internal::WriteStringAttr(g, "source_demo", ep.source_demo);
  internal::WriteStringAttr(g, "perturbation", perturbation);
  internal::WriteScalarAttr<uint8_t>(g, "success", ep.success ? 1 : 0);
}

// Flushes a closed file's data to disk before it is renamed into place.
bool SyncFile(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  return ::close(fd) == 0 && ok;
}

}  // namespace

// ------------------------------------------------------------------------------ writer

namespace {

// A write that failed (a full disk, a lost mount, a vanished folder) is a runtime failure,
// not bad input: std::runtime_error rather than DatasetError (tools/main.cc exits 1, not
// 2), with the message as Ctx::Fail formats it, naming the file.
// `err` (errno after the failed call, 0 if unknown) adds the system's reason, e.g. "No
// space left on device", which HDF5's own messages often leave out.
[[noreturn]] void WriteFailed(const Ctx& ctx, const std::string& h5path, std::string what, int err = 0) {
  // HDF5's file driver messages run over lines ("file write failed: time = ...\n, filename
  // = ..., errno = 28, ..."): the first clause is kept, the system's reason is added.
  if (const size_t cut = what.find(": time = "); cut != std::string::npos) what.erase(cut);
  if (const size_t nl = what.find('\n'); nl != std::string::npos) what.erase(nl);
  const std::string reason = err != 0 && what.find(std::strerror(err)) == std::string::npos
                                 ? " (" + std::string(std::strerror(err)) + ")"
                                 : "";
  throw std::runtime_error(ctx.file + (h5path.empty() ? "" : ": " + h5path) + ": " + what + reason);
}

}  // namespace

struct EpisodeWriter::Impl {
  fs::path path;
  fs::path tmp;
  Ctx ctx;
  // On the heap, so that a file whose close failed can be left unclosed (KeepOpen).
  std::unique_ptr<H5::H5File> file_owner = std::make_unique<H5::H5File>();
  H5::H5File& file = *file_owner;
  H5::Group data;
  int count = 0;                           // demos written
  int64_t total = 0;                       // samples written
  bool closed = false;                     // Close() succeeded
  bool failed = false;                     // an HDF5 write failed: the .tmp is unusable
  std::optional<internal::Schema> schema;  // of demo_0; later demos must match

  void CheckUsable(const char* op) const {
    if (closed) throw std::logic_error(ctx.file + ": " + op + " after Close()");
    if (failed) throw std::logic_error(ctx.file + ": " + op + " after a failed write");
  }

  // Validates and writes `episode` as the next demo (Append's work). `cameras`, when given,
  // is the camera layout that `write_cameras` adds under the demo's obs/ after the rest.
  std::string Write(const Episode& episode, const internal::Schema* cameras,
                    const std::function<void(const H5::Group& obs)>& write_cameras);

  // Throws the unfinished .tmp away (never throws). After a failed write (a full disk)
  // HDF5's close fails too, as it flushes, and a failed H5Fclose leaves HDF5 1.10 in a
  // state where the next close of the file (H5::H5File's destructor, or the library's at
  // exit) crashes. So the file's descriptor is first pointed at an anonymous memory file:
  // what HDF5 still flushes goes there, the close succeeds, and the .tmp is removed. A
  // close that fails all the same is never retried (KeepOpen).
  void Discard() noexcept {
    void* handle = nullptr;
    if (H5Iis_valid(file.getId()) > 0 && H5Fget_vfd_handle(file.getId(), H5P_DEFAULT, &handle) >= 0 &&
        handle != nullptr) {
      const int fd = *static_cast<int*>(handle);  // the sec2 driver's descriptor
      const int mem = ::memfd_create("dreamforge-discarded-episode-file", MFD_CLOEXEC);
      if (mem >= 0) {
        ::dup2(mem, fd);
        ::close(mem);
      }
    }
    try {
      data.close();
    } catch (const H5::Exception&) {
    }
    try {
      file.close();
    } catch (const H5::Exception&) {
      KeepOpen();
    }
    std::error_code ec;
    fs::remove(tmp, ec);
  }
  // After a failed close: the H5File is never destroyed, so its destructor does not close
  // the file a second time.
  void KeepOpen() noexcept { static_cast<void>(file_owner.release()); }  // deliberately leaked
};

EpisodeWriter::EpisodeWriter(const fs::path& path, const nlohmann::json& env_args)
    : impl_(std::make_unique<Impl>()) {
  internal::SilenceHdf5();
  Impl& m = *impl_;
  m.path = path;
  m.tmp = fs::path(path.string() + ".tmp");
  m.ctx.file = path.string();
  if (!env_args.is_object()) m.ctx.Fail("/data", "env_args must be a JSON object");
  const std::string env_json = env_args.dump();
  // No sieve buffer and no chunk cache: raw data goes to the file in H5Dwrite, so that a
  // write that fails (a full disk) fails there, with an exception, and not later in the
  // H5Dclose of H5::DataSet's destructor (which only prints to stderr, and leaves HDF5 a
  // dataset it crashes on at exit). Every dataset is written whole, once: nothing to cache.
  H5::FileAccPropList fapl = internal::FileAccessProps();
  H5Pset_sieve_buf_size(fapl.getId(), 0);
  H5Pset_cache(fapl.getId(), 0, 0, 0, 0.75);
  errno = 0;
  try {
    m.file = H5::H5File(m.tmp.string(), H5F_ACC_TRUNC, internal::FileCreateProps(), fapl);
  } catch (const H5::Exception& e) {
    const int err = errno;
    const std::string reason = internal::Hdf5Reason(e);
    std::error_code ec;
    fs::remove(m.tmp, ec);  // HDF5 may have created it before failing
    WriteFailed(m.ctx, "", "cannot create " + m.tmp.string() + ": " + reason, err);
  }
  try {
    m.data = internal::CreateGroup(m.file, "data");
    internal::WriteStringAttr(m.data, "env_args", env_json);
    m.file.flush(H5F_SCOPE_LOCAL);
  } catch (const H5::Exception& e) {
    const int err = errno;
    const std::string reason = internal::Hdf5Reason(e);
    m.Discard();  // the destructor does not run
    WriteFailed(m.ctx, "/data", "HDF5 error: " + reason, err);
  }
}

EpisodeWriter::~EpisodeWriter() {
  if (impl_ == nullptr || impl_->closed) return;
  impl_->Discard();
}

std::string EpisodeWriter::Impl::Write(const Episode& episode, const internal::Schema* cameras,
                                       const std::function<void(const H5::Group& obs)>& write_cameras) {
  const std::string name = "demo_" + std::to_string(count);
  const std::string path = "/data/" + name;
  internal::Schema schema = ValidateEpisode(ctx, path, episode);
  if (cameras) {
    schema.images = cameras->images;
    schema.depths = cameras->depths;
  }
  if (this->schema) internal::CheckSameSchema(ctx, path, *this->schema, schema);
  std::string perturbation;
  try {
    perturbation = episode.perturbation.dump();
  } catch (const nlohmann::json::exception& e) {
    ctx.Fail(path, std::string("attribute 'perturbation': cannot serialize: ") + e.what());
  }
  errno = 0;
  try {
    WriteDemo(data, name, episode, perturbation);
    if (write_cameras) write_cameras(data.openGroup(name + "/obs"));
    file.flush(H5F_SCOPE_LOCAL);
  } catch (const H5::Exception& e) {
    const int err = errno;
    failed = true;
    WriteFailed(ctx, path, "HDF5 error: " + internal::Hdf5Reason(e), err);
  }
  if (!this->schema) this->schema = std::move(schema);
  ++count;
  total += episode.num_samples();
  return name;
}

std::string EpisodeWriter::Append(const Episode& episode) {
  internal::SilenceHdf5();
  impl_->CheckUsable("Append");
  return impl_->Write(episode, nullptr, nullptr);
}

void DeflateCameraChunks(Episode* episode) {
  const hsize_t n = static_cast<hsize_t>(episode->num_samples());
  for (auto& [key, im] : episode->images) {
    const std::size_t frame = std::size_t(im.height) * im.width * im.channels;
    if (n > 0 && frame > 0 && im.data.size() == n * frame) im.deflated = DeflateChunks(im.data.data(), n, frame);
  }
  for (auto& [key, dm] : episode->depths) {
    const std::size_t frame = std::size_t(dm.height) * dm.width;
    if (n > 0 && frame > 0 && dm.data.size() == n * frame) dm.deflated = DeflateChunks(dm.data.data(), n, frame);
  }
}

std::string EpisodeWriter::AppendCopy(const EpisodeReader& src, int i) {
  internal::SilenceHdf5();
  impl_->CheckUsable("AppendCopy");
  // Everything but the camera data is written as Append writes it (so the attributes, and
  // with them the file's bytes, do not depend on how src was laid out); the camera datasets
  // are then copied with their compressed chunks as stored.
  const Episode episode = src.ReadEpisode(i, /*with_images=*/false);
  const std::string from = "/data/" + src.demo_names()[i] + "/obs/";
  const internal::Schema& cameras = src.schema();
  return impl_->Write(episode, &cameras, [&](const H5::Group& obs) {
    std::vector<std::string> keys;
    for (const auto& [key, shape] : cameras.images) keys.push_back(key);
    for (const auto& [key, shape] : cameras.depths) keys.push_back(key);
    const fs::path dir = impl_->tmp.has_parent_path() ? impl_->tmp.parent_path() : fs::path(".");
    for (const std::string& key : keys) {
      // HDF5 1.10's H5Ocopy crashes (SIGSEGV in its cleanup) when a write fails during the
      // copy, e.g. on a full disk: the room it needs (the stored chunks and a margin for the
      // index and headers) is checked first, so that a full disk is an ordinary error.
      const hid_t ds = H5Dopen2(static_cast<hid_t>(src.Hdf5FileId()), (from + key).c_str(), H5P_DEFAULT);
      const hsize_t stored = ds >= 0 ? H5Dget_storage_size(ds) : 0;
      if (ds >= 0) H5Dclose(ds);
      struct statvfs fs_stat {};
      if (::statvfs(dir.c_str(), &fs_stat) == 0 &&
          static_cast<hsize_t>(fs_stat.f_bavail) * fs_stat.f_frsize < stored + stored / 8 + (256u << 10)) {
        errno = ENOSPC;
        throw H5::GroupIException("H5Ocopy", "not enough room to copy " + from + key);
      }
      if (H5Ocopy(static_cast<hid_t>(src.Hdf5FileId()), (from + key).c_str(), obs.getId(), key.c_str(),
                  H5P_DEFAULT, H5P_DEFAULT) < 0) {
        throw H5::GroupIException("H5Ocopy", "cannot copy " + src.path().string() + ":" + from + key);
      }
    }
  });
}

void EpisodeWriter::Close(const std::vector<std::string>& train,
                          const std::vector<std::string>& valid) {
  internal::SilenceHdf5();
  Impl& m = *impl_;
  m.CheckUsable("Close");
  std::set<std::string> seen;
  for (const auto* mask : {&train, &valid}) {
    const std::string path = mask == &train ? "/mask/train" : "/mask/valid";
    for (const std::string& name : *mask) {
      const std::optional<int> k = internal::DemoIndex(name);
      if (!k || *k >= m.count) {
        m.ctx.Fail(path, "names '" + name + "', which was not appended (" +
                             std::to_string(m.count) + " demos)");
      }
      if (!seen.insert(name).second) m.ctx.Fail(path, "names '" + name + "' twice");
    }
  }
  // Everything is written and flushed before the file is closed: a write that fails then
  // leaves the file open for Discard() (see there why a failed close must not be retried).
  errno = 0;
  try {
    internal::WriteScalarAttr<int64_t>(m.data, "total", m.total);
    H5::Group mask = internal::CreateGroup(m.file, "mask");
    internal::WriteStringList(mask, "train", train);
    internal::WriteStringList(mask, "valid", valid);
    mask.close();
    m.file.flush(H5F_SCOPE_LOCAL);
  } catch (const H5::Exception& e) {
    const int err = errno;
    m.failed = true;
    WriteFailed(m.ctx, "", "cannot finish " + m.tmp.string() + ": " + internal::Hdf5Reason(e), err);
  }
  try {
    m.data.close();
    m.file.close();
  } catch (const H5::Exception& e) {
    const int err = errno;
    m.failed = true;
    m.KeepOpen();
    WriteFailed(m.ctx, "", "cannot finish " + m.tmp.string() + ": " + internal::Hdf5Reason(e), err);
  }
  if (!SyncFile(m.tmp)) {
    m.failed = true;
    WriteFailed(m.ctx, "", "cannot sync " + m.tmp.string() + ": " + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(m.tmp, m.path, ec);
  if (ec) {
    m.failed = true;
    WriteFailed(m.ctx, "", "cannot rename " + m.tmp.string() + " into place: " + ec.message());
  }
  m.closed = true;
}

int EpisodeWriter::num_episodes() const { return impl_->count; }

std::pair<std::vector<std::string>, std::vector<std::string>> EpisodeWriter::SplitTrainValid(
    int n, double valid_fraction) {
  if (n < 0) throw std::invalid_argument("SplitTrainValid: n must be >= 0");
  if (!(valid_fraction >= 0.0 && valid_fraction < 1.0)) {
    throw std::invalid_argument("SplitTrainValid: valid_fraction must be in [0, 1)");
  }
  const long period = valid_fraction > 0.0 ? std::max(2L, std::lround(1.0 / valid_fraction)) : 0L;
  std::pair<std::vector<std::string>, std::vector<std::string>> split;
  for (int i = 0; i < n; ++i) {
    const bool is_valid = period > 0 && (i + 1) % period == 0;
    (is_valid ? split.second : split.first).push_back("demo_" + std::to_string(i));
  }
  return split;
}

}  // namespace dreamforge::datasets
