// The dreamforge binary as a child process on a pseudo-terminal or a pipe, for tests that
// drive interactive commands (record, play) the way a person at a terminal would.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace dreamforge::test {

inline double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The dreamforge binary (DF_DREAMFORGE_BIN) as a child process: on a new pseudo-terminal
// (its controlling terminal, so Ctrl-C typed there signals it), or with stdin /dev/null
// and output on a pipe.
class Child {
 public:
  Child(std::vector<std::string> args, bool pty) {
    args.insert(args.begin(), DF_DREAMFORGE_BIN);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2] = {-1, -1};
    // Close-on-exec everywhere, so that no other child inherits these descriptors.
    if (pty) {
      EXPECT_EQ(openpty(&master_, &slave_, nullptr, nullptr, nullptr), 0);
      fcntl(master_, F_SETFD, FD_CLOEXEC);
      fcntl(slave_, F_SETFD, FD_CLOEXEC);
    } else {
      EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
      master_ = out[0];
    }
    pid_ = fork();
    if (pid_ == 0) {
      if (pty) {
        setsid();
        ioctl(slave_, TIOCSCTTY, 0);
        dup2(slave_, 0), dup2(slave_, 1), dup2(slave_, 2);
      } else {
        const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        dup2(null, 0), dup2(out[1], 1), dup2(out[1], 2);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (!pty) ::close(out[1]);
  }
  ~Child() {
    if (pid_ > 0 && status_ == kRunning) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) ::close(master_);
    if (slave_ >= 0) ::close(slave_);
  }
  void Send(const std::string& s) {
    ASSERT_EQ(write(master_, s.data(), s.size()), (ssize_t)s.size());
  }
  // Reads output for up to `seconds` (returns as soon as some arrived).
  void Pump(double seconds) {
    pollfd p{master_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(seconds * 1000)) <= 0) return;
    char buf[65536];
    const ssize_t n = read(master_, buf, sizeof buf);
    if (n > 0) out_.append(buf, static_cast<size_t>(n));
  }
  // Exit code (128 + N for signal N), or kRunning after `timeout` s.
  int Wait(double timeout) {
    const double end = Now() + timeout;
    while (status_ == kRunning && Now() < end) {
      Pump(0.02);
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
    }
    for (int i = 0; i < 20; ++i) Pump(0.01);
    return status_;
  }
  const std::string& output() const { return out_; }
  int slave() const { return slave_; }
  pid_t pid() const { return pid_; }
  static constexpr int kRunning = -1;

 private:
  int master_ = -1, slave_ = -1;
  pid_t pid_ = -1;
  int status_ = kRunning;
  std::string out_;
};

}  // namespace dreamforge::test
