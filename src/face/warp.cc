#include "warp.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__SSE2__)
#include <immintrin.h>
#endif

namespace speakup::face {
namespace {

struct Mapping {
  float scale, offset;  // byte value -> tensor value
};

#if defined(__SSE2__)
// Bytes -> floats, four lanes; the fourth lane is whatever the fourth byte held.
inline __m128 BytesToFloats(int32_t bits) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i bytes = _mm_cvtsi32_si128(bits);
  return _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero));
}

// Bilinear interpolation of four RGB pixels, then the value mapping; lane 3 is garbage.
inline __m128 Interpolate(__m128 a00, __m128 a01, __m128 a10, __m128 a11, float ax, float ay, Mapping m) {
  const __m128 vax = _mm_set1_ps(ax), vay = _mm_set1_ps(ay);
  const __m128 top = _mm_add_ps(a00, _mm_mul_ps(_mm_sub_ps(a01, a00), vax));
  const __m128 bottom = _mm_add_ps(a10, _mm_mul_ps(_mm_sub_ps(a11, a10), vax));
  const __m128 value = _mm_add_ps(top, _mm_mul_ps(_mm_sub_ps(bottom, top), vay));
  return _mm_add_ps(_mm_mul_ps(value, _mm_set1_ps(m.scale)), _mm_set1_ps(m.offset));
}
#endif

// Bilinear sample at (fx, fy) in pixel-index coordinates (pixel centres on integers), neighbours
// clamped to the image (replicated edges). Handles any position, NaN included (taken as 0).
// Writes exactly 3 floats.
inline void SampleClamped(const ImageView& image, float fx, float fy, Mapping m, float* out) {
  const float max_x = static_cast<float>(image.width - 1), max_y = static_cast<float>(image.height - 1);
  fx = fx > 0.0f ? (fx < max_x ? fx : max_x) : 0.0f;
  fy = fy > 0.0f ? (fy < max_y ? fy : max_y) : 0.0f;
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const int x1 = std::min(x0 + 1, image.width - 1), y1 = std::min(y0 + 1, image.height - 1);
  const float ax = fx - static_cast<float>(x0), ay = fy - static_cast<float>(y0);
  const uint8_t* r0 = image.data + static_cast<ptrdiff_t>(y0) * image.stride;
  const uint8_t* r1 = image.data + static_cast<ptrdiff_t>(y1) * image.stride;
  const uint8_t* p00 = r0 + 3 * x0;
  const uint8_t* p01 = r0 + 3 * x1;
  const uint8_t* p10 = r1 + 3 * x0;
  const uint8_t* p11 = r1 + 3 * x1;
#if defined(__SSE2__)
  // Exactly three bytes per pixel are read: these may be the image's last ones.
  auto rgb = [](const uint8_t* p) { return BytesToFloats(p[0] | (p[1] << 8) | (p[2] << 16)); };
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, Interpolate(rgb(p00), rgb(p01), rgb(p10), rgb(p11), ax, ay, m));
  out[0] = lanes[0], out[1] = lanes[1], out[2] = lanes[2];
#else
  for (int c = 0; c < 3; ++c) {
    const float top = p00[c] + (p01[c] - p00[c]) * ax;
    const float bottom = p10[c] + (p11[c] - p10[c]) * ax;
    out[c] = (top + (bottom - top) * ay) * m.scale + m.offset;
  }
#endif
}

// Bilinear sample with all four neighbours inside the image and at least one more pixel to the
// right of them (x < width - 2, y < height - 1). Writes 3 floats and may also write the 4th float
// after them (the next pixel's first value).
inline void SampleInside(const ImageView& image, float fx, float fy, Mapping m, float* out) {
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const float ax = fx - static_cast<float>(x0), ay = fy - static_cast<float>(y0);
  const uint8_t* p0 = image.data + static_cast<ptrdiff_t>(y0) * image.stride + 3 * x0;
  const uint8_t* p1 = p0 + image.stride;
#if defined(__SSE2__)
  // Four bytes per pixel (its RGB and the next pixel's R), which the conditions keep inside.
  auto rgbx = [](const uint8_t* p) {
    int32_t bits;
    std::memcpy(&bits, p, 4);
    return BytesToFloats(bits);
  };
  _mm_storeu_ps(out, Interpolate(rgbx(p0), rgbx(p0 + 3), rgbx(p1), rgbx(p1 + 3), ax, ay, m));
#else
  for (int c = 0; c < 3; ++c) {
    const float top = p0[c] + (p0[c + 3] - p0[c]) * ax;
    const float bottom = p1[c] + (p1[c + 3] - p1[c]) * ax;
    out[c] = (top + (bottom - top) * ay) * m.scale + m.offset;
  }
#endif
}

// Columns first..last of one row, every one of them satisfying SampleInside's conditions: the hot
// loop. Baseline version (SSE2 on x86-64, plain C++ elsewhere) ...
void InsideRunBaseline(const ImageView& image, float row_x, float row_y, float dx, float dy, int first,
                       int last, Mapping m, float* dst) {
  for (int j = first; j <= last; ++j) {
    SampleInside(image, row_x + dx * static_cast<float>(j), row_y + dy * static_cast<float>(j), m,
                 dst + 3 * j);
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SPEAKUP_WARP_AVX2 1
// ... and one for CPUs with AVX2 and FMA (Haswell, Zen and later; picked at run time): one
// instruction widens four bytes to four integers, and the interpolation uses fused multiply-adds.
// About a third faster; results differ from the baseline only in the last bits of a float.
__attribute__((target("avx2,fma"))) void InsideRunAvx2(const ImageView& image, float row_x, float row_y,
                                                       float dx, float dy, int first, int last, Mapping m,
                                                       float* dst) {
  const __m128 scale = _mm_set1_ps(m.scale), offset = _mm_set1_ps(m.offset);
  for (int j = first; j <= last; ++j) {
    const float fx = row_x + dx * static_cast<float>(j);
    const float fy = row_y + dy * static_cast<float>(j);
    const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
    const __m128 ax = _mm_set1_ps(fx - static_cast<float>(x0)), ay = _mm_set1_ps(fy - static_cast<float>(y0));
    const uint8_t* p0 = image.data + static_cast<ptrdiff_t>(y0) * image.stride + 3 * x0;
    const uint8_t* p1 = p0 + image.stride;
    int32_t b00, b01, b10, b11;  // each pixel's RGB and the next byte (kept inside by the conditions)
    std::memcpy(&b00, p0, 4);
    std::memcpy(&b01, p0 + 3, 4);
    std::memcpy(&b10, p1, 4);
    std::memcpy(&b11, p1 + 3, 4);
    const __m128 a00 = _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(b00)));
    const __m128 a01 = _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(b01)));
    const __m128 a10 = _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(b10)));
    const __m128 a11 = _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(b11)));
    const __m128 top = _mm_fmadd_ps(_mm_sub_ps(a01, a00), ax, a00);
    const __m128 bottom = _mm_fmadd_ps(_mm_sub_ps(a11, a10), ax, a10);
    const __m128 value = _mm_fmadd_ps(_mm_sub_ps(bottom, top), ay, top);
    _mm_storeu_ps(dst + 3 * j, _mm_fmadd_ps(value, scale, offset));
  }
}
#endif

using InsideRun = void (*)(const ImageView&, float, float, float, float, int, int, Mapping, float*);

bool force_baseline = false;

InsideRun PickInsideRun() {
#if defined(SPEAKUP_WARP_AVX2)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &InsideRunAvx2;
#endif
  return &InsideRunBaseline;
}

// Narrows [lo, hi] (column indices) to the columns j where lower <= start + step * j <= upper.
void Restrict(float start, float step, float lower, float upper, int& lo, int& hi) {
  if (!(start == start) || !(step == step)) {  // NaN: nothing qualifies
    hi = lo - 1;
    return;
  }
  if (step == 0.0f) {
    if (!(start >= lower && start <= upper)) hi = lo - 1;
    return;
  }
  double a = (static_cast<double>(lower) - start) / step;
  double b = (static_cast<double>(upper) - start) / step;
  if (step < 0) std::swap(a, b);
  // Rounded inwards by one more column: the loop's own float arithmetic may differ slightly.
  lo = std::max(lo, static_cast<int>(std::max(-1.0, std::min(1e9, std::ceil(a)))) + 1);
  hi = std::min(hi, static_cast<int>(std::max(-1.0, std::min(1e9, std::floor(b)))) - 1);
}

}  // namespace

void UseBaselineWarpForTesting(bool baseline) { force_baseline = baseline; }

void WarpRoiToTensor(const ImageView& image, const Roi& roi, int out_width, int out_height, float range_min,
                     float range_max, BorderMode border, float* out) {
  const Mapping m{(range_max - range_min) / 255.0f, range_min};
  const float c = std::cos(roi.rotation), s = std::sin(roi.rotation);
  // One tensor pixel to the right moves the sample by (dx_col, dy_col) in the image, one row down
  // by (dx_row, dy_row): the affine step, computed once.
  const float step_u = roi.width / static_cast<float>(out_width);
  const float step_v = roi.height / static_cast<float>(out_height);
  const float dx_col = c * step_u, dy_col = s * step_u;
  const float dx_row = -s * step_v, dy_row = c * step_v;
  // Sample position of tensor pixel (0, 0) in pixel-index coordinates (centre of pixel k at k):
  // its centre is ((0 + 0.5) / out_w - 0.5) * width from the ROI's centre along the ROI's x axis.
  const float u0 = (0.5f - 0.5f * out_width) * step_u;
  const float v0 = (0.5f - 0.5f * out_height) * step_v;
  const float x00 = roi.cx + c * u0 - s * v0 - 0.5f;
  const float y00 = roi.cy + s * u0 + c * v0 - 0.5f;

  // Zero border: a sample whose position lies outside the image rectangle [0, w] x [0, h] is black;
  // inside it the sample is bilinear with replicated edges (MediaPipe's zero border on WebGL).
  const float lo_x = -0.5f, hi_x = static_cast<float>(image.width) - 0.5f;
  const float lo_y = -0.5f, hi_y = static_cast<float>(image.height) - 0.5f;
  // Where SampleInside may be used (see its conditions), with a margin for rounding.
  constexpr float kMargin = 1e-3f;
  const float fast_max_x = static_cast<float>(image.width) - 2.0f - kMargin;
  const float fast_max_y = static_cast<float>(image.height) - 1.0f - kMargin;

  static const InsideRun best_run = PickInsideRun();
  const InsideRun inside_run = force_baseline ? &InsideRunBaseline : best_run;
  auto slow = [&](float fx, float fy, float* px) {
    if (border == BorderMode::kZero && !(fx >= lo_x && fx <= hi_x && fy >= lo_y && fy <= hi_y)) {
      px[0] = px[1] = px[2] = m.offset;
      return;
    }
    SampleClamped(image, fx, fy, m, px);
  };

  for (int i = 0; i < out_height; ++i) {
    const float row_x = x00 + dx_row * static_cast<float>(i);
    const float row_y = y00 + dy_row * static_cast<float>(i);
    float* dst = out + static_cast<ptrdiff_t>(i) * out_width * 3;
    // The samples of a row lie on a segment: find the run of columns that SampleInside can take.
    // The last column is always left to the slow path (SampleInside writes one float beyond).
    int first = 0, last = out_width - 2;
    Restrict(row_x, dx_col, 0.0f, fast_max_x, first, last);
    Restrict(row_y, dy_col, 0.0f, fast_max_y, first, last);
    if (last < first) first = out_width, last = out_width - 1;
    for (int j = 0; j < first; ++j) {
      slow(row_x + dx_col * static_cast<float>(j), row_y + dy_col * static_cast<float>(j), dst + 3 * j);
    }
    if (first <= last) inside_run(image, row_x, row_y, dx_col, dy_col, first, last, m, dst);
    for (int j = last + 1; j < out_width; ++j) {
      slow(row_x + dx_col * static_cast<float>(j), row_y + dy_col * static_cast<float>(j), dst + 3 * j);
    }
  }
}

}  // namespace speakup::face
