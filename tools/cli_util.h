// Small helpers shared by the dreamforge subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "robot/error.h"

namespace dreamforge::tools {

// Error for bad user input; main() prints "dreamforge <cmd>: <message>" and exits 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Refuses an output that would destroy an input: throws UsageError naming both when `out`
// and `in` are the same file or directory, compared by real path (symlinks, "." and ".."
// resolved; hard links too when both exist). With `out_replaced_whole` (an output
// directory that is replaced as a whole), an input inside `out` is refused as well.
void RefuseOutputOverInput(const std::string& cmd, const std::string& in_flag, const std::string& in,
                           const std::string& out_flag, const std::string& out,
                           bool out_replaced_whole = false);

// Refuses an output that cannot be written before any work is done: throws UsageError
// "<cmd>: <flag> <path>: cannot write in directory D (Permission denied)" unless a file
// can be created in D, the directory that will hold `path` (its parent, "." for a bare
// name). With `create_parents` (outputs made with create_directories) D is the nearest
// existing ancestor; otherwise a missing parent is refused too.
void CheckOutputWritable(const std::string& cmd, const std::string& flag, const std::string& path,
                         bool create_parents = false);

// Writes `bytes` to `path` through `path`.tmp, fsync and a rename, so that the file under
// its name is the old one or the new one, never half-written. On failure removes the .tmp
// and throws std::runtime_error "<path>: cannot write (<reason>)" (a runtime failure, exit 1).
void WriteFileAtomic(const std::string& path, const std::string& bytes);

// Adds a seed option: a decimal integer 0..2^64-1. CLI11 alone would store "-1" as
// 18446744073709551615 and read "010" as octal 8; this refuses both, naming the flag.
CLI::Option* AddSeedOption(CLI::App* cmd, const std::string& name, uint64_t* seed,
                           const std::string& help);

// A CLI11 check that a value is a decimal integer in min..max, e.g. "--hidden: expected an
// integer in 1..16384, got '1e12'" (CLI11 alone reads 1e12 into an int and wraps it).
CLI::Validator DecimalRange(long long min, long long max);

// A one-line progress bar on stderr, redrawn in place when stderr is a terminal and
// printed every ~10% otherwise (logs stay readable).
class Progress {
 public:
  Progress(std::string label, long total);
  void Update(long done, const std::string& suffix = "");
  void Finish(const std::string& suffix = "");

 private:
  std::string label_;
  long total_;
  bool tty_;
  int last_decile_ = -1;
};

}  // namespace dreamforge::tools
