// Data-parallel training over several processes with LibTorch's own c10d: a TCPStore for
// the rendezvous and ProcessGroupGloo for the all-reduce (CPU tensors). No launcher,
// transport or reduction of our own: processes are started by torchrun-style variables set
// by hand, by Open MPI's mpirun or by Slurm's srun, and c10d does the rest.
//
// The trainer (policy/trainer.h) splits every global batch into one contiguous slice per
// rank, scales each rank's gradient by its share of the batch and sums the gradients over
// the ranks (one flat bucket, one all-reduce per step), so every rank applies the same
// update as a single process would, up to the order of float additions.
//
// A rank that dies closes its connections: the others' all-reduce fails at once (or after
// the timeout when the rank hangs), and they end with an error naming the rank, found from
// per-rank heartbeats kept in the store.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace dreamforge::policy {

struct DistConfig {
  int rank = 0;
  int world = 1;
  int local_world = 1;  // processes of this run on this machine
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "single";  // "torchrun", "mpirun", "slurm" or "single"
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};

  // From the environment, first match wins:
  //   torchrun: RANK, WORLD_SIZE (LOCAL_WORLD_SIZE);
  //   mpirun:   OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE (OMPI_COMM_WORLD_LOCAL_SIZE);
  //   srun:     SLURM_PROCID, SLURM_NTASKS (SLURM_NTASKS_PER_NODE);
  // else a single process. MASTER_ADDR (default 127.0.0.1) and MASTER_PORT (default
  // 29500) name rank 0's rendezvous store. Throws PolicyError naming a malformed variable.
  static DistConfig FromEnvironment();
};

class DataParallel {
 public:
  // Joins the process group (waits for every rank, up to the timeout). Throws
  // std::runtime_error when the rendezvous fails, naming the address.
  explicit DataParallel(const DistConfig& config);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const { return config_.rank; }
  int world() const { return config_.world; }
  bool leader() const { return config_.rank == 0; }
  const DistConfig& config() const { return config_; }

  // Sums `flat` (a contiguous CPU float tensor) over all ranks in place; every rank gets
  // the same values. Throws std::runtime_error naming the rank(s) that stopped answering.
  void AllReduceSum(torch::Tensor& flat);
  // Waits until every rank gets here (same errors as AllReduceSum).
  void Barrier();
  // Seconds spent in AllReduceSum so far.
  double allreduce_seconds() const { return allreduce_seconds_; }

 private:
  [[noreturn]] void Failed(const std::string& what);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DistConfig config_;
  double allreduce_seconds_ = 0;
};

}  // namespace dreamforge::policy
