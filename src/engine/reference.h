// A float64 reference interpreter of an engine Graph: every operator written as plain nested loops
// over doubles, following TensorFlow Lite's reference kernels. It is slow on purpose and shares no
// code with the XNNPACK runner, which the tests check against it. The MediaPipe custom operators
// run through the templated host implementations of host_ops.h instantiated with double.
#pragma once

#include <vector>

#include "graph.h"
#include "speakup/status.h"

namespace speakup::engine {

// Runs `graph` on `inputs` (one flat NHWC buffer per graph.inputs entry, in that order) and returns
// the values of graph.outputs in order. Constants are read from graph.constants and widened to
// double. Shape errors (an input of the wrong size, an operator whose declared output shape does
// not follow from its inputs and options, ...) come back as errors naming the operator.
Expected<std::vector<std::vector<double>>> RunReference(
    const Graph& graph, const std::vector<std::vector<double>>& inputs);

}  // namespace speakup::engine
