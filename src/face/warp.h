// The affine crop of a rotated rectangle of an image into a model's float RGB input, as MediaPipe's
// ImageToTensorCalculator does it on the GPU path that its web build (the goldens' source) uses
// (calculators/tensor/image_to_tensor_utils.cc GetRotatedSubRectToRectTransformMatrix,
// image_to_tensor_converter_gl_texture.cc). This reproduces MediaPipe's landmarks to 0.001 px on the
// test photos.
//
// Geometry: the ROI's corners map onto the tensor's outer corners, and each tensor pixel takes the
// bilinear sample at its centre: tensor pixel (j, i) samples the image at
//   (cx, cy) + R(rotation) * (((j + 0.5) / out_w - 0.5) * width, ((i + 0.5) / out_h - 0.5) * height)
// in continuous image coordinates where pixel k spans [k, k + 1) (so its centre is k + 0.5), with R
// the rotation clockwise on screen (y down) by `rotation` radians. MediaPipe's OpenCV converter (its
// native CPU graphs) maps the corners alike but samples pixel centre j at x_left + j * scale rather
// than x_left + (j + 0.5) * scale, in pixel-index terms a shift of (scale - 1) / 2 image pixels; the
// goldens follow the GL convention (with the OpenCV one for both models' inputs, landmarks land
// 0.5-3% of the eye distance off MediaPipe's on frontal faces, far more on the hard ones).
#pragma once

#include "speakup/face.h"

namespace speakup::face {

enum class BorderMode {
  // Outside the image rectangle the value is 0 (black) and maps to range_min; inside it, samples
  // within half a pixel of the edge repeat the edge (WebGL has no clamp-to-border, so MediaPipe's
  // GL converter tests the position instead). The detector's letterbox (BORDER_ZERO).
  kZero,
  // Edge pixels repeat (GL_CLAMP_TO_EDGE): the landmark models, which leave ImageToTensor's border
  // mode unset (BORDER_UNSPECIFIED means replicate, image_to_tensor_utils.cc GetBorderMode).
  kReplicate,
};

// Writes out_height x out_width x 3 floats (row-major, RGB interleaved) to `out`: pixel values
// 0..255 mapped linearly to [range_min, range_max]. No allocation; `image` must hold >= 1 pixel.
// On x86-64 CPUs with AVX2 and FMA a faster inner loop is picked at run time (results differ from
// the baseline's only in the last bits of a float).
void WarpRoiToTensor(const ImageView& image, const Roi& roi, int out_width, int out_height, float range_min,
                     float range_max, BorderMode border, float* out);

// The same crop as MediaPipe's CPU ImageToTensor converter does it (image_to_tensor_converter_opencv.cc),
// which the Tasks API's Face Landmarker uses with the CPU delegate (ImagePreprocessingGraph picks the
// CPU backend unless the acceleration is GPU): cv::warpPerspective of the 8-bit image from the ROI's
// corners (cv::boxPoints) onto the tensor's corners, INTER_LINEAR, then convertTo float with the
// value range. So tensor pixel (j, i) samples at the ROI's top-left corner + j * step along x + i * step
// along y (pixel centres on integers), the sample position is rounded to 1/32 pixel (INTER_BITS 5), the
// bilinear weights are 15-bit fixed point (INTER_REMAP_COEF_BITS) and the result is rounded to a whole
// byte before it is scaled: reproduced here bit for bit (OpenCV's scalar path). kZero: outside
// neighbours are 0 (BORDER_CONSTANT); kReplicate: clamped (BORDER_REPLICATE). In warp_opencv.cc:
// SIMD inside the image, still bit for bit the same as the plain one-pixel-at-a-time formula.
void WarpRoiToTensorOpenCv(const ImageView& image, const Roi& roi, int out_width, int out_height, float range_min,
                           float range_max, BorderMode border, float* out);

// Tests only: makes WarpRoiToTensor use its baseline inner loop even where AVX2 is available (true),
// or the best one again (false). Not for concurrent use with running warps.
void UseBaselineWarpForTesting(bool baseline);

}  // namespace speakup::face
