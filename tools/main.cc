// dreamforge: one demonstration in, a deployable robot policy out. See README.md.
//
// Exit codes (README.md, "Exit codes"): 0 success; 2 bad input (a dreamforge::Error, whose
// message names the file, flag or field, or a command-line parse error); 1 a runtime
// failure (anything else: I/O, LibTorch, a lost robot, a demonstration that failed).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "robot/error.h"
#include "tools/commands.h"

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer (tools/test.sh --asan): the window view's Qt (OpenCV HighGUI) starts D-Bus,
// whose library keeps an allocation until the process ends; not ours to free.
extern "C" const char* __lsan_default_suppressions() { return "leak:libdbus-1.so\n"; }
#endif

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

// "record, dream, ... or report"
std::string CommandList(CLI::App& app) {
  const auto subs = app.get_subcommands([](CLI::App*) { return true; });
  std::string s;
  for (size_t i = 0; i < subs.size(); ++i) {
    s += (i == 0 ? "" : i + 1 == subs.size() ? " or " : ", ") + subs[i]->get_name();
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "dreamforge: record one demonstration, dream it into thousands of physically perturbed\n"
      "episodes, train a policy on them and ship it to an edge controller."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dreamforge 0.1.0");
  dreamforge::tools::AddRecordCommand(app);
  dreamforge::tools::AddDreamCommand(app);
  dreamforge::tools::AddMergeCommand(app);
  dreamforge::tools::AddTrainCommand(app);
  dreamforge::tools::AddEvalCommand(app);
  dreamforge::tools::AddExportCommand(app);
  dreamforge::tools::AddControlCommand(app);
  dreamforge::tools::AddInspectCommand(app);
  dreamforge::tools::AddReportCommand(app);
  dreamforge::tools::AddRenderCommand(app);
  dreamforge::tools::AddVideoCommand(app);
  dreamforge::tools::AddPlayCommand(app);
  // One line per parse error, naming the subcommand it was parsing.
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    const auto parsed = a->get_subcommands();
    const std::string cmd = parsed.empty() ? "" : parsed.front()->get_name() + ": ";
    return "dreamforge: " + cmd + e.what() + " (see --help)\n";
  });
  if (argc > 1 && argv[1][0] != '-') {
    try {
      app.get_subcommand(argv[1]);
    } catch (const CLI::OptionNotFound&) {
      std::fprintf(stderr, "dreamforge: unknown command '%s' (expected %s; see --help)\n", argv[1],
                   CommandList(app).c_str());
      return kExitBadInput;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end parsing with exit code 0; every other parse error is bad input.
    return app.exit(e) == 0 ? 0 : kExitBadInput;
  } catch (const dreamforge::Error& e) {  // bad input: the message names the file or option
    std::fprintf(stderr, "dreamforge: %s\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dreamforge: error: %s\n", e.what());
    return kExitFailure;
  }
  return 0;
}
