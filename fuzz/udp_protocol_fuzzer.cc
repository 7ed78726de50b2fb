// libFuzzer harness: the UDP protocol decoder (robot/udp_protocol.cc). Input: one byte of
// flags, then a datagram. Flag bit 0 rewrites the trailing CRC-32 to match (else nearly
// every mutation stops at the checksum and the fields behind it are never decoded).
// Besides memory safety, a datagram that decodes must survive a round trip: encoding
// what was decoded and decoding that again gives the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "robot/udp_protocol.h"

namespace {

using namespace dreamforge::robot;

void FixCrc(std::vector<uint8_t>& p) {
  if (p.size() < 4) return;
  const uint32_t crc = Crc32(p.data(), p.size() - 4);
  for (int i = 0; i < 4; ++i) p[p.size() - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  // An exact-size heap copy, so that ASan sees any read past the datagram.
  std::vector<uint8_t> packet(data + 1, data + size);
  if (flags & 1) FixCrc(packet);

  RobotState state;
  if (DecodeState(packet.data(), packet.size(), &state) == DecodeStatus::kOk) {
    std::vector<uint8_t> once(kStatePacketSize), twice(kStatePacketSize);
    EncodeState(state, once.data());
    RobotState again;
    if (DecodeState(once.data(), once.size(), &again) != DecodeStatus::kOk) {
      dreamforge::fuzz::Finding("a decoded state does not decode after encoding");
    }
    EncodeState(again, twice.data());
    if (once != twice) dreamforge::fuzz::Finding("state round trip changed the bytes");
  }
  Command command;
  uint64_t state_seq = 0;
  if (DecodeCommand(packet.data(), packet.size(), &command, &state_seq) == DecodeStatus::kOk) {
    std::vector<uint8_t> once(kCommandPacketSize), twice(kCommandPacketSize);
    EncodeCommand(command, state_seq, once.data());
    Command again;
    uint64_t again_seq = 0;
    if (DecodeCommand(once.data(), once.size(), &again, &again_seq) != DecodeStatus::kOk) {
      dreamforge::fuzz::Finding("a decoded command does not decode after encoding");
    }
    EncodeCommand(again, again_seq, twice.data());
    if (once != twice) dreamforge::fuzz::Finding("command round trip changed the bytes");
  }
  return 0;
}
