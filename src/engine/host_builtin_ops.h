// The builtin operators this XNNPACK lacks, run on the host: CONCATENATION and STRIDED_SLICE.
#pragma once

#include <cstdint>
#include <vector>

#include "graph.h"

namespace speakup::engine {

void Concatenate(const std::vector<const float*>& inputs, const std::vector<std::vector<int32_t>>& input_shapes,
                 const ConcatenationOptions& options, float* output);

void StridedSlice(const float* input, const std::vector<int32_t>& input_shape, const StridedSliceOptions& options,
                  float* output);

}  // namespace speakup::engine
