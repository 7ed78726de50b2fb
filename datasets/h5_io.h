// Internal to datasets/: typed HDF5 helpers shared by the episode writer and reader. Every
// failure becomes a DatasetError naming the file and the HDF5 path.
#pragma once

#include <H5Cpp.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "datasets/episode_store.h"

namespace dreamforge::datasets::internal {

// The file named in every error message.
struct Ctx {
  std::string file;
  uint64_t file_bytes = 0;  // size of the file when reading (0: unknown, not checked)

  // Throws DatasetError "<file>: <h5path>: <what>" ("<file>: <what>" if h5path is empty).
  [[noreturn]] void Fail(const std::string& h5path, const std::string& what) const;
  // Same, for an HDF5 exception; call it first thing in the catch block so the HDF5 error
  // stack (which names the low-level cause) has not been cleared yet.
  [[noreturn]] void Fail(const std::string& h5path, const H5::Exception& e) const;
};

// Innermost message of the current HDF5 error stack, else the exception's own message.
// Counts as a library error (below).
std::string Hdf5Reason(const H5::Exception& e);

// How many times this process has seen libhdf5 itself fail (an H5::Exception converted by
// Hdf5Reason, or a failed call noted by NoteLibraryError). The HDF5 probe uses it to tell
// a refusal by our checks, which it repeats in the parent, from a failure inside the
// library, which it does not (it may have been the probe's memory limit: h5_probe.h).
uint64_t LibraryErrorCount();
void NoteLibraryError();

// Turns off HDF5's automatic error-stack printing for the calling thread (the setting is
// per thread in thread-safe HDF5 builds). Cheap; call at every public entry point.
void SilenceHdf5();

// "/data" + "demo_0" -> "/data/demo_0".
std::string Join(const std::string& parent, const std::string& name);
std::string FormatShape(const std::vector<hsize_t>& shape);  // "(120,6)", "(120,)"
// Flat row-major index -> "(5,1)" for the given shape.
std::string FormatIndex(std::size_t flat, const std::vector<hsize_t>& shape);
std::string DescribeType(const H5::DataType& type);  // "float32", "uint8", "string", ...

// HDF5 types for the element types stored in episode files.
template <typename T>
struct H5Type;
template <>
struct H5Type<float> {
  static const H5::PredType& File() { return H5::PredType::IEEE_F32LE; }
  static const H5::PredType& Mem() { return H5::PredType::NATIVE_FLOAT; }
  static constexpr const char* kName = "float32";
};
template <>
struct H5Type<double> {
  static const H5::PredType& File() { return H5::PredType::IEEE_F64LE; }
  static const H5::PredType& Mem() { return H5::PredType::NATIVE_DOUBLE; }
  static constexpr const char* kName = "float64";
};
template <>
struct H5Type<uint8_t> {
  static const H5::PredType& File() { return H5::PredType::STD_U8LE; }
  static const H5::PredType& Mem() { return H5::PredType::NATIVE_UINT8; }
  static constexpr const char* kName = "uint8";
};
template <>
struct H5Type<int32_t> {
  static const H5::PredType& File() { return H5::PredType::STD_I32LE; }
  static const H5::PredType& Mem() { return H5::PredType::NATIVE_INT32; }
  static constexpr const char* kName = "int32";
};
template <>
struct H5Type<int64_t> {
  static const H5::PredType& File() { return H5::PredType::STD_I64LE; }
  static const H5::PredType& Mem() { return H5::PredType::NATIVE_INT64; }
  static constexpr const char* kName = "int64";
};
template <>
struct H5Type<uint64_t> {
  static const H5::PredType& File() { return H5::PredType::STD_U64LE; }
  static const H5::PredType& Mem() { return H5::PredType::NATIVE_UINT64; }
  static constexpr const char* kName = "uint64";
};

// True if `type` has T's class, size and signedness (any byte order).
template <typename T>
bool TypeMatches(const H5::DataType& type) {
  if (type.getSize() != sizeof(T)) return false;
  if constexpr (std::is_floating_point_v<T>) {
    return type.getClass() == H5T_FLOAT;
  } else {
    if (type.getClass() != H5T_INTEGER) return false;
    return (H5Tget_sign(type.getId()) == H5T_SGN_2) == std::is_signed_v<T>;
  }
}

// Index of the first NaN/Inf among data[0..count), or count if all are finite.
template <typename T>
std::size_t FirstNonFinite(const T* data, std::size_t count) {
  if constexpr (std::is_floating_point_v<T>) {
    for (std::size_t i = 0; i < count; ++i) {
      if (!std::isfinite(data[i])) return i;
    }
  }
  return count;
}

// Throws "<path>: non-finite value nan at index (5,1)" if data (of `shape`) has a NaN/Inf.
template <typename T>
void CheckFinite(const Ctx& ctx, const std::string& path, const T* data,
                 const std::vector<hsize_t>& shape) {
  std::size_t count = 1;
  for (hsize_t d : shape) count *= d;
  const std::size_t bad = FirstNonFinite(data, count);
  if (bad != count) {
    ctx.Fail(path, "non-finite value " + std::to_string(data[bad]) + " at index " +
                       FormatIndex(bad, shape));
  }
}

// ---- Writing. These throw H5::Exception; callers convert.
//
// "Same seed, same bytes": a written file depends on its content alone. HDF5 would
// otherwise store each object's modification time in its header (object time tracking
// is on by default), so everything the writer creates goes through the helpers below.

// File creation / access properties for episode files: the root group without
// modification time (HDF5 1.10 writes none there anyway; explicit so no version does), and
// the file format pinned to library versions [earliest, 1.8] (superblock v0, v1 object
// headers: what h5py/robomimic read, and no format drift in the bytes when the HDF5
// library is upgraded). Nothing else in the file varies between runs: no timestamps, no
// file name, no uninitialized bytes (checked under MALLOC_PERTURB_).
H5::FileCreatPropList FileCreateProps();
H5::FileAccPropList FileAccessProps();
// Dataset creation properties: contiguous layout, no modification time.
H5::DSetCreatPropList DatasetCreateProps();
// Chunked and gzip-compressed (level 1..9, after the byte shuffle filter if `shuffle`),
// no modification time. zlib's output depends on the input alone, so the bytes stay
// deterministic.
H5::DSetCreatPropList CompressedDatasetCreateProps(const std::vector<hsize_t>& chunk,
                                                   int gzip_level, bool shuffle);
// Creates group `name` in `parent` without modification time (the C++ API of HDF5 1.10
// takes no group creation property list, hence this helper).
H5::Group CreateGroup(const H5::Group& parent, const std::string& name);

// Contiguous dataset `name` of shape `dims` in g, from row-major `data`.
template <typename T>
void WriteArray(const H5::Group& g, const std::string& name, const T* data,
                const std::vector<hsize_t>& dims) {
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::DataSet ds = g.createDataSet(name, H5Type<T>::File(), space, DatasetCreateProps());
  ds.write(data, H5Type<T>::Mem());
}

// Chunked, compressed dataset `name` of shape `dims` in g, from row-major `data`.
template <typename T>
void WriteCompressedArray(const H5::Group& g, const std::string& name, const T* data,
                          const std::vector<hsize_t>& dims, const std::vector<hsize_t>& chunk,
                          int gzip_level, bool shuffle) {
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::DataSet ds = g.createDataSet(name, H5Type<T>::File(), space,
                                   CompressedDatasetCreateProps(chunk, gzip_level, shuffle));
  ds.write(data, H5Type<T>::Mem());
}

template <typename T>
void WriteScalarAttr(const H5::H5Object& obj, const std::string& name, T value) {
  H5::Attribute attr = obj.createAttribute(name, H5Type<T>::File(), H5::DataSpace(H5S_SCALAR));
  attr.write(H5Type<T>::Mem(), &value);
}

// Variable-length UTF-8 string attribute (h5py reads it as str).
void WriteStringAttr(const H5::H5Object& obj, const std::string& name, const std::string& value);

// 1-D dataset of fixed-length, null-padded byte strings (numpy dtype "S<len>"), as
// robomimic writes its masks.
void WriteStringList(const H5::Group& g, const std::string& name,
                     const std::vector<std::string>& values);

// ---- Reading. These check presence, type and shape and throw DatasetError.

// Throws unless `bytes` of unfiltered (uncompressed) data of `ds` fit in the file: a
// corrupt shape must not turn into a huge allocation.
void CheckPlausibleSize(const Ctx& ctx, const std::string& path, const H5::DataSet& ds,
                        double bytes);

// Integer attribute `name` of obj (at obj_path), converted to int64 / uint64.
int64_t ReadIntAttr(const Ctx& ctx, const H5::H5Object& obj, const std::string& obj_path,
                    const std::string& name);
uint64_t ReadUintAttr(const Ctx& ctx, const H5::H5Object& obj, const std::string& obj_path,
                      const std::string& name);
// String attribute (variable- or fixed-length).
std::string ReadStringAttr(const Ctx& ctx, const H5::H5Object& obj, const std::string& obj_path,
                           const std::string& name);
// 1-D dataset of strings (variable- or fixed-length), e.g. mask/train.
std::vector<std::string> ReadStringList(const Ctx& ctx, const H5::Group& g,
                                        const std::string& group_path, const std::string& name);

// Names of g's children, sorted; throws if a child is not of `type` (dataset or group).
std::vector<std::string> ListChildren(const Ctx& ctx, const H5::Group& g,
                                      const std::string& group_path, H5O_type_t type);
// Opens child group `name` of g; throws naming the path if it is missing or not a group.
H5::Group OpenGroup(const Ctx& ctx, const H5::Group& g, const std::string& group_path,
                    const std::string& name);

// An opened, shape-checked dataset.
struct Array {
  H5::DataSet ds;
  std::string path;
  std::vector<hsize_t> shape;
  std::size_t count() const;
};

// Opens dataset `name` of g and checks that its dtype is T and its shape is
// (rows, trailing...); a trailing entry of -1 accepts any width > 0. The message on a bad
// shape says "expected shape <shape_text>", by default "(N,7)", "(N,d)" from `trailing`.
template <typename T>
Array OpenArray(const Ctx& ctx, const H5::Group& g, const std::string& group_path,
                const std::string& name, hsize_t rows, const std::vector<int64_t>& trailing,
                const std::string& shape_text = "");
// Reads all of `a` into dst (a.count() elements) and checks that floats are finite.
template <typename T>
void ReadArray(const Ctx& ctx, const Array& a, T* dst);

}  // namespace dreamforge::datasets::internal
