// speakup: one executable, one subcommand per job. Each subcommand lives in its own file.
#include <CLI/CLI.hpp>

#include "subcommands.h"

int main(int argc, char** argv) {
  CLI::App app{"SpeakUp: real-time 3D face mesh server and tools"};
  app.require_subcommand(1);
  auto bench = speakup::app::AddBenchCommand(app);
  auto mesh = speakup::app::AddMeshCommand(app);
  auto serve = speakup::app::AddServeCommand(app);
  auto loadgen = speakup::app::AddLoadgenCommand(app);
  CLI11_PARSE(app, argc, argv);
  if (bench->parsed()) return speakup::app::RunBench(argv[0]);
  if (mesh->parsed()) return speakup::app::RunMesh();
  if (serve->parsed()) return speakup::app::RunServe();
  if (loadgen->parsed()) return speakup::app::RunLoadgen();
  return 0;
}
