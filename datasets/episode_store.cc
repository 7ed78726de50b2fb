#include "datasets/episode_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>

#include "datasets/h5_io.h"
#include "datasets/schema.h"

namespace dreamforge::datasets {

namespace fs = std::filesystem;
using internal::Ctx;

namespace {

constexpr int kActionDim = 7;
constexpr int kPoseDim = 16;  // row-major 4x4

std::string Rows(const std::string& what, Eigen::Index rows, Eigen::Index cols) {
  return what + ", got (" + std::to_string(rows) + "," + std::to_string(cols) + ")";
}

void CheckName(const Ctx& ctx, const std::string& path, const std::string& name) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos) {
    ctx.Fail(path, "invalid name '" + name + "' (must be non-empty, without '/')");
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
    CheckMatrix(ctx, path, m, n, -1, {hn, hsize_t(m.cols())});
    schema.obs_dims[key] = m.cols();
  }
  internal::Schema next;
  for (const auto& [key, m] : ep.next_obs) {
    const std::string path = d + "/next_obs/" + key;
    CheckName(ctx, path, key);
    CheckMatrix(ctx, path, m, n, -1, {hn, hsize_t(m.cols())});
    next.obs_dims[key] = m.cols();
  }
  internal::CheckSameObs(ctx, d + "/next_obs", schema.obs_dims, next.obs_dims, "obs");

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

struct EpisodeWriter::Impl {
  fs::path path;
  fs::path tmp;
  Ctx ctx;
  H5::H5File file;
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
  try {
    m.file = H5::H5File(m.tmp.string(), H5F_ACC_TRUNC, internal::FileCreateProps(),
                        internal::FileAccessProps());
  } catch (const H5::Exception& e) {
    m.ctx.Fail("", "cannot create " + m.tmp.string() + ": " + internal::Hdf5Reason(e));
  }
  try {
    m.data = internal::CreateGroup(m.file, "data");
    internal::WriteStringAttr(m.data, "env_args", env_json);
    m.file.flush(H5F_SCOPE_LOCAL);
  } catch (const H5::Exception& e) {
    m.ctx.Fail("/data", e);  // the destructor does not run: clean up here
  }
}

EpisodeWriter::~EpisodeWriter() {
  if (impl_ == nullptr || impl_->closed) return;
  try {
    impl_->data.close();
    impl_->file.close();
  } catch (const H5::Exception&) {
    // Nothing to report from a destructor; the file is removed below anyway.
  }
  std::error_code ec;
  fs::remove(impl_->tmp, ec);
}

std::string EpisodeWriter::Append(const Episode& episode) {
  internal::SilenceHdf5();
  Impl& m = *impl_;
  m.CheckUsable("Append");
  const std::string name = "demo_" + std::to_string(m.count);
  const std::string path = "/data/" + name;
  internal::Schema schema = ValidateEpisode(m.ctx, path, episode);
  if (m.schema) internal::CheckSameSchema(m.ctx, path, *m.schema, schema);
  std::string perturbation;
  try {
    perturbation = episode.perturbation.dump();
  } catch (const nlohmann::json::exception& e) {
    m.ctx.Fail(path, std::string("attribute 'perturbation': cannot serialize: ") + e.what());
  }
  try {
    WriteDemo(m.data, name, episode, perturbation);
    m.file.flush(H5F_SCOPE_LOCAL);
  } catch (const H5::Exception& e) {
    m.failed = true;
    m.ctx.Fail(path, e);
  }
  if (!m.schema) m.schema = std::move(schema);
  ++m.count;
  m.total += episode.num_samples();
  return name;
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
  try {
    internal::WriteScalarAttr<int64_t>(m.data, "total", m.total);
    H5::Group mask = internal::CreateGroup(m.file, "mask");
    internal::WriteStringList(mask, "train", train);
    internal::WriteStringList(mask, "valid", valid);
    mask.close();
    m.data.close();
    m.file.close();
  } catch (const H5::Exception& e) {
    m.failed = true;
    m.ctx.Fail("", "cannot finish " + m.tmp.string() + ": " + internal::Hdf5Reason(e));
  }
  if (!SyncFile(m.tmp)) {
    m.failed = true;
    m.ctx.Fail("", "cannot sync " + m.tmp.string() + ": " + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(m.tmp, m.path, ec);
  if (ec) {
    m.failed = true;
    m.ctx.Fail("", "cannot rename " + m.tmp.string() + " into place: " + ec.message());
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
