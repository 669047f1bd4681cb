#include "xnn_segment.h"

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>

namespace speakup::engine {

Status EnsureXnnpackInitialized() {
  static std::once_flag once;
  static xnn_status status = xnn_status_uninitialized;
  std::call_once(once, [] { status = xnn_initialize(nullptr); });
  if (status != xnn_status_success) {
    return Status::Error(std::string("XNNPACK failed to initialise (") + XnnStatusName(status) +
                         "); this CPU may lack the SSE/AVX features it needs");
  }
  return Status::Ok();
}

const char* XnnStatusName(xnn_status status) {
  switch (status) {
    case xnn_status_success: return "success";
    case xnn_status_uninitialized: return "uninitialized";
    case xnn_status_invalid_parameter: return "invalid parameter";
    case xnn_status_invalid_state: return "invalid state";
    case xnn_status_unsupported_parameter: return "unsupported parameter";
    case xnn_status_unsupported_hardware: return "unsupported hardware";
    case xnn_status_out_of_memory: return "out of memory";
  }
  return "unknown status";
}

namespace {

// TFLite's SAME padding: total = max((out - 1) * stride + effective_kernel - in, 0), the smaller
// half before. Asymmetric for even inputs with stride 2, which XNNPACK takes as explicit paddings.
struct Paddings {
  uint32_t before_h = 0, after_h = 0, before_w = 0, after_w = 0;
};

Paddings ComputePaddings(Padding padding, int in_h, int in_w, int kernel_h, int kernel_w, int stride_h,
                         int stride_w, int dilation_h, int dilation_w) {
  Paddings p;
  if (padding != Padding::kSame) return p;
  auto split = [](int in, int kernel, int stride, int dilation, uint32_t& before, uint32_t& after) {
    const int out = (in + stride - 1) / stride;
    const int effective = (kernel - 1) * dilation + 1;
    const int total = std::max((out - 1) * stride + effective - in, 0);
    before = static_cast<uint32_t>(total / 2);
    after = static_cast<uint32_t>(total - total / 2);
  };
  split(in_h, kernel_h, stride_h, dilation_h, p.before_h, p.after_h);
  split(in_w, kernel_w, stride_w, dilation_w, p.before_w, p.after_w);
  return p;
}

class SegmentBuilder {
 public:
  SegmentBuilder(const Graph& graph, const Step& step) : graph_(graph), step_(step) {}

  Expected<XnnRuntime> Build(pthreadpool_t pool) {
    SPEAKUP_RETURN_IF_ERROR(EnsureXnnpackInitialized());
    const uint32_t externals = static_cast<uint32_t>(step_.external_inputs.size() + step_.external_outputs.size());
    xnn_subgraph_t raw = nullptr;
    xnn_status status = xnn_create_subgraph(externals, 0, &raw);
    if (status != xnn_status_success) return Error(std::string("xnn_create_subgraph: ") + XnnStatusName(status));
    subgraph_.reset(raw);
    uint32_t external_id = 0;
    for (int t : step_.external_inputs) external_ids_[t] = external_id++;
    for (int t : step_.external_outputs) external_ids_[t] = external_id++;

    for (int k : step_.ops) {
      Status defined = DefineOp(graph_.ops[static_cast<size_t>(k)]);
      if (!defined.ok()) {
        return Error("operator " + std::to_string(k) + " (" + OpTypeName(graph_.ops[k].type) + "): " + defined.message());
      }
    }
    xnn_runtime_t runtime = nullptr;
    status = xnn_create_runtime_v2(subgraph_.get(), pool, 0, &runtime);
    if (status != xnn_status_success) return Error(std::string("XNNPACK could not create a runtime: ") + XnnStatusName(status));
    return XnnRuntime(runtime);
  }

 private:
  Expected<uint32_t> Value(int tensor, const std::vector<int32_t>* shape_override = nullptr) {
    auto found = ids_.find(tensor);
    if (found != ids_.end() && shape_override == nullptr) return found->second;
    const Tensor& t = graph_.tensors[static_cast<size_t>(tensor)];
    const auto& shape = shape_override ? *shape_override : t.shape;
    std::vector<size_t> dims(shape.begin(), shape.end());
    const void* data = t.is_constant() ? graph_.ConstantData(tensor) : nullptr;
    uint32_t external = XNN_INVALID_VALUE_ID;
    uint32_t flags = 0;
    if (auto e = external_ids_.find(tensor); e != external_ids_.end()) {
      external = e->second;
      const bool is_input = std::find(step_.external_inputs.begin(), step_.external_inputs.end(), tensor) != step_.external_inputs.end();
      flags = is_input ? XNN_VALUE_FLAG_EXTERNAL_INPUT : XNN_VALUE_FLAG_EXTERNAL_OUTPUT;
    }
    uint32_t id = 0;
    const xnn_status status = xnn_define_tensor_value(subgraph_.get(), xnn_datatype_fp32, dims.size(), dims.data(), data,
                                                      external, flags, &id);
    if (status != xnn_status_success) return Error("tensor '" + t.name + "' was refused (" + XnnStatusName(status) + ")");
    if (shape_override == nullptr) ids_[tensor] = id;
    return id;
  }

  static Status Check(xnn_status status) {
    if (status == xnn_status_success) return Status::Ok();
    return Status::Error(std::string("XNNPACK refused it (") + XnnStatusName(status) + ")");
  }

  Status DefineOp(const Op& op) {
    std::vector<uint32_t> in;
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      // PReLU wants its slope as a 1-D [C] tensor; TFLite stores [1,1,C].
      if (op.type == OpType::kPrelu && i == 1) {
        const std::vector<int32_t> flat = {static_cast<int32_t>(graph_.tensors[op.inputs[1]].element_count())};
        auto id = Value(op.inputs[1], &flat);
        if (!id) return id.status();
        in.push_back(*id);
        continue;
      }
      auto id = Value(op.inputs[i]);
      if (!id) return id.status();
      in.push_back(*id);
    }
    auto out_or = Value(op.outputs[0]);
    if (!out_or) return out_or.status();
    const uint32_t out = *out_or;
    xnn_subgraph_t sg = subgraph_.get();
    const auto& in_shape = graph_.tensors[op.inputs[0]].shape;

    switch (op.type) {
      case OpType::kAdd:
      case OpType::kMul:
      case OpType::kSub:
      case OpType::kDiv: {
        const auto& o = std::get<ElementwiseOptions>(op.options);
        const float lo = ActivationMin(o.activation), hi = ActivationMax(o.activation);
        switch (op.type) {
          case OpType::kAdd: return Check(xnn_define_add2(sg, lo, hi, in[0], in[1], out, 0));
          case OpType::kMul: return Check(xnn_define_multiply2(sg, lo, hi, in[0], in[1], out, 0));
          case OpType::kSub: return Check(xnn_define_subtract(sg, lo, hi, in[0], in[1], out, 0));
          default: return Check(xnn_define_divide(sg, lo, hi, in[0], in[1], out, 0));
        }
      }
      case OpType::kSquaredDifference:  // validation refuses a fused activation here
        return Check(xnn_define_squared_difference(sg, in[0], in[1], out, 0));
      case OpType::kLogistic:
        return Check(xnn_define_sigmoid(sg, in[0], out, 0));
      case OpType::kNeg:
        return Check(xnn_define_negate(sg, in[0], out, 0));
      case OpType::kSqrt:
        return Check(xnn_define_square_root(sg, in[0], out, 0));
      case OpType::kConv2D:
      case OpType::kDepthwiseConv2D: {
        const auto& o = std::get<ConvOptions>(op.options);
        const auto& filter = graph_.tensors[op.inputs[1]].shape;
        const Paddings p = ComputePaddings(o.padding, in_shape[1], in_shape[2], filter[1], filter[2], o.stride_h,
                                           o.stride_w, o.dilation_h, o.dilation_w);
        const float lo = ActivationMin(o.activation), hi = ActivationMax(o.activation);
        if (op.type == OpType::kConv2D) {
          return Check(xnn_define_convolution_2d(
              sg, p.before_h, p.after_w, p.after_h, p.before_w, filter[1], filter[2], o.stride_h, o.stride_w,
              o.dilation_h, o.dilation_w, /*groups=*/1, in_shape[3], filter[0], lo, hi, in[0], in[1], in[2], out, 0));
        }
        return Check(xnn_define_depthwise_convolution_2d(
            sg, p.before_h, p.after_w, p.after_h, p.before_w, filter[1], filter[2], o.stride_h, o.stride_w,
            o.dilation_h, o.dilation_w, o.depth_multiplier, in_shape[3], lo, hi, in[0], in[1], in[2], out, 0));
      }
      case OpType::kMaxPool2D: {
        const auto& o = std::get<PoolOptions>(op.options);
        if (o.filter_h == 1 && o.filter_w == 1) return Status::Error("a 1x1 max pooling is not supported");
        const Paddings p = ComputePaddings(o.padding, in_shape[1], in_shape[2], o.filter_h, o.filter_w, o.stride_h,
                                           o.stride_w, 1, 1);
        return Check(xnn_define_max_pooling_2d(sg, p.before_h, p.after_w, p.after_h, p.before_w, o.filter_h, o.filter_w,
                                               o.stride_h, o.stride_w, 1, 1, ActivationMin(o.activation),
                                               ActivationMax(o.activation), in[0], out, 0));
      }
      case OpType::kPrelu:
        return Check(xnn_define_prelu(sg, in[0], in[1], out, 0));
      case OpType::kRelu:
        return Check(xnn_define_clamp(sg, 0.0f, std::numeric_limits<float>::infinity(), in[0], out, 0));
      case OpType::kPad: {
        const auto& o = std::get<PadOptions>(op.options);
        std::vector<size_t> before, after;
        for (const auto& pair : o.paddings) {
          before.push_back(static_cast<size_t>(pair[0]));
          after.push_back(static_cast<size_t>(pair[1]));
        }
        return Check(xnn_define_static_constant_pad(sg, before.data(), after.data(), 0.0f, in[0], out, 0));
      }
      case OpType::kReshape: {
        const auto& shape = graph_.tensors[op.outputs[0]].shape;
        std::vector<size_t> dims(shape.begin(), shape.end());
        return Check(xnn_define_static_reshape(sg, dims.size(), dims.data(), in[0], out, 0));
      }
      case OpType::kResizeBilinear: {
        const auto& o = std::get<ResizeBilinearOptions>(op.options);
        const auto& shape = graph_.tensors[op.outputs[0]].shape;
        // XNNPACK's default is half-pixel centres; TFLite's default is its legacy mode.
        uint32_t flags = 0;
        if (o.align_corners) flags = XNN_FLAG_ALIGN_CORNERS;
        else if (!o.half_pixel_centers) flags = XNN_FLAG_TENSORFLOW_LEGACY_MODE;
        return Check(xnn_define_static_resize_bilinear_2d(sg, shape[1], shape[2], in[0], out, flags));
      }
      default:
        return Status::Error("is not an XNNPACK operator");
    }
  }

  const Graph& graph_;
  const Step& step_;
  XnnSubgraph subgraph_;
  std::map<int, uint32_t> ids_;
  std::map<int, uint32_t> external_ids_;
};

}  // namespace

Expected<XnnRuntime> BuildXnnRuntime(const Graph& graph, const Step& step, pthreadpool_t pool) {
  return SegmentBuilder(graph, step).Build(pool);
}

}  // namespace speakup::engine
