// How a Graph runs: a sequence of steps, each either a segment of operators that XNNPACK runs as one
// runtime, or one operator the host runs (MediaPipe's custom operators, and the builtins this
// XNNPACK lacks). Tensors that cross a step boundary get buffers owned by each Runner.
#pragma once

#include <vector>

#include "graph.h"

namespace speakup::engine {

struct Step {
  bool on_xnnpack = false;
  std::vector<int> ops;               // indices into Graph::ops, in execution order
  std::vector<int> external_inputs;   // XNNPACK steps: tensors read from Runner buffers
  std::vector<int> external_outputs;  // XNNPACK steps: tensors written to Runner buffers
};

class Plan {
 public:
  // Groups operators into as few XNNPACK segments as their dependencies allow.
  static Plan Make(const Graph& graph);

  const std::vector<Step>& steps() const { return steps_; }
  // True for every tensor a Runner must keep a buffer for.
  bool buffered(int tensor) const { return buffered_[static_cast<size_t>(tensor)]; }

 private:
  std::vector<Step> steps_;
  std::vector<bool> buffered_;
};

bool RunsOnXnnpack(OpType type);

}  // namespace speakup::engine
