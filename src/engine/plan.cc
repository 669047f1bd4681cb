#include "plan.h"

#include <algorithm>
#include <set>

namespace speakup::engine {

bool RunsOnXnnpack(OpType type) {
  switch (type) {
    case OpType::kAdd:
    case OpType::kMul:
    case OpType::kConv2D:
    case OpType::kDepthwiseConv2D:
    case OpType::kMaxPool2D:
    case OpType::kPrelu:
    case OpType::kRelu:
    case OpType::kPad:
    case OpType::kReshape:
    case OpType::kResizeBilinear:
    case OpType::kSub:
    case OpType::kDiv:
    case OpType::kSquaredDifference:
    case OpType::kLogistic:
    case OpType::kNeg:
    case OpType::kSqrt:
      return true;
    // This XNNPACK (2022-02) has no concatenate, slice, transpose, reduction or reciprocal square
    // root; the MediaPipe operators are not XNNPACK's.
    case OpType::kConcatenation:
    case OpType::kStridedSlice:
    case OpType::kRsqrt:
    case OpType::kMean:
    case OpType::kSum:
    case OpType::kTranspose:
    case OpType::kLandmarks2TransformMatrix:
    case OpType::kTransformTensorBilinear:
    case OpType::kTransformLandmarks:
      return false;
  }
  return false;
}

Plan Plan::Make(const Graph& graph) {
  Plan plan;
  const size_t num_ops = graph.ops.size();
  std::vector<bool> available(graph.tensors.size(), false);
  for (size_t t = 0; t < graph.tensors.size(); ++t) available[t] = graph.tensors[t].is_constant();
  for (int input : graph.inputs) available[input] = true;
  std::vector<bool> done(num_ops, false);
  std::vector<int> step_of_op(num_ops, -1);
  // Operators whose results reach no graph output are skipped, as TFLite's result would be the same:
  // XNNPACK drops such an operator's unread output value but keeps the operator, then asserts on it.
  std::vector<bool> live(graph.tensors.size(), false);
  for (int output : graph.outputs) live[output] = true;
  size_t remaining = num_ops;
  for (size_t k = num_ops; k-- > 0;) {
    const Op& op = graph.ops[k];
    if (std::none_of(op.outputs.begin(), op.outputs.end(), [&](int t) { return live[t]; })) {
      done[k] = true;
      --remaining;
      continue;
    }
    for (int in : op.inputs) live[in] = true;
  }

  auto ready = [&](const Op& op) {
    return std::all_of(op.inputs.begin(), op.inputs.end(), [&](int t) { return available[t]; });
  };
  // Operators are in topological order, so one in-order sweep takes every operator of a kind that
  // is ready; alternating XNNPACK and host sweeps always progresses (the first undone op is ready).
  while (remaining > 0) {
    for (bool xnnpack : {true, false}) {
      Step step;
      step.on_xnnpack = xnnpack;
      for (size_t k = 0; k < num_ops; ++k) {
        const Op& op = graph.ops[k];
        if (done[k] || RunsOnXnnpack(op.type) != xnnpack || !ready(op)) continue;
        done[k] = true;
        --remaining;
        for (int out : op.outputs) available[out] = true;
        step_of_op[k] = static_cast<int>(plan.steps_.size());
        step.ops.push_back(static_cast<int>(k));
        if (!xnnpack) {  // one host operator per step
          plan.steps_.push_back(std::move(step));
          step = Step{};
          step.on_xnnpack = false;
        }
      }
      if (xnnpack && !step.ops.empty()) {
        const int index = static_cast<int>(plan.steps_.size());
        for (int op : step.ops) step_of_op[op] = index;
        plan.steps_.push_back(std::move(step));
      }
    }
  }

  // A tensor needs a Runner buffer when it is a graph input/output or crosses a step boundary.
  std::vector<int> producer_step(graph.tensors.size(), -1);
  for (size_t k = 0; k < num_ops; ++k) {
    for (int out : graph.ops[k].outputs) producer_step[out] = step_of_op[k];
  }
  auto runs = [&](size_t k) { return step_of_op[k] >= 0; };
  plan.buffered_.assign(graph.tensors.size(), false);
  for (int t : graph.inputs) plan.buffered_[t] = true;
  for (int t : graph.outputs) plan.buffered_[t] = true;
  for (size_t k = 0; k < num_ops; ++k) {
    if (!runs(k)) continue;
    for (int in : graph.ops[k].inputs) {
      if (!graph.tensors[in].is_constant() && producer_step[in] != step_of_op[k]) plan.buffered_[in] = true;
    }
  }
  for (size_t k = 0; k < num_ops; ++k) {
    if (runs(k) && !RunsOnXnnpack(graph.ops[k].type)) {
      for (int t : graph.ops[k].outputs) plan.buffered_[t] = true;
    }
  }
  for (Step& step : plan.steps_) {
    if (!step.on_xnnpack) continue;
    std::set<int> inputs, outputs;
    const int index = static_cast<int>(&step - plan.steps_.data());
    for (int k : step.ops) {
      for (int in : graph.ops[k].inputs) {
        if (!graph.tensors[in].is_constant() && producer_step[in] != index) inputs.insert(in);
      }
      for (int out : graph.ops[k].outputs) {
        if (plan.buffered_[out]) outputs.insert(out);
      }
    }
    step.external_inputs.assign(inputs.begin(), inputs.end());
    step.external_outputs.assign(outputs.begin(), outputs.end());
  }
  return plan;
}

}  // namespace speakup::engine
