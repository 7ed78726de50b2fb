// EpisodeReader (declared in datasets/episode_store.h).
#include <algorithm>
#include <array>
#include <set>
#include <type_traits>

#include "datasets/episode_store.h"
#include "datasets/h5_io.h"
#include "datasets/h5_probe.h"
#include "datasets/schema.h"
#include "robot/fuzz_plant.h"
#include "robot/obs_layout.h"

namespace dreamforge::datasets {

namespace fs = std::filesystem;
using internal::Ctx;

namespace {

// Reads float/int dataset `name` of g (rows N, trailing dims) into a resized Eigen object.
template <typename Matrix>
void ReadMatrix(const Ctx& ctx, const H5::Group& g, const std::string& gpath,
                const std::string& name, hsize_t n, const std::vector<int64_t>& trailing,
                Eigen::Index cols, Matrix* out) {
  using Scalar = typename Matrix::Scalar;
  internal::Array a = internal::OpenArray<Scalar>(ctx, g, gpath, name, n, trailing);
  if (cols < 0) cols = static_cast<Eigen::Index>(a.shape[1]);
  out->resize(static_cast<Eigen::Index>(n), cols);
  internal::ReadArray<Scalar>(ctx, a, out->data());
}

// Opens camera dataset `key` of obs (image: uint8 (N,H,W,C), C in 1..4; depth: float32
// (N,H,W,1)) and checks its dtype, rank and N.
template <typename T>
internal::Array OpenCameraArray(const Ctx& ctx, const H5::Group& obs, const std::string& opath,
                                const std::string& key, hsize_t n) {
  constexpr bool kDepth = std::is_same_v<T, float>;
  internal::Array a = internal::OpenArray<T>(ctx, obs, opath, key, n, {-1, -1, kDepth ? 1 : -1},
                                             kDepth ? "(N,H,W,1)" : "(N,H,W,C)");
  if (!kDepth && a.shape[3] > 4) {
    ctx.Fail(a.path,
             "expected shape (N,H,W,C) with C in 1..4, got " + internal::FormatShape(a.shape));
  }
  return a;
}

// Reads group `name` of the demo: low-dimensional keys (N x d, float32) into *out with
// widths in *dims; with `cameras` (obs/ only) image and depth keys are checked and their
// shapes recorded in *schema, and their data read into *ep if `with_images`.
void ReadObsGroup(const Ctx& ctx, const H5::Group& demo, const std::string& dpath,
                  const std::string& name, hsize_t n, std::map<std::string, MatrixRXf>* out,
                  std::map<std::string, int64_t>* dims, internal::Schema* cameras, bool with_images,
                  Episode* ep) {
  const std::string gpath = dpath + "/" + name;
  H5::Group g = internal::OpenGroup(ctx, demo, dpath, name);
  for (const std::string& key : internal::ListChildren(ctx, g, gpath, H5O_TYPE_DATASET)) {
    const bool image = robot::IsImageKeyName(key);
    const bool depth = robot::IsDepthKeyName(key);
    if ((image || depth) && cameras == nullptr) {
      ctx.Fail(gpath + "/" + key, "camera observations are stored under obs/ only");
    }
    if (image) {
      const internal::Array a = OpenCameraArray<uint8_t>(ctx, g, gpath, key, n);
      cameras->images[key] = {int64_t(a.shape[1]), int64_t(a.shape[2]), int64_t(a.shape[3])};
      if (!with_images) continue;
      ImageSeq& im = ep->images[key];
      im.height = static_cast<int>(a.shape[1]);
      im.width = static_cast<int>(a.shape[2]);
      im.channels = static_cast<int>(a.shape[3]);
      im.data.resize(a.count());
      internal::ReadArray(ctx, a, im.data.data());
    } else if (depth) {
      const internal::Array a = OpenCameraArray<float>(ctx, g, gpath, key, n);
      cameras->depths[key] = {int64_t(a.shape[1]), int64_t(a.shape[2])};
      if (!with_images) continue;
      DepthSeq& dm = ep->depths[key];
      dm.height = static_cast<int>(a.shape[1]);
      dm.width = static_cast<int>(a.shape[2]);
      dm.data.resize(a.count());
      internal::ReadArray(ctx, a, dm.data.data());  // checks that depths are finite
    } else {
      MatrixRXf& m = (*out)[key];
      ReadMatrix(ctx, g, gpath, key, n, {-1}, -1, &m);
      (*dims)[key] = m.cols();
    }
  }
}

// Reads and validates demo `name` of /data; fills *schema with its layout. Image and
// depth datasets are always checked (dtype, shape, N) but only read `with_images`.
Episode ReadDemo(const Ctx& ctx, const H5::Group& data, const std::string& name,
                 internal::Schema* schema, bool with_images) {
  const std::string d = "/data/" + name;
  H5::Group g = internal::OpenGroup(ctx, data, "/data", name);
  const int64_t num_samples = internal::ReadIntAttr(ctx, g, d, "num_samples");
  if (num_samples <= 0) {
    ctx.Fail(d, "attribute 'num_samples' must be positive, got " + std::to_string(num_samples));
  }
  const hsize_t n = static_cast<hsize_t>(num_samples);
  Episode ep;
  ReadMatrix(ctx, g, d, "actions", n, {7}, 7, &ep.actions);
  ReadMatrix(ctx, g, d, "rewards", n, {}, 1, &ep.rewards);
  internal::Array dones = internal::OpenArray<uint8_t>(ctx, g, d, "dones", n, {});
  ep.dones.resize(n);
  internal::ReadArray(ctx, dones, ep.dones.data());
  ReadMatrix(ctx, g, d, "states", n, {-1}, -1, &ep.states);
  *schema = internal::Schema();
  schema->state_dim = ep.states.cols();
  ReadObsGroup(ctx, g, d, "obs", n, &ep.obs, &schema->obs_dims, schema, with_images, &ep);
  std::map<std::string, int64_t> next_dims;
  ReadObsGroup(ctx, g, d, "next_obs", n, &ep.next_obs, &next_dims, nullptr, false, nullptr);
  internal::CheckSameObs(ctx, d + "/next_obs", schema->obs_dims, next_dims, "obs");

  const std::string ipath = d + "/datagen_info";
  H5::Group info = internal::OpenGroup(ctx, g, d, "datagen_info");
  ReadMatrix(ctx, info, ipath, "eef_pose", n, {4, 4}, 16, &ep.eef_pose);
  // object_poses and subtask_term_signals may be absent (no objects / no signals).
  if (info.nameExists("object_poses")) {
    const std::string opath = ipath + "/object_poses";
    H5::Group objects = internal::OpenGroup(ctx, info, ipath, "object_poses");
    schema->objects = internal::ListChildren(ctx, objects, opath, H5O_TYPE_DATASET);
    for (const std::string& obj : schema->objects) {
      ReadMatrix(ctx, objects, opath, obj, n, {4, 4}, 16, &ep.object_poses[obj]);
    }
  }
  if (info.nameExists("subtask_term_signals")) {
    const std::string spath = ipath + "/subtask_term_signals";
    H5::Group signals = internal::OpenGroup(ctx, info, ipath, "subtask_term_signals");
    schema->signals = internal::ListChildren(ctx, signals, spath, H5O_TYPE_DATASET);
    for (const std::string& sig : schema->signals) {
      internal::Array a = internal::OpenArray<int32_t>(ctx, signals, spath, sig, n, {});
      std::vector<int32_t>& v = ep.subtask_term_signals[sig];
      v.resize(n);
      internal::ReadArray(ctx, a, v.data());
    }
  }

  ep.scene_key = internal::ReadUintAttr(ctx, g, d, "seed");
  ep.source_demo = internal::ReadStringAttr(ctx, g, d, "source_demo");
  const std::string perturbation = internal::ReadStringAttr(ctx, g, d, "perturbation");
  try {
    ep.perturbation = nlohmann::json::parse(perturbation);
  } catch (const nlohmann::json::exception& e) {
    ctx.Fail(d, std::string("attribute 'perturbation' is not valid JSON: ") + e.what());
  }
  ep.success = internal::ReadIntAttr(ctx, g, d, "success") != 0;
  return ep;
}

}  // namespace

struct EpisodeReader::Impl {
  fs::path path;
  Ctx ctx;
  H5::H5File file;
  H5::Group data;
  nlohmann::json env_args;
  std::vector<std::string> names;  // numeric demo order
  std::vector<int64_t> offsets;    // offsets[i] = samples before episode i; size n+1
  std::vector<bool> success;
  std::map<std::string, std::vector<std::string>> masks;
  internal::Schema schema;
  // ReadImage's open datasets of one episode, so that stepping through it reads each
  // compressed chunk once (HDF5 caches chunks per open dataset).
  mutable int image_episode = -1;
  mutable std::map<std::string, H5::DataSet> image_datasets;

  void CheckIndex(int i) const {
    if (i < 0 || i >= static_cast<int>(names.size())) {
      throw std::out_of_range(ctx.file + ": episode index " + std::to_string(i) +
                              " out of range [0, " + std::to_string(names.size()) + ")");
    }
  }

  void Open();  // signature, H5File, Validate()
  void Validate();
  Episode Read(const std::string& name, bool with_images) const;
};

void EpisodeReader::Impl::Validate() {
  H5::Group root = file.openGroup("/");
  data = internal::OpenGroup(ctx, root, "/", "data");

  std::vector<std::pair<int, std::string>> demos;
  for (const std::string& name : internal::ListChildren(ctx, data, "/data", H5O_TYPE_GROUP)) {
    const std::optional<int> k = internal::DemoIndex(name);
    if (!k) ctx.Fail("/data/" + name, "unexpected group (expected demo_<k>)");
    demos.emplace_back(*k, name);
  }
  std::sort(demos.begin(), demos.end());
  offsets.assign(1, 0);
  for (const auto& [k, name] : demos) {
    internal::Schema s;
    const Episode ep = ReadDemo(ctx, data, name, &s, /*with_images=*/false);
    // Planted (fuzz-plant builds only): an object at x = 0 exactly in a perturbation that
    // records `object_x`, as if the reader then divided by it. No seed has one. Earlier
    // plants were not found in 600 s: the binary attributes seed == 0xC0FFEE and
    // num_samples == 1 (their 8-byte patterns, 0 and N, recur in every dataspace), and a
    // dream index not below the demo count (true of every dream shard after the first).
    DF_FUZZ_PLANT_IF([&] {
      const auto it = ep.perturbation.find("object_x");
      return it != ep.perturbation.end() && it->is_number() && it->get<double>() == 0.0;
    }());
    if (names.empty()) {
      schema = s;
    } else {
      internal::CheckSameSchema(ctx, "/data/" + name, schema, s, names.front());
    }
    names.push_back(name);
    offsets.push_back(offsets.back() + ep.num_samples());
    success.push_back(ep.success);
  }

  const int64_t total = internal::ReadIntAttr(ctx, data, "/data", "total");
  if (total != offsets.back()) {
    ctx.Fail("/data", "attribute 'total' is " + std::to_string(total) + " but the demos hold " +
                          std::to_string(offsets.back()) + " samples");
  }
  const std::string env = internal::ReadStringAttr(ctx, data, "/data", "env_args");
  try {
    env_args = nlohmann::json::parse(env);
  } catch (const nlohmann::json::exception& e) {
    ctx.Fail("/data", std::string("attribute 'env_args' is not valid JSON: ") + e.what());
  }
  if (!env_args.is_object()) ctx.Fail("/data", "attribute 'env_args' is not a JSON object");

  if (root.nameExists("mask")) {
    H5::Group mask = internal::OpenGroup(ctx, root, "/", "mask");
    const std::set<std::string> known(names.begin(), names.end());
    for (const std::string& m : internal::ListChildren(ctx, mask, "/mask", H5O_TYPE_DATASET)) {
      std::vector<std::string> entries = internal::ReadStringList(ctx, mask, "/mask", m);
      for (const std::string& e : entries) {
        if (known.count(e) == 0) ctx.Fail("/mask/" + m, "names '" + e + "', which is not in /data");
      }
      masks[m] = std::move(entries);
    }
  }
}

EpisodeReader::EpisodeReader(const fs::path& path) : impl_(std::make_unique<Impl>()) {
  internal::SilenceHdf5();
  Impl& m = *impl_;
  m.path = path;
  m.ctx.file = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) m.ctx.Fail("", "no such file");
  if (fs::is_directory(path, ec)) m.ctx.Fail("", "is a directory, not an HDF5 file");
  m.ctx.file_bytes = fs::file_size(path, ec);
  if (ec) m.ctx.file_bytes = 0;
  // Everything from the signature check to the end of validation runs first in a probe
  // process (h5_probe.h): libhdf5 parses its metadata before we can check any field.
  if (internal::ProbeEnabled()) {
    internal::RunInProbe(m.ctx, [&m] { m.Open(); });
  } else {
    m.Open();
  }
}

void EpisodeReader::Impl::Open() {
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) ctx.Fail("", "not an HDF5 file (no HDF5 signature)");
  if (is_hdf5 < 0) {
    internal::NoteLibraryError();
    ctx.Fail("", "cannot read as HDF5 (unreadable, truncated or corrupt)");
  }
  try {
    file = H5::H5File(path.string(), H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    ctx.Fail("", "cannot open HDF5 file (truncated or corrupt?): " + internal::Hdf5Reason(e));
  }
  try {
    Validate();
  } catch (const H5::Exception& e) {
    ctx.Fail("", e);  // helpers convert with a path; this is a last resort
  }
}

EpisodeReader::~EpisodeReader() = default;

const fs::path& EpisodeReader::path() const { return impl_->path; }
int EpisodeReader::num_episodes() const { return static_cast<int>(impl_->names.size()); }
int64_t EpisodeReader::num_samples() const { return impl_->offsets.back(); }
std::vector<std::string> EpisodeReader::demo_names() const { return impl_->names; }
nlohmann::json EpisodeReader::env_args() const { return impl_->env_args; }

int EpisodeReader::episode_num_samples(int i) const {
  impl_->CheckIndex(i);
  return static_cast<int>(impl_->offsets[i + 1] - impl_->offsets[i]);
}

bool EpisodeReader::episode_success(int i) const {
  impl_->CheckIndex(i);
  return impl_->success[i];
}

Episode EpisodeReader::ReadEpisode(int i) const { return ReadEpisode(i, true); }

Episode EpisodeReader::ReadEpisode(int i, bool with_images) const {
  impl_->CheckIndex(i);
  return impl_->Read(impl_->names[i], with_images);
}

Episode EpisodeReader::ReadEpisode(const std::string& name) const {
  const Impl& m = *impl_;
  if (std::find(m.names.begin(), m.names.end(), name) == m.names.end()) {
    m.ctx.Fail("/data/" + name, "no such demo");
  }
  return m.Read(name, true);
}

Episode EpisodeReader::Impl::Read(const std::string& name, bool with_images) const {
  internal::SilenceHdf5();
  internal::Schema unused;
  try {
    return ReadDemo(ctx, data, name, &unused, with_images);
  } catch (const H5::Exception& e) {
    ctx.Fail("/data/" + name, e);
  }
}

nlohmann::json EpisodeReader::ReadPerturbation(int i) const {
  internal::SilenceHdf5();
  impl_->CheckIndex(i);
  const Impl& m = *impl_;
  const std::string d = "/data/" + m.names[i];
  try {
    const H5::Group g = internal::OpenGroup(m.ctx, m.data, "/data", m.names[i]);
    const std::string text = internal::ReadStringAttr(m.ctx, g, d, "perturbation");
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      m.ctx.Fail(d, std::string("attribute 'perturbation' is not valid JSON: ") + e.what());
    }
  } catch (const H5::Exception& e) {
    m.ctx.Fail(d, e);
  }
}

std::vector<std::string> EpisodeReader::Mask(const std::string& name) const {
  const auto it = impl_->masks.find(name);
  return it == impl_->masks.end() ? std::vector<std::string>() : it->second;
}

std::map<std::string, int> EpisodeReader::obs_dims() const {
  std::map<std::string, int> dims;
  for (const auto& [key, d] : impl_->schema.obs_dims) dims[key] = static_cast<int>(d);
  return dims;
}

std::map<std::string, std::array<int, 3>> EpisodeReader::image_shapes() const {
  std::map<std::string, std::array<int, 3>> shapes;
  for (const auto& [key, s] : impl_->schema.images) {
    shapes[key] = {static_cast<int>(s[0]), static_cast<int>(s[1]), static_cast<int>(s[2])};
  }
  return shapes;
}

std::map<std::string, std::array<int, 2>> EpisodeReader::depth_shapes() const {
  std::map<std::string, std::array<int, 2>> shapes;
  for (const auto& [key, s] : impl_->schema.depths) {
    shapes[key] = {static_cast<int>(s[0]), static_cast<int>(s[1])};
  }
  return shapes;
}

int64_t EpisodeReader::Hdf5FileId() const { return impl_->file.getId(); }
const internal::Schema& EpisodeReader::schema() const { return impl_->schema; }

void EpisodeReader::CheckSameLayout(const EpisodeReader& other) const {
  if (num_episodes() == 0 || other.num_episodes() == 0) return;
  internal::CheckSameSchema(other.impl_->ctx, "/data/" + other.impl_->names.front(), impl_->schema,
                            other.impl_->schema, impl_->ctx.file + ": " + impl_->names.front());
}

int EpisodeReader::state_dim() const { return static_cast<int>(impl_->schema.state_dim); }
std::vector<std::string> EpisodeReader::object_names() const { return impl_->schema.objects; }
std::vector<std::string> EpisodeReader::subtask_signals() const { return impl_->schema.signals; }

std::pair<int, int> EpisodeReader::Locate(int64_t global_index) const {
  const std::vector<int64_t>& off = impl_->offsets;
  if (global_index < 0 || global_index >= off.back()) {
    throw std::out_of_range(impl_->ctx.file + ": sample index " + std::to_string(global_index) +
                            " out of range [0, " + std::to_string(off.back()) + ")");
  }
  // First offset > global_index ends the episode that holds it (every episode has N > 0).
  const auto it = std::upper_bound(off.begin(), off.end(), global_index);
  const int episode = static_cast<int>(it - off.begin()) - 1;
  return {episode, static_cast<int>(global_index - off[episode])};
}

namespace {

// Reads row `row` (width `cols`) of the float dataset at `path` into dst.
void ReadRow(const Ctx& ctx, const H5::H5File& file, const std::string& path, int row, int cols,
             float* dst) {
  try {
    H5::DataSet ds = file.openDataSet(path);
    H5::DataSpace space = ds.getSpace();
    const hsize_t start[2] = {static_cast<hsize_t>(row), 0};
    const hsize_t count[2] = {1, static_cast<hsize_t>(cols)};
    space.selectHyperslab(H5S_SELECT_SET, count, start);
    H5::DataSpace mem(2, count);
    ds.read(dst, H5::PredType::NATIVE_FLOAT, mem, space);
  } catch (const H5::Exception& e) {
    ctx.Fail(path, e);
  }
}

}  // namespace

void EpisodeReader::ReadSample(int64_t global_index, std::map<std::string, Eigen::VectorXf>* obs,
                               Eigen::VectorXf* action) const {
  internal::SilenceHdf5();
  const Impl& m = *impl_;
  const auto [episode, step] = Locate(global_index);
  const std::string d = "/data/" + m.names[episode];
  if (action->size() != 7) action->resize(7);
  ReadRow(m.ctx, m.file, d + "/actions", step, 7, action->data());
  for (auto it = obs->begin(); it != obs->end();) {
    it = m.schema.obs_dims.count(it->first) ? std::next(it) : obs->erase(it);
  }
  for (const auto& [key, dim] : m.schema.obs_dims) {
    Eigen::VectorXf& v = (*obs)[key];
    if (v.size() != dim) v.resize(dim);
    ReadRow(m.ctx, m.file, d + "/obs/" + key, step, static_cast<int>(dim), v.data());
  }
}

void EpisodeReader::ReadImage(int episode, int step, const std::string& key, uint8_t* out) const {
  internal::SilenceHdf5();
  const Impl& m = *impl_;
  m.CheckIndex(episode);
  const std::string d = "/data/" + m.names[episode];
  const int n = episode_num_samples(episode);
  if (step < 0 || step >= n) {
    throw std::out_of_range(m.ctx.file + ": " + d + ": step " + std::to_string(step) +
                            " out of range [0, " + std::to_string(n) + ")");
  }
  const auto it = m.schema.images.find(key);
  if (it == m.schema.images.end()) {
    std::string keys;
    for (const auto& [k, shape] : m.schema.images) keys += (keys.empty() ? "" : ", ") + k;
    m.ctx.Fail(d + "/obs/" + key, "no such image key (image keys: {" + keys + "})");
  }
  const std::string path = d + "/obs/" + key;
  try {
    if (m.image_episode != episode) {
      m.image_datasets.clear();
      m.image_episode = episode;
    }
    auto ds = m.image_datasets.find(key);
    if (ds == m.image_datasets.end())
      ds = m.image_datasets.emplace(key, m.file.openDataSet(path)).first;
    H5::DataSpace space = ds->second.getSpace();
    const hsize_t start[4] = {static_cast<hsize_t>(step), 0, 0, 0};
    const hsize_t count[4] = {1, hsize_t(it->second[0]), hsize_t(it->second[1]),
                              hsize_t(it->second[2])};
    space.selectHyperslab(H5S_SELECT_SET, count, start);
    H5::DataSpace mem(4, count);
    ds->second.read(out, H5::PredType::NATIVE_UINT8, mem, space);
  } catch (const H5::Exception& e) {
    m.ctx.Fail(path, e);
  }
}

}  // namespace dreamforge::datasets
