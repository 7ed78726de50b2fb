#include "tools/cli_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace dreamforge::tools {

namespace {

namespace fs = std::filesystem;

// The path with symlinks resolved as far as it exists, absolute, without a trailing "/".
fs::path RealPath(const std::string& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p), ec);
  if (ec) r = fs::absolute(p).lexically_normal();
  if (r.filename().empty() && r.has_parent_path()) r = r.parent_path();
  return r;
}

}  // namespace

void RefuseOutputOverInput(const std::string& cmd, const std::string& in_flag, const std::string& in,
                           const std::string& out_flag, const std::string& out, bool out_replaced_whole) {
  if (in.empty() || out.empty()) return;
  const fs::path a = RealPath(in), b = RealPath(out);
  std::error_code ec;
  bool same = a == b;
  if (!same && fs::exists(a, ec) && fs::exists(b, ec)) same = fs::equivalent(a, b, ec);
  if (same) {
    throw UsageError(cmd + ": " + out_flag + " " + out + " is the same path as " + in_flag + " " + in +
                     ": writing it would destroy the input");
  }
  if (out_replaced_whole && std::mismatch(b.begin(), b.end(), a.begin(), a.end()).first == b.end()) {
    throw UsageError(cmd + ": " + out_flag + " " + out + " contains " + in_flag + " " + in +
                     ": replacing it would destroy the input");
  }
}

void CheckOutputWritable(const std::string& cmd, const std::string& flag, const std::string& path,
                         bool create_parents) {
  const std::string what = cmd + ": " + flag + " " + path + ": ";
  std::error_code ec;
  fs::path target(path);
  if (target.filename().empty()) target = target.parent_path();  // "bundle/"
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  if (create_parents) {
    // The nearest existing ancestor: "run/checkpoints" with no run/ yet is checked in ".".
    while (!fs::exists(dir, ec)) {
      const fs::path up = dir.parent_path();
      if (up.empty()) {
        dir = ".";
        break;
      }
      if (up == dir) break;
      dir = up;
    }
  }
  if (!fs::exists(dir, ec)) throw UsageError(what + "directory " + dir.string() + " does not exist");
  if (!fs::is_directory(dir, ec)) throw UsageError(what + dir.string() + " is not a directory");
  // Create and remove a file: access() would not see a read-only mount, nor answer for root.
  const std::string probe = (dir / (".dreamforge-write-check." + std::to_string(getpid()))).string();
  const int fd = ::open(probe.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw UsageError(what + "cannot write in directory " + dir.string() + " (" + std::strerror(errno) + ")");
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

void WriteFileAtomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const auto fail = [&](int err) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": cannot write (" + std::strerror(err) + ")");
  };
  const int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) fail(errno);
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      fail(err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail(err);
  }
  if (::close(fd) != 0) fail(errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(errno);
}

CLI::Validator DecimalRange(long long min, long long max) {
  return CLI::Validator(
      [min, max](std::string& s) -> std::string {
        const std::string bad = "expected an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                                ", got '" + s + "'";
        const size_t digits = s.find_first_not_of("0123456789", s[0] == '-' ? 1 : 0);
        if (s.empty() || s == "-" || digits != std::string::npos || s.size() > 18) return bad;
        const long long v = std::stoll(s);
        if (v < min || v > max) return bad;
        s = std::to_string(v);  // no octal reading of a leading 0
        return std::string();
      },
      std::to_string(min) + ".." + std::to_string(max));
}

CLI::Option* AddSeedOption(CLI::App* cmd, const std::string& name, uint64_t* seed,
                           const std::string& help) {
  const CLI::Validator decimal(
      [](std::string& s) -> std::string {
        const std::string bad = "expected a non-negative integer (0 to 18446744073709551615), got '" + s + "'";
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return bad;
        errno = 0;
        const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
        if (errno == ERANGE) return bad;
        s = std::to_string(v);  // "010" is ten, not CLI11's octal eight
        return std::string();
      },
      "SEED");
  return cmd->add_option(name, *seed, help)->check(decimal)->capture_default_str();
}

Progress::Progress(std::string label, long total)
    : label_(std::move(label)), total_(std::max(1L, total)), tty_(isatty(STDERR_FILENO) != 0) {}

void Progress::Update(long done, const std::string& suffix) {
  const double f = std::clamp(static_cast<double>(done) / total_, 0.0, 1.0);
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(f * kWidth);
    std::fprintf(stderr, "\r%s [%s%s] %ld/%ld %s\033[K", label_.c_str(),
                 std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                 done, total_, suffix.c_str());
    std::fflush(stderr);
  } else {
    const int decile = static_cast<int>(f * 10);
    if (decile != last_decile_) {
      last_decile_ = decile;
      std::fprintf(stderr, "%s %3d%% %ld/%ld %s\n", label_.c_str(), decile * 10, done, total_,
                   suffix.c_str());
    }
  }
}

void Progress::Finish(const std::string& suffix) {
  Update(total_, suffix);
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace dreamforge::tools
