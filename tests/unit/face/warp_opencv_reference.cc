#include "warp_opencv_reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace speakup::face::reference {
namespace {

// OpenCV's saturate_cast<int>(double): round half to even (cvRound), clamped.
int RoundToInt(double value) {
  if (!(value == value)) return 0;
  value = std::clamp(value, -2147483648.0, 2147483647.0);
  return static_cast<int>(std::nearbyint(value));
}

}  // namespace

void ReferenceWarpRoiToTensorOpenCv(const ImageView& image, const Roi& roi, int out_width, int out_height,
                                    float range_min, float range_max, BorderMode border, float* out) {
  // cv::RotatedRect::points (float arithmetic, angle in degrees as MediaPipe passes it): corner 0 is
  // the bottom-left, 1 the top-left, 2 the top-right of the unrotated rectangle (y down).
  const double angle = static_cast<double>(roi.rotation * 180.f / static_cast<float>(M_PI)) * M_PI / 180.0;
  const float b = static_cast<float>(std::cos(angle)) * 0.5f;
  const float a = static_cast<float>(std::sin(angle)) * 0.5f;
  const float p0x = roi.cx - a * roi.height - b * roi.width, p0y = roi.cy + b * roi.height - a * roi.width;
  const float p1x = roi.cx + a * roi.height - b * roi.width, p1y = roi.cy - b * roi.height - a * roi.width;
  const float p2x = 2 * roi.cx - p0x, p2y = 2 * roi.cy - p0y;
  // getPerspectiveTransform maps p1 -> (0, 0), p2 -> (W, 0), p0 -> (0, H); warpPerspective inverts it.
  // The inverse of that affine map is the one below (in double, as OpenCV's matrix).
  const double m00 = (static_cast<double>(p2x) - p1x) / out_width, m01 = (static_cast<double>(p0x) - p1x) / out_height;
  const double m10 = (static_cast<double>(p2y) - p1y) / out_width, m11 = (static_cast<double>(p0y) - p1y) / out_height;
  const double m02 = p1x, m12 = p1y;

  constexpr int kInterBits = 5, kTabSize = 1 << kInterBits;  // INTER_BITS, INTER_TAB_SIZE
  constexpr int kCoefBits = 15;                               // INTER_REMAP_COEF_BITS
  const float scale = (range_max - range_min) / 255.0f;       // GetValueRangeTransformation
  const float offset = range_min;
  const int w = image.width, h = image.height;
  const uint8_t zero[3] = {0, 0, 0};
  auto pixel = [&](int x, int y) -> const uint8_t* {
    if (border == BorderMode::kReplicate) {
      x = std::clamp(x, 0, w - 1);
      y = std::clamp(y, 0, h - 1);
    } else if (x < 0 || x >= w || y < 0 || y >= h) {
      return zero;
    }
    return image.data + static_cast<ptrdiff_t>(y) * image.stride + 3 * x;
  };
  for (int i = 0; i < out_height; ++i) {
    for (int j = 0; j < out_width; ++j) {
      // WarpPerspectiveInvoker: the source position times INTER_TAB_SIZE, rounded.
      const int fx = RoundToInt((m00 * j + m01 * i + m02) * kTabSize);
      const int fy = RoundToInt((m10 * j + m11 * i + m12) * kTabSize);
      const int sx = fx >> kInterBits, sy = fy >> kInterBits;
      const int ax = fx & (kTabSize - 1), ay = fy & (kTabSize - 1);
      // initInterTab2D(INTER_LINEAR, fixed point): products of 1D weights k / 32, exact in 15 bits.
      const int w00 = (kTabSize - ay) * (kTabSize - ax), w01 = (kTabSize - ay) * ax;
      const int w10 = ay * (kTabSize - ax), w11 = ay * ax;
      const uint8_t *v0 = pixel(sx, sy), *v1 = pixel(sx + 1, sy), *v2 = pixel(sx, sy + 1), *v3 = pixel(sx + 1, sy + 1);
      float* dst = out + (static_cast<ptrdiff_t>(i) * out_width + j) * 3;
      for (int c = 0; c < 3; ++c) {
        // Weights are in 1/1024; OpenCV's are in 1/32768 (32 times larger), so shift 5 bits less.
        const int sum = (v0[c] * w00 + v1[c] * w01 + v2[c] * w10 + v3[c] * w11) << kInterBits;
        const int byte = std::clamp((sum + (1 << (kCoefBits - 1))) >> kCoefBits, 0, 255);
        dst[c] = static_cast<float>(byte) * scale + offset;
      }
    }
  }
}

}  // namespace speakup::face::reference
