#include "tools/cli_util.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace dreamforge::tools {

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
