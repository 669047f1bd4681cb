// Shape inference and consistency checks for an engine Graph. Everything downstream (XNNPACK, the
// host operators, the reference interpreter) sizes its buffers from the declared tensor shapes, so
// a file that declares an output smaller than what an operator computes must be refused here.
#include <algorithm>
#include <sstream>

#include "graph.h"

namespace speakup::engine {
namespace {

constexpr size_t kMaxElements = size_t{1} << 28;  // 1 GiB of floats: far above any face model
constexpr size_t kMaxRank = 6;                     // XNNPACK's limit

std::string ShapeString(const std::vector<int32_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << ']';
  return out.str();
}

// SAME: ceil(in / stride); VALID: ceil((in - effective_kernel + 1) / stride), at least... 0 is an error.
int OutputSize(Padding padding, int in, int kernel, int stride, int dilation) {
  const int effective = (kernel - 1) * dilation + 1;
  if (padding == Padding::kSame) return (in + stride - 1) / stride;
  if (in < effective) return 0;
  return (in - effective + stride) / stride;
}

class Checker {
 public:
  explicit Checker(const Graph& graph) : graph_(graph) {}

  Status Run() {
    for (size_t i = 0; i < graph_.tensors.size(); ++i) {
      SPEAKUP_RETURN_IF_ERROR(CheckTensor(static_cast<int>(i)));
    }
    std::vector<bool> written(graph_.tensors.size(), false);
    std::vector<bool> computed(graph_.tensors.size(), false);
    for (int input : graph_.inputs) {
      if (!InRange(input)) return Status::Error("graph input index " + std::to_string(input) + " is out of range");
      if (graph_.tensors[input].is_constant()) return Status::Error("graph input '" + graph_.tensors[input].name + "' is a constant");
      if (written[input]) return Status::Error("graph input '" + graph_.tensors[input].name + "' is listed twice");
      written[input] = true;
    }
    for (size_t k = 0; k < graph_.ops.size(); ++k) {
      const Op& op = graph_.ops[k];
      op_label_ = "operator " + std::to_string(k) + " (" + OpTypeName(op.type) + ")";
      for (int in : op.inputs) {
        if (!InRange(in)) return Fail("input tensor index " + std::to_string(in) + " is out of range");
        if (!graph_.tensors[in].is_constant() && !written[in]) {
          return Fail("reads tensor '" + graph_.tensors[in].name + "' before any operator writes it");
        }
      }
      for (int out : op.outputs) {
        if (!InRange(out)) return Fail("output tensor index " + std::to_string(out) + " is out of range");
        if (graph_.tensors[out].is_constant()) return Fail("writes the constant tensor '" + graph_.tensors[out].name + "'");
        if (written[out]) return Fail("writes tensor '" + graph_.tensors[out].name + "', which is already written");
        written[out] = true;
        computed[out] = true;
      }
      SPEAKUP_RETURN_IF_ERROR(CheckOp(op));
    }
    if (graph_.outputs.empty()) return Status::Error("the graph has no outputs");
    for (int output : graph_.outputs) {
      if (!InRange(output)) return Status::Error("graph output index " + std::to_string(output) + " is out of range");
      if (!computed[output]) {
        return Status::Error("graph output '" + graph_.tensors[output].name + "' is not computed by any operator");
      }
    }
    return Status::Ok();
  }

 private:
  bool InRange(int index) const { return index >= 0 && static_cast<size_t>(index) < graph_.tensors.size(); }
  const Tensor& T(int index) const { return graph_.tensors[static_cast<size_t>(index)]; }
  const std::vector<int32_t>& S(int index) const { return T(index).shape; }

  Status Fail(const std::string& what) const { return Status::Error(op_label_ + ": " + what); }

  Status CheckTensor(int index) const {
    const Tensor& t = T(index);
    if (t.shape.size() > kMaxRank) return Status::Error("tensor '" + t.name + "' has rank " + std::to_string(t.shape.size()) + " (at most 6 supported)");
    size_t count = 1;
    for (int32_t d : t.shape) {
      if (d < 1) return Status::Error("tensor '" + t.name + "' has a non-positive dimension: " + ShapeString(t.shape));
      count *= static_cast<size_t>(d);
      if (count > kMaxElements) return Status::Error("tensor '" + t.name + "' is too large: " + ShapeString(t.shape));
    }
    if (t.is_constant()) {
      if (static_cast<size_t>(t.constant) >= graph_.constants.size()) return Status::Error("tensor '" + t.name + "' refers to a missing constant");
      if (graph_.constants[t.constant].size() != count) {
        return Status::Error("constant tensor '" + t.name + "' has " + std::to_string(graph_.constants[t.constant].size()) +
                             " values but its shape " + ShapeString(t.shape) + " needs " + std::to_string(count));
      }
    }
    return Status::Ok();
  }

  Status Arity(const Op& op, size_t inputs, size_t outputs) const {
    if (op.inputs.size() != inputs || op.outputs.size() != outputs) {
      return Fail("expects " + std::to_string(inputs) + " input(s) and " + std::to_string(outputs) +
                  " output(s), has " + std::to_string(op.inputs.size()) + " and " + std::to_string(op.outputs.size()));
    }
    return Status::Ok();
  }

  Status ExpectShape(int tensor, const std::vector<int32_t>& expected) const {
    if (S(tensor) != expected) {
      return Fail("tensor '" + T(tensor).name + "' is declared " + ShapeString(S(tensor)) + " but the operator needs " + ShapeString(expected));
    }
    return Status::Ok();
  }

  Status ExpectRank(int tensor, size_t rank) const {
    if (S(tensor).size() != rank) return Fail("tensor '" + T(tensor).name + "' must have rank " + std::to_string(rank) + ", has shape " + ShapeString(S(tensor)));
    return Status::Ok();
  }

  Status ExpectConstant(int tensor) const {
    if (!T(tensor).is_constant()) return Fail("tensor '" + T(tensor).name + "' must be a constant");
    return Status::Ok();
  }

  template <typename Options>
  Expected<const Options*> Get(const Op& op) const {
    const Options* options = std::get_if<Options>(&op.options);
    if (options == nullptr) return Error(op_label_ + ": has the wrong kind of options");
    return options;
  }

  static bool ValidActivation(Activation a) { return a >= Activation::kNone && a <= Activation::kRelu6; }

  Status CheckOp(const Op& op) {
    switch (op.type) {
      case OpType::kAdd:
      case OpType::kMul:
      case OpType::kSub:
      case OpType::kDiv:
      case OpType::kSquaredDifference: return CheckBinary(op);
      case OpType::kConv2D:
      case OpType::kDepthwiseConv2D: return CheckConv(op);
      case OpType::kMaxPool2D: return CheckPool(op);
      case OpType::kPrelu: return CheckPrelu(op);
      case OpType::kRelu:
      case OpType::kLogistic:
      case OpType::kNeg:
      case OpType::kSqrt:
      case OpType::kRsqrt:
        SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
        if (!std::holds_alternative<NoOptions>(op.options)) return Fail("has the wrong kind of options");
        return ExpectShape(op.outputs[0], S(op.inputs[0]));
      case OpType::kPad: return CheckPad(op);
      case OpType::kReshape:
        SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
        if (T(op.inputs[0]).element_count() != T(op.outputs[0]).element_count()) {
          return Fail("reshapes " + ShapeString(S(op.inputs[0])) + " into " + ShapeString(S(op.outputs[0])) + ": element counts differ");
        }
        return Status::Ok();
      case OpType::kConcatenation: return CheckConcat(op);
      case OpType::kResizeBilinear: return CheckResize(op);
      case OpType::kStridedSlice: return CheckStridedSlice(op);
      case OpType::kMean:
      case OpType::kSum: return CheckReduce(op);
      case OpType::kTranspose: return CheckTranspose(op);
      case OpType::kLandmarks2TransformMatrix: return CheckLandmarksToMatrix(op);
      case OpType::kTransformTensorBilinear: return CheckTransformTensor(op);
      case OpType::kTransformLandmarks: return CheckTransformLandmarks(op);
    }
    return Fail("unknown operator type");
  }

  Status CheckBinary(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 2, 1));
    auto options = Get<ElementwiseOptions>(op);
    if (!options) return options.status();
    if (!ValidActivation((*options)->activation)) return Fail("has an unknown fused activation");
    // XNNPACK's squared difference takes no output clamp (and TFLite's has no fused activation).
    if (op.type == OpType::kSquaredDifference && (*options)->activation != Activation::kNone) {
      return Fail("cannot have a fused activation");
    }
    const auto& a = S(op.inputs[0]);
    const auto& b = S(op.inputs[1]);
    const size_t rank = std::max(a.size(), b.size());
    std::vector<int32_t> out(rank);
    for (size_t i = 0; i < rank; ++i) {
      const int32_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
      const int32_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
      if (da != db && da != 1 && db != 1) return Fail("cannot broadcast " + ShapeString(a) + " with " + ShapeString(b));
      out[i] = std::max(da, db);
    }
    return ExpectShape(op.outputs[0], out);
  }

  Status CheckConv(const Op& op) {
    const bool depthwise = op.type == OpType::kDepthwiseConv2D;
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 3, 1));  // the loader supplies a zero bias where a file has none
    auto options_or = Get<ConvOptions>(op);
    if (!options_or) return options_or.status();
    const ConvOptions& o = **options_or;
    if (o.stride_h < 1 || o.stride_w < 1 || o.dilation_h < 1 || o.dilation_w < 1) return Fail("has a stride or dilation below 1");
    if (o.stride_h > 64 || o.stride_w > 64 || o.dilation_h > 64 || o.dilation_w > 64) return Fail("has an implausibly large stride or dilation");
    if (!ValidActivation(o.activation)) return Fail("has an unknown fused activation");
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.inputs[0], 4));
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.inputs[1], 4));
    SPEAKUP_RETURN_IF_ERROR(ExpectConstant(op.inputs[1]));
    const auto& in = S(op.inputs[0]);
    const auto& filter = S(op.inputs[1]);
    int32_t out_channels = 0;
    if (depthwise) {
      if (filter[0] != 1) return Fail("depthwise filter must have shape [1,kh,kw,C*multiplier], has " + ShapeString(filter));
      if (o.depth_multiplier < 1) return Fail("has a depth multiplier below 1");
      if (static_cast<int64_t>(in[3]) * o.depth_multiplier != filter[3]) {
        return Fail("depthwise filter has " + std::to_string(filter[3]) + " channels, input " + std::to_string(in[3]) +
                    " x multiplier " + std::to_string(o.depth_multiplier));
      }
      out_channels = filter[3];
    } else {
      if (filter[3] != in[3]) return Fail("filter expects " + std::to_string(filter[3]) + " input channels, input has " + std::to_string(in[3]));
      out_channels = filter[0];
    }
    SPEAKUP_RETURN_IF_ERROR(ExpectConstant(op.inputs[2]));
    if (T(op.inputs[2]).element_count() != static_cast<size_t>(out_channels)) return Fail("bias size does not match the output channels");
    const int oh = OutputSize(o.padding, in[1], filter[1], o.stride_h, o.dilation_h);
    const int ow = OutputSize(o.padding, in[2], filter[2], o.stride_w, o.dilation_w);
    if (oh < 1 || ow < 1) return Fail("kernel is larger than the input");
    return ExpectShape(op.outputs[0], {in[0], oh, ow, out_channels});
  }

  Status CheckPool(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
    auto options_or = Get<PoolOptions>(op);
    if (!options_or) return options_or.status();
    const PoolOptions& o = **options_or;
    if (o.stride_h < 1 || o.stride_w < 1 || o.filter_h < 1 || o.filter_w < 1) return Fail("has a stride or filter size below 1");
    if (o.stride_h > 64 || o.stride_w > 64 || o.filter_h > 64 || o.filter_w > 64) return Fail("has an implausibly large stride or filter");
    if (!ValidActivation(o.activation)) return Fail("has an unknown fused activation");
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.inputs[0], 4));
    const auto& in = S(op.inputs[0]);
    const int oh = OutputSize(o.padding, in[1], o.filter_h, o.stride_h, 1);
    const int ow = OutputSize(o.padding, in[2], o.filter_w, o.stride_w, 1);
    if (oh < 1 || ow < 1) return Fail("filter is larger than the input");
    return ExpectShape(op.outputs[0], {in[0], oh, ow, in[3]});
  }

  Status CheckPrelu(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 2, 1));
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.inputs[0], 4));
    SPEAKUP_RETURN_IF_ERROR(ExpectConstant(op.inputs[1]));
    const auto& slope = S(op.inputs[1]);
    const int32_t channels = S(op.inputs[0])[3];
    if (slope.empty() || slope.back() != channels || T(op.inputs[1]).element_count() != static_cast<size_t>(channels)) {
      return Fail("slope " + ShapeString(slope) + " must hold one value per channel (" + std::to_string(channels) + ")");
    }
    return ExpectShape(op.outputs[0], S(op.inputs[0]));
  }

  Status CheckPad(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
    auto options_or = Get<PadOptions>(op);
    if (!options_or) return options_or.status();
    const auto& in = S(op.inputs[0]);
    const auto& paddings = (*options_or)->paddings;
    if (paddings.size() != in.size()) return Fail("has " + std::to_string(paddings.size()) + " padding pairs for a rank " + std::to_string(in.size()) + " input");
    std::vector<int32_t> out(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      if (paddings[i][0] < 0 || paddings[i][1] < 0 || paddings[i][0] > 65536 || paddings[i][1] > 65536) return Fail("has a negative or huge padding");
      out[i] = in[i] + paddings[i][0] + paddings[i][1];
    }
    return ExpectShape(op.outputs[0], out);
  }

  Status CheckConcat(const Op& op) {
    if (op.inputs.empty() || op.outputs.size() != 1) return Fail("expects at least one input and one output");
    auto options_or = Get<ConcatenationOptions>(op);
    if (!options_or) return options_or.status();
    const ConcatenationOptions& o = **options_or;
    if (!ValidActivation(o.activation)) return Fail("has an unknown fused activation");
    std::vector<int32_t> out = S(op.inputs[0]);
    if (o.axis < 0 || static_cast<size_t>(o.axis) >= out.size()) return Fail("axis " + std::to_string(o.axis) + " is out of range");
    for (size_t i = 1; i < op.inputs.size(); ++i) {
      const auto& s = S(op.inputs[i]);
      if (s.size() != out.size()) return Fail("inputs differ in rank");
      for (size_t d = 0; d < s.size(); ++d) {
        if (d == static_cast<size_t>(o.axis)) continue;
        if (s[d] != out[d]) return Fail("inputs differ outside the concatenation axis: " + ShapeString(s) + " vs " + ShapeString(out));
      }
      out[o.axis] += s[o.axis];
    }
    return ExpectShape(op.outputs[0], out);
  }

  Status CheckResize(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
    auto options_or = Get<ResizeBilinearOptions>(op);
    if (!options_or) return options_or.status();
    if ((*options_or)->align_corners && (*options_or)->half_pixel_centers) return Fail("align_corners and half_pixel_centers cannot both be set");
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.inputs[0], 4));
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.outputs[0], 4));
    const auto& in = S(op.inputs[0]);
    const auto& out = S(op.outputs[0]);
    return ExpectShape(op.outputs[0], {in[0], out[1], out[2], in[3]});
  }

  Status CheckStridedSlice(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
    auto options_or = Get<StridedSliceOptions>(op);
    if (!options_or) return options_or.status();
    const StridedSliceOptions& o = **options_or;
    const auto& in = S(op.inputs[0]);
    if (o.begin.size() != in.size() || o.end.size() != in.size() || o.strides.size() != in.size()) {
      return Fail("begin/end/strides must have one entry per input dimension");
    }
    std::vector<int32_t> out;
    for (size_t d = 0; d < in.size(); ++d) {
      const int32_t begin = o.begin[d], end = o.end[d], stride = o.strides[d];
      if (stride < 1) return Fail("only positive strides are supported");
      if (begin < 0 || begin >= in[d] || end < begin || end > in[d]) {
        return Fail("slice [" + std::to_string(begin) + "," + std::to_string(end) + ") is outside dimension " +
                    std::to_string(d) + " of size " + std::to_string(in[d]));
      }
      const int32_t size = (end - begin + stride - 1) / stride;
      if (o.shrink_axis_mask & (1 << d)) {
        if (size != 1) return Fail("shrinks a dimension whose slice is not of size 1");
        continue;
      }
      if (size < 1) return Fail("produces an empty slice");
      out.push_back(size);
    }
    return ExpectShape(op.outputs[0], out);
  }

  Status CheckReduce(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
    auto options_or = Get<ReduceOptions>(op);
    if (!options_or) return options_or.status();
    const ReduceOptions& o = **options_or;
    const auto& in = S(op.inputs[0]);
    std::vector<bool> reduced(in.size(), false);
    for (size_t i = 0; i < o.axes.size(); ++i) {
      const int32_t axis = o.axes[i];
      if (axis < 0 || static_cast<size_t>(axis) >= in.size()) {
        return Fail("axis " + std::to_string(axis) + " is out of range for input " + ShapeString(in));
      }
      if (i > 0 && axis <= o.axes[i - 1]) return Fail("axes must be sorted and distinct");
      reduced[static_cast<size_t>(axis)] = true;
    }
    std::vector<int32_t> out;
    for (size_t d = 0; d < in.size(); ++d) {
      if (!reduced[d]) out.push_back(in[d]);
      else if (o.keep_dims) out.push_back(1);
    }
    return ExpectShape(op.outputs[0], out);
  }

  Status CheckTranspose(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
    auto options_or = Get<TransposeOptions>(op);
    if (!options_or) return options_or.status();
    const auto& perm = (*options_or)->perm;
    const auto& in = S(op.inputs[0]);
    if (perm.size() != in.size()) {
      return Fail("perm has " + std::to_string(perm.size()) + " entries for input " + ShapeString(in));
    }
    std::vector<bool> seen(in.size(), false);
    std::vector<int32_t> out;
    for (int32_t p : perm) {
      if (p < 0 || static_cast<size_t>(p) >= in.size() || seen[static_cast<size_t>(p)]) {
        return Fail("perm " + ShapeString(perm) + " is not a permutation of " + std::to_string(in.size()) +
                    " dimensions");
      }
      seen[static_cast<size_t>(p)] = true;
      out.push_back(in[static_cast<size_t>(p)]);
    }
    return ExpectShape(op.outputs[0], out);
  }

  Status CheckLandmarksToMatrix(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 1, 1));
    auto options_or = Get<Landmarks2TransformMatrixOptions>(op);
    if (!options_or) return options_or.status();
    const auto& o = **options_or;
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.inputs[0], 3));
    const auto& in = S(op.inputs[0]);
    if (in[0] != 1 || in[2] < 2) return Fail("landmarks must be [1,N,2 or more], are " + ShapeString(in));
    auto inside = [&](int32_t i) { return i >= 0 && i < in[1]; };
    if (!inside(o.left_rotation_idx) || !inside(o.right_rotation_idx)) return Fail("rotation landmark index out of range");
    if (o.subset_idxs.empty()) return Fail("has no subset landmarks");
    for (int32_t i : o.subset_idxs) {
      if (!inside(i)) return Fail("subset landmark index " + std::to_string(i) + " is out of range");
    }
    return ExpectShape(op.outputs[0], {1, 4, 4});
  }

  Status CheckTransformTensor(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 2, 1));
    auto options_or = Get<TransformTensorBilinearOptions>(op);
    if (!options_or) return options_or.status();
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.inputs[0], 4));
    const auto& in = S(op.inputs[0]);
    if (in[0] != 1) return Fail("expects a batch of 1");
    SPEAKUP_RETURN_IF_ERROR(ExpectShape(op.inputs[1], {1, 4, 4}));
    return ExpectShape(op.outputs[0], {1, (*options_or)->output_height, (*options_or)->output_width, in[3]});
  }

  Status CheckTransformLandmarks(const Op& op) {
    SPEAKUP_RETURN_IF_ERROR(Arity(op, 2, 1));
    SPEAKUP_RETURN_IF_ERROR(ExpectRank(op.inputs[0], 3));
    const auto& in = S(op.inputs[0]);
    if (in[0] != 1 || in[2] < 2) return Fail("landmarks must be [1,N,2 or more], are " + ShapeString(in));
    SPEAKUP_RETURN_IF_ERROR(ExpectShape(op.inputs[1], {1, 4, 4}));
    return ExpectShape(op.outputs[0], in);
  }

  const Graph& graph_;
  std::string op_label_;
};

}  // namespace

Status Validate(const Graph& graph) { return Checker(graph).Run(); }

}  // namespace speakup::engine
