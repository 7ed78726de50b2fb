#include <iostream>

#include "datasets/inspect.h"
#include "tools/commands.h"

namespace dreamforge::tools {

void AddInspectCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "inspect", "Summarize an episode file: episodes, samples, keys and shapes, successes.");
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("file", *file, "Episode file (HDF5, robomimic layout)")->required();
  cmd->add_flag("--json", *json,
                "Print one JSON object (keys include episodes, samples, successes)");
  cmd->callback([file, json] {
    const nlohmann::json summary = datasets::Inspect(*file);
    if (*json) {
      std::cout << summary.dump() << "\n";
    } else {
      std::cout << datasets::FormatInspect(summary);
    }
  });
}

}  // namespace dreamforge::tools
