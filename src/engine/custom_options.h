// Parsing of the custom_options (a FlexBuffers map) of MediaPipe's custom operators.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "graph.h"
#include "speakup/status.h"

namespace speakup::engine {

// Reads the custom_options of an operator of `type` into its options struct:
//  - kLandmarks2TransformMatrix -> Landmarks2TransformMatrixOptions. Required keys: subset_idxs
//    (integer vector, not empty, any count - odd counts occur in the model), left_rotation_idx,
//    right_rotation_idx, output_height, output_width (integers), scale_x, scale_y (numbers > 0).
//    Optional: target_rotation_radians (number, 0 when absent, as in MediaPipe).
//  - kTransformTensorBilinear -> TransformTensorBilinearOptions. Required: output_height,
//    output_width.
//  - kTransformLandmarks -> NoOptions; version 2 has no options and MediaPipe ignores the bytes.
// The buffer is untrusted: it is checked with the FlexBuffers verifier (plus a check that every
// map key is NUL-terminated inside the buffer, which flatbuffers 2.0.8's verifier gets wrong) before
// anything is read. Sizes must lie in [1, 4096], indices in [0, 65535]. Unknown keys are ignored.
// `op_name` starts every error message verbatim (e.g. "operator 192 (Landmarks2TransformMatrix)").
Expected<OpOptions> ParseCustomOptions(OpType type, std::span<const uint8_t> flexbuffer,
                                       const std::string& op_name);

}  // namespace speakup::engine
