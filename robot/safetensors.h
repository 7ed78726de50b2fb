// A reader for the safetensors format (https://github.com/huggingface/safetensors), written
// here because robot/ may use nothing but Eigen, JSON and the standard library.
//
// Layout: an 8-byte little-endian unsigned header length N, N bytes of JSON header
//   {"__metadata__": {str: str}, NAME: {"dtype": "F32", "shape": [d0, ...],
//    "data_offsets": [begin, end]}, ...}
// then the data buffer; offsets are byte offsets into the buffer (after the header). As
// the reference implementation, the tensors must tile the buffer exactly: no overlap, no
// hole, nothing past the end (a truncated file fails here).
//
// Not real-time safe: parsing allocates and throws BundleError (robot/bundle_error.h)
// naming the file (`where`) and the tensor or field.

#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "robot/bundle_error.h"

namespace dreamforge::robot {

class SafeTensors {
 public:
  struct Tensor {
    std::string dtype;                // "F32", "F64", "I64", ...
    std::vector<std::int64_t> shape;  // row-major dimensions
    std::size_t begin = 0, end = 0;   // byte range in the data buffer
    std::int64_t NumElements() const;
  };

  // Parses a whole file's bytes. Throws BundleError("<where>: <field>: <problem>").
  static SafeTensors Parse(std::vector<std::uint8_t> bytes, const std::string& where);
  // Reads and parses a file (the path is `where` in messages).
  static SafeTensors Load(const std::string& path);

  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The values of an F32 tensor, row-major, decoded from little-endian. Throws BundleError
  // if the tensor is missing or not F32.
  std::vector<float> ReadF32(const std::string& name) const;

 private:
  std::string where_;
  std::vector<std::uint8_t> bytes_;
  std::size_t data_start_ = 0;  // 8 + N
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace dreamforge::robot
