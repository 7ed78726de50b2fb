#include "datasets/h5_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

#include "robot/fuzz_plant.h"

// Present when a sanitizer runtime is linked (libFuzzer registers a callback that saves the
// current input as a crash: a probe child must die quietly instead).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace dreamforge::datasets::internal {

namespace {

constexpr char kOk = 'K';
constexpr char kError = 'E';         // a dreamforge::Error from our checks; its message follows
constexpr char kLibraryError = 'L';  // a dreamforge::Error after libhdf5 failed; message
constexpr char kException = 'X';     // another std::exception; what() follows
constexpr char kNoMemory = 'M';      // std::bad_alloc (the address-space limit, or a real one)

// Virtual memory of this process in bytes (0 if unknown).
uint64_t VirtualMemoryBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  if (!(statm >> pages)) return 0;
  return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void WriteAll(int fd, const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    const ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

[[noreturn]] void RunChild(int fd, const std::function<void()>& read, uint64_t headroom) {
  // Die of the signal, with no handler's report: ours, the sanitizers' or libFuzzer's.
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP}) signal(sig, SIG_DFL);
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) dup2(devnull, STDERR_FILENO);
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  // Under a sanitizer the virtual size already counts its shadow reservation (terabytes),
  // so the limit still leaves exactly `headroom` for new mappings; the sanitizer's
  // allocator then fails the allocation instead of libFuzzer's -malloc_limit_mb hook
  // reporting it (from the child, where it is not a finding of the process under test).
  if (const uint64_t vm = VirtualMemoryBytes(); vm > 0) {
    const rlimit as{vm + headroom, vm + headroom};
    setrlimit(RLIMIT_AS, &as);
  }
#ifdef DF_FUZZ_PLANT
  fuzz_plant::probe_child_fd = fd;
#endif
  std::string reply(1, kOk);
  const uint64_t library_errors = LibraryErrorCount();
  try {
    read();
  } catch (const Error& e) {
    reply =
        std::string(1, LibraryErrorCount() != library_errors ? kLibraryError : kError) + e.what();
  } catch (const std::bad_alloc&) {
    reply = std::string(1, kNoMemory);
  } catch (const std::exception& e) {
    reply = std::string(1, kException) + e.what();
  } catch (...) {
    reply = std::string(1, kException) + "unknown exception";
  }
  WriteAll(fd, reply);
  _exit(0);  // no atexit handlers, no destructors: the parent owns every resource
}

std::string DescribeDeath(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return std::string("signal ") + (name ? std::string("SIG") + name : std::to_string(sig));
  }
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

// DREAMFORGE_HDF5_PROBE_SECONDS (0.05..3600, decimals allowed) replaces the deadline's
// fixed minute: the fuzz harnesses use a fraction of a second, since a mutated file that
// makes libhdf5 loop would otherwise cost each run the whole deadline.
double ProbeBaseSeconds() {
  const char* v = std::getenv("DREAMFORGE_HDF5_PROBE_SECONDS");
  if (v == nullptr) return 60;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  return (end != v && *end == '\0' && s >= 0.05 && s <= 3600) ? s : 60;
}

// "60 s", "0.5 s".
std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

// Seconds after which a child that has used almost no CPU time counts as stalled.
constexpr int64_t kStallSeconds = 5;

// CPU seconds (user + system) that process `pid` has used; a large value if unknown, so
// that an unreadable /proc never makes a child look stalled.
double ChildCpuSeconds(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1e9;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 1e9;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // after "pid (comm)": state is field 3
  if (p == nullptr) return 1e9;
  unsigned long long utime = 0, stime = 0;
  // Fields 3..15: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
  // stime.
  if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                  &stime) != 2) {
    return 1e9;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// DREAMFORGE_HDF5_PROBE_MEMORY_MB (16..1048576) replaces the default headroom of 4 GiB.
uint64_t DefaultHeadroomBytes() {
  const char* v = std::getenv("DREAMFORGE_HDF5_PROBE_MEMORY_MB");
  if (v != nullptr) {
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(v, &end, 10);
    if (end != v && *end == '\0' && mb >= 16 && mb <= (1ull << 20)) return mb << 20;
  }
  return uint64_t{4} << 30;
}

}  // namespace

bool ProbeEnabled() {
  const char* v = std::getenv("DREAMFORGE_HDF5_PROBE");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

void RunInProbe(const Ctx& ctx, const std::function<void()>& read, uint64_t headroom) {
  if (headroom == 0) headroom = DefaultHeadroomBytes();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ctx.Fail("", std::string("cannot start the HDF5 probe process (pipe: ") + std::strerror(errno) +
                     ")");
  }
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    ctx.Fail("",
             std::string("cannot start the HDF5 probe process (fork: ") + std::strerror(err) + ")");
  }
  if (pid == 0) {
    close(fds[0]);
    RunChild(fds[1], read, headroom);
  }
  close(fds[1]);
  // A file can also make libhdf5 loop forever (fuzz/regressions/libhdf5.md). Validation reads
  // metadata and low-dimensional data at well over 20 MB/s here; the deadline allows 1 MB/s plus a
  // minute, so that only a hang, never a slow disk or a busy machine, reaches it.
  const double deadline_s =
      ProbeBaseSeconds() + static_cast<double>(ctx.file_bytes / (uint64_t{1} << 20));
  const auto start = std::chrono::steady_clock::now();
  std::string reply;
  bool hung = false;
  char buf[4096];
  bool stalled = false;
  for (;;) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const int64_t elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
    const int64_t left_ms = static_cast<int64_t>(deadline_s * 1000) - elapsed_ms;
    if (left_ms <= 0) {
      hung = true;
      kill(pid, SIGKILL);
      break;
    }
    // A child that has barely run after kStallSeconds is blocked, not reading: forked from a
    // process whose other threads held a lock it needs (under ASan, its allocator's lock
    // while c10d's threads allocate: seen in distributed training). That is the probe's
    // failure, not the file's: read the file here, unprotected, as without the probe.
    if (elapsed_ms >= kStallSeconds * 1000 && ChildCpuSeconds(pid) < 0.02 * elapsed_ms / 1000.0) {
      stalled = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ctx.Fail("", std::string("HDF5 probe process lost (waitpid: ") + std::strerror(errno) + ")");
    }
  }
  if (stalled) {
    read();
    return;
  }
#ifdef DF_FUZZ_PLANT
  if (WIFEXITED(status) && WEXITSTATUS(status) == fuzz_plant::kProbeChildExit && !reply.empty() &&
      reply[0] == 'P') {
    fuzz_plant::Reached((reply.substr(1) + " (in the HDF5 probe's child process)").c_str());
  }
#endif
  if (hung) {
    ctx.Fail("", "the HDF5 library did not finish reading this file in " +
                     FormatSeconds(deadline_s) +
                     " (a probe process, killed; nothing was read): the file is corrupt or "
                     "was made to break readers");
  }
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0 && !reply.empty();
  if (!clean) {
    ctx.Fail("", "the HDF5 library crashed reading this file (" + DescribeDeath(status) +
                     " in a probe process; nothing was read): the file is corrupt or was made "
                     "to break readers");
  }
  if (reply[0] == kError) {
    read();  // throws the same error here
    throw DatasetError(reply.substr(1));
  }
  // Not repeated: the library's failure may have been the child's memory limit, which this
  // process does not have.
  if (reply[0] == kLibraryError) throw DatasetError(reply.substr(1));
  if (reply[0] == kNoMemory) {
    ctx.Fail("", "reading it ran out of memory in a probe process limited to " +
                     std::to_string(headroom >> 20) +
                     " MiB more than this one: a size field is corrupt or the file is hostile");
  }
  if (reply[0] == kException) ctx.Fail("", "cannot read (" + reply.substr(1) + ")");
  read();
}

}  // namespace dreamforge::datasets::internal
