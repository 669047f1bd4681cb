// The MediaPipe custom operators on the host; see host_ops.h for the semantics. The arithmetic is
// written in the same order and at the same precision as MediaPipe's float kernels (including
// their few double-precision intermediates) so that T = float reproduces them closely; with
// T = double everything is double.
#include "host_ops.h"

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>

namespace speakup::engine {
namespace {

template <typename T>
using Mat4 = std::array<T, 16>;  // row-major

template <typename T>
Mat4<T> Identity4() {
  Mat4<T> m{};
  m[0] = m[5] = m[10] = m[15] = T(1);
  return m;
}

// a = a * b, each entry accumulated from 0 over k = 0..3.
template <typename T>
void MultiplyInPlace(Mat4<T>& a, const Mat4<T>& b) {
  Mat4<T> result{};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      T sum = 0;
      for (int k = 0; k < 4; ++k) sum += a[r * 4 + k] * b[k * 4 + c];
      result[r * 4 + c] = sum;
    }
  }
  a = result;
}

template <typename T>
struct Vec3 {
  T x, y, z;
};

// 2-D rotation by `angle` in homogeneous 3x3 form, applied to v (entries accumulated from 0).
template <typename T>
Vec3<T> Rotate(T angle, const Vec3<T>& v) {
  const T c = std::cos(angle), s = std::sin(angle);
  const T m[9] = {c, -s, T(0), s, c, T(0), T(0), T(0), T(1)};
  const T in[3] = {v.x, v.y, v.z};
  T out[3];
  for (int r = 0; r < 3; ++r) {
    T sum = 0;
    for (int k = 0; k < 3; ++k) sum += m[r * 3 + k] * in[k];
    out[r] = sum;
  }
  return {out[0], out[1], out[2]};
}

}  // namespace

template <typename T>
void Landmarks2TransformMatrix(const Landmarks2TransformMatrixOptions& options, const T* landmarks,
                               int num_landmarks, int landmark_dims, T* matrix4x4) {
  auto inside = [&](int32_t i) { return i >= 0 && i < num_landmarks; };
  bool usable = landmark_dims >= 2 && inside(options.left_rotation_idx) &&
                inside(options.right_rotation_idx) && !options.subset_idxs.empty();
  for (int32_t i : options.subset_idxs) usable = usable && inside(i);
  if (!usable) {
    for (int i = 0; i < 16; ++i) matrix4x4[i] = std::numeric_limits<T>::quiet_NaN();
    return;
  }
  const std::ptrdiff_t stride = landmark_dims;
  auto x_of = [&](int32_t i) { return landmarks[i * stride]; };
  auto y_of = [&](int32_t i) { return landmarks[i * stride + 1]; };

  // Rotation that makes the left -> right landmark direction point at target_rotation_radians.
  const int32_t left = options.left_rotation_idx, right = options.right_rotation_idx;
  T rotation = std::atan2(y_of(right) - y_of(left), x_of(right) - x_of(left));
  rotation = static_cast<T>(options.target_rotation_radians) - rotation;

  // Bounding box of the subset in the rotated frame; its centre rotated back.
  Vec3<T> max_xy{}, min_xy{};
  bool first = true;
  for (int32_t i : options.subset_idxs) {
    const Vec3<T> p = Rotate(rotation, Vec3<T>{x_of(i), y_of(i), T(1)});
    if (first) {
      max_xy = min_xy = p;
      first = false;
      continue;
    }
    if (max_xy.x < p.x) max_xy.x = p.x;
    if (max_xy.y < p.y) max_xy.y = p.y;
    if (min_xy.x > p.x) min_xy.x = p.x;
    if (min_xy.y > p.y) min_xy.y = p.y;
  }
  const T crop_width = max_xy.x - min_xy.x;
  const T crop_height = max_xy.y - min_xy.y;
  Vec3<T> centre = min_xy;
  centre.x += max_xy.x;
  centre.y += max_xy.y;
  centre.x /= 2;
  centre.y /= 2;
  centre = Rotate(-rotation, centre);

  // M = Shift(centre) * Rot(-rotation) * Scale(sx, sy) * Shift(-W/2, -H/2).
  Mat4<T> m = Identity4<T>();
  Mat4<T> step = Identity4<T>();
  step[3] = centre.x;
  step[7] = centre.y;
  MultiplyInPlace(m, step);

  const T r = -rotation;
  step = Identity4<T>();
  step[0] = std::cos(r);
  step[1] = -std::sin(r);
  step[4] = std::sin(r);
  step[5] = std::cos(r);
  MultiplyInPlace(m, step);

  step = Identity4<T>();
  step[0] = static_cast<T>(options.scale_x) * crop_width / static_cast<T>(options.output_width);
  step[5] = static_cast<T>(options.scale_y) * crop_height / static_cast<T>(options.output_height);
  MultiplyInPlace(m, step);

  step = Identity4<T>();
  step[3] = static_cast<T>(-1.0 * (options.output_width / 2.0));
  step[7] = static_cast<T>(-1.0 * (options.output_height / 2.0));
  MultiplyInPlace(m, step);

  for (int i = 0; i < 16; ++i) matrix4x4[i] = m[i];
}

template <typename T>
void TransformTensorBilinear(const T* input, int in_h, int in_w, int channels, const T* matrix4x4,
                             int out_h, int out_w, T* output) {
  // First two rows, with the pixel-centre ("align corners") correction; computed in double as
  // MediaPipe does, then stored back at T precision.
  T xt[4] = {matrix4x4[0], matrix4x4[1], matrix4x4[2], matrix4x4[3]};
  T yt[4] = {matrix4x4[4], matrix4x4[5], matrix4x4[6], matrix4x4[7]};
  xt[3] = static_cast<T>(xt[3] + (xt[0] * 0.5 + xt[1] * 0.5 - 0.5));
  yt[3] = static_cast<T>(yt[3] + (yt[0] * 0.5 + yt[1] * 0.5 - 0.5));

  const std::ptrdiff_t row = static_cast<std::ptrdiff_t>(in_w) * channels;
  auto read = [&](int h, int w, int c) -> T {
    if (h < 0 || w < 0 || h >= in_h || w >= in_w) return T(0);
    return input[h * row + static_cast<std::ptrdiff_t>(w) * channels + c];
  };

  T* out = output;
  for (int oy = 0; oy < out_h; ++oy) {
    for (int ox = 0; ox < out_w; ++ox, out += channels) {
      const T cx = static_cast<T>(ox), cy = static_cast<T>(oy);
      const T tx = xt[0] * cx + xt[1] * cy + xt[2] * T(0) + xt[3] * T(1);
      const T ty = yt[0] * cx + yt[1] * cy + yt[2] * T(0) + yt[3] * T(1);
      // Written so that NaN counts as outside.
      const bool inside = tx >= T(0) && tx <= static_cast<T>(in_w - 1) && ty >= T(0) &&
                          ty <= static_cast<T>(in_h - 1);
      if (!inside) {
        for (int c = 0; c < channels; ++c) out[c] = T(0);
        continue;
      }
      const T fx = std::floor(tx), fy = std::floor(ty);
      const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      const int x1 = static_cast<int>(fx + T(1)), y1 = static_cast<int>(fy + T(1));
      const T right = tx - fx;  // weight of column x1
      const T lower = ty - fy;  // weight of row y1
      for (int c = 0; c < channels; ++c) {
        const T q00 = read(y0, x0, c), q01 = read(y0, x1, c);
        const T q10 = read(y1, x0, c), q11 = read(y1, x1, c);
        const T upper_value = static_cast<T>((1.0 - right) * q00 + static_cast<T>(right * q01));
        const T lower_value = static_cast<T>((1.0 - right) * q10 + static_cast<T>(right * q11));
        out[c] = static_cast<T>(static_cast<T>(lower * lower_value) + (1.0 - lower) * upper_value);
      }
    }
  }
}

template <typename T>
void TransformLandmarks(const T* landmarks, int num, int dims, const T* matrix4x4, T* output) {
  const T* m = matrix4x4;
  for (std::ptrdiff_t i = 0; i < num; ++i) {
    const T* in = landmarks + i * dims;
    T* out = output + i * dims;
    const T x = in[0], y = in[1];
    const T tx = m[0] * x + m[1] * y + m[2] * T(0) + m[3] * T(1);
    const T ty = m[4] * x + m[5] * y + m[6] * T(0) + m[7] * T(1);
    for (int d = 2; d < dims; ++d) out[d] = in[d];
    out[0] = tx;
    out[1] = ty;
  }
}

template void Landmarks2TransformMatrix<float>(const Landmarks2TransformMatrixOptions&, const float*,
                                               int, int, float*);
template void Landmarks2TransformMatrix<double>(const Landmarks2TransformMatrixOptions&,
                                                const double*, int, int, double*);
template void TransformTensorBilinear<float>(const float*, int, int, int, const float*, int, int,
                                             float*);
template void TransformTensorBilinear<double>(const double*, int, int, int, const double*, int, int,
                                              double*);
template void TransformLandmarks<float>(const float*, int, int, const float*, float*);
template void TransformLandmarks<double>(const double*, int, int, const double*, double*);

}  // namespace speakup::engine
