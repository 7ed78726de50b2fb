// The HDF5 probe (datasets/h5_probe.h): a crash, a hang or an exhausted memory limit in the
// forked child becomes a one-line DatasetError naming the file; a child's own DatasetError
// comes back unchanged; and the files on which libhdf5 1.10.8 itself crashes or loops
// (fuzz/regressions/episode_reader/, found by fuzzing) are refused by EpisodeReader.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "datasets/episode_store.h"
#include "datasets/h5_probe.h"

namespace dreamforge::datasets {
namespace {

namespace fs = std::filesystem;
using internal::Ctx;
using internal::RunInProbe;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

Ctx MakeCtx() {
  Ctx ctx;
  ctx.file = "/data/untrusted.hdf5";
  return ctx;
}

// The DatasetError message RunInProbe throws for `read` ("" if it returns).
std::string ProbeMessage(const std::function<void()>& read, uint64_t headroom = uint64_t{4} << 30) {
  try {
    RunInProbe(MakeCtx(), read, headroom);
  } catch (const DatasetError& e) {
    return e.what();
  }
  return "";
}

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.empty()) {
      unsetenv(name_);
    } else {
      setenv(name_, old_.c_str(), 1);
    }
  }

 private:
  const char* name_;
  std::string old_;
};

TEST(H5Probe, CompletedReadRunsInTheChildThenHere) {
  int calls = 0;
  EXPECT_EQ(ProbeMessage([&] { ++calls; }), "");
  EXPECT_EQ(calls, 1) << "the parent runs the read once more after the child";
  const pid_t parent = getpid();
  const std::string msg = ProbeMessage([&] {
    if (getpid() != parent) raise(SIGSEGV);
  });
  EXPECT_NE(msg.find("crashed reading this file (signal SIGSEGV"), std::string::npos)
      << "the child did not run the read first: " << msg;
}

TEST(H5Probe, ChildDatasetErrorIsRepeatedHereUnchanged) {
  int calls = 0;
  const std::string msg = ProbeMessage([&] {
    ++calls;
    throw DatasetError("/data/untrusted.hdf5: /data/demo_0: attribute 'seed' missing");
  });
  EXPECT_EQ(msg, "/data/untrusted.hdf5: /data/demo_0: attribute 'seed' missing");
  EXPECT_EQ(calls, 1) << "a refusal is repeated here (coverage-guided fuzzing sees it)";
  // Should the repeat here not throw, the child's refusal still stands.
  const pid_t parent = getpid();
  const std::string child_only = ProbeMessage([&] {
    if (getpid() != parent) throw DatasetError("/data/untrusted.hdf5: child says no");
  });
  EXPECT_EQ(child_only, "/data/untrusted.hdf5: child says no");
}

TEST(H5Probe, RefusalAfterALibraryFailureIsNotRepeated) {
  int calls = 0;
  const std::string msg = ProbeMessage([&] {
    ++calls;
    internal::NoteLibraryError();  // as Hdf5Reason does for an H5::Exception
    throw DatasetError("/data/untrusted.hdf5: /data: HDF5 error: memory allocation failed");
  });
  EXPECT_EQ(msg, "/data/untrusted.hdf5: /data: HDF5 error: memory allocation failed");
  EXPECT_EQ(calls, 0) << "repeated here, where the child's memory limit does not hold";
}

TEST(H5Probe, OtherExceptionBecomesOneLineNamingTheFile) {
  const std::string msg = ProbeMessage([] { throw std::runtime_error("odd"); });
  EXPECT_EQ(msg, "/data/untrusted.hdf5: cannot read (odd)");
}

TEST(H5Probe, SegfaultInChildIsAnErrorNamingTheFileAndSignal) {
  const std::string msg = ProbeMessage([] { raise(SIGSEGV); });
  EXPECT_EQ(msg.rfind("/data/untrusted.hdf5: the HDF5 library crashed reading this file (signal "
                      "SIGSEGV in a probe process",
                      0),
            0u)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(H5Probe, AbortInChildIsAnError) {
  const std::string msg = ProbeMessage([] { std::abort(); });
  EXPECT_NE(msg.find("crashed reading this file (signal SIGABRT"), std::string::npos) << msg;
}

TEST(H5Probe, ExitFromInsideALibraryIsAnError) {
  const std::string msg = ProbeMessage([] { std::_Exit(3); });
  EXPECT_NE(msg.find("crashed reading this file (exit status 3"), std::string::npos) << msg;
}

TEST(H5Probe, HangIsKilledAfterTheDeadline) {
  ScopedEnv env("DREAMFORGE_HDF5_PROBE_SECONDS", "0.25");
  const std::string msg = ProbeMessage([] {
    for (volatile uint64_t i = 0;; i = i + 1) {
    }
  });
  EXPECT_EQ(msg,
            "/data/untrusted.hdf5: the HDF5 library did not finish reading this file in 0.25 s (a "
            "probe process, killed; nothing was read): the file is corrupt or was made to break "
            "readers");
}

// A child blocked from the start (as on a lock that another thread of the parent held at
// the fork) is the probe's failure, not the file's: after 5 s of almost no CPU the parent
// reads the file itself.
TEST(H5Probe, StalledChildFallsBackToReadingHere) {
  const pid_t parent = getpid();
  int calls = 0;
  const std::string msg = ProbeMessage([&] {
    if (getpid() != parent) {
      for (;;) pause();
    }
    ++calls;
  });
  EXPECT_EQ(msg, "");
  EXPECT_EQ(calls, 1);
}

TEST(H5Probe, AllocationBeyondTheHeadroomFailsInTheChild) {
  if (kSanitized)
    GTEST_SKIP() << "a sanitizer reports the failed allocation itself (the child dies)";
  const std::string msg = ProbeMessage(
      [] {
        std::vector<char> huge(size_t{1} << 30);  // 1 GiB against a 64 MiB headroom
        huge[0] = 1;
      },
      uint64_t{64} << 20);
  EXPECT_EQ(msg,
            "/data/untrusted.hdf5: reading it ran out of memory in a probe process limited to 64 "
            "MiB more than this one: a size field is corrupt or the file is hostile");
}

TEST(H5Probe, EnvironmentSwitchesItOff) {
  {
    ScopedEnv env("DREAMFORGE_HDF5_PROBE", "0");
    EXPECT_FALSE(internal::ProbeEnabled());
  }
  EXPECT_TRUE(internal::ProbeEnabled());
}

// Files on which libhdf5 1.10.8 reads out of bounds, uses freed memory, dereferences NULL,
// allocates gigabytes or loops (fuzz/regressions/libhdf5.md): each is refused with one line
// naming the file, and the one that dereferences NULL in every build is a contained crash.
TEST(H5Probe, EpisodeReaderRefusesFilesThatBreakLibhdf5) {
  ScopedEnv env("DREAMFORGE_HDF5_PROBE_SECONDS", "2");
  const fs::path dir = fs::path(DF_SOURCE_DIR) / "fuzz/regressions/episode_reader";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".hdf5") continue;
    ++files;
    const std::string file = entry.path().string();
    SCOPED_TRACE(file);
    std::string msg;
    try {
      EpisodeReader reader(entry.path());
      FAIL() << "accepted";
    } catch (const DatasetError& e) {
      msg = e.what();
    }
    EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    if (entry.path().filename() == "accum_read_null_after_failed_malloc.hdf5") {
      EXPECT_NE(msg.find("the HDF5 library crashed reading this file"), std::string::npos) << msg;
    }
  }
  EXPECT_GE(files, 7);
}

}  // namespace
}  // namespace dreamforge::datasets
