#pragma once

#include <CLI/CLI.hpp>

namespace speakup::app {

// `speakup bench`: engine latency per model, 1 and 2 threads.
CLI::App* AddBenchCommand(CLI::App& app);
int RunBench();

}  // namespace speakup::app
