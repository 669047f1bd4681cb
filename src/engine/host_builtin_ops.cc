#include "host_builtin_ops.h"

#include <algorithm>
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

}  // namespace speakup::engine
