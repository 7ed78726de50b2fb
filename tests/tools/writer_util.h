// The dreamforge binary as a writer under attack, for the killed-writer and full-disk
// tests: run it with a deadline, SIGKILL it after a delay or just before its n-th rename
// (strace's syscall tampering), and compare the folders it leaves.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/common/test_util.h"

namespace dreamforge::test {

namespace wfs = std::filesystem;

struct ProcRun {
  int status = -1;      // exit code, or 128 + N when signal N ended it
  bool killed = false;  // the test sent SIGKILL
  double seconds = 0;   // wall time
  std::string output;   // stdout and stderr together
};

// Runs `argv` (argv[0] a path) with stdin /dev/null and output in `log`. With
// `kill_after` >= 0, SIGKILLs it when it is still running after that many seconds; with
// `kill_when`, as soon as that path exists. A run still going after `hang_guard` s is
// killed and reported as a failure.
inline ProcRun RunArgs(const std::vector<std::string>& args, const wfs::path& log,
                       double kill_after = -1, double hang_guard = 300,
                       const wfs::path& kill_when = {}) {
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (std::string& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    const int in = open("/dev/null", O_RDONLY);
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0), dup2(out, 1), dup2(out, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  ProcRun r;
  int st = 0;
  for (;;) {
    if (waitpid(pid, &st, WNOHANG) == pid) break;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::error_code ec;
    const bool appeared = !kill_when.empty() && wfs::exists(kill_when, ec);
    if ((kill_after >= 0 && r.seconds >= kill_after) || appeared || r.seconds > hang_guard) {
      if (r.seconds > hang_guard) ADD_FAILURE() << args[0] << " hung for " << hang_guard << " s";
      kill(pid, SIGKILL);
      r.killed = true;
      waitpid(pid, &st, 0);
      break;
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(kill_after >= 0 || !kill_when.empty() ? 1 : 5));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.output = ReadBytes(log);
  return r;
}

inline std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> w;
  std::istringstream is(s);
  for (std::string x; is >> x;) w.push_back(x);
  return w;
}

// One rename(2)-family call of a run: the syscall, its number among that thread's calls of
// that syscall (what strace's when= counts), and the path it renames to.
struct RenameCall {
  std::string syscall;
  int nth = 0;
  std::string target;
};

constexpr char kRenameSet[] = "rename,renameat,renameat2";

inline bool HaveStrace() { return Shell("command -v strace").status == 0; }

// The renames that `args` makes, in order, from an strace log of a complete run.
inline std::vector<RenameCall> ParseRenames(const std::string& log) {
  std::vector<RenameCall> calls;
  std::map<std::string, int> counts;  // "<tid> <syscall>" -> calls so far
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string tid, rest;
    ls >> tid;
    std::getline(ls, rest);
    rest.erase(0, rest.find_first_not_of(' '));
    const size_t paren = rest.find('(');
    if (paren == std::string::npos || rest.rfind("rename", 0) != 0) continue;
    RenameCall c;
    c.syscall = rest.substr(0, paren);
    c.nth = ++counts[tid + " " + c.syscall];
    // The second quoted string is the target (rename and renameat2 alike).
    size_t q = rest.find('"');
    if (q != std::string::npos) q = rest.find('"', rest.find('"', q + 1) + 1);
    if (q != std::string::npos) c.target = rest.substr(q + 1, rest.find('"', q + 1) - q - 1);
    calls.push_back(c);
  }
  return calls;
}

// strace's options that keep a traced sanitizer build working: LeakSanitizer cannot run
// under ptrace and fails the traced binary's exit ("LeakSanitizer has encountered a fatal
// error"), so it is off for the traced command (ASan itself stays on).
inline std::vector<std::string> StraceEnv() {
#if defined(__SANITIZE_ADDRESS__)
  const char* old = std::getenv("ASAN_OPTIONS");
  return {"-E",
          std::string("ASAN_OPTIONS=") + (old ? std::string(old) + ":" : "") + "detect_leaks=0"};
#else
  return {};
#endif
}

inline std::vector<std::string> Strace(std::vector<std::string> options) {
  std::vector<std::string> a = {"/usr/bin/strace"};
  for (const std::string& e : StraceEnv()) a.push_back(e);
  a.insert(a.end(), options.begin(), options.end());
  return a;
}

inline std::vector<RenameCall> Renames(const std::vector<std::string>& args, const wfs::path& dir) {
  std::vector<std::string> a = Strace({"-f", "-qq", "-o", (dir / "strace.log").string(), "-e",
                                       std::string("trace=") + kRenameSet, "--"});
  a.insert(a.end(), args.begin(), args.end());
  const ProcRun r = RunArgs(a, dir / "strace.out");
  EXPECT_EQ(r.status, 0) << r.output;
  return ParseRenames(ReadBytes(dir / "strace.log"));
}

// Runs `args` and SIGKILLs it on entering `call` (the syscall does not run).
inline ProcRun KillBeforeRename(const std::vector<std::string>& args, const RenameCall& call,
                                const wfs::path& dir) {
  std::vector<std::string> a =
      Strace({"-f", "-qq", "-o", "/dev/null", "-e", "trace=" + call.syscall, "-e",
              "inject=" + call.syscall + ":signal=KILL:when=" + std::to_string(call.nth), "--"});
  a.insert(a.end(), args.begin(), args.end());
  ProcRun r = RunArgs(a, dir / "strace.out");
  r.killed = r.status == 128 + SIGKILL;
  return r;
}

// Every regular file under `root` (relative path -> bytes).
inline std::map<std::string, std::string> Tree(const wfs::path& root) {
  std::map<std::string, std::string> t;
  std::error_code ec;
  if (!wfs::exists(root, ec)) return t;
  if (wfs::is_regular_file(root, ec)) return {{".", ReadBytes(root)}};
  for (const auto& e : wfs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) t[wfs::relative(e.path(), root).string()] = ReadBytes(e.path());
  }
  return t;
}

inline std::string Basename(const std::string& p) { return wfs::path(p).filename().string(); }

// "a 3, b 1" of a count table, for the trial summaries.
inline std::string Counts(const std::map<std::string, int>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return s;
}

// The binary under test (DF_TEST_DREAMFORGE_BIN runs the trials against another build, e.g.
// one without a fix), the shipped demos, and a command line as argv.
inline const std::string kWriterBin = std::getenv("DF_TEST_DREAMFORGE_BIN")
                                          ? std::getenv("DF_TEST_DREAMFORGE_BIN")
                                          : DF_DREAMFORGE_BIN;
inline const std::string kWriterDemo =
    std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5";
inline const std::string kWriterScript =
    std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.script.yaml";

inline std::vector<std::string> WriterArgv(const std::string& args) {
  std::vector<std::string> a = Words(args);
  a.insert(a.begin(), kWriterBin);
  return a;
}

}  // namespace dreamforge::test
