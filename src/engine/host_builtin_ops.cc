#include "host_builtin_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace speakup::engine {

void Concatenate(const std::vector<const float*>& inputs, const std::vector<std::vector<int32_t>>& input_shapes,
                 const ConcatenationOptions& options, float* output) {
  const auto& first = input_shapes.front();
  size_t outer = 1, inner = 1;
  for (int d = 0; d < options.axis; ++d) outer *= static_cast<size_t>(first[d]);
  for (size_t d = static_cast<size_t>(options.axis) + 1; d < first.size(); ++d) inner *= static_cast<size_t>(first[d]);
  float* out = output;
  for (size_t o = 0; o < outer; ++o) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const size_t block = static_cast<size_t>(input_shapes[i][options.axis]) * inner;
      std::memcpy(out, inputs[i] + o * block, block * sizeof(float));
      out += block;
    }
  }
  if (options.activation != Activation::kNone) {
    const float lo = ActivationMin(options.activation), hi = ActivationMax(options.activation);
    std::for_each(output, out, [&](float& v) { v = std::clamp(v, lo, hi); });
  }
}

void StridedSlice(const float* input, const std::vector<int32_t>& input_shape, const StridedSliceOptions& options,
                  float* output) {
  const size_t rank = input_shape.size();
  std::vector<size_t> stride(rank, 1);  // element strides of the input
  for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * static_cast<size_t>(input_shape[d]);
  std::vector<int32_t> index(options.begin);  // current input index per dimension
  float* out = output;
  if (rank == 0) {
    *out = *input;
    return;
  }
  while (true) {
    size_t offset = 0;
    for (size_t d = 0; d < rank; ++d) offset += static_cast<size_t>(index[d]) * stride[d];
    *out++ = input[offset];
    // Odometer over the sliced index space, last dimension fastest.
    size_t d = rank;
    while (d-- > 0) {
      index[d] += options.strides[d];
      if (index[d] < options.end[d]) break;
      index[d] = options.begin[d];
      if (d == 0) return;
    }
  }
}

namespace {

std::vector<size_t> RowMajorStrides(const std::vector<int32_t>& shape) {
  std::vector<size_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * static_cast<size_t>(shape[d]);
  return strides;
}

}  // namespace

void Transpose(const float* input, const std::vector<int32_t>& input_shape, const TransposeOptions& options,
               float* output) {
  const size_t rank = input_shape.size();
  const std::vector<size_t> input_strides = RowMajorStrides(input_shape);
  // Walks the output in order; source_stride[i] is how far the input moves per step of output dim i.
  std::vector<int32_t> output_shape(rank);
  std::vector<size_t> source_stride(rank);
  size_t count = 1;
  for (size_t i = 0; i < rank; ++i) {
    output_shape[i] = input_shape[static_cast<size_t>(options.perm[i])];
    source_stride[i] = input_strides[static_cast<size_t>(options.perm[i])];
    count *= static_cast<size_t>(output_shape[i]);
  }
  std::vector<int32_t> index(rank, 0);
  size_t offset = 0;
  for (size_t flat = 0; flat < count; ++flat) {
    output[flat] = input[offset];
    for (size_t d = rank; d-- > 0;) {
      offset += source_stride[d];
      if (++index[d] < output_shape[d]) break;
      offset -= source_stride[d] * static_cast<size_t>(output_shape[d]);
      index[d] = 0;
    }
  }
}

void Reduce(const float* input, const std::vector<int32_t>& input_shape, const ReduceOptions& options, bool mean,
            float* output) {
  const size_t rank = input_shape.size();
  std::vector<bool> reduced(rank, false);
  for (int32_t axis : options.axes) reduced[static_cast<size_t>(axis)] = true;
  // Output strides with the reduced dimensions as size 1, so they contribute nothing to the offset.
  std::vector<int32_t> kept_shape(input_shape);
  size_t input_count = 1, output_count = 1;
  for (size_t d = 0; d < rank; ++d) {
    input_count *= static_cast<size_t>(input_shape[d]);
    if (reduced[d]) kept_shape[d] = 1;
    output_count *= static_cast<size_t>(kept_shape[d]);
  }
  std::vector<size_t> output_strides = RowMajorStrides(kept_shape);
  for (size_t d = 0; d < rank; ++d) {
    if (reduced[d]) output_strides[d] = 0;
  }
  // Double accumulators: a long float sum drifts, and these tensors are small.
  std::vector<double> sums(output_count, 0.0);
  std::vector<int32_t> index(rank, 0);
  size_t offset = 0;
  for (size_t flat = 0; flat < input_count; ++flat) {
    sums[offset] += input[flat];
    for (size_t d = rank; d-- > 0;) {
      offset += output_strides[d];
      if (++index[d] < input_shape[d]) break;
      offset -= output_strides[d] * static_cast<size_t>(input_shape[d]);
      index[d] = 0;
    }
  }
  const double divisor = mean ? static_cast<double>(input_count / output_count) : 1.0;
  for (size_t i = 0; i < output_count; ++i) output[i] = static_cast<float>(sums[i] / divisor);
}

void Rsqrt(const float* input, size_t count, float* output) {
  for (size_t i = 0; i < count; ++i) output[i] = 1.0f / std::sqrt(input[i]);
}

}  // namespace speakup::engine
