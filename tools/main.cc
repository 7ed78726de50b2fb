// dreamforge: one demonstration in, a deployable robot policy out. See README.md.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "robot/error.h"
#include "tools/commands.h"

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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const dreamforge::Error& e) {  // bad input: the message names the file or option
    std::fprintf(stderr, "dreamforge: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dreamforge: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
