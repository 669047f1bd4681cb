// `speakup bench`: median and p90 latency of one inference per model, after warm-up, on 1 and 2
// threads. Prints a table, or a JSON array with --json.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "speakup/engine.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

struct BenchOptions {
  std::string models_dir = SPEAKUP_MODELS_DIR;
  std::vector<std::string> models = {"face_landmark", "face_landmark_with_attention", "face_detection_short_range",
                                     "face_detection_full_range"};
  std::vector<size_t> threads = {1, 2};
  int warmup = 20;
  int runs = 200;
  bool json = false;
} options;

struct Result {
  std::string model;
  size_t threads;
  double median_ms, p90_ms;
};

double Percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(fraction * (values.size() - 1) + 0.5));
  return values[index];
}

}  // namespace

CLI::App* AddBenchCommand(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Measure inference latency of the face models");
  bench->add_option("--models-dir", options.models_dir, "Folder with the .tflite files")->capture_default_str();
  bench->add_option("--model", options.models, "Model file stems to measure")->capture_default_str();
  bench->add_option("--threads", options.threads, "Thread counts to measure")->capture_default_str();
  bench->add_option("--warmup", options.warmup, "Runs before measuring")->capture_default_str()->check(CLI::NonNegativeNumber);
  bench->add_option("--runs", options.runs, "Measured runs")->capture_default_str()->check(CLI::PositiveNumber);
  bench->add_flag("--json", options.json, "Print a JSON array instead of a table");
  return bench;
}

int RunBench() {
  std::vector<Result> results;
  for (const std::string& name : options.models) {
    auto model = engine::Model::Load(options.models_dir + "/" + name + ".tflite");
    if (!model) {
      std::cerr << "speakup bench: " << model.error() << "\n";
      return 1;
    }
    for (size_t threads : options.threads) {
      engine::ThreadPool pool(threads);
      auto runner = engine::Runner::Create(*model, &pool);
      if (!runner) {
        std::cerr << "speakup bench: " << runner.error() << "\n";
        return 1;
      }
      std::mt19937 random(7);
      std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
      for (size_t i = 0; i < (*model)->inputs().size(); ++i) {
        for (float& v : (*runner)->input(i)) v = pixel(random);
      }
      std::vector<double> ms;
      for (int run = 0; run < options.warmup + options.runs; ++run) {
        const auto start = std::chrono::steady_clock::now();
        Status status = (*runner)->Run();
        const auto end = std::chrono::steady_clock::now();
        if (!status.ok()) {
          std::cerr << "speakup bench: " << status.message() << "\n";
          return 1;
        }
        if (run >= options.warmup) ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
      }
      results.push_back({name, threads, Percentile(ms, 0.5), Percentile(ms, 0.9)});
      if (!options.json) {
        std::printf("%-30s threads %zu  median %7.3f ms  p90 %7.3f ms  (%d runs)\n", name.c_str(), threads,
                    results.back().median_ms, results.back().p90_ms, options.runs);
        std::fflush(stdout);
      }
    }
  }
  if (options.json) {
    std::printf("[");
    for (size_t i = 0; i < results.size(); ++i) {
      std::printf("%s\n  {\"model\": \"%s\", \"threads\": %zu, \"median_ms\": %.4f, \"p90_ms\": %.4f}", i ? "," : "",
                  results[i].model.c_str(), results[i].threads, results[i].median_ms, results[i].p90_ms);
    }
    std::printf("\n]\n");
  }
  return 0;
}

}  // namespace speakup::app
