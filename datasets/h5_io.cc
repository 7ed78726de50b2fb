#include "datasets/h5_io.h"

#include <atomic>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace dreamforge::datasets::internal {

void Ctx::Fail(const std::string& h5path, const std::string& what) const {
  // Paths and keys come from the file and may hold any character: keep the message one line.
  if (h5path.empty()) throw DatasetError(file + ": " + OneLine(what));
  throw DatasetError(file + ": " + OneLine(h5path) + ": " + OneLine(what));
}

void Ctx::Fail(const std::string& h5path, const H5::Exception& e) const {
  Fail(h5path, "HDF5 error: " + Hdf5Reason(e));
}

namespace {

herr_t InnermostError(unsigned n, const H5E_error2_t* err, void* out) {
  // Walked upward from the innermost frame: keep the first one with a description.
  auto* msg = static_cast<std::string*>(out);
  if (msg->empty() && err->desc != nullptr && err->desc[0] != '\0') *msg = err->desc;
  (void)n;
  return 0;
}

std::atomic<uint64_t> library_errors{0};

}  // namespace

uint64_t LibraryErrorCount() { return library_errors.load(std::memory_order_relaxed); }
void NoteLibraryError() { library_errors.fetch_add(1, std::memory_order_relaxed); }

std::string Hdf5Reason(const H5::Exception& e) {
  NoteLibraryError();
  std::string inner;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, InnermostError, &inner);
  std::string outer =
      e.getFuncName().empty() ? e.getDetailMsg() : e.getFuncName() + ": " + e.getDetailMsg();
  return inner.empty() ? outer : inner + " (" + outer + ")";
}

void SilenceHdf5() {
  thread_local bool silenced = false;
  if (!silenced) {
    H5::Exception::dontPrint();
    silenced = true;
  }
}

std::string Join(const std::string& parent, const std::string& name) {
  if (!parent.empty() && parent.back() == '/') return parent + name;
  return parent + "/" + name;
}

std::string FormatShape(const std::vector<hsize_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string FormatIndex(std::size_t flat, const std::vector<hsize_t>& shape) {
  std::vector<hsize_t> index(shape.size());
  for (std::size_t i = shape.size(); i-- > 0;) {
    index[i] = shape[i] == 0 ? 0 : flat % shape[i];
    flat = shape[i] == 0 ? 0 : flat / shape[i];
  }
  return FormatShape(index);
}

std::string DescribeType(const H5::DataType& type) {
  const std::string bits = std::to_string(8 * type.getSize());
  switch (type.getClass()) {
    case H5T_FLOAT:
      return "float" + bits;
    case H5T_INTEGER:
      return (H5Tget_sign(type.getId()) == H5T_SGN_2 ? "int" : "uint") + bits;
    case H5T_STRING:
      return "string";
    case H5T_ENUM:
      return "enum";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ARRAY:
      return "array";
    default:
      return "unsupported type class " + std::to_string(static_cast<int>(type.getClass()));
  }
}

namespace {

// Throws if an HDF5 C call returned a negative status.
void Check(herr_t status, const char* func) {
  if (status < 0) throw H5::PropListIException(func, "failed");
}

}  // namespace

H5::FileCreatPropList FileCreateProps() {
  H5::FileCreatPropList fcpl;
  Check(H5Pset_obj_track_times(fcpl.getId(), false), "H5Pset_obj_track_times");
  return fcpl;
}

H5::FileAccPropList FileAccessProps() {
  H5::FileAccPropList fapl;
  fapl.setLibverBounds(H5F_LIBVER_EARLIEST, H5F_LIBVER_V18);
  return fapl;
}

H5::DSetCreatPropList DatasetCreateProps() {
  H5::DSetCreatPropList dcpl;
  Check(H5Pset_obj_track_times(dcpl.getId(), false), "H5Pset_obj_track_times");
  return dcpl;
}

H5::DSetCreatPropList CompressedDatasetCreateProps(const std::vector<hsize_t>& chunk,
                                                   int gzip_level, bool shuffle) {
  H5::DSetCreatPropList dcpl = DatasetCreateProps();
  dcpl.setChunk(static_cast<int>(chunk.size()), chunk.data());
  if (shuffle) dcpl.setShuffle();
  dcpl.setDeflate(gzip_level);
  return dcpl;
}

H5::Group CreateGroup(const H5::Group& parent, const std::string& name) {
  H5::PropList gcpl(H5P_GROUP_CREATE);
  Check(H5Pset_obj_track_times(gcpl.getId(), false), "H5Pset_obj_track_times");
  const hid_t id = H5Gcreate2(parent.getId(), name.c_str(), H5P_DEFAULT, gcpl.getId(), H5P_DEFAULT);
  if (id < 0) throw H5::GroupIException("H5Gcreate2", "cannot create group '" + name + "'");
  H5::Group group(id);  // takes its own reference to the id...
  H5Gclose(id);         // ...so drop ours
  return group;
}

void WriteStringAttr(const H5::H5Object& obj, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  H5::Attribute attr = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  attr.write(type, value);
}

void WriteStringList(const H5::Group& g, const std::string& name,
                     const std::vector<std::string>& values) {
  std::size_t len = 1;  // HDF5 string types cannot be 0 bytes long
  for (const std::string& v : values) len = std::max(len, v.size());
  H5::StrType type(H5::PredType::C_S1, len);
  type.setStrpad(H5T_STR_NULLPAD);
  std::vector<char> buffer(values.size() * len, '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::memcpy(buffer.data() + i * len, values[i].data(), values[i].size());
  }
  const hsize_t dims[1] = {values.size()};
  H5::DataSet ds = g.createDataSet(name, type, H5::DataSpace(1, dims), DatasetCreateProps());
  if (!values.empty()) ds.write(buffer.data(), type);
}

namespace {

// Opens attribute `name`, which must hold exactly one element of `cls`.
H5::Attribute OpenScalarAttr(const Ctx& ctx, const H5::H5Object& obj, const std::string& obj_path,
                             const std::string& name, H5T_class_t cls, const char* what) {
  if (!obj.attrExists(name)) ctx.Fail(obj_path, "missing attribute '" + name + "'");
  H5::Attribute attr = obj.openAttribute(name);
  H5::DataType type = attr.getDataType();
  if (type.getClass() != cls) {
    ctx.Fail(obj_path,
             "attribute '" + name + "': expected " + what + ", got " + DescribeType(type));
  }
  if (attr.getSpace().getSimpleExtentNpoints() != 1) {
    ctx.Fail(obj_path, "attribute '" + name + "': expected a single value");
  }
  return attr;
}

}  // namespace

int64_t ReadIntAttr(const Ctx& ctx, const H5::H5Object& obj, const std::string& obj_path,
                    const std::string& name) {
  try {
    H5::Attribute attr = OpenScalarAttr(ctx, obj, obj_path, name, H5T_INTEGER, "an integer");
    int64_t value = 0;
    attr.read(H5::PredType::NATIVE_INT64, &value);
    return value;
  } catch (const H5::Exception& e) {
    ctx.Fail(obj_path + " attribute '" + name + "'", e);
  }
}

uint64_t ReadUintAttr(const Ctx& ctx, const H5::H5Object& obj, const std::string& obj_path,
                      const std::string& name) {
  try {
    H5::Attribute attr = OpenScalarAttr(ctx, obj, obj_path, name, H5T_INTEGER, "an integer");
    uint64_t value = 0;
    attr.read(H5::PredType::NATIVE_UINT64, &value);
    return value;
  } catch (const H5::Exception& e) {
    ctx.Fail(obj_path + " attribute '" + name + "'", e);
  }
}

std::string ReadStringAttr(const Ctx& ctx, const H5::H5Object& obj, const std::string& obj_path,
                           const std::string& name) {
  try {
    H5::Attribute attr = OpenScalarAttr(ctx, obj, obj_path, name, H5T_STRING, "a string");
    H5::StrType type = attr.getStrType();
    if (type.isVariableStr()) {
      // Not Attribute::read(type, std::string&): HDF5's C++ wrapper calls strlen on the
      // pointer it gets, and a variable-length string may be stored as NULL (SEGV).
      char* p = nullptr;
      attr.read(type, &p);
      const std::string value = p == nullptr ? "" : p;
      H5free_memory(p);
      return value;
    }
    std::string value;
    attr.read(type, value);  // fixed-length
    return value;
  } catch (const H5::Exception& e) {
    ctx.Fail(obj_path + " attribute '" + name + "'", e);
  }
}

void CheckPlausibleSize(const Ctx& ctx, const std::string& path, const H5::DataSet& ds,
                        double bytes) {
  if (ctx.file_bytes == 0 || bytes <= static_cast<double>(ctx.file_bytes)) return;
  if (ds.getCreatePlist().getNfilters() > 0) return;  // compressed data may be larger
  char msg[160];
  std::snprintf(msg, sizeof(msg),
                "holds %.0f bytes, more than the whole file (%llu bytes); corrupt?", bytes,
                static_cast<unsigned long long>(ctx.file_bytes));
  ctx.Fail(path, msg);
}

std::vector<std::string> ReadStringList(const Ctx& ctx, const H5::Group& g,
                                        const std::string& group_path, const std::string& name) {
  const std::string path = Join(group_path, name);
  try {
    if (g.childObjType(name) != H5O_TYPE_DATASET) ctx.Fail(path, "expected a dataset");
    H5::DataSet ds = g.openDataSet(name);
    if (ds.getTypeClass() != H5T_STRING) {
      ctx.Fail(path, "expected strings, got " + DescribeType(ds.getDataType()));
    }
    H5::DataSpace space = ds.getSpace();
    if (space.getSimpleExtentNdims() != 1) ctx.Fail(path, "expected a 1-D dataset of strings");
    hsize_t n = 0;
    space.getSimpleExtentDims(&n);
    std::vector<std::string> out;
    if (n == 0) return out;
    H5::StrType type = ds.getStrType();
    CheckPlausibleSize(ctx, path, ds,
                       static_cast<double>(n) * (type.isVariableStr() ? 16 : type.getSize()));
    if (type.isVariableStr()) {
      std::vector<char*> ptrs(n, nullptr);
      ds.read(ptrs.data(), type);
      for (char* p : ptrs) out.emplace_back(p == nullptr ? "" : p);
      H5Dvlen_reclaim(type.getId(), space.getId(), H5P_DEFAULT, ptrs.data());
    } else {
      const std::size_t len = type.getSize();
      std::vector<char> buffer(n * len);
      ds.read(buffer.data(), type);
      for (hsize_t i = 0; i < n; ++i) {
        const char* p = buffer.data() + i * len;
        std::string s(p, strnlen(p, len));
        if (type.getStrpad() == H5T_STR_SPACEPAD) s.erase(s.find_last_not_of(' ') + 1);
        out.push_back(s);
      }
    }
    return out;
  } catch (const H5::Exception& e) {
    ctx.Fail(path, e);
  }
}

std::vector<std::string> ListChildren(const Ctx& ctx, const H5::Group& g,
                                      const std::string& group_path, H5O_type_t type) {
  try {
    std::vector<std::string> names;
    const hsize_t n = g.getNumObjs();
    for (hsize_t i = 0; i < n; ++i) {
      std::string name = g.getObjnameByIdx(i);
      if (g.childObjType(name) != type) {
        ctx.Fail(Join(group_path, name),
                 type == H5O_TYPE_DATASET ? "expected a dataset" : "expected a group");
      }
      names.push_back(std::move(name));
    }
    std::sort(names.begin(), names.end());
    return names;
  } catch (const H5::Exception& e) {
    ctx.Fail(group_path, e);
  }
}

H5::Group OpenGroup(const Ctx& ctx, const H5::Group& g, const std::string& group_path,
                    const std::string& name) {
  const std::string path = Join(group_path, name);
  try {
    if (!g.nameExists(name)) ctx.Fail(path, "missing group");
    if (g.childObjType(name) != H5O_TYPE_GROUP) ctx.Fail(path, "expected a group");
    return g.openGroup(name);
  } catch (const H5::Exception& e) {
    ctx.Fail(path, e);
  }
}

std::size_t Array::count() const {
  std::size_t n = 1;
  for (hsize_t d : shape) n *= d;
  return n;
}

template <typename T>
Array OpenArray(const Ctx& ctx, const H5::Group& g, const std::string& group_path,
                const std::string& name, hsize_t rows, const std::vector<int64_t>& trailing,
                const std::string& shape_text) {
  Array a;
  a.path = Join(group_path, name);
  try {
    if (!g.nameExists(name)) ctx.Fail(a.path, "missing dataset");
    if (g.childObjType(name) != H5O_TYPE_DATASET) ctx.Fail(a.path, "expected a dataset");
    a.ds = g.openDataSet(name);
    H5::DataType type = a.ds.getDataType();
    if (!TypeMatches<T>(type)) {
      ctx.Fail(a.path,
               std::string("expected dtype ") + H5Type<T>::kName + ", got " + DescribeType(type));
    }
    H5::DataSpace space = a.ds.getSpace();
    a.shape.resize(space.getSimpleExtentNdims());
    space.getSimpleExtentDims(a.shape.data());
  } catch (const H5::Exception& e) {
    ctx.Fail(a.path, e);
  }
  bool ok = a.shape.size() == trailing.size() + 1;
  for (std::size_t i = 0; ok && i < trailing.size(); ++i) {
    ok = trailing[i] < 0 ? a.shape[i + 1] > 0 : a.shape[i + 1] == hsize_t(trailing[i]);
  }
  if (!ok) {
    std::string expected = shape_text;
    if (expected.empty()) {
      expected = "(N";
      for (int64_t t : trailing) expected += "," + (t < 0 ? std::string("d") : std::to_string(t));
      expected += trailing.empty() ? ",)" : ")";
    }
    ctx.Fail(a.path, "expected shape " + expected + ", got " + FormatShape(a.shape));
  }
  double elements = 1.0;  // as double: a corrupt shape may overflow hsize_t
  for (hsize_t d : a.shape) elements *= static_cast<double>(d);
  try {
    CheckPlausibleSize(ctx, a.path, a.ds, elements * sizeof(T));
  } catch (const H5::Exception& e) {
    ctx.Fail(a.path, e);
  }
  if (a.shape[0] != rows) {
    ctx.Fail(a.path, "num_samples mismatch: dataset has " + std::to_string(a.shape[0]) +
                         " rows, attribute num_samples is " + std::to_string(rows));
  }
  return a;
}

template <typename T>
void ReadArray(const Ctx& ctx, const Array& a, T* dst) {
  try {
    if (a.count() > 0) a.ds.read(dst, H5Type<T>::Mem());
  } catch (const H5::Exception& e) {
    ctx.Fail(a.path, e);
  }
  CheckFinite(ctx, a.path, dst, a.shape);
}

#define DF_INSTANTIATE(T)                                                               \
  template Array OpenArray<T>(const Ctx&, const H5::Group&, const std::string&,         \
                              const std::string&, hsize_t, const std::vector<int64_t>&, \
                              const std::string&);                                      \
  template void ReadArray<T>(const Ctx&, const Array&, T*);
DF_INSTANTIATE(float)
DF_INSTANTIATE(double)
DF_INSTANTIATE(uint8_t)
DF_INSTANTIATE(int32_t)
#undef DF_INSTANTIATE

}  // namespace dreamforge::datasets::internal
