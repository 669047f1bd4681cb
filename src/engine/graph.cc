#include "graph.h"

#include <limits>
#include <numeric>
#include <sstream>

namespace speakup::engine {

const char* OpTypeName(OpType type) {
  switch (type) {
    case OpType::kAdd: return "ADD";
    case OpType::kMul: return "MUL";
    case OpType::kConv2D: return "CONV_2D";
    case OpType::kDepthwiseConv2D: return "DEPTHWISE_CONV_2D";
    case OpType::kMaxPool2D: return "MAX_POOL_2D";
    case OpType::kPrelu: return "PRELU";
    case OpType::kRelu: return "RELU";
    case OpType::kPad: return "PAD";
    case OpType::kReshape: return "RESHAPE";
    case OpType::kConcatenation: return "CONCATENATION";
    case OpType::kResizeBilinear: return "RESIZE_BILINEAR";
    case OpType::kStridedSlice: return "STRIDED_SLICE";
    case OpType::kSub: return "SUB";
    case OpType::kDiv: return "DIV";
    case OpType::kSquaredDifference: return "SQUARED_DIFFERENCE";
    case OpType::kLogistic: return "LOGISTIC";
    case OpType::kNeg: return "NEG";
    case OpType::kSqrt: return "SQRT";
    case OpType::kRsqrt: return "RSQRT";
    case OpType::kMean: return "MEAN";
    case OpType::kSum: return "SUM";
    case OpType::kTranspose: return "TRANSPOSE";
    case OpType::kLandmarks2TransformMatrix: return "Landmarks2TransformMatrix";
    case OpType::kTransformTensorBilinear: return "TransformTensorBilinear";
    case OpType::kTransformLandmarks: return "TransformLandmarks";
  }
  return "?";
}

float ActivationMin(Activation activation) {
  switch (activation) {
    case Activation::kNone: return -std::numeric_limits<float>::infinity();
    case Activation::kRelu:
    case Activation::kRelu6: return 0.0f;
    case Activation::kReluN1To1: return -1.0f;
  }
  return -std::numeric_limits<float>::infinity();
}

float ActivationMax(Activation activation) {
  switch (activation) {
    case Activation::kNone:
    case Activation::kRelu: return std::numeric_limits<float>::infinity();
    case Activation::kRelu6: return 6.0f;
    case Activation::kReluN1To1: return 1.0f;
  }
  return std::numeric_limits<float>::infinity();
}

size_t Tensor::element_count() const {
  size_t count = 1;
  for (int32_t d : shape) count *= static_cast<size_t>(d);
  return count;
}

int Graph::AddTensor(std::string name, std::vector<int32_t> shape) {
  tensors.push_back(Tensor{std::move(name), std::move(shape), -1});
  return static_cast<int>(tensors.size()) - 1;
}

int Graph::AddConstant(std::string name, std::vector<int32_t> shape, std::vector<float> data) {
  constants.push_back(std::move(data));
  tensors.push_back(Tensor{std::move(name), std::move(shape), static_cast<int>(constants.size()) - 1});
  return static_cast<int>(tensors.size()) - 1;
}

const float* Graph::ConstantData(int tensor) const {
  const Tensor& t = tensors.at(static_cast<size_t>(tensor));
  return t.is_constant() ? constants.at(static_cast<size_t>(t.constant)).data() : nullptr;
}

}  // namespace speakup::engine
