// Writers on a full disk: each command that writes (dream, merge, train, export, record,
// report, render) runs with its output on a small tmpfs holding an earlier complete output and a
// filler file that leaves only a little room (several amounts, from none to most of what
// the new output needs). Each must exit 1 (runtime failure) with one line naming the path
// and the reason, leave the earlier output byte-identical and no temporary file behind
// (dream and render keep their finished parts, for a rerun to resume). The tmpfs is mounted in a
// private mount namespace of the test process (it goes away with the process, whatever
// happens); where mounting is not allowed the tests are skipped, saying why.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "tests/tools/writer_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using test::ProcRun;
using test::RunArgs;
using test::Tree;
using test::Words;
const auto& Bytes = test::ReadBytes;

const std::string& kBin = test::kWriterBin;
const std::string& kDemo = test::kWriterDemo;
const std::string kOtherDemo = std::string(DF_SOURCE_DIR) + "/datasets/demos/cube_stack.hdf5";
const std::string& kScript = test::kWriterScript;

std::vector<std::string> Bin(const std::string& args) { return test::WriterArgv(args); }

size_t TreeBytes(const fs::path& p) {
  size_t n = 0;
  for (const auto& [name, bytes] : Tree(p)) n += bytes.size();
  return n;
}

class FullDiskTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    mnt_ = dir_ / "small";
    fs::create_directories(mnt_);
    // A mount namespace of this process alone, so that no mount outlives it.
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      GTEST_SKIP() << "cannot make a private mount namespace (" << std::strerror(errno)
                   << "; needs root or CAP_SYS_ADMIN): the full-disk tests are skipped";
    }
    if (!Mount()) {
      GTEST_SKIP() << "cannot mount a tmpfs on " << mnt_ << " (" << std::strerror(errno)
                   << "): the full-disk tests are skipped";
    }
    Unmount();
  }
  void TearDown() override {
    Unmount();
    TempDirTest::TearDown();
  }
  bool Mount() {
    if (mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=16m") != 0) return false;
    mounted_ = true;
    return true;
  }
  void Unmount() {
    if (mounted_ && umount2(mnt_.c_str(), MNT_DETACH) != 0) ADD_FAILURE() << "umount " << mnt_ << ": " << std::strerror(errno);
    mounted_ = false;
  }
  // Fills the mount but `room` bytes with one file; returns the bytes left free.
  size_t Fill(size_t room) {
    struct statvfs s {};
    EXPECT_EQ(statvfs(mnt_.c_str(), &s), 0);
    const size_t free_bytes = static_cast<size_t>(s.f_bavail) * s.f_frsize;
    if (free_bytes > room) {
      const int fd = open((mnt_ / "filler").c_str(), O_CREAT | O_WRONLY, 0644);
      EXPECT_EQ(posix_fallocate(fd, 0, static_cast<off_t>(free_bytes - room)), 0);
      close(fd);
    }
    EXPECT_EQ(statvfs(mnt_.c_str(), &s), 0);
    return static_cast<size_t>(s.f_bavail) * s.f_frsize;
  }

  ProcRun Ok(const std::string& args) {
    const ProcRun r = RunArgs(Bin(args), dir_ / "ok.log");
    EXPECT_EQ(r.status, 0) << args << "\n" << r.output;
    return r;
  }

  // For each amount of room (a fraction of `needed` bytes): a fresh mount, `prepare` puts
  // the earlier output there, the rest is filled, `args` runs and must fail as described
  // above; `untouched` checks the earlier output, `after` may do more (e.g. a resume).
  void Starve(const std::string& name, const std::string& args, size_t needed, const std::function<void()>& prepare,
              const std::function<void()>& untouched, const std::vector<std::string>& allowed_leftovers = {},
              const std::function<void()>& after = nullptr) {
    int failed = 0;
    std::string messages;
    for (const double fraction : {0.0, 0.25, 0.5, 0.75}) {
      const size_t room = static_cast<size_t>(fraction * static_cast<double>(needed));
      SCOPED_TRACE(name + " with " + std::to_string(room) + " bytes free");
      ASSERT_TRUE(Mount());
      prepare();
      const std::set<std::string> before = Entries();
      Fill(room);
      const ProcRun r = RunArgs(Bin(args), dir_ / "starved.log");
      EXPECT_EQ(r.status, 1) << r.output;
      failed += r.status == 1;
      // One line says what failed: the last, naming a path on the full file system and
      // the reason; no LibTorch backtrace or HDF5 error stack.
      std::string last = r.output.substr(0, r.output.find_last_not_of('\n') + 1);
      last = last.substr(last.find_last_of('\n') + 1);
      EXPECT_THAT(last, ::testing::StartsWith("dreamforge: ")) << r.output;
      EXPECT_THAT(last, HasSubstr("No space left on device")) << r.output;
      EXPECT_THAT(last, HasSubstr(mnt_.string())) << r.output;
      EXPECT_THAT(r.output, ::testing::Not(HasSubstr("frame #"))) << r.output;
      EXPECT_THAT(r.output, ::testing::Not(HasSubstr("HDF5-DIAG"))) << r.output;
      if (messages.find(last) == std::string::npos) messages += "\n    " + last;
      untouched();
      fs::remove(mnt_ / "filler");
      for (const std::string& e : Entries()) {
        if (before.count(e)) continue;
        bool allowed = false;
        for (const std::string& prefix : allowed_leftovers) allowed = allowed || e.rfind(prefix, 0) == 0;
        EXPECT_TRUE(allowed) << "left behind: " << e;
      }
      if (after) after();
      Unmount();
      if (HasFatalFailure()) return;
    }
    std::printf("full disk: %s: %d of 4 runs (0, 25, 50, 75%% of the %zu bytes it writes free) failed with exit 1; "
                "the messages:%s\n",
                name.c_str(), failed, needed, messages.c_str());
  }
  // Every path under the mount, relative, but the filler.
  std::set<std::string> Entries() {
    std::set<std::string> s;
    for (const auto& e : fs::recursive_directory_iterator(mnt_)) {
      const std::string rel = fs::relative(e.path(), mnt_).string();
      if (rel != "filler") s.insert(rel);
    }
    return s;
  }

  fs::path mnt_;
  bool mounted_ = false;
};

TEST_F(FullDiskTest, Dream) {
  const fs::path ref = dir_ / "ref.hdf5";
  Ok("dream --demo " + kDemo + " --count 4 --chunk 2 --seed 11 --workers 1 --out " + ref.string());
  const size_t needed = fs::file_size(ref) * 2;  // its parts, then the joined file
  const std::string old_summary = "{\"kept\": 1}\n";
  Starve(
      "dream", "dream --demo " + kDemo + " --count 4 --chunk 2 --seed 11 --workers 1 --out " + (mnt_ / "dreams.hdf5").string(),
      needed,
      [&] {
        fs::copy_file(kOtherDemo, mnt_ / "dreams.hdf5");
        std::ofstream(mnt_ / "dreams.summary.json") << old_summary;
      },
      [&] {
        EXPECT_TRUE(Bytes(mnt_ / "dreams.hdf5") == Bytes(kOtherDemo)) << "dreams.hdf5 changed";
        EXPECT_EQ(Bytes(mnt_ / "dreams.summary.json"), old_summary);
      },
      {"dreams.hdf5.parts"});
}

TEST_F(FullDiskTest, Merge) {
  const fs::path s0 = dir_ / "s0.hdf5", s1 = dir_ / "s1.hdf5";
  const std::string dream = "dream --demo " + kDemo + " --count 4 --chunk 2 --seed 11 --workers 1 ";
  Ok(dream + "--shard 0/2 --out " + s0.string());
  Ok(dream + "--shard 1/2 --out " + s1.string());
  const std::string merge = "merge " + s0.string() + " " + s1.string() + " --out ";
  Ok(merge + (dir_ / "ref.hdf5").string());
  Starve(
      "merge", merge + (mnt_ / "merged.hdf5").string(), fs::file_size(dir_ / "ref.hdf5"),
      [&] { fs::copy_file(kOtherDemo, mnt_ / "merged.hdf5"); },
      [&] { EXPECT_TRUE(Bytes(mnt_ / "merged.hdf5") == Bytes(kOtherDemo)) << "merged.hdf5 changed"; });
}

TEST_F(FullDiskTest, Record) {
  const std::string record = "record --task bottle_place --device script:" + kScript + " --out ";
  Ok(record + (dir_ / "ref.hdf5").string());
  Starve(
      "record", record + (mnt_ / "demo.hdf5").string(), fs::file_size(dir_ / "ref.hdf5"),
      [&] { fs::copy_file(kOtherDemo, mnt_ / "demo.hdf5"); },
      [&] { EXPECT_TRUE(Bytes(mnt_ / "demo.hdf5") == Bytes(kOtherDemo)) << "demo.hdf5 changed"; });
}

// train on a full disk is a resumed run (2 of 6 epochs done) that cannot write its next
// checkpoints: it fails, and with room again --resume ends where an uninterrupted run does.
TEST_F(FullDiskTest, TrainThenResume) {
  const fs::path data = dir_ / "dreams.hdf5";
  Ok("dream --demo " + kDemo + " --count 10 --chunk 2 --seed 11 --workers 1 --out " + data.string());
  const std::string train = "train --data " + data.string() +
                            " --epochs 6 --batch 16 --hidden 16 16 --threads 1 --checkpoint-every 2 --seed 5 --out ";
  Ok(train + (dir_ / "ref").string());
  Ok(train + (dir_ / "two").string() + " --stop-after 2");
  const auto two = Tree(dir_ / "two");
  const fs::path run = mnt_ / "run";
  Starve(
      "train", train + run.string() + " --resume", TreeBytes(dir_ / "ref") - TreeBytes(dir_ / "two"),
      [&] { fs::copy(dir_ / "two", run, fs::copy_options::recursive); },
      [&] {
        // The checkpoints written before stay as they were.
        const auto now = Tree(run);
        for (const char* f : {"checkpoints/epoch_0002.pt", "run.json"}) {
          EXPECT_TRUE(now.count(f) && now.at(f) == two.at(f)) << f << " changed";
        }
      },
      {},
      [&] {
        const ProcRun r = RunArgs(Bin(train + run.string() + " --resume"), dir_ / "resume.log");
        EXPECT_EQ(r.status, 0) << r.output;
        const auto a = Tree(dir_ / "ref"), b = Tree(run);
        for (const char* f : {"best.json", "best.pt", "checkpoints/epoch_0006.pt"}) {
          EXPECT_TRUE(a.count(f) && b.count(f) && a.at(f) == b.at(f)) << f << " differs from the uninterrupted run's";
        }
      });
}

TEST_F(FullDiskTest, Export) {
  const fs::path data = dir_ / "dreams.hdf5";
  Ok("dream --demo " + kDemo + " --count 4 --chunk 2 --seed 11 --workers 1 --out " + data.string());
  const std::string train = "train --data " + data.string() + " --batch 64 --hidden 16 16 --threads 1 ";
  Ok(train + "--epochs 2 --seed 1 --out " + (dir_ / "a").string());
  Ok(train + "--epochs 1 --seed 2 --out " + (dir_ / "b").string());
  Ok("export --policy " + (dir_ / "b").string() + " --out " + (dir_ / "old").string());
  Ok("export --policy " + (dir_ / "a").string() + " --out " + (dir_ / "new").string());
  const auto old_tree = Tree(dir_ / "old");
  Starve(
      "export", "export --policy " + (dir_ / "a").string() + " --out " + (mnt_ / "bundle").string(),
      TreeBytes(dir_ / "new"), [&] { fs::copy(dir_ / "old", mnt_ / "bundle", fs::copy_options::recursive); },
      [&] { EXPECT_TRUE(Tree(mnt_ / "bundle") == old_tree) << "the old bundle changed"; });
}

TEST_F(FullDiskTest, Report) {
  const fs::path run_dir = dir_ / "rundir";
  fs::create_directories(run_dir);
  fs::copy_file(kDemo, run_dir / "demo.hdf5");
  Ok("dream --demo " + kDemo + " --count 4 --chunk 2 --seed 11 --workers 1 --out " + (run_dir / "dreams.hdf5").string());
  Ok("report " + run_dir.string() + " --out " + (dir_ / "ref.html").string());
  const std::string old = "<!DOCTYPE html>\n<html><body>an earlier report</body></html>\n";
  Starve(
      "report", "report " + run_dir.string() + " --out " + (mnt_ / "report.html").string(), fs::file_size(dir_ / "ref.html"),
      [&] { std::ofstream(mnt_ / "report.html") << old; },
      [&] { EXPECT_EQ(Bytes(mnt_ / "report.html"), old); });
}

// render writes resumable parts (OUT.render/), kept on failure as dream's are.
TEST_F(FullDiskTest, Render) {
  const fs::path states = dir_ / "dreams.hdf5";
  Ok("dream --demo " + kDemo + " --count 4 --chunk 2 --seed 11 --workers 1 --out " + states.string());
  const std::string render = "render " + states.string() + " --size 32 --chunk 2 --workers 1 --out ";
  Ok(render + (dir_ / "ref.hdf5").string());
  Starve(
      "render", render + (mnt_ / "rendered.hdf5").string(), fs::file_size(dir_ / "ref.hdf5") * 2,
      [&] { fs::copy_file(kOtherDemo, mnt_ / "rendered.hdf5"); },
      [&] { EXPECT_TRUE(Bytes(mnt_ / "rendered.hdf5") == Bytes(kOtherDemo)) << "rendered.hdf5 changed"; },
      {"rendered.hdf5.render"});
}

}  // namespace
}  // namespace dreamforge
