#include "robot/udp_hardware.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace dreamforge::robot {

namespace {

sockaddr_in MakeAddress(const std::string& address, std::uint16_t port, const char* what) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) {
    throw std::runtime_error(std::string("UdpHardware: ") + what + " '" + address +
                             "': not an IPv4 address");
  }
  return a;
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

nlohmann::json UdpStats::ToJson() const {
  return {{"received", received},
          {"accepted", accepted},
          {"dropped_malformed", dropped_malformed},
          {"dropped_checksum", dropped_checksum},
          {"dropped_stale", dropped_stale},
          {"timeouts", timeouts},
          {"sent", sent},
          {"send_errors", send_errors}};
}

UdpHardware::UdpHardware(const UdpHardwareConfig& config) : config_(config) {
  if (!(config.read_timeout_s > 0) || !std::isfinite(config.read_timeout_s)) {
    throw std::runtime_error("UdpHardware: read_timeout_s must be > 0");
  }
  const sockaddr_in local = MakeAddress(config.local_address, config.local_port, "local_address");
  robot_ = MakeAddress(config.robot_address, config.robot_port, "robot_address");
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error(std::string("UdpHardware: socket: ") + std::strerror(errno));
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("UdpHardware: cannot bind " + config.local_address + ":" +
                             std::to_string(config.local_port) + " (" + error + ")");
  }
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  local_port_ = ntohs(bound.sin_port);
}

UdpHardware::~UdpHardware() {
  if (fd_ >= 0) ::close(fd_);
}

bool UdpHardware::Drain(RobotState* state) {
  bool got = false;
  while (true) {
    const ssize_t n = ::recv(fd_, rx_.data(), rx_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) break;  // EAGAIN: nothing left (other errors: try again next Read)
    ++stats_.received;
    // MSG_TRUNC: n is the datagram's real length, so an oversized one is refused too.
    const std::size_t size = static_cast<std::size_t>(n);
    const DecodeStatus status =
        size > rx_.size() ? DecodeStatus::kBadSize : DecodeState(rx_.data(), size, &scratch_);
    if (status == DecodeStatus::kBadChecksum) {
      ++stats_.dropped_checksum;
      continue;
    }
    if (status != DecodeStatus::kOk) {
      ++stats_.dropped_malformed;
      continue;
    }
    if (have_seq_ && scratch_.seq <= last_seq_) {
      ++stats_.dropped_stale;
      continue;
    }
    have_seq_ = true;
    last_seq_ = scratch_.seq;
    ++stats_.accepted;
    *state = scratch_;
    got = true;
  }
  return got;
}

HardwareStatus UdpHardware::Read(RobotState* state) {
  const double deadline = Now() + config_.read_timeout_s;
  bool got = Drain(state);
  while (!got) {
    const double left = deadline - Now();
    if (left <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    const int ms = static_cast<int>(std::ceil(left * 1000.0));
    const int r = ::poll(&p, 1, ms);
    if (r < 0 && errno != EINTR) return HardwareStatus::kError;
    if (r > 0 && (p.revents & (POLLERR | POLLNVAL)) != 0 && (p.revents & POLLIN) == 0) {
      return HardwareStatus::kError;
    }
    got = Drain(state);
  }
  if (!got) {
    ++stats_.timeouts;
    return HardwareStatus::kTimeout;
  }
  return HardwareStatus::kOk;
}

HardwareStatus UdpHardware::Write(const Command& command) {
  EncodeCommand(command, last_seq_, tx_.data());
  const ssize_t n = ::sendto(fd_, tx_.data(), tx_.size(), MSG_DONTWAIT,
                             reinterpret_cast<const sockaddr*>(&robot_), sizeof(robot_));
  if (n != static_cast<ssize_t>(tx_.size())) {
    ++stats_.send_errors;
    return HardwareStatus::kError;
  }
  ++stats_.sent;
  return HardwareStatus::kOk;
}

}  // namespace dreamforge::robot
