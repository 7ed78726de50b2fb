// Test doubles for the UDP robot link (robot/PROTOCOL.md), used by tests/robot (in
// process) and tests/tools (the dreamforge binary):
//
//   CheckingRobot  a fake robot on loopback: streams its state at a fixed period, applies
//                  the protocol's receiving rules to the commands it gets, executes each
//                  accepted non-hold command (mirrors q_target into its state) and checks
//                  it against the robot's own limits (RobotLimits), counting violations.
//   FaultBridge    sits between the controller and the robot and drops, delays,
//                  duplicates, reorders and corrupts packets, poisons states (valid CRC,
//                  NaN/Inf/absurd values) and goes silent for stretches, each at a seeded
//                  rate (FaultSchedule: one std::mt19937 per direction, so the fault of the
//                  k-th packet of a direction depends only on the seed and k).
//
//   robot --state--> [bridge robot_side_port] --faults--> controller listen port
//   robot port <--faults-- [bridge controller_side_port] <--command-- controller
//
// Counters are read after Stop() (the threads have ended then). Tests only: these classes
// allocate and use threads.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <Eigen/Core>

#include "robot/hardware.h"
#include "robot/kinematic_chain.h"
#include "robot/kinematics.h"
#include "robot/udp_protocol.h"

namespace dreamforge::test {

inline double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A non-blocking UDP socket bound to 127.0.0.1 on a port the kernel picks (known before any
// thread or child starts).
class LoopbackSocket {
 public:
  LoopbackSocket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      const std::string error = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error("bind 127.0.0.1:0: " + error);
    }
    port_ = ntohs(a.sin_port);
  }
  ~LoopbackSocket() { ::close(fd_); }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  int fd() const { return fd_; }
  std::uint16_t port() const { return port_; }
  void SendTo(std::uint16_t port, const std::uint8_t* data, std::size_t size) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    ::sendto(fd_, data, size, 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  }
  // One datagram (its full length, even if longer than `capacity`), or -1 when none.
  ssize_t Recv(std::uint8_t* data, std::size_t capacity) const {
    return ::recv(fd_, data, capacity, MSG_DONTWAIT | MSG_TRUNC);
  }
  // Waits up to `seconds` for a datagram.
  void Wait(double seconds) const {
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, std::max(0, static_cast<int>(std::ceil(seconds * 1000.0))));
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------
// The fault schedule.

enum class Fault {
  kNone,       // forwarded as it came
  kDrop,       // not forwarded
  kDelay,      // forwarded after FaultDecision::delay_s (other packets overtake it)
  kDuplicate,  // forwarded twice
  kReorder,    // held back and forwarded right after the next packet of its direction
  kCorrupt,    // a byte flipped (CRC fails, or magic/version/type wrong), or truncated/padded
  kPoison,     // states only: a field made NaN, Inf or absurd, CRC recomputed (passes)
  kSilence,    // the start of a stretch of FaultDecision::silence packets not forwarded
  kCount
};
inline constexpr int kFaultCount = static_cast<int>(Fault::kCount);

inline const char* FaultName(Fault f) {
  static const char* const kNames[kFaultCount] = {"none",    "drop",    "delay",  "duplicate",
                                                  "reorder", "corrupt", "poison", "silence"};
  const int i = static_cast<int>(f);
  return i >= 0 && i < kFaultCount ? kNames[i] : "unknown";
}

// What a poisoned state carries.
enum class Poison { kNanJoint, kInfVelocity, kZeroQuaternion, kHugeObject, kAbsurdJoint, kCount };
inline constexpr int kPoisonCount = static_cast<int>(Poison::kCount);
inline const char* PoisonName(Poison p) {
  static const char* const kNames[kPoisonCount] = {"nan_joint", "inf_velocity", "zero_quaternion",
                                                   "huge_object", "absurd_joint"};
  return kNames[static_cast<int>(p)];
}
// Poisons the controller must hold on (non-finite, or a degenerate quaternion). huge_object
// (1e300 m, finite in double, Inf as a float observation) and absurd_joint (1e6 rad) are
// finite: the controller may compute from them, but what it sends must still be safe.
inline bool PoisonIsNonFinite(Poison p) {
  return p == Poison::kNanJoint || p == Poison::kInfVelocity || p == Poison::kZeroQuaternion;
}

// Per-packet probabilities (their sum at most 1; the rest is kNone).
struct FaultRates {
  double drop = 0, delay = 0, duplicate = 0, reorder = 0, corrupt = 0, poison = 0, silence = 0;
  double max_delay_s = 0.02;              // kDelay: uniform in (0, max_delay_s]
  int min_silence = 5, max_silence = 40;  // kSilence: packets, uniform in [min, max]
};

struct FaultDecision {
  Fault fault = Fault::kNone;
  double delay_s = 0;
  int silence = 0;                // kSilence: packets in the stretch, this one included
  std::size_t corrupt_at = 0;     // kCorrupt: byte to flip, or the new size when mask == 0
  std::uint8_t corrupt_mask = 0;  // kCorrupt: non-zero: xor into byte corrupt_at
  Poison poison = Poison::kNanJoint;
  int poison_index = 0;  // which joint (0..6)
};

// The fault of each packet of one direction, drawn from std::mt19937(seed): the same seed
// gives the same sequence of decisions, whatever the timing.
class FaultSchedule {
 public:
  FaultSchedule(const FaultRates& rates, std::uint32_t seed, std::size_t packet_size)
      : rates_(rates), rng_(seed), packet_size_(packet_size) {
    const double sum = rates.drop + rates.delay + rates.duplicate + rates.reorder + rates.corrupt +
                       rates.poison + rates.silence;
    if (!(sum <= 1.0) || rates.min_silence < 1 || rates.max_silence < rates.min_silence) {
      throw std::invalid_argument("FaultRates: probabilities must sum to <= 1");
    }
  }

  FaultDecision Next() {
    FaultDecision d;
    if (silence_left_ > 0) {  // inside a silent stretch: no draw
      --silence_left_;
      d.fault = Fault::kDrop;
      d.silence = -1;  // part of a stretch, not its start
      return d;
    }
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    double u = unit(rng_);
    const std::pair<double, Fault> table[] = {
        {rates_.drop, Fault::kDrop},           {rates_.delay, Fault::kDelay},
        {rates_.duplicate, Fault::kDuplicate}, {rates_.reorder, Fault::kReorder},
        {rates_.corrupt, Fault::kCorrupt},     {rates_.poison, Fault::kPoison},
        {rates_.silence, Fault::kSilence}};
    for (const auto& [p, f] : table) {
      if (u < p) {
        d.fault = f;
        break;
      }
      u -= p;
    }
    switch (d.fault) {
      case Fault::kDelay:
        d.delay_s = rates_.max_delay_s * (1.0 - unit(rng_));
        break;
      case Fault::kSilence:
        d.silence =
            std::uniform_int_distribution<int>(rates_.min_silence, rates_.max_silence)(rng_);
        silence_left_ = d.silence - 1;
        break;
      case Fault::kCorrupt: {
        const int how = std::uniform_int_distribution<int>(0, 9)(rng_);
        if (how < 7) {  // flip bits of one byte: CRC, header or payload
          d.corrupt_at = std::uniform_int_distribution<std::size_t>(0, packet_size_ - 1)(rng_);
          d.corrupt_mask =
              static_cast<std::uint8_t>(std::uniform_int_distribution<int>(1, 255)(rng_));
        } else if (how < 9) {  // truncated (to 0 bytes at most once in a while)
          d.corrupt_at = std::uniform_int_distribution<std::size_t>(0, packet_size_ - 1)(rng_);
        } else {  // longer than any packet and than the controller's receive buffer
          d.corrupt_at = 600;
        }
        break;
      }
      case Fault::kPoison:
        d.poison =
            static_cast<Poison>(std::uniform_int_distribution<int>(0, kPoisonCount - 1)(rng_));
        d.poison_index = std::uniform_int_distribution<int>(0, 6)(rng_);
        break;
      default:
        break;
    }
    return d;
  }

 private:
  FaultRates rates_;
  std::mt19937 rng_;
  std::size_t packet_size_;
  int silence_left_ = 0;
};

// ---------------------------------------------------------------------------------------
// The bridge.

struct LinkStats {
  std::array<std::uint64_t, kFaultCount> injected{};  // decisions by kind (kNone: clean)
  std::uint64_t received = 0;                         // datagrams in
  std::uint64_t delivered = 0;                        // datagrams out (a duplicate counts twice)
  std::uint64_t corrupt_delivered = 0;                // datagrams out that were corrupted
  std::uint64_t silenced = 0;  // packets not forwarded inside silent stretches
  std::array<std::uint64_t, kPoisonCount> poisons{};  // poisoned states by kind
  std::uint64_t count(Fault f) const { return injected[static_cast<int>(f)]; }
};

class FaultBridge {
 public:
  FaultBridge(const FaultRates& state_rates, const FaultRates& command_rates, std::uint32_t seed)
      : states_(state_rates, seed * 2u + 1u, robot::kStatePacketSize),
        commands_(command_rates, seed * 2u + 2u, robot::kCommandPacketSize) {
    if (command_rates.poison > 0)
      throw std::invalid_argument("FaultBridge: commands are not poisoned");
  }
  ~FaultBridge() { Stop(); }
  FaultBridge(const FaultBridge&) = delete;
  FaultBridge& operator=(const FaultBridge&) = delete;

  // The controller sends its commands here (its robot port).
  std::uint16_t controller_side_port() const { return controller_side_.port(); }
  // The robot sends its states here.
  std::uint16_t robot_side_port() const { return robot_side_.port(); }

  // From the moment the bridge has passed on `commands` commands, no state goes through
  // any more (the robot is lost after a known number of steps). Call before Start.
  void SilenceStatesAfterCommands(std::uint64_t commands) { silence_after_commands_ = commands; }

  // Forwards states to 127.0.0.1:controller_port and commands to 127.0.0.1:robot_port.
  void Start(std::uint16_t controller_port, std::uint16_t robot_port) {
    controller_port_ = controller_port;
    robot_port_ = robot_port;
    thread_ = std::thread([this] { Run(); });
  }
  // Delivers what it still holds (reordered and delayed packets), then stops forwarding.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // After Stop.
  const LinkStats& state_stats() const { return state_stats_; }
  const LinkStats& command_stats() const { return command_stats_; }
  // seq of every state poisoned with a non-finite value (the controller must hold on them),
  // and of those poisoned with finite absurd values.
  const std::set<std::uint64_t>& non_finite_seqs() const { return non_finite_seqs_; }
  const std::set<std::uint64_t>& absurd_seqs() const { return absurd_seqs_; }
  // seq of every delayed state and its delay, s.
  const std::map<std::uint64_t, double>& delayed_seqs() const { return delayed_seqs_; }

 private:
  enum Direction { kToController = 0, kToRobot = 1 };
  struct Packet {
    std::vector<std::uint8_t> bytes;
    double release = 0;
  };

  LinkStats& Stats(Direction d) { return d == kToController ? state_stats_ : command_stats_; }

  void Deliver(Direction d, const std::vector<std::uint8_t>& bytes) {
    const LoopbackSocket& out = d == kToController ? controller_side_ : robot_side_;
    out.SendTo(d == kToController ? controller_port_ : robot_port_, bytes.data(), bytes.size());
    ++Stats(d).delivered;
    if (!held_[d].empty()) {  // a reordered packet follows the one that overtook it
      std::vector<std::uint8_t> h;
      h.swap(held_[d]);
      Deliver(d, h);
    }
  }

  void Forward(Direction d, std::vector<std::uint8_t> bytes) {
    LinkStats& s = Stats(d);
    ++s.received;
    if (d == kToController && command_stats_.received >= silence_after_commands_) {
      ++s.silenced;
      return;
    }
    const FaultDecision f = (d == kToController ? states_ : commands_).Next();
    if (f.silence == -1) {
      ++s.silenced;
      return;
    }
    ++s.injected[static_cast<int>(f.fault)];
    switch (f.fault) {
      case Fault::kNone:
        Deliver(d, bytes);
        break;
      case Fault::kDrop:
        break;
      case Fault::kSilence:
        ++s.silenced;
        break;
      case Fault::kDelay:
        if (d == kToController && bytes.size() >= 16) {
          std::uint64_t seq;
          std::memcpy(&seq, bytes.data() + 8, 8);  // little-endian host, as the protocol
          delayed_seqs_[seq] = f.delay_s;
        }
        delayed_.push_back({std::move(bytes), MonotonicSeconds() + f.delay_s});
        delayed_dir_.push_back(d);
        break;
      case Fault::kDuplicate:
        Deliver(d, bytes);
        Deliver(d, bytes);
        break;
      case Fault::kReorder:
        if (!held_[d].empty()) {  // two in a row: the older one goes first
          std::vector<std::uint8_t> h;
          h.swap(held_[d]);
          Deliver(d, h);
        }
        held_[d] = std::move(bytes);
        break;
      case Fault::kCorrupt:
        if (f.corrupt_mask != 0) {
          bytes[f.corrupt_at] ^= f.corrupt_mask;
        } else {
          bytes.resize(f.corrupt_at, 0xA5);
        }
        ++s.corrupt_delivered;
        Deliver(d, bytes);
        break;
      case Fault::kPoison: {
        robot::RobotState st;
        if (robot::DecodeState(bytes.data(), bytes.size(), &st) == robot::DecodeStatus::kOk) {
          const double nan = std::numeric_limits<double>::quiet_NaN();
          switch (f.poison) {
            case Poison::kNanJoint:
              st.q[f.poison_index] = nan;
              break;
            case Poison::kInfVelocity:
              st.qd[f.poison_index] = std::numeric_limits<double>::infinity();
              break;
            case Poison::kZeroQuaternion:
              st.object_quaternion.setZero();
              break;
            case Poison::kHugeObject:
              st.object_position.setConstant(1e300);
              break;
            case Poison::kAbsurdJoint:
              st.q[f.poison_index] = 1e6;
              break;
            case Poison::kCount:
              break;
          }
          robot::EncodeState(st, bytes.data());
          (PoisonIsNonFinite(f.poison) ? non_finite_seqs_ : absurd_seqs_).insert(st.seq);
          ++s.poisons[static_cast<int>(f.poison)];
        }
        Deliver(d, bytes);
        break;
      }
      case Fault::kCount:
        break;
    }
  }

  void ReleaseDelayed(bool all) {
    const double now = MonotonicSeconds();
    for (std::size_t i = 0; i < delayed_.size();) {
      if (all || delayed_[i].release <= now) {
        const Packet p = std::move(delayed_[i]);
        const Direction d = delayed_dir_[i];
        delayed_.erase(delayed_.begin() + static_cast<std::ptrdiff_t>(i));
        delayed_dir_.erase(delayed_dir_.begin() + static_cast<std::ptrdiff_t>(i));
        Deliver(d, p.bytes);
      } else {
        ++i;
      }
    }
  }

  void Run() {
    std::vector<std::uint8_t> buf(2048);
    while (!stop_) {
      pollfd p[2] = {{robot_side_.fd(), POLLIN, 0}, {controller_side_.fd(), POLLIN, 0}};
      ::poll(p, 2, 1);
      for (const Direction d : {kToController, kToRobot}) {
        const LoopbackSocket& in = d == kToController ? robot_side_ : controller_side_;
        ssize_t n;
        while ((n = in.Recv(buf.data(), buf.size())) >= 0) {
          const std::size_t size = std::min(static_cast<std::size_t>(n), buf.size());
          Forward(d, std::vector<std::uint8_t>(buf.begin(),
                                               buf.begin() + static_cast<std::ptrdiff_t>(size)));
        }
      }
      ReleaseDelayed(false);
    }
    ReleaseDelayed(true);
    for (const Direction d : {kToController, kToRobot}) {
      if (!held_[d].empty()) {
        std::vector<std::uint8_t> h;
        h.swap(held_[d]);
        Deliver(d, h);
      }
    }
  }

  LoopbackSocket controller_side_, robot_side_;
  std::uint16_t controller_port_ = 0, robot_port_ = 0;
  std::uint64_t silence_after_commands_ = UINT64_MAX;
  FaultSchedule states_, commands_;
  LinkStats state_stats_, command_stats_;
  std::vector<std::uint8_t> held_[2];
  std::vector<Packet> delayed_;
  std::vector<Direction> delayed_dir_;
  std::set<std::uint64_t> non_finite_seqs_, absurd_seqs_;
  std::map<std::uint64_t, double> delayed_seqs_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

// ---------------------------------------------------------------------------------------
// The robot.

// What the robot itself enforces on every command it executes: its true joint limits and
// velocities (rad, rad/s), its own TCP box and speed (m, m/s). Rates are per command
// period dt (s): a command k periods after the last executed one may move k times as far.
struct RobotLimits {
  robot::Vector7d lower = robot::Vector7d::Constant(-1e9), upper = robot::Vector7d::Constant(1e9);
  robot::Vector7d max_velocity = robot::Vector7d::Constant(1e9);
  Eigen::Vector3d workspace_min = Eigen::Vector3d::Constant(-1e9);
  Eigen::Vector3d workspace_max = Eigen::Vector3d::Constant(1e9);
  double max_eef_speed = 1e9;
  double dt = 0.05;
  double joint_tolerance = 1e-9;          // rad
  double workspace_tolerance = 1.001e-3;  // m (the filter's kWorkspaceTolerance + rounding)
};

// The chain's joint limits and velocities; no TCP box or speed limit.
inline RobotLimits ChainLimits(const robot::KinematicChain& chain, double dt) {
  RobotLimits l;
  l.dt = dt;
  int i = 0;
  for (const robot::JointSpec& j : chain.joints) {
    if (j.type == robot::JointType::kFixed || i >= robot::kArmDof) continue;
    l.lower[i] = j.lower;
    l.upper[i] = j.upper;
    if (j.velocity > 0) l.max_velocity[i] = j.velocity;
    ++i;
  }
  return l;
}

enum class Violation { kNonFinite, kJointPosition, kJointVelocity, kWorkspace, kEefSpeed, kCount };
inline constexpr int kViolationCount = static_cast<int>(Violation::kCount);
inline const char* ViolationName(Violation v) {
  static const char* const kNames[kViolationCount] = {"non_finite", "joint_position",
                                                      "joint_velocity", "workspace", "eef_speed"};
  return kNames[static_cast<int>(v)];
}

struct ReceivedCommand {
  robot::Command command;
  std::uint64_t state_seq = 0;  // the state the controller had accepted when it sent it
};

struct RobotStats {
  std::uint64_t states_sent = 0;
  std::uint64_t received = 0;           // datagrams
  std::uint64_t accepted = 0;           // commands taken (receiving rules passed)
  std::uint64_t executed = 0;           // accepted non-hold commands
  std::uint64_t dropped_malformed = 0;  // wrong size, magic, version or type
  std::uint64_t dropped_checksum = 0;
  std::uint64_t dropped_stale = 0;  // seq not above the last accepted one
  std::array<std::uint64_t, kViolationCount> violations{};
  std::uint64_t violation(Violation v) const { return violations[static_cast<int>(v)]; }
  std::uint64_t total_violations() const {
    std::uint64_t n = 0;
    for (const std::uint64_t v : violations) n += v;
    return n;
  }
};

class CheckingRobot {
 public:
  // initial: the state streamed until commands move the arm (seq and time advance by
  // itself). period_s: state period. silent_after: states to send before falling silent
  // (-1: never).
  CheckingRobot(const robot::KinematicChain& chain, const RobotLimits& limits,
                const robot::RobotState& initial, double period_s, double finger_open = 0.04,
                int silent_after = -1)
      : kinematics_(chain),
        limits_(limits),
        state_(initial),
        period_(period_s),
        finger_open_(finger_open),
        silent_after_(silent_after),
        last_q_(initial.q),
        last_p_(Tool(initial.q)) {}
  ~CheckingRobot() { Stop(); }
  CheckingRobot(const CheckingRobot&) = delete;
  CheckingRobot& operator=(const CheckingRobot&) = delete;

  std::uint16_t port() const { return socket_.port(); }
  // Streams states to 127.0.0.1:state_port (the controller's listen port or the bridge's).
  void Start(std::uint16_t state_port) {
    thread_ = std::thread([this, state_port] { Run(state_port); });
  }
  // Reads what is queued once more, then stops.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  RobotStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  std::vector<ReceivedCommand> commands() {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_;
  }

 private:
  Eigen::Vector3d Tool(const robot::Vector7d& q) const {
    return kinematics_.ToolPose(Eigen::VectorXd(q)).translation();
  }
  double OutsideBox(const Eigen::Vector3d& p) const {
    const Eigen::Vector3d below = (limits_.workspace_min - p).cwiseMax(0.0);
    const Eigen::Vector3d above = (p - limits_.workspace_max).cwiseMax(0.0);
    return (below + above).norm();
  }

  // Applies the receiving rules and the robot's limits to one datagram. Holds mu_.
  void Take(const std::uint8_t* data, std::size_t size) {
    ++stats_.received;
    ReceivedCommand r;
    const robot::DecodeStatus s = robot::DecodeCommand(data, size, &r.command, &r.state_seq);
    if (s == robot::DecodeStatus::kBadChecksum) {
      ++stats_.dropped_checksum;
      return;
    }
    if (s != robot::DecodeStatus::kOk) {
      ++stats_.dropped_malformed;
      return;
    }
    const robot::Command& c = r.command;
    if (c.seq <= last_seq_) {
      ++stats_.dropped_stale;
      return;
    }
    ++stats_.accepted;
    commands_.push_back(r);
    const std::uint64_t periods = c.seq - last_exec_seq_;
    last_seq_ = c.seq;
    if (!c.q_target.allFinite() || !std::isfinite(c.gripper)) {
      ++stats_.violations[static_cast<int>(Violation::kNonFinite)];
      return;
    }
    if (c.hold) return;  // stop: keep the current position and opening
    const auto bump = [&](Violation v) { ++stats_.violations[static_cast<int>(v)]; };
    const robot::Vector7d& q = c.q_target;
    const double tol = limits_.joint_tolerance;
    if (((q.array() < limits_.lower.array() - tol) || (q.array() > limits_.upper.array() + tol))
            .any()) {
      bump(Violation::kJointPosition);
    }
    const double span = limits_.dt * static_cast<double>(periods);
    if (((q - last_q_).cwiseAbs().array() > limits_.max_velocity.array() * span * (1 + 1e-9) + tol)
            .any()) {
      bump(Violation::kJointVelocity);
    }
    const Eigen::Vector3d p = Tool(q);
    if ((p - last_p_).norm() > limits_.max_eef_speed * span * (1 + 1e-9) + 1e-9)
      bump(Violation::kEefSpeed);
    const double outside = OutsideBox(p);
    if (outside > limits_.workspace_tolerance && outside >= OutsideBox(last_p_))
      bump(Violation::kWorkspace);
    ++stats_.executed;
    last_q_ = q;
    last_p_ = p;
    last_exec_seq_ = c.seq;
    state_.qd = (q - state_.q) / limits_.dt;
    state_.q = q;
    state_.fingers.setConstant(robot::FingerTarget(std::clamp(c.gripper, -1.0, 1.0), finger_open_));
  }

  void Drain() {
    std::uint8_t rx[1024];
    ssize_t n;
    while ((n = socket_.Recv(rx, sizeof(rx))) >= 0) {
      std::lock_guard<std::mutex> lock(mu_);
      Take(rx, std::min(static_cast<std::size_t>(n), sizeof(rx) + 1));  // > sizeof: bad size
    }
  }

  void Run(std::uint16_t state_port) {
    std::uint8_t tx[robot::kStatePacketSize];
    double next = MonotonicSeconds();
    while (!stop_) {
      Drain();
      const double now = MonotonicSeconds();
      if (now >= next) {
        std::lock_guard<std::mutex> lock(mu_);
        if (silent_after_ < 0 || stats_.states_sent < static_cast<std::uint64_t>(silent_after_)) {
          ++state_.seq;
          state_.time += period_;
          robot::EncodeState(state_, tx);
          socket_.SendTo(state_port, tx, sizeof(tx));
          ++stats_.states_sent;
        }
        next += period_;
        if (next < now) next = now + period_;  // fell behind: no burst
      } else {
        socket_.Wait(next - now);
      }
    }
    Drain();
  }

  LoopbackSocket socket_;
  robot::Kinematics kinematics_;
  RobotLimits limits_;
  robot::RobotState state_;
  double period_;
  double finger_open_;
  int silent_after_;
  robot::Vector7d last_q_;  // last executed target
  Eigen::Vector3d last_p_;  // its TCP
  std::uint64_t last_seq_ = 0, last_exec_seq_ = 0;
  std::mutex mu_;
  RobotStats stats_;
  std::vector<ReceivedCommand> commands_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace dreamforge::test
