#include "datasets/import.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "datasets/episode_store.h"
#include "datasets/h5_io.h"
#include "datasets/schema.h"

namespace dreamforge::datasets {

namespace fs = std::filesystem;
using internal::Ctx;

namespace {

// Dataset `name` of g, which must exist; returns its shape.
std::vector<hsize_t> Shape(const Ctx& ctx, const H5::Group& g, const std::string& path,
                           const std::string& name, H5::DataSet* ds) {
  const std::string p = internal::Join(path, name);
  try {
    if (!g.nameExists(name)) ctx.Fail(p, "missing dataset");
    if (g.childObjType(name) != H5O_TYPE_DATASET) ctx.Fail(p, "expected a dataset");
    *ds = g.openDataSet(name);
    H5::DataSpace space = ds->getSpace();
    std::vector<hsize_t> shape(space.getSimpleExtentNdims());
    space.getSimpleExtentDims(shape.data());
    return shape;
  } catch (const H5::Exception& e) {
    ctx.Fail(p, e);
  }
}

// Reads float dataset `name` of g, of shape (n, cols), into a double matrix; n < 0 takes
// the dataset's row count. Checks the type, shape and finiteness.
MatrixRXd ReadFloatMatrix(const Ctx& ctx, const H5::Group& g, const std::string& path,
                          const std::string& name, long n, hsize_t cols) {
  const std::string p = internal::Join(path, name);
  H5::DataSet ds;
  const std::vector<hsize_t> shape = Shape(ctx, g, path, name, &ds);
  try {
    if (ds.getTypeClass() != H5T_FLOAT) {
      ctx.Fail(
          p, "expected float32 or float64 values, got " + internal::DescribeType(ds.getDataType()));
    }
  } catch (const H5::Exception& e) {
    ctx.Fail(p, e);
  }
  if (shape.size() != 2 || shape[1] != cols || shape[0] == 0) {
    ctx.Fail(p, "expected shape (N," + std::to_string(cols) + ") with N > 0, got " +
                    internal::FormatShape(shape));
  }
  if (n >= 0 && shape[0] != static_cast<hsize_t>(n)) {
    ctx.Fail(p, "has " + std::to_string(shape[0]) + " rows, but the demo has " + std::to_string(n) +
                    " samples");
  }
  internal::CheckPlausibleSize(ctx, p, ds, static_cast<double>(shape[0]) * cols * 8.0);
  MatrixRXd m(static_cast<Eigen::Index>(shape[0]), static_cast<Eigen::Index>(cols));
  try {
    ds.read(m.data(), H5::PredType::NATIVE_DOUBLE);
  } catch (const H5::Exception& e) {
    ctx.Fail(p, e);
  }
  internal::CheckFinite(ctx, p, m.data(), shape);
  return m;
}

// Every dataset of group `name` (if present) must have n rows.
void CheckRows(const Ctx& ctx, const H5::Group& demo, const std::string& dpath,
               const std::string& name, hsize_t n) {
  if (!demo.nameExists(name)) return;
  const std::string gpath = internal::Join(dpath, name);
  std::vector<std::pair<std::string, H5::DataSet>> sets;
  if (demo.childObjType(name) == H5O_TYPE_GROUP) {
    H5::Group g = demo.openGroup(name);
    for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
      const std::string key = g.getObjnameByIdx(i);
      if (g.childObjType(key) != H5O_TYPE_DATASET) continue;  // lenient: nested groups
      sets.emplace_back(internal::Join(gpath, key), g.openDataSet(key));
    }
  } else if (demo.childObjType(name) == H5O_TYPE_DATASET) {
    sets.emplace_back(gpath, demo.openDataSet(name));
  }
  for (auto& [p, ds] : sets) {
    H5::DataSpace space = ds.getSpace();
    std::vector<hsize_t> shape(space.getSimpleExtentNdims());
    space.getSimpleExtentDims(shape.data());
    if (shape.empty() || shape[0] != n) {
      ctx.Fail(p, "expected " + std::to_string(n) + " rows (one per action), got shape " +
                      internal::FormatShape(shape));
    }
  }
}

RobomimicDemo ReadDemo(const Ctx& ctx, const H5::Group& data, const std::string& name) {
  RobomimicDemo demo;
  demo.name = name;
  demo.path = "/data/" + name;
  const std::string& d = demo.path;
  H5::Group g = internal::OpenGroup(ctx, data, "/data", name);
  demo.actions = ReadFloatMatrix(ctx, g, d, "actions", -1, 7);
  const hsize_t n = static_cast<hsize_t>(demo.actions.rows());
  const std::string apath = d + "/actions";
  for (Eigen::Index i = 0; i < demo.actions.size(); ++i) {
    const double v = demo.actions.data()[i];
    if (std::abs(v) > 1.0 + 1e-6) {
      char value[32];
      std::snprintf(value, sizeof value, "%g", v);
      ctx.Fail(apath, std::string("value ") + value + " at index " +
                          internal::FormatIndex(static_cast<std::size_t>(i), {n, 7}) +
                          " is outside the normalized action range [-1, 1]");
    }
  }
  if (g.attrExists("num_samples")) {
    const int64_t ns = internal::ReadIntAttr(ctx, g, d, "num_samples");
    if (ns != static_cast<int64_t>(n)) {
      ctx.Fail(d, "attribute 'num_samples' is " + std::to_string(ns) + " but actions has " +
                      std::to_string(n) + " rows");
    }
  }
  try {
    for (const char* group : {"obs", "next_obs", "rewards", "dones", "states"}) {
      CheckRows(ctx, g, d, group, n);
    }
  } catch (const H5::Exception& e) {
    ctx.Fail(d, e);
  }
  if (g.nameExists("obs") && g.childObjType("obs") == H5O_TYPE_GROUP) {
    H5::Group obs = g.openGroup("obs");
    if (obs.nameExists("robot0_eef_pos")) {
      demo.eef_pos =
          ReadFloatMatrix(ctx, obs, d + "/obs", "robot0_eef_pos", static_cast<long>(n), 3);
    }
  }
  return demo;
}

}  // namespace

RobomimicFile ReadRobomimicDemos(const fs::path& path) {
  internal::SilenceHdf5();
  RobomimicFile out;
  out.file = path.string();
  Ctx ctx;
  ctx.file = out.file;
  std::error_code ec;
  if (!fs::exists(path, ec)) ctx.Fail("", "no such file");
  if (fs::is_directory(path, ec)) ctx.Fail("", "is a directory, not an HDF5 file");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) ctx.Fail("", "not an HDF5 file (no HDF5 signature)");
  if (is_hdf5 < 0) ctx.Fail("", "cannot read as HDF5 (unreadable, truncated or corrupt)");
  ctx.file_bytes = fs::file_size(path, ec);
  if (ec) ctx.file_bytes = 0;
  try {
    H5::H5File file(path.string(), H5F_ACC_RDONLY);
    H5::Group root = file.openGroup("/");
    H5::Group data = internal::OpenGroup(ctx, root, "/", "data");
    if (data.attrExists("env_args")) {
      const std::string env = internal::ReadStringAttr(ctx, data, "/data", "env_args");
      try {
        out.env_args = nlohmann::json::parse(env);
      } catch (const nlohmann::json::exception& e) {
        ctx.Fail("/data", std::string("attribute 'env_args' is not valid JSON: ") + e.what());
      }
    }
    std::vector<std::pair<int, std::string>> demos;
    for (hsize_t i = 0; i < data.getNumObjs(); ++i) {
      const std::string name = data.getObjnameByIdx(i);
      const std::optional<int> k = internal::DemoIndex(name);
      if (k && data.childObjType(name) == H5O_TYPE_GROUP) demos.emplace_back(*k, name);
    }
    if (demos.empty()) ctx.Fail("/data", "no demo_<k> groups: nothing to import");
    std::sort(demos.begin(), demos.end());
    for (const auto& [k, name] : demos) out.demos.push_back(ReadDemo(ctx, data, name));
  } catch (const H5::Exception& e) {
    ctx.Fail("", "cannot read HDF5 file (truncated or corrupt?): " + internal::Hdf5Reason(e));
  }
  return out;
}

}  // namespace dreamforge::datasets
