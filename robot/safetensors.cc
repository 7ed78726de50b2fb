#include "robot/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace dreamforge::robot {

namespace {

// The reference implementation refuses headers above 100 MB.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

int DtypeBytes(const std::string& dtype) {
  static const std::pair<const char*, int> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (const auto& [name, size] : kSizes) {
    if (dtype == name) return size;
  }
  return 0;
}

}  // namespace

std::int64_t SafeTensors::Tensor::NumElements() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

SafeTensors SafeTensors::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BundleError(path + ": cannot open");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad()) throw BundleError(path + ": read error");
  return Parse(std::move(bytes), path);
}

SafeTensors SafeTensors::Parse(std::vector<std::uint8_t> bytes, const std::string& where) {
  auto fail = [&where](const std::string& field, const std::string& what) -> BundleError {
    return BundleError(where + ": " + field + ": " + what);
  };
  SafeTensors st;
  st.where_ = where;
  if (bytes.size() < 8) {
    throw fail("header", "truncated: " + std::to_string(bytes.size()) +
                             " bytes, fewer than the 8-byte header length");
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kMaxHeaderBytes) throw fail("header", "length " + std::to_string(n) + " is too large");
  if (n > bytes.size() - 8) {
    throw fail("header", "truncated: the header length says " + std::to_string(n) +
                             " bytes but only " + std::to_string(bytes.size() - 8) + " follow");
  }
  st.data_start_ = 8 + static_cast<std::size_t>(n);
  const std::size_t data_size = bytes.size() - st.data_start_;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + st.data_start_);
  } catch (const nlohmann::json::exception& e) {
    throw fail("header", std::string("not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw fail("header", "expected a JSON object");

  std::vector<std::pair<std::size_t, std::size_t>> ranges;  // (begin, end)
  std::vector<std::string> range_names;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail(name, "expected an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw fail(name + "." + m.key(), "expected a string");
        st.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) throw fail(name, "expected an object with dtype, shape, data_offsets");
    Tensor t;
    const auto dtype = v.find("dtype");
    if (dtype == v.end() || !dtype->is_string()) throw fail(name + ".dtype", "expected a string");
    t.dtype = dtype->get<std::string>();
    const int elem = DtypeBytes(t.dtype);
    if (elem == 0) throw fail(name + ".dtype", "unknown dtype '" + t.dtype + "'");
    const auto shape = v.find("shape");
    if (shape == v.end() || !shape->is_array()) {
      throw fail(name + ".shape", "expected an array of non-negative integers");
    }
    std::uint64_t count = 1;
    for (const nlohmann::json& d : *shape) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<std::int64_t>() >= 0)) {
        throw fail(name + ".shape", "expected an array of non-negative integers");
      }
      const std::uint64_t dim = d.get<std::uint64_t>();
      if (dim != 0 && count > std::numeric_limits<std::uint32_t>::max() / dim) {
        throw fail(name + ".shape", "too many elements");
      }
      count *= dim;
      t.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const auto offsets = v.find("data_offsets");
    if (offsets == v.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      throw fail(name + ".data_offsets", "expected [begin, end], two non-negative integers");
    }
    const std::uint64_t begin = (*offsets)[0].get<std::uint64_t>();
    const std::uint64_t end = (*offsets)[1].get<std::uint64_t>();
    if (begin > end) throw fail(name + ".data_offsets", "begin > end");
    if (end > data_size) {
      throw fail(name + ".data_offsets", "out of range (truncated file?): ends at byte " +
                                             std::to_string(end) + " of a " +
                                             std::to_string(data_size) + "-byte data buffer");
    }
    if (end - begin != count * elem) {
      throw fail(name + ".data_offsets", "holds " + std::to_string(end - begin) +
                                             " bytes but dtype and shape need " +
                                             std::to_string(count * elem));
    }
    t.begin = static_cast<std::size_t>(begin);
    t.end = static_cast<std::size_t>(end);
    ranges.emplace_back(t.begin, t.end);
    range_names.push_back(name);
    st.tensors_.emplace(name, std::move(t));
  }
  // The tensors must tile [0, data_size) exactly.
  std::vector<std::size_t> order(ranges.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return ranges[a] < ranges[b]; });
  std::size_t cursor = 0;
  for (std::size_t i : order) {
    if (ranges[i].first < cursor) {
      throw fail(range_names[i] + ".data_offsets", "overlaps another tensor");
    }
    if (ranges[i].first > cursor) {
      throw fail(range_names[i] + ".data_offsets",
                 "leaves a hole before it (bytes " + std::to_string(cursor) + " to " +
                     std::to_string(ranges[i].first) + " belong to no tensor)");
    }
    cursor = ranges[i].second;
  }
  if (cursor != data_size) {
    throw fail("data",
               std::to_string(data_size - cursor) + " trailing bytes after the last tensor");
  }
  st.bytes_ = std::move(bytes);
  return st;
}

std::vector<float> SafeTensors::ReadF32(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) throw BundleError(where_ + ": " + name + ": missing tensor");
  const Tensor& t = it->second;
  if (t.dtype != "F32") {
    throw BundleError(where_ + ": " + name + ".dtype: expected F32, got " + t.dtype);
  }
  std::vector<float> out((t.end - t.begin) / 4);
  const std::uint8_t* p = bytes_.data() + data_start_ + t.begin;
  for (std::size_t i = 0; i < out.size(); ++i, p += 4) {
    const std::uint32_t u = std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) |
                            (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
    std::memcpy(&out[i], &u, 4);
  }
  return out;
}

}  // namespace dreamforge::robot
