// The engine's own model representation: a list of operators over float32 tensors, in execution
// order, with every constant already converted to fp32 and every shape static. The .tflite loader
// produces it; the XNNPACK runner and the float64 reference interpreter both consume it. Tests build
// small graphs by hand.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "speakup/status.h"

namespace speakup::engine {

enum class OpType {
  kAdd,
  kMul,
  kConv2D,
  kDepthwiseConv2D,
  kMaxPool2D,
  kPrelu,
  kRelu,
  kPad,
  kReshape,
  kConcatenation,
  kResizeBilinear,
  kStridedSlice,
  // Added for Face Mesh V2 and the blendshape MLP-Mixer.
  kSub,
  kDiv,
  kSquaredDifference,
  kLogistic,
  kNeg,
  kSqrt,
  kRsqrt,
  kMean,
  kSum,
  kTranspose,
  // MediaPipe custom operators of face_landmark_with_attention.tflite, run on the host.
  kLandmarks2TransformMatrix,
  kTransformTensorBilinear,
  kTransformLandmarks,
};

const char* OpTypeName(OpType type);

enum class Activation { kNone, kRelu, kReluN1To1, kRelu6 };
enum class Padding { kSame, kValid };

// Clamp bounds of a fused activation.
float ActivationMin(Activation activation);
float ActivationMax(Activation activation);

struct NoOptions {};

// ADD, MUL, SUB, DIV, SQUARED_DIFFERENCE (numpy-style broadcasting). SQUARED_DIFFERENCE has no fused
// activation in TFLite: always kNone there.
struct ElementwiseOptions {
  Activation activation = Activation::kNone;
};

// CONV_2D: inputs input, filter [out, kh, kw, in], bias [out]; DEPTHWISE_CONV_2D: filter
// [1, kh, kw, in*mult], bias [in*mult]. The bias is always present (zeros where a file has none).
struct ConvOptions {
  Padding padding = Padding::kSame;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int depth_multiplier = 1;  // depthwise only
  Activation activation = Activation::kNone;
};

struct PoolOptions {
  Padding padding = Padding::kSame;
  int stride_h = 1, stride_w = 1;
  int filter_h = 1, filter_w = 1;
  Activation activation = Activation::kNone;
};

struct PadOptions {  // one {before, after} pair per input dimension
  std::vector<std::array<int32_t, 2>> paddings;
};

struct ConcatenationOptions {
  int axis = 0;  // normalised to [0, rank)
  Activation activation = Activation::kNone;
};

struct ResizeBilinearOptions {  // output size is the output tensor's H and W
  bool align_corners = false;
  bool half_pixel_centers = false;
};

struct StridedSliceOptions {  // begin/end/strides already resolved per dimension, masks applied
  std::vector<int32_t> begin, end, strides;
  int32_t shrink_axis_mask = 0;
};

// MEAN, SUM: the reduced axes (from the constant axes tensor), normalised to [0, rank), sorted and
// without repeats. Without keep_dims the reduced dimensions disappear from the output shape.
struct ReduceOptions {
  std::vector<int32_t> axes;
  bool keep_dims = false;
};

// TRANSPOSE: output dimension i is input dimension perm[i] (from the constant perm tensor).
struct TransposeOptions {
  std::vector<int32_t> perm;
};

// Custom options of MediaPipe's Landmarks2TransformMatrix v2 (read from the flexbuffer map; see
// host_ops.h for what they mean).
struct Landmarks2TransformMatrixOptions {
  // Landmarks whose bounding box (in the rotated frame) is the crop. A flat list as stored in the
  // file; its length may be odd (MediaPipe pairs it up, repeating the last index).
  std::vector<int32_t> subset_idxs;
  int32_t left_rotation_idx = 0;   // the crop is rotated so that left -> right points at
  int32_t right_rotation_idx = 0;  // target_rotation_radians
  float target_rotation_radians = 0;  // optional in the file (0 when absent)
  int32_t output_height = 0;  // size of the crop the matrix maps from
  int32_t output_width = 0;
  float scale_x = 1;  // crop size = scale * bounding box size
  float scale_y = 1;
};

// Custom options of MediaPipe's TransformTensorBilinear v2: the output's spatial size.
struct TransformTensorBilinearOptions {
  int32_t output_height = 0;
  int32_t output_width = 0;
};

using OpOptions =
    std::variant<NoOptions, ElementwiseOptions, ConvOptions, PoolOptions, PadOptions,
                 ConcatenationOptions, ResizeBilinearOptions, StridedSliceOptions, ReduceOptions,
                 TransposeOptions, Landmarks2TransformMatrixOptions, TransformTensorBilinearOptions>;

struct Tensor {
  std::string name;
  std::vector<int32_t> shape;  // every dimension >= 1
  // Index into Graph::constants, or -1 for an activation (computed at run time or a graph input).
  int constant = -1;

  bool is_constant() const { return constant >= 0; }
  size_t element_count() const;
};

struct Op {
  OpType type;
  std::vector<int> inputs;   // tensor indices
  std::vector<int> outputs;  // tensor indices
  OpOptions options;
};

struct Graph {
  std::vector<Tensor> tensors;
  std::vector<std::vector<float>> constants;  // fp32 data of constant tensors
  std::vector<Op> ops;                        // execution order
  std::vector<int> inputs;                    // tensor indices of the graph inputs
  std::vector<int> outputs;                   // tensor indices of the graph outputs

  // Adds a tensor and returns its index (helpers for loaders and tests).
  int AddTensor(std::string name, std::vector<int32_t> shape);
  int AddConstant(std::string name, std::vector<int32_t> shape, std::vector<float> data);
  const float* ConstantData(int tensor) const;
};

// Checks what every consumer relies on: indices in range, each activation written by exactly one
// op before it is read, constant sizes match shapes, each op's input/output counts and shapes are
// consistent with its type and options. Returns a message naming the op and the problem.
Status Validate(const Graph& graph);

}  // namespace speakup::engine
