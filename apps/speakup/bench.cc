// `speakup bench`: median and p90 latency of one inference per model, after warm-up, on 1 and 2
// threads. Prints a table, or a JSON array with --json.
#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "speakup/annotate.h"
#include "speakup/engine.h"
#include "speakup/face.h"
#include "speakup/media.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

struct BenchOptions {
  std::string models_dir = SPEAKUP_MODELS_DIR;
  std::vector<std::string> models = {"face_landmark",           "face_landmark_with_attention",
                                     "face_detection_short_range", "face_detection_full_range",
                                     "face_landmarks_detector", "face_blendshapes"};
  std::vector<size_t> threads = {1, 2};
  int warmup = 20;
  int runs = 200;
  bool json = false;
  std::string video = std::string(SPEAKUP_TEST_DATA_DIR) + "/video/face_motion.mp4";
  int repeat = 5;
  std::string pipeline_model = "mesh";  // bench pipeline --model: mesh or landmarker
} options;

CLI::App* pipeline_command = nullptr;
CLI::App* e2e_command = nullptr;
CLI::App* stream_cost_command = nullptr;
CLI::App* cluster_command = nullptr;
CLI::App* capacity_command = nullptr;
CLI::App* network_command = nullptr;
int e2e_seconds = 20;
std::string e2e_model = "mesh";
std::string e2e_views = "2d";

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
  bench->add_flag("--json", options.json, "Print JSON instead of a table");
  pipeline_command = bench->add_subcommand("pipeline", "Per-frame stage latency of the face pipeline on a video, "
                                                       "tracking mode, 1 thread");
  pipeline_command->add_option("--video", options.video, "Video file")->capture_default_str();
  pipeline_command->add_option("--repeat", options.repeat, "Passes over the video")->capture_default_str();
  pipeline_command->add_option("--model", options.pipeline_model,
                               "mesh: MediaPipe Face Mesh; landmarker: Face Landmarker (adds the blendshapes stage)")
      ->check(CLI::IsMember({"mesh", "landmarker"}))
      ->capture_default_str();
  pipeline_command->add_option("--models-dir", options.models_dir, "Folder with the model files")->capture_default_str();
  pipeline_command->add_flag("--json", options.json, "Print JSON instead of a table");
  e2e_command = bench->add_subcommand("e2e", "Headless Chromium streaming 640x480 at 30 fps through speakup serve: "
                                             "results per second and round-trip latency");
  e2e_command->add_option("--duration", e2e_seconds, "Seconds to measure")->check(CLI::Range(2, 600))->capture_default_str();
  e2e_command->add_option("--model", e2e_model, "The session option model: mesh, or landmarker (52 blendshapes)")
      ->check(CLI::IsMember({"mesh", "landmarker"}))
      ->capture_default_str();
  e2e_command->add_option("--views", e2e_views, "The page's views: 2d (the overlay only), or 3d (also the 3D view "
                                                "and the avatar, drawn in software without a GPU)")
      ->check(CLI::IsMember({"2d", "3d"}))
      ->capture_default_str();
  e2e_command->add_flag("--json", options.json, "Print JSON instead of text");
  capacity_command = bench->add_subcommand("capacity", "Concurrent 30 fps clients the server holds (>= 95% of frames "
                                                       "answered, p95 <= 100 ms), CPU and memory per stream");
  AddCapacityOptions(capacity_command);
  stream_cost_command = bench->add_subcommand("stream-cost", "One camera stream's server CPU per frame by stage "
                                                             "(decode, convert, warp, inference, WebRTC and other)");
  AddStreamCostOptions(stream_cost_command);
  cluster_command = bench->add_subcommand("cluster", "Three nodes behind HAProxy with reconnecting clients: spread, "
                                                     "rolling restart, failover");
  AddClusterOptions(cluster_command);
  network_command = bench->add_subcommand("network", "loadgen clients through loss, jitter, a TURN relay and a "
                                                     "600 kbit/s uplink: frames answered, latency, gaps, bitrate");
  AddNetworkOptions(network_command);
  return bench;
}

namespace {

// Decodes the whole video first, so decoding is not measured, then runs the pipeline over it.
int RunPipelineBench() {
  auto models = face::Models::Load(options.models_dir);
  if (!models) {
    std::cerr << "speakup bench pipeline: " << models.error() << "\n";
    return 1;
  }
  auto source = media::FrameSource::OpenFile(options.video);
  if (!source) {
    std::cerr << "speakup bench pipeline: " << source.error() << "\n";
    return 1;
  }
  std::vector<media::Frame> frames;
  while (true) {
    auto next = (*source)->Next();
    if (!next) {
      std::cerr << "speakup bench pipeline: " << next.error() << "\n";
      return 1;
    }
    if (!*next) break;
    frames.push_back(std::move(**next));
  }
  engine::ThreadPool pool(1);
  face::Workspace workspace(*models, &pool);
  face::PipelineOptions pipeline_options;  // max_faces 1: after the first frame, tracking only
  const bool landmarker = options.pipeline_model == "landmarker";
  if (landmarker) pipeline_options.model = face::LandmarkModel::kLandmarker;
  std::vector<double> detect, warp, landmarks, blendshapes, geometry, total;
  int frames_with_face = 0;
  for (int pass = 0; pass < options.repeat; ++pass) {
    face::Pipeline pipeline(pipeline_options);
    for (const media::Frame& frame : frames) {
      auto result = pipeline.Process(annotate::ImageOf(frame), frame.timestamp_ms, workspace);
      if (!result) {
        std::cerr << "speakup bench pipeline: " << result.error() << "\n";
        return 1;
      }
      if (pass == 0 && frame.index == 0) continue;  // warm-up: first detection, runtime set-up
      const face::StageTimings& t = result->timings;
      detect.push_back(t.detect_ms);
      warp.push_back(t.warp_ms);
      landmarks.push_back(t.landmarks_ms);
      blendshapes.push_back(t.blendshapes_ms);
      geometry.push_back(t.geometry_ms);
      total.push_back(t.total_ms);
      frames_with_face += !result->faces.empty();
    }
  }
  std::vector<std::pair<const char*, std::vector<double>*>> stages = {
      {"detect", &detect}, {"warp", &warp}, {"landmarks", &landmarks}, {"geometry", &geometry}, {"total", &total}};
  if (landmarker) stages.insert(stages.begin() + 3, {"blendshapes", &blendshapes});
  if (options.json) {
    std::printf("{\"model\": \"%s\", \"frames\": %zu, \"median_ms\": {", options.pipeline_model.c_str(),
                total.size());
    for (size_t i = 0; i < stages.size(); ++i) {
      std::printf("%s\"%s\": %.4f", i ? ", " : "", stages[i].first, Percentile(*stages[i].second, 0.5));
    }
    std::printf("}, \"p90_ms\": {");
    for (size_t i = 0; i < stages.size(); ++i) {
      std::printf("%s\"%s\": %.4f", i ? ", " : "", stages[i].first, Percentile(*stages[i].second, 0.9));
    }
    std::printf("}}\n");
  } else {
    std::printf("%s: %zu frames (%dx%d), %d with a face, tracking mode, 1 thread\n", options.video.c_str(),
                total.size(), frames.empty() ? 0 : frames[0].width, frames.empty() ? 0 : frames[0].height,
                frames_with_face);
    for (const auto& [name, values] : stages) {
      std::printf("  %-11s median %7.3f ms  p90 %7.3f ms\n", name, Percentile(*values, 0.5), Percentile(*values, 0.9));
    }
  }
  return 0;
}

}  // namespace

// The browser side lives in bench/e2e.mjs (Chromium through playwright-core); this program is the
// server it starts.
int RunE2eBench(const char* self) {
  const std::string command = "node '" SPEAKUP_SOURCE_DIR "/bench/e2e.mjs' --bin '" + std::string(self) +
                              "' --duration " + std::to_string(e2e_seconds) + " --model " + e2e_model + " --views " + e2e_views +
                              (options.json ? " --json" : "");
  const int status = std::system(command.c_str());
  return status == 0 ? 0 : 1;
}

int RunBench(const char* self) {
  if (pipeline_command->parsed()) return RunPipelineBench();
  if (e2e_command->parsed()) return RunE2eBench(self);
  if (stream_cost_command->parsed()) return RunStreamCostBench();
  if (cluster_command->parsed()) return RunClusterBench();
  if (capacity_command->parsed()) return RunCapacityBench();
  if (network_command->parsed()) return RunNetworkBench();
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
