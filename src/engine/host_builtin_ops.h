// The builtin operators this XNNPACK lacks, run on the host: CONCATENATION, STRIDED_SLICE, TRANSPOSE,
// MEAN, SUM and RSQRT.
#pragma once

#include <cstdint>
#include <vector>

#include "graph.h"

namespace speakup::engine {

void Concatenate(const std::vector<const float*>& inputs, const std::vector<std::vector<int32_t>>& input_shapes,
                 const ConcatenationOptions& options, float* output);

void StridedSlice(const float* input, const std::vector<int32_t>& input_shape, const StridedSliceOptions& options,
                  float* output);

// Output dimension i is input dimension options.perm[i].
void Transpose(const float* input, const std::vector<int32_t>& input_shape, const TransposeOptions& options,
               float* output);

// MEAN (mean = true) or SUM over options.axes; keep_dims does not change the output's memory layout.
void Reduce(const float* input, const std::vector<int32_t>& input_shape, const ReduceOptions& options, bool mean,
            float* output);

void Rsqrt(const float* input, size_t count, float* output);

}  // namespace speakup::engine
