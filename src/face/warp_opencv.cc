// WarpRoiToTensorOpenCv (see warp.h): OpenCV's fixed-point warp, bit for bit, but organised for speed.
// Per row, the sample positions of a run of columns are computed together (two doubles at a time,
// each with exactly the operations and rounding of the one-pixel formula), then each pixel whose
// 2x2 neighbourhood lies well inside the image is interpolated with 16-bit integer SIMD; only the
// pixels near or beyond the image's edges take the general path with border handling.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "warp.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace speakup::face {
namespace {

constexpr int kInterBits = 5, kTabSize = 1 << kInterBits;  // INTER_BITS, INTER_TAB_SIZE
constexpr int kCoefBits = 15;                               // INTER_REMAP_COEF_BITS
constexpr int kChunk = 64;                                  // columns whose positions are computed at once

// Image position = (m00 * j + m01 * i + m02, m10 * j + m11 * i + m12) for tensor pixel (j, i).
struct Affine {
  double m00, m01, m02, m10, m11, m12;
};

Affine InverseMap(const Roi& roi, int out_width, int out_height) {
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
  return {(static_cast<double>(p2x) - p1x) / out_width, (static_cast<double>(p0x) - p1x) / out_height, p1x,
          (static_cast<double>(p2y) - p1y) / out_width, (static_cast<double>(p0y) - p1y) / out_height, p1y};
}

// OpenCV's saturate_cast<int>(double): round half to even (cvRound), clamped; NaN gives 0.
int RoundToInt(double value) {
  if (!(value == value)) return 0;
  value = std::clamp(value, -2147483648.0, 2147483647.0);
  return static_cast<int>(std::nearbyint(value));
}

// WarpPerspectiveInvoker's source positions times INTER_TAB_SIZE, rounded, for columns
// first .. first + count - 1 of row i. The sums are evaluated in the order of the one-pixel formula
// (m00 * j + m01 * i) + m02, so every position is the same double, hence the same integer.
void RowPositions(const Affine& m, int i, int first, int count, int* fx, int* fy) {
  const double row_x = m.m01 * i, row_y = m.m11 * i;
  int k = 0;
#if defined(__SSE2__)
  // cvtpd2dq rounds half to even like nearbyint (both follow the current rounding mode); NaN is
  // zeroed and the range clamped first, as RoundToInt does, since cvtpd2dq maps both to INT_MIN.
  const __m128d m00 = _mm_set1_pd(m.m00), m10 = _mm_set1_pd(m.m10);
  const __m128d m02 = _mm_set1_pd(m.m02), m12 = _mm_set1_pd(m.m12);
  const __m128d rx = _mm_set1_pd(row_x), ry = _mm_set1_pd(row_y), tab = _mm_set1_pd(kTabSize);
  const __m128d lo = _mm_set1_pd(-2147483648.0), hi = _mm_set1_pd(2147483647.0), two = _mm_set1_pd(2.0);
  auto round = [&](__m128d v) {
    v = _mm_and_pd(v, _mm_cmpord_pd(v, v));
    return _mm_cvtpd_epi32(_mm_min_pd(_mm_max_pd(v, lo), hi));
  };
  __m128d j = _mm_set_pd(first + 1.0, first);
  for (; k + 2 <= count; k += 2) {
    const __m128d x = _mm_mul_pd(_mm_add_pd(_mm_add_pd(_mm_mul_pd(m00, j), rx), m02), tab);
    const __m128d y = _mm_mul_pd(_mm_add_pd(_mm_add_pd(_mm_mul_pd(m10, j), ry), m12), tab);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(fx + k), round(x));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(fy + k), round(y));
    j = _mm_add_pd(j, two);
  }
#endif
  for (; k < count; ++k) {
    const int j = first + k;
    fx[k] = RoundToInt((m.m00 * j + row_x + m.m02) * kTabSize);
    fy[k] = RoundToInt((m.m10 * j + row_y + m.m12) * kTabSize);
  }
}

#if defined(__SSE2__)
// Per fraction a (0..31): the horizontal weights of a pixel pair [32 - a] x 3 channels, [a] x 3, 0, 0;
// and the vertical ones [32 - a, a] x 4, for pmaddwd over interleaved top/bottom values.
struct WeightTables {
  __m128i horizontal[kTabSize], vertical[kTabSize];
  WeightTables() {
    for (int a = 0; a < kTabSize; ++a) {
      const int16_t b = static_cast<int16_t>(kTabSize - a), c = static_cast<int16_t>(a);
      horizontal[a] = _mm_setr_epi16(b, b, b, c, c, c, 0, 0);
      vertical[a] = _mm_setr_epi16(b, c, b, c, b, c, b, c);
    }
  }
};

// One pixel whose neighbours (sx, sy) .. (sx + 1, sy + 1) are inside the image, with 8 bytes
// readable from the start of each of the two rows' pairs (sx <= width - 3 keeps the read in the row).
// OpenCV's sum of four 2D weights (32 - ay)(32 - ax) etc. equals, exactly in integers, the vertical
// blend of two horizontal blends; each partial sum stays below 2^15, so 16-bit lanes suffice.
// Returns the three channel values (lane 3 is 0) mapped to the tensor range. Writes nothing.
inline __m128 InsidePixel(const uint8_t* p0, int stride, int ax, int ay, const WeightTables& w, __m128 scale,
                          __m128 offset) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i top = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p0)), zero);
  const __m128i bottom = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p0 + stride)), zero);
  __m128i t = _mm_mullo_epi16(top, w.horizontal[ax]);
  __m128i b = _mm_mullo_epi16(bottom, w.horizontal[ax]);
  t = _mm_add_epi16(t, _mm_srli_si128(t, 6));  // left pixel's channels + right pixel's, lanes 0..2
  b = _mm_add_epi16(b, _mm_srli_si128(b, 6));
  __m128i sum = _mm_madd_epi16(_mm_unpacklo_epi16(t, b), w.vertical[ay]);
  // (sum << 5 + 2^14) >> 15 of OpenCV's 15-bit weights is (sum + 2^9) >> 10 here; never beyond 255.
  sum = _mm_srai_epi32(_mm_add_epi32(sum, _mm_set1_epi32(1 << (2 * kInterBits - 1))), 2 * kInterBits);
  return _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(sum), scale), offset);
}
#endif

}  // namespace

void WarpRoiToTensorOpenCv(const ImageView& image, const Roi& roi, int out_width, int out_height, float range_min,
                           float range_max, BorderMode border, float* out) {
  const Affine m = InverseMap(roi, out_width, out_height);
  const float scale = (range_max - range_min) / 255.0f;  // GetValueRangeTransformation
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
  // Any position, with the border rule: the four neighbours one by one, OpenCV's weights as they are.
  auto general = [&](int fx, int fy, float* dst) {
    const int sx = fx >> kInterBits, sy = fy >> kInterBits;
    const int ax = fx & (kTabSize - 1), ay = fy & (kTabSize - 1);
    const int w00 = (kTabSize - ay) * (kTabSize - ax), w01 = (kTabSize - ay) * ax;
    const int w10 = ay * (kTabSize - ax), w11 = ay * ax;
    const uint8_t *v0 = pixel(sx, sy), *v1 = pixel(sx + 1, sy), *v2 = pixel(sx, sy + 1), *v3 = pixel(sx + 1, sy + 1);
    for (int c = 0; c < 3; ++c) {
      // Weights are in 1/1024; OpenCV's are in 1/32768 (32 times larger), so shift 5 bits less.
      const int sum = (v0[c] * w00 + v1[c] * w01 + v2[c] * w10 + v3[c] * w11) << kInterBits;
      const int byte = std::clamp((sum + (1 << (kCoefBits - 1))) >> kCoefBits, 0, 255);
      dst[c] = static_cast<float>(byte) * scale + offset;
    }
  };
#if defined(__SSE2__)
  static const WeightTables weights;
  const __m128 vscale = _mm_set1_ps(scale), voffset = _mm_set1_ps(offset);
  const int max_inside_x = w - 3, max_inside_y = h - 2;  // see InsidePixel
#endif

  int fx[kChunk], fy[kChunk];
  for (int i = 0; i < out_height; ++i) {
    float* row = out + static_cast<ptrdiff_t>(i) * out_width * 3;
    for (int first = 0; first < out_width; first += kChunk) {
      const int count = std::min(kChunk, out_width - first);
      RowPositions(m, i, first, count, fx, fy);
      float* dst = row + 3 * first;
      for (int k = 0; k < count; ++k, dst += 3) {
#if defined(__SSE2__)
        const int sx = fx[k] >> kInterBits, sy = fy[k] >> kInterBits;
        if (sx >= 0 && sx <= max_inside_x && sy >= 0 && sy <= max_inside_y) {
          const uint8_t* p0 = image.data + static_cast<ptrdiff_t>(sy) * image.stride + 3 * sx;
          const __m128 v = InsidePixel(p0, image.stride, fx[k] & (kTabSize - 1), fy[k] & (kTabSize - 1), weights,
                                       vscale, voffset);
          if (first + k + 1 < out_width) {
            _mm_storeu_ps(dst, v);  // the 4th float lands on the next pixel, written after this one
          } else {
            _mm_storel_pi(reinterpret_cast<__m64*>(dst), v);
            _mm_store_ss(dst + 2, _mm_movehl_ps(v, v));
          }
          continue;
        }
#endif
        general(fx[k], fy[k], dst);
      }
    }
  }
}

}  // namespace speakup::face
