// The edge controller's loop: read the hardware, step the controller, write the command,
// at a fixed rate on absolute deadlines (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)),
// or as fast as possible for simulation.
//
// Watchdog: a step whose command would go out after its deadline (scheduled start +
// step budget) sends a hold instead (kDeadlineMiss); a Read that times out or fails sends
// a hold (kHardwareTimeout / kHardwareError); after max_consecutive_misses such reads in a
// row the loop stops with LoopExit::kHardwareLost. A state whose joints lie beyond the
// chain's limits (SafetyFilter::JointsPlausible) is held on (kImplausibleObservation). A
// first state that is not finite or not plausible, or no first state at all, refuses the
// start (no command is ever sent then).
//
// Real-time: in kRealtime mode Run tries SCHED_FIFO (fifo_priority) and mlockall, warns
// once on stderr when they are not permitted, and restores both when it returns. After
// the start, the steps allocate nothing and nothing throws (tests/robot/
// control_loop_test.cc checks it with a heap-allocation counter).

#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "robot/controller.h"
#include "robot/hardware.h"
#include "robot/safety.h"

namespace dreamforge::robot {

enum class LoopMode {
  kRealtime,         // fixed rate on absolute deadlines
  kAsFastAsPossible  // no sleeping (simulation); deadlines still measured from each start
};

struct LoopOptions {
  LoopMode mode = LoopMode::kRealtime;
  double rate_hz = 0;              // 0: the bundle's control_hz
  double step_budget_s = 0;        // command deadline after the step's scheduled start; 0: 1 period
  std::uint64_t max_steps = 0;     // stop after this many steps; 0: until stopped or lost
  int max_consecutive_misses = 5;  // hardware reads failing in a row before kHardwareLost
  bool realtime_scheduling = true;  // kRealtime: try SCHED_FIFO and mlockall
  int fifo_priority = 80;
  const std::atomic<bool>* stop = nullptr;  // set to true to stop after the current step
  std::size_t timing_capacity = 1 << 16;    // step times kept for the percentiles (newest)
};

enum class LoopExit {
  kStepLimit,      // max_steps done
  kStopRequested,  // *stop became true
  kHardwareLost,   // max_consecutive_misses reads in a row failed
  kStartRefused,   // the first state was not finite (or never came)
};
const char* LoopExitName(LoopExit exit);  // "step_limit", ...

// Fixed-bin step-time histogram: kBins log-spaced bins from kMinUs to kMaxUs (8 per
// decade) plus an underflow and an overflow bin. Add() is real-time safe (no allocation).
struct StepTimeHistogram {
  static constexpr int kBins = 40;
  static constexpr double kMinUs = 1.0;
  static constexpr double kMaxUs = 1e5;  // 100 ms
  // counts[0]: < Edge(0); counts[k] (1 <= k <= kBins): [Edge(k-1), Edge(k));
  // counts[kBins + 1]: >= Edge(kBins).
  std::array<std::uint64_t, kBins + 2> counts{};
  static double Edge(int k);  // k = 0..kBins, microseconds
  void Add(double us);        // real-time safe
  // {"edges_us": [kBins + 1 edges], "counts": [kBins + 2 counts, underflow first,
  //  overflow last]}. Allocates.
  nlohmann::json ToJson() const;
};

struct LoopStats {
  LoopExit exit = LoopExit::kStepLimit;
  std::uint64_t steps = 0;            // loop iterations after the start
  std::uint64_t commands = 0;         // commands written (holds included)
  std::uint64_t holds = 0;            // hold commands written
  std::uint64_t deadline_misses = 0;  // steps whose command was late (sent as a hold)
  std::uint64_t overruns = 0;         // whole periods skipped after a long step
  std::uint64_t hardware_timeouts = 0;
  std::uint64_t hardware_errors = 0;  // failed reads
  std::uint64_t write_errors = 0;     // failed writes
  // Step time: from the wake-up to the command written, microseconds.
  double step_p50_us = 0, step_p99_us = 0, step_max_us = 0, step_mean_us = 0;
  StepTimeHistogram step_histogram;  // every step's time (not only the newest)
  double max_wake_jitter_us = 0;     // kRealtime: latest wake-up after its scheduled time
  bool sched_fifo = false;           // SCHED_FIFO was granted
  bool memory_locked = false;        // mlockall succeeded
  SafetyReport safety;               // the controller's safety events (over its lifetime)
  std::uint64_t ik_failures = 0;

  // {"exit", "steps", "commands", "holds", "deadline_misses", "overruns",
  //  "hardware_timeouts", "hardware_errors", "write_errors",
  //  "step_time_us": {"p50", "p99", "max", "mean"},
  //  "step_time_histogram": StepTimeHistogram::ToJson(), "max_wake_jitter_us",
  //  "sched_fifo", "memory_locked", "ik_failures", "safety": SafetyReport::ToJson()}.
  // Allocates.
  nlohmann::json ToJson() const;
};

class ControlLoop {
 public:
  // Keeps references to both (they must outlive the loop) and allocates the timing
  // buffers. Throws std::invalid_argument on bad options. Not real-time safe.
  ControlLoop(Controller& controller, HardwareInterface& hardware, const LoopOptions& options);

  // Runs until max_steps, a stop request or a lost robot. Never throws.
  LoopExit Run();
  const LoopStats& stats() const { return stats_; }
  double period_s() const { return period_; }

 private:
  void PrepareRealtime();
  void RestoreRealtime();
  void Send(Command* command);
  void Finish(LoopExit exit);

  Controller& controller_;
  HardwareInterface& hardware_;
  LoopOptions options_;
  double period_ = 0;
  double budget_ = 0;
  LoopStats stats_;
  std::vector<float> step_us_;  // ring of the newest step times
  std::vector<float> sorted_;   // scratch for the percentiles
  std::size_t samples_ = 0;     // step times recorded so far
  double step_sum_us_ = 0;
  bool warned_ = false;
  bool restore_sched_ = false;
  int old_policy_ = 0;
  int old_priority_ = 0;
};

}  // namespace dreamforge::robot
