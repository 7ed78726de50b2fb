// SHA-256 (FIPS 180-4; identical to FIPS 180-2 for this hash), written here because robot/
// may use no crypto library. Used to check the content hashes of a policy bundle's files.
//
// Not real-time safe in general (the file helpers allocate and do I/O); Sha256 itself does
// not allocate.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace dreamforge::robot {

// Incremental hasher: Update() any number of times, then Finish() once.
class Sha256 {
 public:
  using Digest = std::array<std::uint8_t, 32>;

  Sha256();
  void Update(const void* data, std::size_t size);
  // Pads, returns the 32-byte digest and resets the hasher for a new message.
  Digest Finish();

  // Lower-case hex of a digest (64 characters).
  static std::string Hex(const Digest& digest);
  // One-shot hash of a buffer, as lower-case hex.
  static std::string HexOf(const void* data, std::size_t size);

 private:
  void Reset();
  void Compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buffer_;
  std::size_t buffered_ = 0;  // bytes in buffer_
  std::uint64_t length_ = 0;  // message bytes so far
};

// Hashes a whole file in 64 KiB chunks. Returns false (and sets *error to a message naming
// the file) when it cannot be opened or read; otherwise fills *hex (lower-case) and *bytes.
bool Sha256File(const std::string& path, std::string* hex, std::uint64_t* bytes,
                std::string* error);

}  // namespace dreamforge::robot
