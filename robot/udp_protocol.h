// The controller <-> robot UDP datagrams (robot/PROTOCOL.md is the specification):
// fixed-size little-endian packets with a magic, a version, a type, a sequence number and
// a trailing CRC-32. Encoding and decoding are pure functions so that the robot side (or a
// test's fake robot) uses the same code. All functions are real-time safe: no allocation,
// no exceptions.

#pragma once

#include <cstddef>
#include <cstdint>

#include "robot/hardware.h"

namespace dreamforge::robot {

inline constexpr std::uint32_t kUdpMagic = 0x42524644;  // bytes "DFRB" on the wire
inline constexpr std::uint16_t kUdpVersion = 1;
inline constexpr std::uint16_t kStatePacketType = 1;    // robot -> controller
inline constexpr std::uint16_t kCommandPacketType = 2;  // controller -> robot
inline constexpr std::size_t kStatePacketSize = 236;
inline constexpr std::size_t kCommandPacketSize = 96;
inline constexpr std::uint32_t kCommandHoldFlag = 1u << 0;

enum class DecodeStatus { kOk, kBadSize, kBadMagic, kBadVersion, kBadType, kBadChecksum };
const char* DecodeStatusName(DecodeStatus status);

// CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial and final xor 0xFFFFFFFF);
// "123456789" -> 0xCBF43926.
std::uint32_t Crc32(const std::uint8_t* data, std::size_t size);

// out: kStatePacketSize bytes.
void EncodeState(const RobotState& state, std::uint8_t* out);
DecodeStatus DecodeState(const std::uint8_t* data, std::size_t size, RobotState* state);

// state_seq: the seq of the newest state the controller had accepted (0 if none).
// out: kCommandPacketSize bytes.
void EncodeCommand(const Command& command, std::uint64_t state_seq, std::uint8_t* out);
DecodeStatus DecodeCommand(const std::uint8_t* data, std::size_t size, Command* command,
                           std::uint64_t* state_seq);

}  // namespace dreamforge::robot
