// A robot behind UDP (robot/PROTOCOL.md): the robot streams state packets to the
// controller's port; the controller sends one command packet per control step to the
// robot's address. Read waits (poll) up to read_timeout_s for a new valid state, then
// drains the socket and keeps the newest; packets of the wrong size, magic, version or
// type, with a bad checksum, or with a seq not above the last accepted one (stale,
// duplicated or reordered) are dropped and counted.
//
// Real-time safety: the constructor allocates and throws std::runtime_error naming the
// address on socket errors; Read and Write use fixed buffers, never allocate, never throw,
// and Read returns within read_timeout_s (+ scheduling jitter).

#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <netinet/in.h>

#include <nlohmann/json.hpp>

#include "robot/hardware.h"
#include "robot/udp_protocol.h"

namespace dreamforge::robot {

struct UdpHardwareConfig {
  std::string local_address = "0.0.0.0";    // IPv4 address the controller listens on
  std::uint16_t local_port = 0;             // 0: an ephemeral port (see local_port())
  std::string robot_address = "127.0.0.1";  // IPv4 address of the robot
  std::uint16_t robot_port = 0;
  double read_timeout_s = 0.01;  // longest a Read waits for a new state
};

struct UdpStats {
  std::uint64_t received = 0;           // datagrams read
  std::uint64_t accepted = 0;           // states accepted
  std::uint64_t dropped_malformed = 0;  // wrong size, magic, version or type
  std::uint64_t dropped_checksum = 0;   // CRC-32 mismatch
  std::uint64_t dropped_stale = 0;      // seq not above the last accepted one
  std::uint64_t timeouts = 0;           // Reads that returned kTimeout
  std::uint64_t sent = 0;               // commands sent
  std::uint64_t send_errors = 0;        // commands the socket refused

  // {"received", "accepted", "dropped_malformed", "dropped_checksum", "dropped_stale",
  //  "timeouts", "sent", "send_errors"}. Allocates.
  nlohmann::json ToJson() const;
};

class UdpHardware : public HardwareInterface {
 public:
  explicit UdpHardware(const UdpHardwareConfig& config);
  ~UdpHardware() override;
  UdpHardware(const UdpHardware&) = delete;
  UdpHardware& operator=(const UdpHardware&) = delete;

  HardwareStatus Read(RobotState* state) override;
  HardwareStatus Write(const Command& command) override;

  std::uint16_t local_port() const { return local_port_; }
  const UdpStats& stats() const { return stats_; }
  std::uint64_t last_state_seq() const { return last_seq_; }

 private:
  // Reads every queued datagram without blocking; returns whether a new state was taken.
  bool Drain(RobotState* state);

  UdpHardwareConfig config_;
  int fd_ = -1;
  std::uint16_t local_port_ = 0;
  sockaddr_in robot_{};
  std::array<std::uint8_t, 512> rx_{};
  std::array<std::uint8_t, kCommandPacketSize> tx_{};
  RobotState scratch_;
  std::uint64_t last_seq_ = 0;
  bool have_seq_ = false;
  UdpStats stats_;
};

}  // namespace dreamforge::robot
