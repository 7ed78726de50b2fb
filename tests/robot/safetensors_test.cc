#include "robot/safetensors.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dreamforge::robot {
namespace {

using ::testing::HasSubstr;

// 8-byte little-endian header length, the header, then `data` bytes.
std::vector<std::uint8_t> File(const std::string& header, const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> out;
  out.reserve(8 + header.size() + data.size());
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  for (char c : header) out.push_back(static_cast<std::uint8_t>(c));
  for (std::uint8_t b : data) out.push_back(b);
  return out;
}

std::vector<std::uint8_t> Floats(const std::vector<float>& v) {
  std::vector<std::uint8_t> out;
  for (float f : v) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(u >> (8 * i)));
  }
  return out;
}

std::string ParseError(const std::vector<std::uint8_t>& bytes) {
  try {
    SafeTensors::Parse(bytes, "w.safetensors");
  } catch (const BundleError& e) {
    return e.what();
  }
  return "(no error)";
}

const char kTwo[] =
    R"({"__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}})";

TEST(SafeTensorsTest, ParsesTensorsAndMetadata) {
  const auto bytes = File(kTwo, Floats({1, 2, 3, 4, 5, 6, -1.5f, 1e-30f}));
  const SafeTensors st = SafeTensors::Parse(bytes, "w.safetensors");
  ASSERT_EQ(st.tensors().size(), 2u);
  EXPECT_EQ(st.metadata().at("format"), "pt");
  EXPECT_EQ(st.tensors().at("a").shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(st.tensors().at("a").NumElements(), 6);
  EXPECT_EQ(st.ReadF32("a"), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(st.ReadF32("b"), (std::vector<float>{-1.5f, 1e-30f}));
  EXPECT_THAT(ParseError(File(R"({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}})",
                              Floats({7}))),
              "(no error)");  // a scalar
}

TEST(SafeTensorsTest, RefusesTruncatedFiles) {
  auto bytes = File(kTwo, Floats({1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_THAT(ParseError({1, 2, 3}), HasSubstr("w.safetensors: header: truncated"));
  // Cut inside the data: the last tensor runs past the end.
  std::vector<std::uint8_t> cut(bytes.begin(), bytes.end() - 5);
  EXPECT_THAT(ParseError(cut), HasSubstr("w.safetensors: b.data_offsets: out of range"));
  // Cut inside the header.
  std::vector<std::uint8_t> cut_header(bytes.begin(), bytes.begin() + 20);
  EXPECT_THAT(ParseError(cut_header), HasSubstr("header: truncated"));
}

TEST(SafeTensorsTest, RefusesOverlapsHolesAndBadSizes) {
  EXPECT_THAT(ParseError(File(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                              Floats({1, 2, 3}))),
              HasSubstr("b.data_offsets: overlaps another tensor"));
  EXPECT_THAT(ParseError(File(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                              Floats({1, 2}))),
              HasSubstr("a.data_offsets: leaves a hole"));
  EXPECT_THAT(ParseError(File(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
                              Floats({1, 2}))),
              HasSubstr("a.data_offsets: holds 8 bytes but dtype and shape need 12"));
  EXPECT_THAT(ParseError(File(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                              Floats({1, 2}))),
              HasSubstr("4 trailing bytes"));
  EXPECT_THAT(ParseError(File(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})",
                              Floats({1, 2}))),
              HasSubstr("a.data_offsets: begin > end"));
}

TEST(SafeTensorsTest, RefusesMalformedHeaders) {
  EXPECT_THAT(ParseError(File("{not json", {})), HasSubstr("header: not valid JSON"));
  EXPECT_THAT(ParseError(File("[1, 2]", {})), HasSubstr("header: expected a JSON object"));
  EXPECT_THAT(ParseError(File(R"({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}})",
                              Floats({1}))),
              HasSubstr("a.dtype: unknown dtype 'Q7'"));
  EXPECT_THAT(ParseError(File(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})",
                              Floats({1}))),
              HasSubstr("a.shape"));
  EXPECT_THAT(ParseError(File(R"({"a": {"dtype": "F32", "shape": [1]}})", Floats({1}))),
              HasSubstr("a.data_offsets: expected [begin, end]"));
  // A header length far beyond the file.
  std::vector<std::uint8_t> huge = {0, 0, 0, 0, 0, 0, 0, 1, '{', '}'};
  EXPECT_THAT(ParseError(huge), HasSubstr("header: length"));
}

TEST(SafeTensorsTest, ReadF32ChecksNameAndDtype) {
  const SafeTensors st = SafeTensors::Parse(
      File(R"({"i": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})", Floats({1})), "w");
  EXPECT_THROW(st.ReadF32("missing"), BundleError);
  try {
    st.ReadF32("i");
    FAIL() << "no error";
  } catch (const BundleError& e) {
    EXPECT_THAT(e.what(), HasSubstr("w: i.dtype: expected F32, got I32"));
  }
}

}  // namespace
}  // namespace dreamforge::robot
