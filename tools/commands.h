// Each subcommand registers itself on the top-level CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace dreamforge::tools {

void AddRecordCommand(CLI::App& app);
void AddInspectCommand(CLI::App& app);
void AddDreamCommand(CLI::App& app);
void AddMergeCommand(CLI::App& app);
void AddEvalCommand(CLI::App& app);
void AddTrainCommand(CLI::App& app);
void AddExportCommand(CLI::App& app);
void AddControlCommand(CLI::App& app);
void AddReportCommand(CLI::App& app);
void AddRenderCommand(CLI::App& app);
void AddVideoCommand(CLI::App& app);
void AddPlayCommand(CLI::App& app);

}  // namespace dreamforge::tools
