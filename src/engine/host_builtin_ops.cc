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

// The shape with size-1 dimensions dropped and each run of dimensions that stay neighbours, in the
// same order, in the output merged into one: (in, perm) with the same memory effect as the original.
struct Collapsed {
  std::vector<size_t> shape;  // input dimensions
  std::vector<size_t> perm;   // output dimension i is input dimension perm[i]
};

Collapsed CollapseTranspose(const std::vector<int32_t>& input_shape, const std::vector<int32_t>& perm) {
  // Input dimensions of size > 1, renumbered 0.. in input order.
  std::vector<int> rank_of(input_shape.size(), -1);
  std::vector<size_t> sizes;
  for (size_t d = 0; d < input_shape.size(); ++d) {
    if (input_shape[d] > 1) {
      rank_of[d] = static_cast<int>(sizes.size());
      sizes.push_back(static_cast<size_t>(input_shape[d]));
    }
  }
  // In output order, runs of consecutive (renumbered) input dimensions become one dimension.
  std::vector<std::vector<int>> runs;
  for (int32_t axis : perm) {
    const int r = rank_of[static_cast<size_t>(axis)];
    if (r < 0) continue;
    if (!runs.empty() && runs.back().back() + 1 == r) {
      runs.back().push_back(r);
    } else {
      runs.push_back({r});
    }
  }
  // Number the runs by their position in the input.
  std::vector<size_t> order(runs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return runs[a][0] < runs[b][0]; });
  Collapsed c;
  c.shape.resize(runs.size());
  c.perm.resize(runs.size());
  for (size_t k = 0; k < order.size(); ++k) {
    size_t size = 1;
    for (int r : runs[order[k]]) size *= sizes[static_cast<size_t>(r)];
    c.shape[k] = size;
    c.perm[order[k]] = k;
  }
  return c;
}

}  // namespace

void Transpose(const float* input, const std::vector<int32_t>& input_shape, const TransposeOptions& options,
               float* output) {
  const Collapsed c = CollapseTranspose(input_shape, options.perm);
  size_t count = 1;
  for (size_t d : c.shape) count *= d;
  if (c.shape.size() <= 1) {  // nothing moves
    std::memcpy(output, input, count * sizeof(float));
    return;
  }
  // Two collapsed dimensions are always swapped (an identity would have merged into one): a matrix
  // transpose, the blendshape model's every TRANSPOSE. In tiles that stay in the L1 cache.
  if (c.shape.size() == 2) {
    const size_t rows = c.shape[0], cols = c.shape[1];
    constexpr size_t kTile = 16;
    for (size_t r0 = 0; r0 < rows; r0 += kTile) {
      const size_t r1 = std::min(rows, r0 + kTile);
      for (size_t c0 = 0; c0 < cols; c0 += kTile) {
        const size_t c1 = std::min(cols, c0 + kTile);
        for (size_t col = c0; col < c1; ++col) {
          for (size_t row = r0; row < r1; ++row) output[col * rows + row] = input[row * cols + col];
        }
      }
    }
    return;
  }
  // Three or more: walks the output in order; step[i] is how far the input moves per step of output
  // dimension i (one array for the index, the sizes and the steps).
  struct Dim {
    size_t index = 0, size = 0, step = 0;
  };
  const size_t rank = c.shape.size();
  std::vector<Dim> dims(rank);
  for (size_t i = 0; i < rank; ++i) {
    dims[i].size = c.shape[c.perm[i]];
    dims[i].step = 1;
    for (size_t d = c.perm[i] + 1; d < rank; ++d) dims[i].step *= c.shape[d];
  }
  size_t offset = 0;
  for (size_t flat = 0; flat < count; ++flat) {
    output[flat] = input[offset];
    for (size_t d = rank; d-- > 0;) {
      offset += dims[d].step;
      if (++dims[d].index < dims[d].size) break;
      offset -= dims[d].step * dims[d].size;
      dims[d].index = 0;
    }
  }
}

void Reduce(const float* input, const std::vector<int32_t>& input_shape, const ReduceOptions& options, bool mean,
            float* output) {
  const size_t rank = input_shape.size();
  std::vector<bool> reduced(rank, false);
  for (int32_t axis : options.axes) reduced[static_cast<size_t>(axis)] = true;
  size_t input_count = 1, output_count = 1;
  for (size_t d = 0; d < rank; ++d) {
    input_count *= static_cast<size_t>(input_shape[d]);
    if (!reduced[d]) output_count *= static_cast<size_t>(input_shape[d]);
  }
  const double divisor = mean ? static_cast<double>(input_count / output_count) : 1.0;
  // Double accumulators: a long float sum drifts, and these tensors are small.
  // Where the reduced dimensions of size > 1 are neighbours, the input is [outer, reduced, inner].
  size_t first = rank, last = 0;
  for (size_t d = 0; d < rank; ++d) {
    if (reduced[d] && input_shape[d] > 1) first = std::min(first, d), last = d;
  }
  bool contiguous = true;
  for (size_t d = first; d < last; ++d) contiguous = contiguous && (reduced[d] || input_shape[d] == 1);
  if (contiguous) {
    size_t outer = 1, inner = 1;
    for (size_t d = 0; d < std::min(first, rank); ++d) outer *= static_cast<size_t>(input_shape[d]);
    for (size_t d = first < rank ? last + 1 : rank; d < rank; ++d) inner *= static_cast<size_t>(input_shape[d]);
    const size_t length = input_count / std::max<size_t>(1, outer * inner);
    if (inner == 1) {
      // Over the last dimension (layer normalisation): eight interleaved partial sums, not one long
      // chain of dependent additions.
      for (size_t o = 0; o < outer; ++o) {
        const float* x = input + o * length;
        double partial[8] = {};
        size_t k = 0;
        for (; k + 8 <= length; k += 8) {
          for (int lane = 0; lane < 8; ++lane) partial[lane] += x[k + lane];
        }
        for (; k < length; ++k) partial[k % 8] += x[k];
        const double sum = ((partial[0] + partial[4]) + (partial[1] + partial[5])) +
                           ((partial[2] + partial[6]) + (partial[3] + partial[7]));
        output[o] = static_cast<float>(sum / divisor);
      }
      return;
    }
    std::vector<double> sums(inner);
    for (size_t o = 0; o < outer; ++o) {
      std::fill(sums.begin(), sums.end(), 0.0);
      const float* x = input + o * length * inner;
      for (size_t r = 0; r < length; ++r) {
        for (size_t i = 0; i < inner; ++i) sums[i] += x[r * inner + i];
      }
      for (size_t i = 0; i < inner; ++i) output[o * inner + i] = static_cast<float>(sums[i] / divisor);
    }
    return;
  }
  // Any other set of axes: output strides with the reduced dimensions as 0, walking the input once.
  std::vector<int32_t> kept_shape(input_shape);
  for (size_t d = 0; d < rank; ++d) {
    if (reduced[d]) kept_shape[d] = 1;
  }
  std::vector<size_t> output_strides = RowMajorStrides(kept_shape);
  for (size_t d = 0; d < rank; ++d) {
    if (reduced[d]) output_strides[d] = 0;
  }
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
  for (size_t i = 0; i < output_count; ++i) output[i] = static_cast<float>(sums[i] / divisor);
}

void Rsqrt(const float* input, size_t count, float* output) {
  for (size_t i = 0; i < count; ++i) output[i] = 1.0f / std::sqrt(input[i]);
}

}  // namespace speakup::engine
