#include "tflite_loader.h"

#include <fp16.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>

#include "custom_options.h"
#include "tflite_schema_generated.h"

namespace speakup::engine {
namespace {

namespace tfl = speakup::tflite;

constexpr size_t kMaxModelBytes = size_t{512} << 20;

std::string TypeName(tfl::TensorType type) {
  const char* name = tfl::EnumNameTensorType(type);
  return name && *name ? name : "type " + std::to_string(static_cast<int>(type));
}

// "SPLIT", or the bare code for one the schema does not name (newer than the engine).
std::string BuiltinName(int32_t code) {
  const bool known = code >= tfl::BuiltinOperator_MIN && code <= tfl::BuiltinOperator_MAX;
  const std::string name = known ? tfl::EnumNameBuiltinOperator(static_cast<tfl::BuiltinOperator>(code)) : "";
  return name.empty() ? "with TFLite builtin code " + std::to_string(code) : name;
}

Expected<Activation> ToActivation(tfl::ActivationFunctionType type) {
  switch (type) {
    case tfl::ActivationFunctionType_NONE: return Activation::kNone;
    case tfl::ActivationFunctionType_RELU: return Activation::kRelu;
    case tfl::ActivationFunctionType_RELU_N1_TO_1: return Activation::kReluN1To1;
    case tfl::ActivationFunctionType_RELU6: return Activation::kRelu6;
    default: return Error("fused activation " + std::to_string(static_cast<int>(type)) + " is not supported");
  }
}

Expected<Padding> ToPadding(tfl::Padding padding) {
  switch (padding) {
    case tfl::Padding_SAME: return Padding::kSame;
    case tfl::Padding_VALID: return Padding::kValid;
    default: return Error("padding " + std::to_string(static_cast<int>(padding)) + " is not supported");
  }
}

class Loader {
 public:
  explicit Loader(const tfl::Model& model) : model_(model) {}

  Expected<Graph> Load() {
    if (model_.subgraphs() == nullptr || model_.subgraphs()->size() == 0) return Error("the file has no subgraph");
    if (model_.subgraphs()->size() > 1) {
      return Error("the file has " + std::to_string(model_.subgraphs()->size()) +
                   " subgraphs; only single-subgraph models are supported");
    }
    subgraph_ = model_.subgraphs()->Get(0);
    if (subgraph_->tensors() == nullptr || subgraph_->operators() == nullptr) {
      return Error("the subgraph has no tensors or no operators");
    }
    tensor_map_.assign(subgraph_->tensors()->size(), -1);

    if (subgraph_->inputs() == nullptr || subgraph_->outputs() == nullptr) {
      return Error("the subgraph declares no inputs or outputs");
    }
    for (int32_t index : *subgraph_->inputs()) {
      auto tensor = Activation(index, "graph input");
      if (!tensor) return tensor.status();
      graph_.inputs.push_back(*tensor);
    }
    for (size_t k = 0; k < subgraph_->operators()->size(); ++k) {
      op_label_ = "operator " + std::to_string(k);
      SPEAKUP_RETURN_IF_ERROR(AddOperator(*subgraph_->operators()->Get(static_cast<flatbuffers::uoffset_t>(k))));
    }
    for (int32_t index : *subgraph_->outputs()) {
      if (index < 0 || static_cast<size_t>(index) >= tensor_map_.size() || tensor_map_[index] < 0) {
        return Error("graph output " + std::to_string(index) + " is not computed by any operator");
      }
      graph_.outputs.push_back(tensor_map_[index]);
    }
    SPEAKUP_RETURN_IF_ERROR(Validate(graph_));
    return std::move(graph_);
  }

 private:
  // The tensors of the file operator being read: the file's indices, and the engine tensors the
  // engine's op reads, in its order (the parse functions add them).
  struct Operands {
    std::vector<int32_t> in, out;
    std::vector<int> inputs;
  };

  // Reads an operator's inputs into `operands` and returns its options, or says what is wrong.
  using ParseFunction = Expected<OpOptions> (Loader::*)(const tfl::Operator& op, Operands& operands);

  struct SupportedBuiltin {
    int32_t code;
    OpType type;
    ParseFunction parse;
  };

  struct SupportedCustom {
    std::string_view name;
    OpType type;
  };

  // The builtins the engine runs, in code order. DEQUANTIZE (it makes a constant, not an op) and CUSTOM
  // (looked up by name in FindCustom) are read apart in AddOperator.
  static const SupportedBuiltin* FindBuiltin(int32_t code) {
    static constexpr SupportedBuiltin kBuiltins[] = {
        {tfl::BuiltinOperator_ADD, OpType::kAdd, &Loader::ParseAdd},
        {tfl::BuiltinOperator_CONCATENATION, OpType::kConcatenation, &Loader::ParseConcatenation},
        {tfl::BuiltinOperator_CONV_2D, OpType::kConv2D, &Loader::ParseConv2D},
        {tfl::BuiltinOperator_DEPTHWISE_CONV_2D, OpType::kDepthwiseConv2D, &Loader::ParseDepthwiseConv2D},
        {tfl::BuiltinOperator_LOGISTIC, OpType::kLogistic, &Loader::ParseUnary},
        {tfl::BuiltinOperator_MAX_POOL_2D, OpType::kMaxPool2D, &Loader::ParseMaxPool2D},
        {tfl::BuiltinOperator_MUL, OpType::kMul, &Loader::ParseMul},
        {tfl::BuiltinOperator_RELU, OpType::kRelu, &Loader::ParseRelu},
        {tfl::BuiltinOperator_RESHAPE, OpType::kReshape, &Loader::ParseReshape},
        {tfl::BuiltinOperator_RESIZE_BILINEAR, OpType::kResizeBilinear, &Loader::ParseResizeBilinear},
        {tfl::BuiltinOperator_PAD, OpType::kPad, &Loader::ParsePad},
        {tfl::BuiltinOperator_TRANSPOSE, OpType::kTranspose, &Loader::ParseTranspose},
        {tfl::BuiltinOperator_MEAN, OpType::kMean, &Loader::ParseReduce},
        {tfl::BuiltinOperator_SUB, OpType::kSub, &Loader::ParseSub},
        {tfl::BuiltinOperator_DIV, OpType::kDiv, &Loader::ParseDiv},
        {tfl::BuiltinOperator_STRIDED_SLICE, OpType::kStridedSlice, &Loader::ParseStridedSlice},
        {tfl::BuiltinOperator_PRELU, OpType::kPrelu, &Loader::ParsePrelu},
        {tfl::BuiltinOperator_NEG, OpType::kNeg, &Loader::ParseUnary},
        {tfl::BuiltinOperator_SUM, OpType::kSum, &Loader::ParseReduce},
        {tfl::BuiltinOperator_SQRT, OpType::kSqrt, &Loader::ParseUnary},
        {tfl::BuiltinOperator_RSQRT, OpType::kRsqrt, &Loader::ParseUnary},
        {tfl::BuiltinOperator_SQUARED_DIFFERENCE, OpType::kSquaredDifference, &Loader::ParseSquaredDifference},
    };
    for (const SupportedBuiltin& builtin : kBuiltins) {
      if (builtin.code == code) return &builtin;
    }
    return nullptr;
  }

  // MediaPipe's custom operators in face_landmark_with_attention.tflite; all are read by ParseCustom.
  static std::optional<OpType> FindCustom(std::string_view name) {
    static constexpr SupportedCustom kCustoms[] = {
        {"Landmarks2TransformMatrix", OpType::kLandmarks2TransformMatrix},
        {"TransformTensorBilinear", OpType::kTransformTensorBilinear},
        {"TransformLandmarks", OpType::kTransformLandmarks},
    };
    for (const SupportedCustom& custom : kCustoms) {
      if (custom.name == name) return custom.type;
    }
    return std::nullopt;
  }

  Status Fail(const std::string& what) const { return Status::Error(op_label_ + ": " + what); }

  Expected<const tfl::Tensor*> FileTensor(int32_t index) const {
    if (index < 0 || static_cast<size_t>(index) >= subgraph_->tensors()->size()) {
      return Error(op_label_ + ": tensor index " + std::to_string(index) + " is out of range");
    }
    const tfl::Tensor* tensor = subgraph_->tensors()->Get(static_cast<flatbuffers::uoffset_t>(index));
    if (tensor == nullptr) return Error(op_label_ + ": tensor " + std::to_string(index) + " is missing");
    return tensor;
  }

  static std::string NameOf(const tfl::Tensor& tensor, int32_t index) {
    return tensor.name() ? tensor.name()->str() : "tensor " + std::to_string(index);
  }

  Expected<std::vector<int32_t>> ShapeOf(const tfl::Tensor& tensor, int32_t index) const {
    std::vector<int32_t> shape;
    if (tensor.shape()) shape.assign(tensor.shape()->begin(), tensor.shape()->end());
    if (shape.size() > 6) {
      return Error("tensor '" + NameOf(tensor, index) + "' has rank " + std::to_string(shape.size()) +
                   "; at most 6 is supported");
    }
    for (int32_t d : shape) {
      if (d < 1) return Error("tensor '" + NameOf(tensor, index) + "' has a dynamic or non-positive dimension");
    }
    return shape;
  }

  // The raw bytes of a constant tensor's buffer, checked against its type and shape.
  Expected<std::span<const uint8_t>> ConstantBytes(const tfl::Tensor& tensor, int32_t index,
                                                   size_t element_size) const {
    if (model_.buffers() == nullptr || tensor.buffer() >= model_.buffers()->size()) {
      return Error(op_label_ + ": tensor '" + NameOf(tensor, index) + "' refers to a missing buffer");
    }
    const tfl::Buffer* buffer = model_.buffers()->Get(tensor.buffer());
    if (buffer == nullptr || buffer->data() == nullptr || buffer->data()->size() == 0) {
      if (buffer && buffer->offset() != 0) {
        return Error(op_label_ + ": tensor '" + NameOf(tensor, index) +
                     "' keeps its data outside the flatbuffer, which is not supported");
      }
      return Error(op_label_ + ": tensor '" + NameOf(tensor, index) + "' must be a constant but has no data");
    }
    auto shape = ShapeOf(tensor, index);
    if (!shape) return shape.status();
    size_t count = 1;
    for (int32_t d : *shape) count *= static_cast<size_t>(d);
    if (buffer->data()->size() != count * element_size) {
      return Error(op_label_ + ": constant '" + NameOf(tensor, index) + "' has " +
                   std::to_string(buffer->data()->size()) + " bytes but its shape needs " +
                   std::to_string(count * element_size));
    }
    return std::span<const uint8_t>(buffer->data()->data(), buffer->data()->size());
  }

  bool HasData(const tfl::Tensor& tensor) const {
    if (model_.buffers() == nullptr || tensor.buffer() >= model_.buffers()->size()) return false;
    const tfl::Buffer* buffer = model_.buffers()->Get(tensor.buffer());
    return buffer && buffer->data() && buffer->data()->size() > 0;
  }

  // A float32 tensor of the file as an engine tensor (an activation or an fp32 constant).
  Expected<int> Float(int32_t index, const char* role) {
    auto tensor_or = FileTensor(index);
    if (!tensor_or) return tensor_or.status();
    if (tensor_map_[index] >= 0) return tensor_map_[index];
    const tfl::Tensor& tensor = **tensor_or;
    if (tensor.type() != tfl::TensorType_FLOAT32) {
      return Error(op_label_ + ": " + role + " '" + NameOf(tensor, index) + "' has type " + TypeName(tensor.type()) +
                   "; only FLOAT32 is supported here");
    }
    if (tensor.quantization() && tensor.quantization()->scale() && tensor.quantization()->scale()->size() > 0) {
      return Error(op_label_ + ": tensor '" + NameOf(tensor, index) +
                   "' is quantized; quantized models are not supported");
    }
    auto shape = ShapeOf(tensor, index);
    if (!shape) return Error(op_label_ + ": " + shape.error());
    if (HasData(tensor)) {
      auto bytes = ConstantBytes(tensor, index, sizeof(float));
      if (!bytes) return bytes.status();
      std::vector<float> values(bytes->size() / sizeof(float));
      std::memcpy(values.data(), bytes->data(), bytes->size());
      tensor_map_[index] = graph_.AddConstant(NameOf(tensor, index), std::move(*shape), std::move(values));
    } else {
      tensor_map_[index] = graph_.AddTensor(NameOf(tensor, index), std::move(*shape));
    }
    return tensor_map_[index];
  }

  Expected<int> Activation(int32_t index, const char* role) {
    auto result = Float(index, role);
    if (result && graph_.tensors[*result].is_constant()) {
      return Error(std::string(role) + " '" + graph_.tensors[*result].name + "' must not be a constant");
    }
    return result;
  }

  Expected<std::vector<int32_t>> IntConstant(int32_t index, const char* role) const {
    auto tensor_or = FileTensor(index);
    if (!tensor_or) return tensor_or.status();
    const tfl::Tensor& tensor = **tensor_or;
    if (tensor.type() != tfl::TensorType_INT32) {
      return Error(op_label_ + ": " + role + " must be INT32, is " + TypeName(tensor.type()));
    }
    auto bytes = ConstantBytes(tensor, index, sizeof(int32_t));
    if (!bytes) return bytes.status();
    std::vector<int32_t> values(bytes->size() / sizeof(int32_t));
    std::memcpy(values.data(), bytes->data(), bytes->size());
    return values;
  }

  Status Dequantize(const tfl::Operator& op) {
    if (!op.inputs() || !op.outputs() || op.inputs()->size() != 1 || op.outputs()->size() != 1) {
      return Fail("DEQUANTIZE expects one input and one output");
    }
    const int32_t in = op.inputs()->Get(0), out = op.outputs()->Get(0);
    auto input_or = FileTensor(in);
    if (!input_or) return input_or.status();
    auto output_or = FileTensor(out);
    if (!output_or) return output_or.status();
    const tfl::Tensor& input = **input_or;
    const tfl::Tensor& output = **output_or;
    if (input.type() != tfl::TensorType_FLOAT16 || !HasData(input)) {
      return Fail("DEQUANTIZE is only supported on FLOAT16 constants (input '" + NameOf(input, in) + "' is " +
                  TypeName(input.type()) + ")");
    }
    if (output.type() != tfl::TensorType_FLOAT32) return Fail("DEQUANTIZE must produce FLOAT32");
    if (tensor_map_[out] >= 0) return Fail("tensor '" + NameOf(output, out) + "' is written twice");
    auto bytes = ConstantBytes(input, in, sizeof(uint16_t));
    if (!bytes) return bytes.status();
    auto in_shape = ShapeOf(input, in);
    auto out_shape = ShapeOf(output, out);
    if (!in_shape || !out_shape || *in_shape != *out_shape) return Fail("DEQUANTIZE input and output shapes differ");
    // fp16 weights run as fp32: XNNPACK's fp32 graph cannot take fp16 filters.
    std::vector<float> values(bytes->size() / 2);
    for (size_t i = 0; i < values.size(); ++i) {
      uint16_t half;
      std::memcpy(&half, bytes->data() + 2 * i, 2);
      values[i] = fp16_ieee_to_fp32_value(half);
    }
    tensor_map_[out] = graph_.AddConstant(NameOf(output, out), std::move(*out_shape), std::move(values));
    return Status::Ok();
  }

  Status AddOperator(const tfl::Operator& op) {
    if (model_.operator_codes() == nullptr || op.opcode_index() >= model_.operator_codes()->size()) {
      return Fail("operator code index out of range");
    }
    const tfl::OperatorCode* code = model_.operator_codes()->Get(op.opcode_index());
    // Files written before builtin_code existed keep small codes in deprecated_builtin_code only.
    const int32_t builtin = std::max<int32_t>(code->deprecated_builtin_code(), code->builtin_code());
    // DEQUANTIZE makes a constant, not an engine op.
    if (builtin == tfl::BuiltinOperator_DEQUANTIZE) return Dequantize(op);
    if (!op.inputs() || !op.outputs()) return Fail("has no input or output list");

    Operands operands{{op.inputs()->begin(), op.inputs()->end()}, {op.outputs()->begin(), op.outputs()->end()}, {}};
    Op result;
    Expected<OpOptions> options = OpOptions();
    if (builtin == tfl::BuiltinOperator_CUSTOM) {
      const std::string name = code->custom_code() ? code->custom_code()->str() : "";
      const std::optional<OpType> type = FindCustom(name);
      if (!type) return Fail("custom operator '" + name + "' is not supported by SpeakUp's engine");
      result.type = *type;
      options = ParseCustom(op, operands, *type, name);
    } else {
      const SupportedBuiltin* supported = FindBuiltin(builtin);
      if (!supported) return Fail("operator " + BuiltinName(builtin) + " is not supported by SpeakUp's engine");
      op_label_ += " (" + BuiltinName(builtin) + ")";  // every later message names the operator
      result.type = supported->type;
      options = (this->*supported->parse)(op, operands);
    }
    if (!options) return options.status();
    result.options = std::move(*options);
    result.inputs = std::move(operands.inputs);

    const std::vector<int32_t>& out = operands.out;
    if (out.size() != 1) return Fail("expects exactly one output");
    auto output_or = FileTensor(out[0]);
    if (!output_or) return output_or.status();
    if (tensor_map_[out[0]] >= 0) return Fail("tensor '" + NameOf(**output_or, out[0]) + "' is written twice");
    auto output = Activation(out[0], "output");
    if (!output) return output.status();
    result.outputs.push_back(*output);
    graph_.ops.push_back(std::move(result));
    return Status::Ok();
  }

  // Adds the first `count` file inputs, all float32, to the op's inputs.
  Status FloatInputs(Operands& operands, size_t count) {
    if (operands.in.size() < count) {
      return Fail("has " + std::to_string(operands.in.size()) + " inputs, needs " + std::to_string(count));
    }
    for (size_t i = 0; i < count; ++i) {
      auto tensor = Float(operands.in[i], "input");
      if (!tensor) return tensor.status();
      operands.inputs.push_back(*tensor);
    }
    return Status::Ok();
  }

  // The parse functions, one per supported operator; each reports the first problem it finds.

  Expected<OpOptions> ParseElementwise(Operands& operands, tfl::ActivationFunctionType fused_activation) {
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 2));
    auto activation = ToActivation(fused_activation);
    if (!activation) return Fail(activation.error());
    return OpOptions(ElementwiseOptions{*activation});
  }

  // ADD and MUL options are optional: no options means no fused activation.
  Expected<OpOptions> ParseAdd(const tfl::Operator& op, Operands& operands) {
    const tfl::AddOptions* o = op.builtin_options_as_AddOptions();
    return ParseElementwise(operands, o ? o->fused_activation_function() : tfl::ActivationFunctionType_NONE);
  }

  Expected<OpOptions> ParseMul(const tfl::Operator& op, Operands& operands) {
    const tfl::MulOptions* o = op.builtin_options_as_MulOptions();
    return ParseElementwise(operands, o ? o->fused_activation_function() : tfl::ActivationFunctionType_NONE);
  }

  Expected<OpOptions> ParseSub(const tfl::Operator& op, Operands& operands) {
    const tfl::SubOptions* o = op.builtin_options_as_SubOptions();
    return ParseElementwise(operands, o ? o->fused_activation_function() : tfl::ActivationFunctionType_NONE);
  }

  Expected<OpOptions> ParseDiv(const tfl::Operator& op, Operands& operands) {
    const tfl::DivOptions* o = op.builtin_options_as_DivOptions();
    return ParseElementwise(operands, o ? o->fused_activation_function() : tfl::ActivationFunctionType_NONE);
  }

  // TFLite's SQUARED_DIFFERENCE has no fused activation.
  Expected<OpOptions> ParseSquaredDifference(const tfl::Operator&, Operands& operands) {
    if (operands.in.size() != 2) return Fail("expects two inputs");
    return ParseElementwise(operands, tfl::ActivationFunctionType_NONE);
  }

  // LOGISTIC, NEG, SQRT, RSQRT: one input, no options.
  Expected<OpOptions> ParseUnary(const tfl::Operator&, Operands& operands) {
    if (operands.in.size() != 1) return Fail("expects one input");
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    return OpOptions();
  }

  // MEAN, SUM: the axes must be a constant (the engine's shapes are static); negative axes count from
  // the end, repeats are allowed as in TFLite. No options means keep_dims = false.
  Expected<OpOptions> ParseReduce(const tfl::Operator& op, Operands& operands) {
    if (operands.in.size() != 2) return Fail("expects an input and an axes tensor");
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    auto axes = IntConstant(operands.in[1], "axes");
    if (!axes) return axes.status();
    const int rank = static_cast<int>(graph_.tensors[operands.inputs[0]].shape.size());
    ReduceOptions options;
    for (int32_t axis : *axes) {
      if (axis < -rank || axis >= rank) {
        return Fail("axis " + std::to_string(axis) + " is out of range for a rank " + std::to_string(rank) + " input");
      }
      options.axes.push_back(axis < 0 ? axis + rank : axis);
    }
    std::sort(options.axes.begin(), options.axes.end());
    options.axes.erase(std::unique(options.axes.begin(), options.axes.end()), options.axes.end());
    if (const tfl::ReducerOptions* o = op.builtin_options_as_ReducerOptions()) options.keep_dims = o->keep_dims();
    return OpOptions(std::move(options));
  }

  // The permutation must be a constant: output dimension i is input dimension perm[i].
  Expected<OpOptions> ParseTranspose(const tfl::Operator&, Operands& operands) {
    if (operands.in.size() != 2) return Fail("expects an input and a perm tensor");
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    auto perm = IntConstant(operands.in[1], "perm");
    if (!perm) return perm.status();
    return OpOptions(TransposeOptions{std::move(*perm)});
  }

  // Input and filter of either convolution (the bias comes last, in FinishConv).
  Status ConvInputs(Operands& operands) {
    if (operands.in.size() != 3 && operands.in.size() != 2) return Fail("expects input, filter and bias");
    return FloatInputs(operands, 2);
  }

  // Padding, fused activation and bias, read alike for both convolutions.
  Status FinishConv(Operands& operands, tfl::Padding padding, tfl::ActivationFunctionType fused_activation,
                    bool depthwise, ConvOptions& options) {
    auto p = ToPadding(padding);
    if (!p) return Fail(p.error());
    auto a = ToActivation(fused_activation);
    if (!a) return Fail(a.error());
    options.padding = *p;
    options.activation = *a;
    if (operands.in.size() == 3 && operands.in[2] >= 0) {
      auto bias = Float(operands.in[2], "bias");
      if (!bias) return bias.status();
      operands.inputs.push_back(*bias);
    } else {
      // The engine's convolutions always take a bias.
      const auto& filter = graph_.tensors[operands.inputs[1]].shape;
      const int32_t channels = filter.size() == 4 ? (depthwise ? filter[3] : filter[0]) : 1;
      operands.inputs.push_back(
          graph_.AddConstant("zero bias", {channels}, std::vector<float>(static_cast<size_t>(channels), 0.0f)));
    }
    return Status::Ok();
  }

  Expected<OpOptions> ParseConv2D(const tfl::Operator& op, Operands& operands) {
    SPEAKUP_RETURN_IF_ERROR(ConvInputs(operands));
    const tfl::Conv2DOptions* o = op.builtin_options_as_Conv2DOptions();
    if (!o) return Fail("CONV_2D without its options");
    ConvOptions options;
    options.stride_h = o->stride_h();
    options.stride_w = o->stride_w();
    options.dilation_h = o->dilation_h_factor();
    options.dilation_w = o->dilation_w_factor();
    SPEAKUP_RETURN_IF_ERROR(
        FinishConv(operands, o->padding(), o->fused_activation_function(), /*depthwise=*/false, options));
    return OpOptions(options);
  }

  Expected<OpOptions> ParseDepthwiseConv2D(const tfl::Operator& op, Operands& operands) {
    SPEAKUP_RETURN_IF_ERROR(ConvInputs(operands));
    const tfl::DepthwiseConv2DOptions* o = op.builtin_options_as_DepthwiseConv2DOptions();
    if (!o) return Fail("DEPTHWISE_CONV_2D without its options");
    ConvOptions options;
    options.stride_h = o->stride_h();
    options.stride_w = o->stride_w();
    options.dilation_h = o->dilation_h_factor();
    options.dilation_w = o->dilation_w_factor();
    options.depth_multiplier = o->depth_multiplier();
    // Some converters write 0 for a multiplier they leave implicit: derive it from the shapes.
    const auto& input_shape = graph_.tensors[operands.inputs[0]].shape;
    const auto& filter_shape = graph_.tensors[operands.inputs[1]].shape;
    if (options.depth_multiplier == 0 && input_shape.size() == 4 && filter_shape.size() == 4 && input_shape[3] > 0) {
      options.depth_multiplier = filter_shape[3] / input_shape[3];
    }
    SPEAKUP_RETURN_IF_ERROR(
        FinishConv(operands, o->padding(), o->fused_activation_function(), /*depthwise=*/true, options));
    return OpOptions(options);
  }

  Expected<OpOptions> ParseMaxPool2D(const tfl::Operator& op, Operands& operands) {
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    const tfl::Pool2DOptions* o = op.builtin_options_as_Pool2DOptions();
    if (!o) return Fail("MAX_POOL_2D without its options");
    auto p = ToPadding(o->padding());
    if (!p) return Fail(p.error());
    auto a = ToActivation(o->fused_activation_function());
    if (!a) return Fail(a.error());
    return OpOptions(PoolOptions{*p, o->stride_h(), o->stride_w(), o->filter_height(), o->filter_width(), *a});
  }

  Expected<OpOptions> ParsePrelu(const tfl::Operator&, Operands& operands) {
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 2));
    return OpOptions();
  }

  Expected<OpOptions> ParseRelu(const tfl::Operator&, Operands& operands) {
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    return OpOptions();
  }

  Expected<OpOptions> ParsePad(const tfl::Operator&, Operands& operands) {
    if (operands.in.size() != 2) return Fail("PAD expects an input and a paddings tensor");
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    auto values = IntConstant(operands.in[1], "paddings");
    if (!values) return values.status();
    if (values->size() % 2 != 0) return Fail("paddings must be [rank, 2]");
    PadOptions options;
    for (size_t i = 0; i + 1 < values->size(); i += 2) options.paddings.push_back({(*values)[i], (*values)[i + 1]});
    return OpOptions(std::move(options));
  }

  // The new shape is the output tensor's (static); the optional shape input is redundant.
  Expected<OpOptions> ParseReshape(const tfl::Operator&, Operands& operands) {
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    return OpOptions();
  }

  Expected<OpOptions> ParseConcatenation(const tfl::Operator& op, Operands& operands) {
    if (operands.in.empty()) return Fail("CONCATENATION without inputs");
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, operands.in.size()));
    const tfl::ConcatenationOptions* o = op.builtin_options_as_ConcatenationOptions();
    if (!o) return Fail("CONCATENATION without its options");
    auto a = ToActivation(o->fused_activation_function());
    if (!a) return Fail(a.error());
    const int rank = static_cast<int>(graph_.tensors[operands.inputs[0]].shape.size());
    const int axis = o->axis() < 0 ? o->axis() + rank : o->axis();
    return OpOptions(ConcatenationOptions{axis, *a});
  }

  Expected<OpOptions> ParseResizeBilinear(const tfl::Operator& op, Operands& operands) {
    if (operands.in.size() != 2) return Fail("RESIZE_BILINEAR expects an input and a size tensor");
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    auto size = IntConstant(operands.in[1], "size");
    if (!size) return size.status();
    if (size->size() != 2) return Fail("RESIZE_BILINEAR size must hold 2 values");
    const std::vector<int32_t>& out = operands.out;
    auto output = FileTensor(out.empty() ? -1 : out[0]);
    if (!output) return output.status();
    auto out_shape = ShapeOf(**output, out[0]);
    if (!out_shape) return Fail(out_shape.error());
    if (out_shape->size() != 4 || (*out_shape)[1] != (*size)[0] || (*out_shape)[2] != (*size)[1]) {
      return Fail("RESIZE_BILINEAR size does not match its output tensor");
    }
    ResizeBilinearOptions options;
    if (const tfl::ResizeBilinearOptions* o = op.builtin_options_as_ResizeBilinearOptions()) {
      options.align_corners = o->align_corners();
      options.half_pixel_centers = o->half_pixel_centers();
    }
    return OpOptions(options);
  }

  // Resolves begin/end per dimension (masks, negative indices, clamping) so the engine sees plain ranges.
  Expected<OpOptions> ParseStridedSlice(const tfl::Operator& op, Operands& operands) {
    if (operands.in.size() != 4) return Fail("STRIDED_SLICE expects input, begin, end and strides");
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, 1));
    auto begin = IntConstant(operands.in[1], "begin");
    auto end = IntConstant(operands.in[2], "end");
    auto strides = IntConstant(operands.in[3], "strides");
    if (!begin) return begin.status();
    if (!end) return end.status();
    if (!strides) return strides.status();
    const tfl::StridedSliceOptions* o = op.builtin_options_as_StridedSliceOptions();
    const int32_t begin_mask = o ? o->begin_mask() : 0, end_mask = o ? o->end_mask() : 0;
    if (o && (o->ellipsis_mask() || o->new_axis_mask())) {
      return Fail("STRIDED_SLICE with ellipsis or new-axis masks is not supported");
    }
    const auto& shape = graph_.tensors[operands.inputs[0]].shape;
    if (begin->size() != shape.size() || end->size() != shape.size() || strides->size() != shape.size()) {
      return Fail("STRIDED_SLICE begin/end/strides must have one entry per dimension");
    }
    StridedSliceOptions options;
    options.shrink_axis_mask = o ? o->shrink_axis_mask() : 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      const int64_t dim = shape[d];
      if ((*strides)[d] < 1) return Fail("STRIDED_SLICE with a stride below 1 is not supported");
      int64_t b = (begin_mask >> d) & 1 ? 0 : (*begin)[d];
      int64_t e = (end_mask >> d) & 1 ? dim : (*end)[d];
      if (b < 0) b += dim;
      if (e < 0) e += dim;
      if ((options.shrink_axis_mask >> d) & 1) e = b + 1;
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      options.begin.push_back(static_cast<int32_t>(b));
      options.end.push_back(static_cast<int32_t>(e));
      options.strides.push_back((*strides)[d]);
    }
    return OpOptions(std::move(options));
  }

  // Every input is float32; the options are a FlexBuffers map (custom_options.h).
  Expected<OpOptions> ParseCustom(const tfl::Operator& op, Operands& operands, OpType type, const std::string& name) {
    SPEAKUP_RETURN_IF_ERROR(FloatInputs(operands, operands.in.size()));
    std::span<const uint8_t> custom;
    if (op.custom_options()) custom = {op.custom_options()->data(), op.custom_options()->size()};
    return ParseCustomOptions(type, custom, op_label_ + " (" + name + ")");
  }

  const tfl::Model& model_;
  const tfl::SubGraph* subgraph_ = nullptr;
  Graph graph_;
  std::vector<int> tensor_map_;  // file tensor index -> engine tensor index, -1 if not yet made
  std::string op_label_;
};

}  // namespace

Expected<Graph> LoadTfliteGraph(std::span<const uint8_t> bytes) {
  if (bytes.size() < 8) {
    return Error("the file is too small to be a TFLite model (" + std::to_string(bytes.size()) + " bytes)");
  }
  if (bytes.size() > kMaxModelBytes) {
    return Error("the file is too large for a face model (" + std::to_string(bytes.size()) + " bytes)");
  }
  if (!flatbuffers::BufferHasIdentifier(bytes.data(), tfl::ModelIdentifier())) {
    return Error("the file is not a TFLite model (no 'TFL3' identifier)");
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!tfl::VerifyModelBuffer(verifier)) {
    return Error("the file is a corrupt TFLite model (flatbuffer verification failed)");
  }
  return Loader(*tfl::GetModel(bytes.data())).Load();
}

}  // namespace speakup::engine
