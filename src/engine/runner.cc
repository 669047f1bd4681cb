#include <xnnpack.h>

#include "graph.h"
#include "host_builtin_ops.h"
#include "host_ops.h"
#include "plan.h"
#include "speakup/engine.h"
#include "xnn_segment.h"

namespace speakup::engine {

struct Runner::Impl {
  std::vector<std::vector<float>> buffers;  // per tensor; empty unless the plan buffers it
  std::vector<XnnRuntime> runtimes;         // per step; null for host steps
};

Runner::Runner(std::shared_ptr<const Model> model) : model_(std::move(model)), impl_(std::make_unique<Impl>()) {}
Runner::~Runner() = default;

Expected<std::unique_ptr<Runner>> Runner::Create(std::shared_ptr<const Model> model, ThreadPool* pool) {
  if (!model) return Error("Runner::Create: no model");
  std::unique_ptr<Runner> runner(new Runner(model));
  const Graph& graph = model->graph();
  const Plan& plan = model->plan();
  Impl& impl = *runner->impl_;
  impl.buffers.resize(graph.tensors.size());
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    if (!plan.buffered(static_cast<int>(t))) continue;
    // XNNPACK may read up to XNN_EXTRA_BYTES past the end of an input.
    impl.buffers[t].assign(graph.tensors[t].element_count() + XNN_EXTRA_BYTES / sizeof(float), 0.0f);
  }
  pthreadpool_t threads = pool ? static_cast<pthreadpool_t>(pool->handle()) : nullptr;
  for (const Step& step : plan.steps()) {
    if (!step.on_xnnpack) {
      impl.runtimes.emplace_back();
      continue;
    }
    auto runtime = BuildXnnRuntime(graph, step, threads);
    if (!runtime) return runtime.status();
    // Buffers never move after this, so each runtime is set up once.
    std::vector<xnn_external_value> externals;
    uint32_t id = 0;
    for (int t : step.external_inputs) externals.push_back({id++, impl.buffers[t].data()});
    for (int t : step.external_outputs) externals.push_back({id++, impl.buffers[t].data()});
    const xnn_status status = xnn_setup_runtime(runtime->get(), externals.size(), externals.data());
    if (status != xnn_status_success) return Error(std::string("xnn_setup_runtime: ") + XnnStatusName(status));
    impl.runtimes.push_back(std::move(*runtime));
  }
  return runner;
}

std::span<float> Runner::input(size_t index) {
  const int t = model_->graph().inputs.at(index);
  return {impl_->buffers[t].data(), model_->graph().tensors[t].element_count()};
}

std::span<const float> Runner::output(size_t index) const {
  const int t = model_->graph().outputs.at(index);
  return {impl_->buffers[t].data(), model_->graph().tensors[t].element_count()};
}

namespace {

void RunHostOp(const Graph& graph, const Op& op, std::vector<std::vector<float>>& buffers) {
  auto data = [&](int t) -> const float* {
    return graph.tensors[t].is_constant() ? graph.ConstantData(t) : buffers[t].data();
  };
  auto shape = [&](int t) -> const std::vector<int32_t>& { return graph.tensors[t].shape; };
  float* out = buffers[op.outputs[0]].data();
  switch (op.type) {
    case OpType::kConcatenation: {
      std::vector<const float*> inputs;
      std::vector<std::vector<int32_t>> shapes;
      for (int t : op.inputs) {
        inputs.push_back(data(t));
        shapes.push_back(shape(t));
      }
      Concatenate(inputs, shapes, std::get<ConcatenationOptions>(op.options), out);
      break;
    }
    case OpType::kStridedSlice:
      StridedSlice(data(op.inputs[0]), shape(op.inputs[0]), std::get<StridedSliceOptions>(op.options), out);
      break;
    case OpType::kTranspose:
      Transpose(data(op.inputs[0]), shape(op.inputs[0]), std::get<TransposeOptions>(op.options), out);
      break;
    case OpType::kMean:
    case OpType::kSum:
      Reduce(data(op.inputs[0]), shape(op.inputs[0]), std::get<ReduceOptions>(op.options), op.type == OpType::kMean,
             out);
      break;
    case OpType::kRsqrt:
      Rsqrt(data(op.inputs[0]), graph.tensors[op.inputs[0]].element_count(), out);
      break;
    case OpType::kLandmarks2TransformMatrix: {
      const auto& s = shape(op.inputs[0]);
      Landmarks2TransformMatrix<float>(std::get<Landmarks2TransformMatrixOptions>(op.options), data(op.inputs[0]), s[1], s[2], out);
      break;
    }
    case OpType::kTransformTensorBilinear: {
      const auto& s = shape(op.inputs[0]);
      const auto& o = shape(op.outputs[0]);
      TransformTensorBilinear<float>(data(op.inputs[0]), s[1], s[2], s[3], data(op.inputs[1]), o[1], o[2], out);
      break;
    }
    case OpType::kTransformLandmarks: {
      const auto& s = shape(op.inputs[0]);
      TransformLandmarks<float>(data(op.inputs[0]), s[1], s[2], data(op.inputs[1]), out);
      break;
    }
    default:
      break;  // the plan only gives host steps the operators above
  }
}

}  // namespace

Status Runner::Run() {
  const Graph& graph = model_->graph();
  const auto& steps = model_->plan().steps();
  for (size_t s = 0; s < steps.size(); ++s) {
    if (steps[s].on_xnnpack) {
      const xnn_status status = xnn_invoke_runtime(impl_->runtimes[s].get());
      if (status != xnn_status_success) return Status::Error(std::string("XNNPACK failed to run: ") + XnnStatusName(status));
    } else {
      RunHostOp(graph, graph.ops[steps[s].ops[0]], impl_->buffers);
    }
  }
  return Status::Ok();
}

}  // namespace speakup::engine
