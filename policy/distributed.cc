#include "policy/distributed.h"

// c10d declares ProcessGroupGloo only when built with it; Debian's LibTorch is, and Gloo's
// own headers come from libgloo-dev.
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <thread>

#include "policy/policy_error.h"

namespace dreamforge::policy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kBeat = std::chrono::milliseconds(250);

// An environment variable as an integer >= min, or `fallback` when unset.
int EnvInt(const char* name, int fallback, int min) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || errno != 0 || x < min || x > 1000000) {
    throw PolicyError(std::string("environment ") + name + "='" + v + "': expected an integer >= " + std::to_string(min));
  }
  return static_cast<int>(x);
}

bool Set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

std::string Key(int rank) { return "dreamforge/heartbeat/" + std::to_string(rank); }

// A connection to rank 0's store. A worker's connection (one per rank, the rendezvous)
// counts itself in and waits for all `world`; the extra ones (heartbeats, checks) do not.
c10::intrusive_ptr<c10d::TCPStore> Connect(const DistConfig& c, bool worker, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(c.master_port);
  o.isServer = worker && c.rank == 0;
  o.numWorkers = worker ? c10::optional<std::size_t>(static_cast<std::size_t>(c.world)) : c10::nullopt;
  o.waitWorkers = worker;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(c.master_addr, o);
}

}  // namespace

DistConfig DistConfig::FromEnvironment() {
  DistConfig c;
  if (Set("WORLD_SIZE") || Set("RANK")) {
    c.launcher = "torchrun";
    c.world = EnvInt("WORLD_SIZE", 1, 1);
    c.rank = EnvInt("RANK", 0, 0);
    c.local_world = EnvInt("LOCAL_WORLD_SIZE", c.world, 1);
  } else if (Set("OMPI_COMM_WORLD_SIZE")) {
    c.launcher = "mpirun";
    c.world = EnvInt("OMPI_COMM_WORLD_SIZE", 1, 1);
    c.rank = EnvInt("OMPI_COMM_WORLD_RANK", 0, 0);
    c.local_world = EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE", c.world, 1);
  } else if (Set("SLURM_NTASKS") && Set("SLURM_PROCID")) {
    c.launcher = "slurm";
    c.world = EnvInt("SLURM_NTASKS", 1, 1);
    c.rank = EnvInt("SLURM_PROCID", 0, 0);
    c.local_world = std::min(c.world, EnvInt("SLURM_NTASKS_PER_NODE", c.world, 1));
  }
  if (c.rank >= c.world) {
    throw PolicyError("rank " + std::to_string(c.rank) + " is outside 0.." + std::to_string(c.world - 1) + " (" +
                      c.launcher + " variables)");
  }
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') c.master_addr = a;
  c.master_port = EnvInt("MASTER_PORT", c.master_port, 1);
  if (c.master_port > 65535) throw PolicyError("environment MASTER_PORT: expected a port in 1..65535");
  return c;
}

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::atomic<bool> stop{false};
  std::thread heartbeat;
};

DataParallel::DataParallel(const DistConfig& config) : impl_(std::make_unique<Impl>()), config_(config) {
  if (config_.world == 1) return;
  const std::string where = config_.master_addr + ":" + std::to_string(config_.master_port);
  try {
    impl_->store = Connect(config_, /*worker=*/true, config_.timeout);
    auto options = c10d::ProcessGroupGloo::Options::create(config_.timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(config_.master_addr));
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, config_.rank, config_.world, options);
  } catch (const std::exception& e) {
 throw std::runtime_error("rank " + std::to_string(config_.rank) + " of " + std::to_string(config_.world) +
                             ": the rendezvous at " + where + " (MASTER_ADDR:MASTER_PORT) failed within " +
                      std::to_string(config_.timeout.count() / 1000) + " s: " +
                      std::string(e.what()).substr(0, 300));
  }
  // Each rank counts up its heartbeat in the store, over a connection of its own.
  impl_->heartbeat = std::thread([this] {
    try {
      auto store = Connect(config_, /*worker=*/false, std::chrono::seconds(10));
      while (!impl_->stop.load()) {
        store->add(Key(config_.rank), 1);
        std::this_thread::sleep_for(kBeat);
      }
    } catch (const std::exception&) {
      // The store's host (rank 0) is gone; the next collective reports it.
    }
  });
}

DataParallel::~DataParallel() {
  impl_->stop = true;
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
}

void DataParallel::Failed(const std::string& what) {
  // Which ranks stopped: those whose heartbeat does not move over four beats.
  std::string culprits;
  try {
    auto store = Connect(config_, /*worker=*/false, std::chrono::seconds(5));
    std::vector<int64_t> before(static_cast<size_t>(config_.world));
    for (int r = 0; r < config_.world; ++r) before[static_cast<size_t>(r)] = store->add(Key(r), 0);
    std::this_thread::sleep_for(4 * kBeat);
    for (int r = 0; r < config_.world; ++r) {
      if (r != config_.rank && store->add(Key(r), 0) == before[static_cast<size_t>(r)]) {
        culprits += (culprits.empty() ? "rank " : ", rank ") + std::to_string(r);
      }
    }
  } catch (const std::exception&) {
    culprits = "rank 0 (it holds the rendezvous store at " + config_.master_addr + ":" +
               std::to_string(config_.master_port) + ")";
  }
  if (culprits.empty()) culprits = "another rank (every heartbeat still moves: a hang or the network?)";
  throw std::runtime_error(culprits + " of " + std::to_string(config_.world) + " stopped answering; rank " +
                           std::to_string(config_.rank) + " ends the run (" + what.substr(0, 200) + ")");
}

void DataParallel::AllReduceSum(torch::Tensor& flat) {
  if (config_.world == 1) return;
  const auto t0 = Clock::now();
  try {
    std::vector<at::Tensor> tensors{flat};
    impl_->group->allreduce(tensors)->wait();
  } catch (const std::exception& e) {
    Failed(e.what());
  }
  allreduce_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

void DataParallel::Barrier() {
  if (config_.world == 1) return;
  try {
    impl_->group->barrier()->wait();
  } catch (const std::exception& e) {
    Failed(e.what());
  }
}

}  // namespace dreamforge::policy
