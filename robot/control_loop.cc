#include "robot/control_loop.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace dreamforge::robot {

namespace {

std::int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepUntil(std::int64_t t_ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(t_ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(t_ns % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

const char* LoopExitName(LoopExit exit) {
  switch (exit) {
    case LoopExit::kStepLimit:
      return "step_limit";
    case LoopExit::kStopRequested:
      return "stop_requested";
    case LoopExit::kHardwareLost:
      return "hardware_lost";
    case LoopExit::kStartRefused:
      return "start_refused";
  }
  return "unknown";
}

double StepTimeHistogram::Edge(int k) {
  return kMinUs * std::pow(kMaxUs / kMinUs, static_cast<double>(k) / kBins);
}

void StepTimeHistogram::Add(double us) {
  std::size_t bin;
  if (!(us >= kMinUs)) {
    bin = 0;  // below the range (or NaN)
  } else if (us >= kMaxUs) {
    bin = kBins + 1;
  } else {
    const double f = std::log10(us / kMinUs) / std::log10(kMaxUs / kMinUs);
    bin = 1 + std::min<std::size_t>(kBins - 1, static_cast<std::size_t>(f * kBins));
  }
  ++counts[bin];
}

nlohmann::json StepTimeHistogram::ToJson() const {
  nlohmann::json edges = nlohmann::json::array();
  for (int k = 0; k <= kBins; ++k) edges.push_back(Edge(k));
  return {{"edges_us", edges}, {"counts", counts}};
}

nlohmann::json LoopStats::ToJson() const {
  return {
      {"exit", LoopExitName(exit)},
      {"steps", steps},
      {"commands", commands},
      {"holds", holds},
      {"deadline_misses", deadline_misses},
      {"overruns", overruns},
      {"hardware_timeouts", hardware_timeouts},
      {"hardware_errors", hardware_errors},
      {"write_errors", write_errors},
      {"step_time_us",
       {{"p50", step_p50_us}, {"p99", step_p99_us}, {"max", step_max_us}, {"mean", step_mean_us}}},
      {"step_time_histogram", step_histogram.ToJson()},
      {"max_wake_jitter_us", max_wake_jitter_us},
      {"sched_fifo", sched_fifo},
      {"memory_locked", memory_locked},
      {"ik_failures", ik_failures},
      {"safety", safety.ToJson()}};
}

ControlLoop::ControlLoop(Controller& controller, HardwareInterface& hardware,
                         const LoopOptions& options)
    : controller_(controller), hardware_(hardware), options_(options) {
  if (!(options.rate_hz >= 0) || !std::isfinite(options.rate_hz)) {
    throw std::invalid_argument("ControlLoop: rate_hz must be > 0 (or 0 for the bundle's rate)");
  }
  const double hz = options.rate_hz > 0 ? options.rate_hz : controller.bundle().control_hz;
  period_ = 1.0 / hz;
  budget_ = options.step_budget_s > 0 ? options.step_budget_s : period_;
  if (!std::isfinite(budget_)) throw std::invalid_argument("ControlLoop: step_budget_s");
  if (options.max_consecutive_misses < 1) {
    throw std::invalid_argument("ControlLoop: max_consecutive_misses must be >= 1");
  }
  if (options.timing_capacity < 1) throw std::invalid_argument("ControlLoop: timing_capacity");
  step_us_.assign(options.timing_capacity, 0.0f);
  sorted_.assign(options.timing_capacity, 0.0f);
}

void ControlLoop::PrepareRealtime() {
  if (options_.mode != LoopMode::kRealtime || !options_.realtime_scheduling) return;
  char why[160] = "";
  if (mlockall(MCL_CURRENT | MCL_FUTURE) == 0) {
    stats_.memory_locked = true;
  } else {
    std::snprintf(why, sizeof(why), "mlockall: %s", std::strerror(errno));
  }
  sched_param old{};
  if (pthread_getschedparam(pthread_self(), &old_policy_, &old) == 0) {
    old_priority_ = old.sched_priority;
    sched_param fifo{};
    fifo.sched_priority = options_.fifo_priority;
    const int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo);
    if (rc == 0) {
      stats_.sched_fifo = true;
      restore_sched_ = true;
    } else {
      const size_t used = std::strlen(why);
      std::snprintf(why + used, sizeof(why) - used, "%sSCHED_FIFO %d: %s", used ? "; " : "",
                    options_.fifo_priority, std::strerror(rc));
    }
  }
  if (why[0] != '\0' && !warned_) {
    warned_ = true;
    std::fprintf(stderr,
                 "control loop: warning: running without full real-time support (%s); "
                 "expect deadline misses under load (grant CAP_SYS_NICE/CAP_IPC_LOCK or "
                 "rtprio/memlock limits)\n",
                 why);
  }
}

void ControlLoop::RestoreRealtime() {
  if (restore_sched_) {
    sched_param old{};
    old.sched_priority = old_priority_;
    pthread_setschedparam(pthread_self(), old_policy_, &old);
    restore_sched_ = false;
  }
  if (stats_.memory_locked) munlockall();
}

void ControlLoop::Send(Command* command) {
  if (hardware_.Write(*command) != HardwareStatus::kOk) ++stats_.write_errors;
  ++stats_.commands;
  if (command->hold) ++stats_.holds;
  controller_.Commit(*command);
}

void ControlLoop::Finish(LoopExit exit) {
  stats_.exit = exit;
  const std::size_t n = std::min(samples_, step_us_.size());
  if (n > 0) {
    std::copy(step_us_.begin(), step_us_.begin() + static_cast<std::ptrdiff_t>(n), sorted_.begin());
    const auto rank = [&](double q) {
      const std::size_t k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
      return std::min(n - 1, k == 0 ? 0 : k - 1);
    };
    auto begin = sorted_.begin();
    const auto end = begin + static_cast<std::ptrdiff_t>(n);
    std::nth_element(begin, begin + static_cast<std::ptrdiff_t>(rank(0.5)), end);
    stats_.step_p50_us = sorted_[rank(0.5)];
    std::nth_element(begin, begin + static_cast<std::ptrdiff_t>(rank(0.99)), end);
    stats_.step_p99_us = sorted_[rank(0.99)];
    stats_.step_mean_us = step_sum_us_ / static_cast<double>(samples_);
  }
  stats_.safety = controller_.safety().report();
  stats_.ik_failures = controller_.ik_failures();
  RestoreRealtime();
}

LoopExit ControlLoop::Run() {
  stats_ = LoopStats{};
  samples_ = 0;
  step_sum_us_ = 0;
  PrepareRealtime();

  // Start: a first finite state, or refuse.
  RobotState state;
  Command command;
  int misses = 0;
  while (true) {
    const HardwareStatus s = hardware_.Read(&state);
    if (s == HardwareStatus::kOk) break;
    ++(s == HardwareStatus::kTimeout ? stats_.hardware_timeouts : stats_.hardware_errors);
    if (++misses >= options_.max_consecutive_misses) {
      Finish(LoopExit::kHardwareLost);
      return stats_.exit;
    }
    if (options_.stop != nullptr && options_.stop->load()) {
      Finish(LoopExit::kStopRequested);
      return stats_.exit;
    }
  }
  if (!controller_.Start(state)) {
    Finish(LoopExit::kStartRefused);
    return stats_.exit;
  }
  misses = 0;

  const auto period_ns = static_cast<std::int64_t>(std::llround(period_ * 1e9));
  const auto budget_ns = static_cast<std::int64_t>(std::llround(budget_ * 1e9));
  const bool realtime = options_.mode == LoopMode::kRealtime;
  std::int64_t next = NowNs();
  bool have_state = true;  // the start state serves the first step
  for (std::uint64_t step = 0; options_.max_steps == 0 || step < options_.max_steps; ++step) {
    if (options_.stop != nullptr && options_.stop->load()) {
      Finish(LoopExit::kStopRequested);
      return stats_.exit;
    }
    if (realtime) SleepUntil(next);
    const std::int64_t t0 = NowNs();
    const std::int64_t scheduled = realtime ? next : t0;
    if (realtime) {
      stats_.max_wake_jitter_us = std::max(stats_.max_wake_jitter_us, 1e-3 * double(t0 - next));
    }
    ++stats_.steps;
    const HardwareStatus s = have_state ? HardwareStatus::kOk : hardware_.Read(&state);
    have_state = false;
    bool lost = false;
    if (s != HardwareStatus::kOk) {
      const bool timeout = s == HardwareStatus::kTimeout;
      ++(timeout ? stats_.hardware_timeouts : stats_.hardware_errors);
      controller_.Hold(timeout ? SafetyEvent::kHardwareTimeout : SafetyEvent::kHardwareError,
                       &command);
      lost = ++misses >= options_.max_consecutive_misses;
    } else {
      misses = 0;
      if (controller_.safety().JointsPlausible(state.q) || !state.q.allFinite()) {
        controller_.Compute(state, &command);  // (NaN joints: held by Compute's own check)
      } else {
        controller_.Hold(SafetyEvent::kImplausibleObservation, &command);
      }
      if (NowNs() > scheduled + budget_ns) {
        ++stats_.deadline_misses;
        if (command.hold) {  // already a hold: count the miss, not a second hold
          controller_.safety().Count(SafetyEvent::kDeadlineMiss);
        } else {
          controller_.Hold(SafetyEvent::kDeadlineMiss, &command);
        }
      }
    }
    Send(&command);
    const std::int64_t t1 = NowNs();
    const float us = static_cast<float>(1e-3 * static_cast<double>(t1 - t0));
    step_us_[samples_ % step_us_.size()] = us;
    ++samples_;
    step_sum_us_ += us;
    stats_.step_histogram.Add(us);
    stats_.step_max_us = std::max(stats_.step_max_us, static_cast<double>(us));
    if (lost) {
      Finish(LoopExit::kHardwareLost);
      return stats_.exit;
    }
    if (realtime) {
      next += period_ns;
      while (next <= t1) {  // skip the periods a long step overran
        next += period_ns;
        ++stats_.overruns;
      }
    }
  }
  Finish(LoopExit::kStepLimit);
  return stats_.exit;
}

}  // namespace dreamforge::robot
