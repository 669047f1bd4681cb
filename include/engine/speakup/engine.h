// SpeakUp's inference engine: loads a TensorFlow Lite flatbuffer (.tflite) into an immutable Model
// and runs it on XNNPACK. A Model is shared by any number of Runners; each Runner owns its buffers
// and its XNNPACK runtimes and runs on the ThreadPool it is given (or on the calling thread).
//
//   auto model = engine::Model::Load("models/face_landmark.tflite");
//   if (!model) { std::cerr << model.error(); ... }
//   engine::ThreadPool pool(2);
//   auto runner = engine::Runner::Create(*model, &pool);
//   std::copy(pixels..., runner->input(0).begin());
//   runner->Run();  // then read runner->output(0)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "speakup/status.h"

namespace speakup::engine {

struct Graph;
class Plan;

// A pool of worker threads for XNNPACK (RAII over pthreadpool). Threads are passed in, never
// global: one pool is usually shared by every Runner of a process.
class ThreadPool {
 public:
  // threads == 1 runs work on the calling thread.
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t threads() const;
  void* handle() const { return pool_; }  // pthreadpool_t

 private:
  void* pool_ = nullptr;
};

struct TensorInfo {
  std::string name;
  std::vector<int32_t> shape;
  size_t element_count = 0;
};

// A loaded, validated model. Immutable once made; share it with std::shared_ptr.
class Model {
 public:
  // Reads and validates a .tflite file. Errors name the file, the problem and the fix.
  static Expected<std::shared_ptr<const Model>> Load(const std::string& path);
  // The same from bytes in memory; `name` is used in messages.
  static Expected<std::shared_ptr<const Model>> FromBytes(std::span<const uint8_t> bytes,
                                                          const std::string& name);
  // Wraps an engine graph built in code (tests, tools).
  static Expected<std::shared_ptr<const Model>> FromGraph(Graph graph, const std::string& name);

  ~Model();
  const std::string& name() const { return name_; }
  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  // Index of the output with this tensor name, or -1.
  int output_index(const std::string& name) const;
  const Graph& graph() const { return *graph_; }
  const Plan& plan() const { return *plan_; }

 private:
  Model() = default;
  std::string name_;
  std::unique_ptr<Graph> graph_;
  std::unique_ptr<Plan> plan_;
  std::vector<TensorInfo> inputs_, outputs_;
};

// Runs one Model. Not thread-safe itself: use one Runner per thread or stream.
class Runner {
 public:
  // pool may be null: everything then runs on the calling thread.
  static Expected<std::unique_ptr<Runner>> Create(std::shared_ptr<const Model> model,
                                                  ThreadPool* pool = nullptr);
  ~Runner();

  std::span<float> input(size_t index);
  std::span<const float> output(size_t index) const;
  const Model& model() const { return *model_; }

  Status Run();

 private:
  struct Impl;
  explicit Runner(std::shared_ptr<const Model> model);
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace speakup::engine
