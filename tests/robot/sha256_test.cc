#include "robot/sha256.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/common/test_util.h"

namespace dreamforge::robot {
namespace {

TEST(Sha256Test, Fips180Vectors) {
  EXPECT_EQ(Sha256::HexOf("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::HexOf("", 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  ASSERT_EQ(m448.size() * 8, 448u);
  EXPECT_EQ(Sha256::HexOf(m448.data(), m448.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, MillionAsAndPaddingBoundaries) {
  // FIPS 180-2 appendix B.3: one million 'a'.
  const std::string a(1000000, 'a');
  EXPECT_EQ(Sha256::HexOf(a.data(), a.size()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // 55, 56 and 64 bytes straddle the length field's block boundary.
  EXPECT_EQ(Sha256::HexOf(a.data(), 55),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(Sha256::HexOf(a.data(), 56),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(Sha256::HexOf(a.data(), 64),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  std::mt19937_64 rng(3);
  std::vector<unsigned char> data(10000);
  for (auto& b : data) b = static_cast<unsigned char>(rng());
  const std::string expected = Sha256::HexOf(data.data(), data.size());
  for (int trial = 0; trial < 20; ++trial) {
    Sha256 sha;
    size_t at = 0;
    while (at < data.size()) {
      const size_t n = std::min<size_t>(data.size() - at, rng() % 200);
      sha.Update(data.data() + at, n);
      at += n;
    }
    EXPECT_EQ(Sha256::Hex(sha.Finish()), expected) << trial;
  }
  // Finish resets: the hasher is reusable.
  Sha256 sha;
  sha.Update("abc", 3);
  sha.Finish();
  sha.Update("abc", 3);
  EXPECT_EQ(Sha256::Hex(sha.Finish()), Sha256::HexOf("abc", 3));
}

class Sha256FileTest : public test::TempDirTest {};

TEST_F(Sha256FileTest, OneMegabyteFileMatchesSha256sum) {
  const std::filesystem::path path = dir_ / "blob.bin";
  std::mt19937_64 rng(11);
  std::vector<char> data(1 << 20);
  for (auto& b : data) b = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary)
      .write(data.data(), static_cast<std::streamsize>(data.size()));
  std::string hex, error;
  std::uint64_t bytes = 0;
  ASSERT_TRUE(Sha256File(path.string(), &hex, &bytes, &error)) << error;
  EXPECT_EQ(bytes, data.size());
  const test::CmdResult r = test::Shell("sha256sum '" + path.string() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(hex, r.output.substr(0, 64));
  EXPECT_EQ(hex, Sha256::HexOf(data.data(), data.size()));
}

TEST_F(Sha256FileTest, MissingFileNamesIt) {
  std::string hex, error;
  std::uint64_t bytes = 0;
  EXPECT_FALSE(Sha256File((dir_ / "nope.bin").string(), &hex, &bytes, &error));
  EXPECT_NE(error.find("nope.bin"), std::string::npos) << error;
}

}  // namespace
}  // namespace dreamforge::robot
