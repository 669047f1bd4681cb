// Host (plain C++) implementations of the three MediaPipe custom operators of
// face_landmark_with_attention.tflite, all version 2: Landmarks2TransformMatrix,
// TransformTensorBilinear and TransformLandmarks. They run between XNNPACK segments in the engine
// (T = float) and inside the float64 reference interpreter (T = double). Pure functions: no state,
// no allocation beyond a small scratch vector, every buffer is given by the caller.
//
// Semantics follow MediaPipe's CPU kernels (mediapipe/util/tflite/operations/
// landmarks_to_transform_matrix.cc, transform_tensor_bilinear.cc, transform_landmarks.cc, namespace
// v2) and the option parsers of tensorflow/lite/delegates/gpu/common/mediapipe/. Facts:
//
// Matrices are 4x4, row-major, and map a point (x, y, 0, 1) of the *output* space to the *input*
// space: x_in = m[0]*x + m[1]*y + m[2]*0 + m[3], y_in = m[4]*x + m[5]*y + m[6]*0 + m[7]. Only the
// first two rows are ever read. Coordinates are in the landmarks' own units (x right, y down).
//
// Landmarks2TransformMatrix (v2): landmarks [1, N, 3] (x, y, z; z unused).
//   rotation r = target_rotation_radians - atan2(y_right - y_left, x_right - x_left)
//     (left/right = landmarks left_rotation_idx / right_rotation_idx).
//   Every landmark named in subset_idxs is rotated by R(r) = [cos r, -sin r; sin r, cos r]; the
//   axis-aligned box of the rotated points gives crop_width = max_x - min_x, crop_height =
//   max_y - min_y and the centre ((min + max) / 2) which is rotated back by R(-r) to (cx, cy).
//   (The model stores subset_idxs as a flat list; MediaPipe pairs it up and, for an odd count,
//   pairs the last index with itself, so the box is simply that of all listed landmarks.)
//   M = Shift(cx, cy) * Rot(-r) * Scale(sx, sy) * Shift(-output_width / 2, -output_height / 2),
//     sx = scale_x * crop_width / output_width, sy = scale_y * crop_height / output_height,
//   i.e. output pixel (x, y) -> input point centre + R(-r) * (sx (x - W/2), sy (y - H/2)); the
//   third row/column is identity. Computed as the same sequence of float 4x4 products as MediaPipe.
//
// TransformTensorBilinear (v2, "align corners" correction): input [1, H, W, C], output
//   [1, out_h, out_w, C]. The matrix is corrected to M' = S(-0.5) * M * S(+0.5), i.e.
//   m[3] += 0.5 m[0] + 0.5 m[1] - 0.5 (and likewise m[7]) - pixel centres sit at i + 0.5 in the
//   matrix's coordinate space. Output pixel (ox, oy) samples input position
//   (tx, ty) = M' (ox, oy, 0, 1). If tx < 0, tx > W - 1, ty < 0 or ty > H - 1 the whole output pixel
//   (all channels) is 0 (no clamping). Otherwise bilinear between the four neighbours
//   floor(t) and floor(t) + 1, a neighbour outside the input reading as 0 (only reachable with
//   weight 0, at t == W - 1 or H - 1 exactly):
//     upper = (1 - fx) q00 + fx q01, lower = (1 - fx) q10 + fx q11, out = fy lower + (1 - fy) upper.
//   (MediaPipe takes the out-of-range test with NaN coordinates as "inside" and then converts NaN
//   to int, which is undefined; here a NaN coordinate counts as outside and gives 0.)
//
// TransformLandmarks (v2): landmarks [1, N, D], D = 2 or 3 (MediaPipe takes D from the last
//   dimension of the output; it has no options). (x, y) -> (m[0]x + m[1]y + m[2]*0 + m[3],
//   m[4]x + m[5]y + m[6]*0 + m[7]); a third component (z) is copied unchanged (here: every
//   component past the second is copied).
#pragma once

#include "graph.h"

namespace speakup::engine {

// `landmarks` holds num_landmarks points of landmark_dims (>= 2) values each; x and y are the first
// two (MediaPipe reads with a fixed stride of 3; the model's input is [1, 468, 3]). Writes the 16
// values of `matrix4x4`. Precondition (checked by Validate): every index in `options` is in
// [0, num_landmarks) and subset_idxs is not empty; if not, the matrix is filled with NaN rather
// than reading out of bounds.
template <typename T>
void Landmarks2TransformMatrix(const Landmarks2TransformMatrixOptions& options, const T* landmarks,
                               int num_landmarks, int landmark_dims, T* matrix4x4);

// `input` is NHWC with batch 1: [in_h, in_w, channels]; `output` is [out_h, out_w, channels].
template <typename T>
void TransformTensorBilinear(const T* input, int in_h, int in_w, int channels, const T* matrix4x4,
                             int out_h, int out_w, T* output);

// `landmarks` and `output` are [num, dims] (dims >= 2); they may be the same buffer.
template <typename T>
void TransformLandmarks(const T* landmarks, int num, int dims, const T* matrix4x4, T* output);

}  // namespace speakup::engine
