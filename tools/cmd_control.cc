#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <utility>

#include "augment/evaluate.h"
#include "robot/bundle.h"
#include "robot/control_loop.h"
#include "robot/controller.h"
#include "robot/mock_hardware.h"
#include "robot/safety.h"
#include "robot/udp_hardware.h"
#include "sim/rollout.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "tools/policy_controller.h"
#include "tools/sim_hardware.h"

namespace dreamforge::tools {
namespace {

namespace fs = std::filesystem;

struct ControlArgs {
  std::string bundle;
  std::string hardware = "sim";
  int episodes = 200;
  uint64_t seed = 0;
  double duration = 10.0;
  std::string perturb;
  std::string stats = "control_stats.json";
  std::string robot_address = "127.0.0.1:9870";
  int listen_port = 9871;
  std::string robot_limits;
  double max_frame_age = 0.1;  // image bundles: the oldest camera frame a step accepts, s
};

// The longest --duration of a mock or udp run, s (a day; a longer run is restarted).
constexpr double kMaxDurationSeconds = 86400.0;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

// Sim hardware that also ends the episode the way sim::Rollout does: success, a dropped
// object or an unstable world stop the loop.
class EpisodeSim : public SimHardware {
 public:
  EpisodeSim(sim::World* world, std::atomic<bool>* stop) : SimHardware(world), world_(world), stop_(stop) {}
  robot::HardwareStatus Write(const robot::Command& command) override {
    const robot::HardwareStatus s = SimHardware::Write(command);
    if (!last_step().stable) {
      outcome = "unstable";
    } else if (sim::ObjectDropped(*world_)) {
      outcome = "dropped";
    } else if (world_->succeeded()) {
      outcome = "success";
    }
    if (!outcome.empty()) stop_->store(true);
    return s;
  }
  std::string outcome;

 private:
  sim::World* world_;
  std::atomic<bool>* stop_;
};

struct Totals {
  std::vector<double> p50, p99, max;
  nlohmann::json sum = nlohmann::json::object();  // counters summed over runs
  robot::StepTimeHistogram histogram;              // step times of every run
  void Add(const robot::LoopStats& s) {
    for (size_t k = 0; k < histogram.counts.size(); ++k) histogram.counts[k] += s.step_histogram.counts[k];
    p50.push_back(s.step_p50_us);
    p99.push_back(s.step_p99_us);
    max.push_back(s.step_max_us);
    const nlohmann::json j = s.ToJson();
    for (const char* k : {"steps", "commands", "holds", "deadline_misses", "overruns", "hardware_timeouts",
                          "hardware_errors", "write_errors"}) {
      sum[k] = sum.value(k, 0ULL) + j[k].get<uint64_t>();
    }
    // The controller lives across episodes: its safety report and IK count are totals.
    sum["ik_failures"] = j["ik_failures"];
    sum["safety_events"] = j["safety"]["events"];
    sum["clamped_steps"] = j["safety"]["clamped_steps"];
    sum["sched_fifo"] = s.sched_fifo;
    sum["memory_locked"] = s.memory_locked;
  }
  nlohmann::json ToJson() const {
    nlohmann::json j = sum;
    auto median = [](std::vector<double> v) {
      if (v.empty()) return 0.0;
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    j["step_time_us"] = {{"p50", median(p50)},
                         {"p99", p99.empty() ? 0.0 : *std::max_element(p99.begin(), p99.end())},
                         {"max", max.empty() ? 0.0 : *std::max_element(max.begin(), max.end())}};
    j["step_time_histogram"] = histogram.ToJson();
    return j;
  }
};

// The episodes `eval` runs for the same seed, through the controller and the simulated
// robot: success rate and failures into *result, step timing into *totals.
void RunSimEpisodes(const ControlArgs& a, const std::shared_ptr<const sim::SceneModel>& model,
                    robot::Controller& controller, const std::shared_ptr<PolicyCameras>& cameras, Totals* totals,
                    nlohmann::json* result) {
  const augment::PerturbationSpec spec =
      augment::LoadSpec(a.perturb.empty() ? augment::DefaultSpecPath(model->task().name()) : fs::path(a.perturb));
  std::map<std::string, int64_t> failures;
  int64_t successes = 0, done = 0;
  Progress progress("control sim", a.episodes);
  for (int k = 0; k < a.episodes && !g_stop.load(); ++k) {
    const sim::SceneParams scene = augment::SampleScene(*model, spec, a.seed, augment::kEvalIndexBit | k);
    sim::World world(model, scene);
    std::atomic<bool> stop{false};
    EpisodeSim hw(&world, &stop);
    std::unique_ptr<SimCameras> sim_cameras;
    if (cameras) {
      sim_cameras = std::make_unique<SimCameras>(cameras, &world);
      controller.SetCameras(sim_cameras.get(), a.max_frame_age);
    }
    controller.Reset(PolicySeed(scene));  // as eval's PolicyController
    robot::LoopOptions opt;
    opt.mode = robot::LoopMode::kAsFastAsPossible;
    opt.max_steps = static_cast<uint64_t>(model->task().max_steps());
    opt.stop = &stop;
    robot::ControlLoop loop(controller, hw, opt);
    loop.Run();
    totals->Add(loop.stats());
    if (cameras) controller.SetCameras(nullptr, a.max_frame_age);  // sim_cameras goes with the world
    const std::string outcome = hw.outcome.empty() ? (world.succeeded() ? "success" : "timeout") : hw.outcome;
    if (outcome == "success") {
      ++successes;
    } else {
      ++failures[outcome];
    }
    ++done;
    progress.Update(done, std::to_string(successes) + " ok");
  }
  progress.Finish();
  const augment::Interval ci = augment::WilsonInterval(successes, done);
  nlohmann::json& r = *result;
  r["episodes"] = done;
  r["successes"] = successes;
  r["success_rate"] = done ? static_cast<double>(successes) / done : 0.0;
  r["ci_low"] = ci.low;
  r["ci_high"] = ci.high;
  r["failures"] = failures;
  r["seed"] = a.seed;
}

// --robot-address IP:PORT and --listen-port, checked. Port 0 (an ephemeral port) is refused
// for both: nothing is negotiated (robot/PROTOCOL.md), each side must know the other's port.
robot::UdpHardwareConfig UdpConfig(const ControlArgs& a) {
  robot::UdpHardwareConfig uc;
  const size_t colon = a.robot_address.rfind(':');
  const std::string host = colon == std::string::npos ? "" : a.robot_address.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : a.robot_address.substr(colon + 1);
  in_addr ip{};
  if (host.empty() || ::inet_pton(AF_INET, host.c_str(), &ip) != 1 || port.empty() ||
      port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) < 1 || std::stoi(port) > 65535) {
    throw UsageError("control: --robot-address '" + a.robot_address +
                     "': expected IPV4:PORT with a port in 1..65535");
  }
  if (a.listen_port < 1 || a.listen_port > 65535) {
    throw UsageError("control: --listen-port " + std::to_string(a.listen_port) + ": expected a port in 1..65535");
  }
  uc.robot_address = host;
  uc.robot_port = static_cast<uint16_t>(std::stoi(port));
  uc.local_port = static_cast<uint16_t>(a.listen_port);
  return uc;
}

// How long a control step waits for the robot's state: at most half a period (and 10 ms),
// so that a step whose read times out still sends its hold within its deadline (a 10 ms
// wait at 200 Hz made every step of a silent link overrun its 5 ms period).
double ReadTimeout(const robot::Bundle& bundle) { return std::min(0.01, 0.5 / bundle.control_hz); }

robot::UdpHardwareConfig UdpReadConfig(const ControlArgs& a, const robot::Bundle& bundle) {
  robot::UdpHardwareConfig uc = UdpConfig(a);
  uc.read_timeout_s = ReadTimeout(bundle);
  return uc;
}

// The mock robot (mirrors commands, starts in the task's nominal scene) or the UDP bridge.
std::unique_ptr<robot::HardwareInterface> MakeHardware(const ControlArgs& a,
                                                       const std::shared_ptr<const sim::SceneModel>& model,
                                                       const robot::Bundle& bundle) {
  if (a.hardware == "mock") {
    sim::World world(model, model->Nominal());
    const sim::Observation obs = world.Observe();
    robot::MockHardwareConfig mc;
    mc.q0 = obs.joint_pos;
    mc.finger_open = model->robot_config().finger_open;
    mc.object_position = obs.object.segment<3>(0);
    mc.object_quaternion = obs.object.segment<4>(3);
    mc.target_position = obs.object.segment<3>(10);
    mc.dt = 1.0 / bundle.control_hz;
    return std::make_unique<robot::MockHardware>(mc);
  }
  return std::make_unique<robot::UdpHardware>(UdpReadConfig(a, bundle));
}

// The bundle's safety limits bounded by the robot's own (--robot-limits FILE.json: any of
// the fields of the bundle's "safety" object; a field not given leaves the bundle's),
// field by field the tighter (robot::TighterLimits).
robot::SafetyLimits BoundByRobotLimits(const robot::Bundle& bundle, const std::string& file) {
  std::ifstream in(file);
  if (!in) throw UsageError("control: --robot-limits " + file + ": cannot open");
  const nlohmann::json user = nlohmann::json::parse(in, nullptr, false);
  if (!user.is_object()) throw UsageError("control: --robot-limits " + file + ": not a JSON object");
  nlohmann::json limits = bundle.safety.ToJson();
  for (const auto& [k, v] : user.items()) {
    if (!limits.contains(k)) throw UsageError("control: --robot-limits " + file + ": " + k + ": unknown safety field");
    limits[k] = v;
  }
  try {
    return robot::TighterLimits(bundle.safety, robot::SafetyLimits::FromJson(limits, bundle.robot, file));
  } catch (const robot::BundleError& e) {
    throw UsageError(std::string("control: --robot-limits: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw UsageError("control: --robot-limits " + file + ": " + e.what() + " with the bundle's");
  }
}

void WriteStats(const std::string& path, const nlohmann::json& result) {
  const fs::path tmp = path + ".tmp";
  std::ofstream out(tmp);
  out << result.dump(2) << "\n";
  if (!out.flush()) throw std::runtime_error("control: --stats " + path + ": cannot write");
  out.close();
  fs::rename(tmp, path);
}

void PrintSummary(const ControlArgs& a, const nlohmann::json& result) {
  const nlohmann::json t = result["timing"];
  const nlohmann::json times = t.value("step_time_us", nlohmann::json::object());
  std::string events;
  const nlohmann::json safety_events = t.value("safety_events", nlohmann::json::object());
  for (const auto& [k, v] : safety_events.items()) {
    if (v.get<uint64_t>() > 0) events += " " + k + "=" + std::to_string(v.get<uint64_t>());
  }
  if (a.hardware == "sim") {
    std::printf("control sim: %lld/%lld succeeded (%.1f%%, 95%% CI %.1f-%.1f%%); ",
                static_cast<long long>(result.value("successes", int64_t{0})),
                static_cast<long long>(result.value("episodes", int64_t{0})), 100 * result.value("success_rate", 0.0),
                100 * result.value("ci_low", 0.0), 100 * result.value("ci_high", 0.0));
  } else {
    std::printf("control %s: %s after %llu steps; ", a.hardware.c_str(), result.value("exit", std::string("?")).c_str(),
                static_cast<unsigned long long>(t.value("steps", uint64_t{0})));
  }
  std::printf("step p50 %.1f us, p99 %.1f us, max %.1f us; deadline misses %llu; holds %llu; safety events:%s; stats -> %s\n",
              times.value("p50", 0.0), times.value("p99", 0.0), times.value("max", 0.0),
              static_cast<unsigned long long>(t.value("deadline_misses", uint64_t{0})),
              static_cast<unsigned long long>(t.value("holds", uint64_t{0})), events.empty() ? " none" : events.c_str(),
              a.stats.c_str());
  if (result.contains("link")) {
    const nlohmann::json& l = result["link"];
    std::printf("control udp link: %llu datagrams, %llu states accepted; dropped %llu malformed, %llu checksum, "
                "%llu stale; %llu read timeouts; %llu commands sent, %llu send errors\n",
                l["received"].get<unsigned long long>(), l["accepted"].get<unsigned long long>(),
                l["dropped_malformed"].get<unsigned long long>(), l["dropped_checksum"].get<unsigned long long>(),
                l["dropped_stale"].get<unsigned long long>(), l["timeouts"].get<unsigned long long>(),
                l["sent"].get<unsigned long long>(), l["send_errors"].get<unsigned long long>());
  }
}

void RunControl(const ControlArgs& a) {
  if (a.episodes < 1) throw UsageError("control: --episodes: must be >= 1");
  if (!(a.duration > 0 && a.duration <= kMaxDurationSeconds)) {
    char msg[128];
    std::snprintf(msg, sizeof msg, "control: --duration %g: expected seconds in (0, %g]", a.duration,
                  kMaxDurationSeconds);
    throw UsageError(msg);
  }
  if (a.hardware != "sim" && a.hardware != "mock" && a.hardware != "udp") {
    throw UsageError("control: --hardware '" + a.hardware + "': expected sim, mock or udp");
  }
  UdpConfig(a);  // bad flags are refused before the bundle is read, whatever the hardware
  CheckOutputWritable("control", "--stats", a.stats);
  // The bundle must match the robot it drives; sim and mock are the simulated Panda, and
  // the udp bridge is taken to be that robot too.
  std::string task;
  {
    std::ifstream in(fs::path(a.bundle) / "policy.json");
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    task = j.is_object() ? j.value("task", "") : "";
  }
  if (task.empty()) task = "bottle_place";  // LoadBundle below names the real problem
  auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  std::shared_ptr<const robot::Bundle> bundle;
  try {
    bundle = std::make_shared<const robot::Bundle>(robot::LoadBundle(a.bundle, DescribeRobot(*model)));
  } catch (const robot::BundleError& e) {
    throw UsageError(std::string("control: ") + e.what());
  }
  if (!a.robot_limits.empty()) {
    robot::Bundle bounded = *bundle;
    bounded.safety = BoundByRobotLimits(*bundle, a.robot_limits);
    bundle = std::make_shared<const robot::Bundle>(std::move(bounded));
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (!bundle->images.empty() && a.hardware != "sim") {
    std::string keys;
    for (const robot::ImageInput& in : bundle->images) keys += (keys.empty() ? "" : ", ") + in.key;
    throw UsageError("control: --hardware " + a.hardware + ": the bundle reads cameras (" + keys +
                     ") and this hardware has no camera source yet; --hardware sim renders them");
  }
  if (!(a.max_frame_age > 0 && a.max_frame_age <= 10)) {
    throw UsageError("control: --max-frame-age " + std::to_string(a.max_frame_age) + ": expected seconds in (0, 10]");
  }
  robot::Controller controller(bundle, a.seed);
  Totals totals;
  nlohmann::json result = {{"bundle", a.bundle}, {"hardware", a.hardware}, {"task", task},
                           {"safety_limits", bundle->safety.ToJson()}};
  if (!a.robot_limits.empty()) result["robot_limits"] = a.robot_limits;
  const auto start = std::chrono::steady_clock::now();
  if (a.hardware == "sim") {
    // An image policy's cameras, rendered from the world as eval renders them.
    std::shared_ptr<PolicyCameras> cameras;
    if (!bundle->images.empty()) cameras = std::make_shared<PolicyCameras>(*bundle, model);
    RunSimEpisodes(a, model, controller, cameras, &totals, &result);
  } else {
    const std::unique_ptr<robot::HardwareInterface> hw = MakeHardware(a, model, *bundle);
    robot::LoopOptions opt;
    opt.mode = robot::LoopMode::kRealtime;
    opt.max_steps = static_cast<uint64_t>(a.duration * bundle->control_hz);
    opt.stop = &g_stop;
    robot::ControlLoop loop(controller, *hw, opt);
    const robot::LoopExit exit = loop.Run();
    totals.Add(loop.stats());
    result["exit"] = robot::LoopExitName(exit);
    // What the link did: datagrams dropped by the receiving rules, reads that timed out.
    if (const auto* udp = dynamic_cast<const robot::UdpHardware*>(hw.get())) {
      result["link"] = udp->stats().ToJson();
      result["link"]["read_timeout_s"] = ReadTimeout(*bundle);
    }
  }
  result["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result["timing"] = totals.ToJson();
  WriteStats(a.stats, result);
  PrintSummary(a, result);
  // Losing the robot (or never hearing from it) is a failure, not a finished run.
  const std::string exit = result.value("exit", std::string());
  if (exit == robot::LoopExitName(robot::LoopExit::kHardwareLost) ||
      exit == robot::LoopExitName(robot::LoopExit::kStartRefused)) {
    throw std::runtime_error("control: --hardware " + a.hardware + ": " + exit + " after " +
                             std::to_string(result["timing"].value("steps", uint64_t{0})) +
                             " steps (no valid state from the robot" +
                             (a.hardware == "udp" ? " at --robot-address " + a.robot_address : std::string()) +
                             "); stats -> " + a.stats);
  }
}

}  // namespace

void AddControlCommand(CLI::App& app) {
  auto a = std::make_shared<ControlArgs>();
  auto* cmd = app.add_subcommand("control", "Run the edge controller loop on a bundle: in simulation, on a mock or over UDP.");
  cmd->add_option("--bundle", a->bundle, "Policy bundle directory (dreamforge export)")->required();
  cmd->add_option("--hardware", a->hardware,
                  "sim: the Bullet world, episodes as eval's; mock: mirrors commands; udp: a robot bridge (robot/PROTOCOL.md)")
      ->capture_default_str();
  cmd->add_option("--episodes", a->episodes, "sim: held-out scenes to run (eval's scenes for the same seed)")->capture_default_str();
  AddSeedOption(cmd, "--seed", &a->seed, "sim: evaluation seed");
  cmd->add_option("--perturb", a->perturb, "sim: perturbation spec (default: the task's)");
  cmd->add_option("--duration", a->duration, "mock/udp: seconds to run at the bundle's control rate")->capture_default_str();
  cmd->add_option("--max-frame-age", a->max_frame_age,
                  "image bundles: hold the robot when a camera frame is older than this, s (sim renders every step: age 0)")
      ->capture_default_str();
  cmd->add_option("--robot-address", a->robot_address, "udp: IPV4:PORT of the robot bridge (port 1..65535)")
      ->capture_default_str();
  cmd->add_option("--listen-port", a->listen_port, "udp: local port for the robot's states (1..65535)")
      ->capture_default_str();
  cmd->add_option("--robot-limits", a->robot_limits,
                  "JSON with any fields of the bundle's safety object: the robot's own limits; the tighter of each "
                  "field applies");
  cmd->add_option("--stats", a->stats, "Where to write the timing and safety statistics (JSON)")->capture_default_str();
  cmd->callback([a] { RunControl(*a); });
}

}  // namespace dreamforge::tools
