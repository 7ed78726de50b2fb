#include "robot/udp_protocol.h"

#include <cstring>

#include "robot/fuzz_plant.h"

namespace dreamforge::robot {

namespace {

constexpr std::size_t kHeaderSize = 16;  // magic, version, type, seq

// Little-endian writer/reader over a fixed buffer, independent of the host byte order.
class Writer {
 public:
  explicit Writer(std::uint8_t* p) : p_(p) {}
  void U16(std::uint16_t v) { Bytes(v, 2); }
  void U32(std::uint32_t v) { Bytes(v, 4); }
  void U64(std::uint64_t v) { Bytes(v, 8); }
  void F64(double v) {
    std::uint64_t u;
    std::memcpy(&u, &v, 8);
    U64(u);
  }
  std::size_t offset() const { return n_; }

 private:
  void Bytes(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) p_[n_++] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  std::uint8_t* p_;
  std::size_t n_ = 0;
};

class Reader {
 public:
  explicit Reader(const std::uint8_t* p) : p_(p) {}
  std::uint16_t U16() { return static_cast<std::uint16_t>(Bytes(2)); }
  std::uint32_t U32() { return static_cast<std::uint32_t>(Bytes(4)); }
  std::uint64_t U64() { return Bytes(8); }
  double F64() {
    const std::uint64_t u = U64();
    double v;
    std::memcpy(&v, &u, 8);
    return v;
  }

 private:
  std::uint64_t Bytes(int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= std::uint64_t{p_[n_++]} << (8 * i);
    return v;
  }
  const std::uint8_t* p_;
  std::size_t n_ = 0;
};

void WriteHeader(Writer* w, std::uint16_t type, std::uint64_t seq) {
  w->U32(kUdpMagic);
  w->U16(kUdpVersion);
  w->U16(type);
  w->U64(seq);
}

DecodeStatus CheckPacket(const std::uint8_t* data, std::size_t size, std::size_t expected_size,
                         std::uint16_t expected_type) {
  // Magic and version first, so that a foreign or newer packet is named as such.
  if (size < 8) return DecodeStatus::kBadSize;
  Reader r(data);
  if (r.U32() != kUdpMagic) return DecodeStatus::kBadMagic;
  if (r.U16() != kUdpVersion) return DecodeStatus::kBadVersion;
  if (r.U16() != expected_type) return DecodeStatus::kBadType;
  if (size != expected_size) return DecodeStatus::kBadSize;
  Reader crc(data + size - 4);
  if (crc.U32() != Crc32(data, size - 4)) return DecodeStatus::kBadChecksum;
  return DecodeStatus::kOk;
}

}  // namespace

const char* DecodeStatusName(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kOk:
      return "ok";
    case DecodeStatus::kBadSize:
      return "bad_size";
    case DecodeStatus::kBadMagic:
      return "bad_magic";
    case DecodeStatus::kBadVersion:
      return "bad_version";
    case DecodeStatus::kBadType:
      return "bad_type";
    case DecodeStatus::kBadChecksum:
      return "bad_checksum";
  }
  return "unknown";
}

std::uint32_t Crc32(const std::uint8_t* data, std::size_t size) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

void EncodeState(const RobotState& s, std::uint8_t* out) {
  Writer w(out);
  WriteHeader(&w, kStatePacketType, s.seq);
  w.F64(s.time);
  for (int i = 0; i < kArmDof; ++i) w.F64(s.q[i]);
  for (int i = 0; i < kArmDof; ++i) w.F64(s.qd[i]);
  for (int i = 0; i < kFingerCount; ++i) w.F64(s.fingers[i]);
  for (int i = 0; i < 3; ++i) w.F64(s.object_position[i]);
  for (int i = 0; i < 4; ++i) w.F64(s.object_quaternion[i]);
  for (int i = 0; i < 3; ++i) w.F64(s.target_position[i]);
  w.U32(Crc32(out, w.offset()));
}

DecodeStatus DecodeState(const std::uint8_t* data, std::size_t size, RobotState* s) {
  const DecodeStatus status = CheckPacket(data, size, kStatePacketSize, kStatePacketType);
  if (status != DecodeStatus::kOk) return status;
  Reader r(data + 8);
  s->seq = r.U64();
  s->time = r.F64();
  for (int i = 0; i < kArmDof; ++i) s->q[i] = r.F64();
  for (int i = 0; i < kArmDof; ++i) s->qd[i] = r.F64();
  for (int i = 0; i < kFingerCount; ++i) s->fingers[i] = r.F64();
  for (int i = 0; i < 3; ++i) s->object_position[i] = r.F64();
  for (int i = 0; i < 4; ++i) s->object_quaternion[i] = r.F64();
  for (int i = 0; i < 3; ++i) s->target_position[i] = r.F64();
  return DecodeStatus::kOk;
}

void EncodeCommand(const Command& c, std::uint64_t state_seq, std::uint8_t* out) {
  Writer w(out);
  WriteHeader(&w, kCommandPacketType, c.seq);
  w.U64(state_seq);
  for (int i = 0; i < kArmDof; ++i) w.F64(c.q_target[i]);
  w.F64(c.gripper);
  w.U32(c.hold ? kCommandHoldFlag : 0u);
  w.U32(Crc32(out, w.offset()));
}

DecodeStatus DecodeCommand(const std::uint8_t* data, std::size_t size, Command* c,
                           std::uint64_t* state_seq) {
  const DecodeStatus status = CheckPacket(data, size, kCommandPacketSize, kCommandPacketType);
  if (status != DecodeStatus::kOk) return status;
  Reader r(data + 8);
  c->seq = r.U64();
  *state_seq = r.U64();
  for (int i = 0; i < kArmDof; ++i) c->q_target[i] = r.F64();
  c->gripper = r.F64();
  c->hold = (r.U32() & kCommandHoldFlag) != 0;
  // Planted: a held command whose seq wraps around next (seq + 1 == 0) reads one byte past the
  // datagram (an out-of-bounds read for ASan to report).
  DF_FUZZ_PLANT_IF(c->hold && c->seq + 1 == 0 && data[size] == 0x55);
  return DecodeStatus::kOk;
}

}  // namespace dreamforge::robot
