#pragma once

#include <CLI/CLI.hpp>

namespace speakup::app {

// `speakup bench`: engine latency per model, 1 and 2 threads.
CLI::App* AddBenchCommand(CLI::App& app);
int RunBench(const char* self);  // self: this program's path (bench e2e runs it as the server)
// `speakup bench capacity` (bench_capacity.cc).
void AddCapacityOptions(CLI::App* capacity);
int RunCapacityBench();
// `speakup bench cluster` (bench_cluster.cc).
void AddClusterOptions(CLI::App* command);
int RunClusterBench();
// `speakup bench network` (bench_network.cc).
void AddNetworkOptions(CLI::App* command);
int RunNetworkBench();
// `speakup bench stream-cost` (bench_stream_cost.cc).
void AddStreamCostOptions(CLI::App* command);
int RunStreamCostBench();

// `speakup mesh`: landmarks and head pose for images, videos and cameras.
CLI::App* AddMeshCommand(CLI::App& app);
int RunMesh();

// `speakup serve`: the face server.
CLI::App* AddServeCommand(CLI::App& app);
int RunServe();

// `speakup loadgen`: N native WebRTC clients against a running server.
CLI::App* AddLoadgenCommand(CLI::App& app);
int RunLoadgen();

}  // namespace speakup::app
