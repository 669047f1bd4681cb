// Known-answer tests of the MediaPipe custom operators run on the host (host_ops.h) and of the
// parsing of their FlexBuffers custom_options (custom_options.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <flatbuffers/flexbuffers.h>

#include "custom_options.h"
#include "graph.h"
#include "host_ops.h"

namespace speakup::engine {
namespace {

// ---------------------------------------------------------------------------------------------
// Host operators, for float and double.

template <typename T>
class HostOpsTest : public ::testing::Test {
 protected:
  static constexpr T kTolerance = std::is_same_v<T, float> ? T(1e-4) : T(1e-11);
};
using ElementTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(HostOpsTest, ElementTypes);

template <typename T>
std::vector<T> Matrix(std::initializer_list<double> row0, std::initializer_list<double> row1) {
  std::vector<T> m(16, T(0));
  int i = 0;
  for (double v : row0) m[i++] = static_cast<T>(v);
  for (double v : row1) m[i++] = static_cast<T>(v);
  m[10] = m[15] = T(1);
  return m;
}

// NHWC image (batch 1) with distinct values: 100 c + 10 h + w.
template <typename T>
std::vector<T> Ramp(int h, int w, int c) {
  std::vector<T> data;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) data.push_back(static_cast<T>(100 * k + 10 * y + x));
  return data;
}

template <typename T>
T At(const std::vector<T>& image, int w, int c, int y, int x, int k) {
  return image[(static_cast<size_t>(y) * w + x) * c + k];
}

TYPED_TEST(HostOpsTest, TransformLandmarksAppliesFirstTwoRows) {
  using T = TypeParam;
  // 90 degree rotation, scale 2, translation (3, -1). Entries m[2], m[6] and rows 2-3 are never
  // used (m[2], m[6] multiply the constant z = 0).
  std::vector<T> m = Matrix<T>({0, -2, 7, 3}, {2, 0, -5, -1});
  m[8] = m[9] = m[11] = m[12] = T(42);
  const std::vector<T> in = {1, 2, -0.5, 4, 0, 0};
  std::vector<T> out(in.size());
  TransformLandmarks(in.data(), 3, 2, m.data(), out.data());
  const std::vector<T> expected = {-1, 1, -5, -2, 3, -1};
  EXPECT_EQ(out, expected);
}

TYPED_TEST(HostOpsTest, TransformLandmarksCopiesZAndWorksInPlace) {
  using T = TypeParam;
  const std::vector<T> m = Matrix<T>({0.5, 0, 0, 10}, {0, 0.25, 0, 20});
  std::vector<T> data = {2, 4, 7, -8, 16, -3};
  TransformLandmarks(data.data(), 2, 3, m.data(), data.data());
  const std::vector<T> expected = {11, 21, 7, 6, 24, -3};
  EXPECT_EQ(data, expected);
}

TYPED_TEST(HostOpsTest, TransformTensorBilinearIdentityReproducesInput) {
  using T = TypeParam;
  const std::vector<T> in = Ramp<T>(5, 7, 3);
  const std::vector<T> m = Matrix<T>({1, 0, 0, 0}, {0, 1, 0, 0});
  std::vector<T> out(in.size(), T(-1));
  TransformTensorBilinear(in.data(), 5, 7, 3, m.data(), 5, 7, out.data());
  EXPECT_EQ(out, in);
}

TYPED_TEST(HostOpsTest, TransformTensorBilinearHalfPixelShiftAveragesNeighbours) {
  using T = TypeParam;
  const int h = 3, w = 4, c = 2;
  const std::vector<T> in = Ramp<T>(h, w, c);
  // x_in = x_out + 0.5: halfway between columns; the last column samples x = 3.5 > w - 1 -> 0.
  const std::vector<T> m = Matrix<T>({1, 0, 0, 0.5}, {0, 1, 0, 0});
  std::vector<T> out(in.size(), T(-1));
  TransformTensorBilinear(in.data(), h, w, c, m.data(), h, w, out.data());
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int k = 0; k < c; ++k) {
        const T expected =
            x + 1 < w ? (At(in, w, c, y, x, k) + At(in, w, c, y, x + 1, k)) / 2 : T(0);
        EXPECT_NEAR(At(out, w, c, y, x, k), expected, this->kTolerance) << y << "," << x << "," << k;
      }
    }
  }
}

TYPED_TEST(HostOpsTest, TransformTensorBilinearDownscaleUsesPixelCentres) {
  using T = TypeParam;
  // Scale 2 maps output pixel centre (ox + 0.5) to input (2 ox + 1), the corner between four input
  // pixels: each output pixel is the mean of a 2x2 block (the half-pixel-centre convention).
  const std::vector<T> in = Ramp<T>(4, 6, 2);
  const std::vector<T> m = Matrix<T>({2, 0, 0, 0}, {0, 2, 0, 0});
  std::vector<T> out(3 * 2 * 2, T(-1));
  TransformTensorBilinear(in.data(), 4, 6, 2, m.data(), 2, 3, out.data());
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 3; ++x) {
      for (int k = 0; k < 2; ++k) {
        const T mean = (At(in, 6, 2, 2 * y, 2 * x, k) + At(in, 6, 2, 2 * y, 2 * x + 1, k) +
                        At(in, 6, 2, 2 * y + 1, 2 * x, k) + At(in, 6, 2, 2 * y + 1, 2 * x + 1, k)) /
                       4;
        EXPECT_NEAR(At(out, 3, 2, y, x, k), mean, this->kTolerance);
      }
    }
  }
}

TYPED_TEST(HostOpsTest, TransformTensorBilinearRotatesAboutPixelCentres) {
  using T = TypeParam;
  // In the matrix's continuous space pixel i spans [i, i + 1). (u, v) = (y_out, 3 - x_out) turns a
  // 3x3 image by 90 degrees: output (ox, oy) = input (column oy, row 2 - ox), exactly.
  const std::vector<T> in = Ramp<T>(3, 3, 1);
  const std::vector<T> m = Matrix<T>({0, 1, 0, 0}, {-1, 0, 0, 3});
  std::vector<T> out(9, T(-1));
  TransformTensorBilinear(in.data(), 3, 3, 1, m.data(), 3, 3, out.data());
  for (int oy = 0; oy < 3; ++oy)
    for (int ox = 0; ox < 3; ++ox) EXPECT_EQ(At(out, 3, 1, oy, ox, 0), At(in, 3, 1, 2 - ox, oy, 0));
}

TYPED_TEST(HostOpsTest, TransformTensorBilinearOutsideIsZeroNotClamped) {
  using T = TypeParam;
  const std::vector<T> in(4 * 4, T(5));
  // x_in = x_out - 0.25: column 0 samples -0.25 (outside, 0); the others interpolate constant 5.
  std::vector<T> m = Matrix<T>({1, 0, 0, -0.25}, {0, 1, 0, 0});
  std::vector<T> out(16, T(-1));
  TransformTensorBilinear(in.data(), 4, 4, 1, m.data(), 4, 4, out.data());
  for (int y = 0; y < 4; ++y) {
    EXPECT_EQ(out[y * 4], T(0));
    for (int x = 1; x < 4; ++x) EXPECT_NEAR(out[y * 4 + x], T(5), this->kTolerance);
  }
  // Exactly on the last row/column is inside: the missing neighbour has weight 0.
  const std::vector<T> ramp = Ramp<T>(2, 2, 1);
  m = Matrix<T>({0, 0, 0, 1.5}, {0, 0, 0, 1.5});  // every output pixel samples (1, 1)
  std::vector<T> one(1, T(-1));
  TransformTensorBilinear(ramp.data(), 2, 2, 1, m.data(), 1, 1, one.data());
  EXPECT_EQ(one[0], At(ramp, 2, 1, 1, 1, 0));
  // A NaN matrix gives zeros (MediaPipe would convert NaN to an integer).
  m = Matrix<T>({std::numeric_limits<double>::quiet_NaN(), 0, 0, 0}, {0, 1, 0, 0});
  TransformTensorBilinear(ramp.data(), 2, 2, 1, m.data(), 1, 1, one.data());
  EXPECT_EQ(one[0], T(0));
}

// Landmarks [N, 3] from (x, y) pairs, z set to a value that must be ignored.
template <typename T>
std::vector<T> Landmarks3(const std::vector<std::pair<double, double>>& points) {
  std::vector<T> data;
  for (auto [x, y] : points) {
    data.push_back(static_cast<T>(x));
    data.push_back(static_cast<T>(y));
    data.push_back(static_cast<T>(-1000));
  }
  return data;
}

TYPED_TEST(HostOpsTest, Landmarks2TransformMatrixAxisAligned) {
  using T = TypeParam;
  // left (10, 20) -> right (30, 20) is horizontal: no rotation. Box x [10, 30], y [10, 40]:
  // size 20 x 30, centre (20, 25).
  const std::vector<T> lm = Landmarks3<T>({{10, 20}, {30, 20}, {20, 10}, {20, 40}, {500, 500}});
  Landmarks2TransformMatrixOptions o;
  o.subset_idxs = {0, 1, 2, 3};
  o.left_rotation_idx = 0;
  o.right_rotation_idx = 1;
  o.output_width = 16;
  o.output_height = 16;
  o.scale_x = 1.5f;
  o.scale_y = 1.5f;
  std::vector<T> m(16);
  Landmarks2TransformMatrix(o, lm.data(), 5, 3, m.data());
  // sx = 1.5 * 20 / 16 = 1.875, sy = 1.5 * 30 / 16 = 2.8125; translation = centre - s * 8.
  const std::vector<T> expected = {1.875, 0, 0, 5, 0, 2.8125, 0, 2.5, 0, 0, 1, 0, 0, 0, 0, 1};
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(m[i], expected[i], this->kTolerance) << i;
}

TYPED_TEST(HostOpsTest, Landmarks2TransformMatrixRotated) {
  using T = TypeParam;
  // A rectangle around c = (50, 60) with half extents a = 10 along u = (1, 1)/sqrt2 (the left ->
  // right direction) and b = 5 along v = (-1, 1)/sqrt2.
  const double s = std::numbers::sqrt2 / 2, cx = 50, cy = 60, a = 10, b = 5;
  const std::vector<T> lm = Landmarks3<T>({{cx - a * s, cy - a * s},
                                           {cx + a * s, cy + a * s},
                                           {cx + b * s, cy - b * s},
                                           {cx - b * s, cy + b * s}});
  Landmarks2TransformMatrixOptions o;
  o.subset_idxs = {0, 1, 2, 3, 2};  // odd count: the repeated index changes nothing
  o.left_rotation_idx = 0;
  o.right_rotation_idx = 1;
  o.output_width = 16;
  o.output_height = 8;
  o.scale_x = 1.5f;
  o.scale_y = 1.25f;
  std::vector<T> m(16);
  Landmarks2TransformMatrix(o, lm.data(), 4, 3, m.data());

  // Shift(c) * Rot(+45 deg) * Scale(sx, sy) * Shift(-8, -4).
  const double sx = 1.5 * 2 * a / 16, sy = 1.25 * 2 * b / 8;
  const double expected[16] = {sx * s, -sy * s, 0, cx - 8 * sx * s + 4 * sy * s,
                               sx * s, sy * s,  0, cy - 8 * sx * s - 4 * sy * s,
                               0,      0,       1, 0,
                               0,      0,       0, 1};
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(m[i], expected[i], this->kTolerance) << i;

  // Meaning: the output centre maps to c, one output pixel along x to sx along u.
  const std::vector<T> probe = {8, 4, 9, 4};
  std::vector<T> mapped(4);
  TransformLandmarks(probe.data(), 2, 2, m.data(), mapped.data());
  EXPECT_NEAR(mapped[0], cx, this->kTolerance);
  EXPECT_NEAR(mapped[1], cy, this->kTolerance);
  EXPECT_NEAR(mapped[2] - mapped[0], sx * s, this->kTolerance);
  EXPECT_NEAR(mapped[3] - mapped[1], sx * s, this->kTolerance);
}

TYPED_TEST(HostOpsTest, Landmarks2TransformMatrixTargetRotationAndStride) {
  using T = TypeParam;
  // Landmarks of 2 values each; horizontal left -> right with a target of +90 degrees gives
  // rotation r = pi/2; the matrix rotates by -r: output x axis -> (0, -1), y axis -> (1, 0).
  const std::vector<T> lm = {0, 0, 4, 0, 2, 1, 2, -1};
  Landmarks2TransformMatrixOptions o;
  o.subset_idxs = {0, 1, 2, 3};
  o.left_rotation_idx = 0;
  o.right_rotation_idx = 1;
  o.target_rotation_radians = static_cast<float>(std::numbers::pi / 2);
  o.output_width = 2;
  o.output_height = 4;
  o.scale_x = 1;
  o.scale_y = 1;
  std::vector<T> m(16);
  Landmarks2TransformMatrix(o, lm.data(), 4, 2, m.data());
  // Rotated by r the box is 2 wide (the y extent) and 4 high; centre (2, 0).
  // sx = 2 / 2 = 1, sy = 4 / 4 = 1.
  const double expected[8] = {0, 1, 0, 2 - 0 - 2, -1, 0, 0, 0 + 1 - 0};
  // The option is a float (pi/2 rounded to 24 bits), so double is only that close too.
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(m[i], expected[i], T(1e-5)) << i;
}

TYPED_TEST(HostOpsTest, Landmarks2TransformMatrixBadIndexGivesNaN) {
  using T = TypeParam;
  const std::vector<T> lm = Landmarks3<T>({{0, 0}, {1, 0}});
  Landmarks2TransformMatrixOptions o;
  o.subset_idxs = {0, 2};
  o.left_rotation_idx = 0;
  o.right_rotation_idx = 1;
  o.output_width = o.output_height = 4;
  std::vector<T> m(16, T(0));
  Landmarks2TransformMatrix(o, lm.data(), 2, 3, m.data());
  for (T v : m) EXPECT_TRUE(std::isnan(v));
  o.subset_idxs.clear();
  m.assign(16, T(0));
  Landmarks2TransformMatrix(o, lm.data(), 2, 3, m.data());
  for (T v : m) EXPECT_TRUE(std::isnan(v));
}

TEST(HostOpsPrecisionTest, FloatAndDoubleAgree) {
  // A generic (non-axis-aligned) case through all three operators: the float instantiation stays
  // close to the double one.
  std::vector<double> lm_d;
  for (int i = 0; i < 20; ++i) {
    lm_d.push_back(40 + 15 * std::cos(0.7 * i) + 0.3 * i);
    lm_d.push_back(50 + 9 * std::sin(1.3 * i) - 0.2 * i);
    lm_d.push_back(0.1 * i);
  }
  std::vector<float> lm_f(lm_d.begin(), lm_d.end());
  Landmarks2TransformMatrixOptions o;
  o.subset_idxs = {1, 3, 5, 7, 9, 11, 13, 15, 17};
  o.left_rotation_idx = 2;
  o.right_rotation_idx = 12;
  o.output_width = o.output_height = 16;
  o.scale_x = o.scale_y = 1.5f;
  std::vector<double> m_d(16);
  std::vector<float> m_f(16);
  Landmarks2TransformMatrix(o, lm_d.data(), 20, 3, m_d.data());
  Landmarks2TransformMatrix(o, lm_f.data(), 20, 3, m_f.data());
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(m_f[i], m_d[i], 1e-4 * (1 + std::fabs(m_d[i])));

  // Scale the landmarks' space down by 4 as the model does (96 -> 24 pixels).
  for (int i : {3, 7}) m_d[i] /= 4, m_f[i] /= 4;
  for (int i : {0, 1, 4, 5}) m_d[i] /= 4, m_f[i] /= 4;
  const std::vector<double> img_d = Ramp<double>(24, 24, 3);
  const std::vector<float> img_f(img_d.begin(), img_d.end());
  std::vector<double> out_d(16 * 16 * 3);
  std::vector<float> out_f(16 * 16 * 3);
  TransformTensorBilinear(img_d.data(), 24, 24, 3, m_d.data(), 16, 16, out_d.data());
  TransformTensorBilinear(img_f.data(), 24, 24, 3, m_f.data(), 16, 16, out_f.data());
  int nonzero = 0;
  for (size_t i = 0; i < out_d.size(); ++i) {
    EXPECT_NEAR(out_f[i], out_d[i], 1e-2) << i;
    nonzero += out_d[i] != 0;
  }
  EXPECT_GT(nonzero, 16 * 16);  // the crop lies mostly inside the image
}

// ---------------------------------------------------------------------------------------------
// custom_options.

// custom_options of operator 193 (Landmarks2TransformMatrix v2, the left eye) of
// face_landmark_with_attention.tflite, copied from the model.
const std::vector<uint8_t> kL2tmOptions = {
    0x6c, 0x65, 0x66, 0x74, 0x5f, 0x72, 0x6f, 0x74, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x5f, 0x69,
    0x64, 0x78, 0x00, 0x6f, 0x75, 0x74, 0x70, 0x75, 0x74, 0x5f, 0x68, 0x65, 0x69, 0x67, 0x68,
    0x74, 0x00, 0x6f, 0x75, 0x74, 0x70, 0x75, 0x74, 0x5f, 0x77, 0x69, 0x64, 0x74, 0x68, 0x00,
    0x72, 0x69, 0x67, 0x68, 0x74, 0x5f, 0x72, 0x6f, 0x74, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x5f,
    0x69, 0x64, 0x78, 0x00, 0x73, 0x63, 0x61, 0x6c, 0x65, 0x5f, 0x78, 0x00, 0x73, 0x63, 0x61,
    0x6c, 0x65, 0x5f, 0x79, 0x00, 0x73, 0x75, 0x62, 0x73, 0x65, 0x74, 0x5f, 0x69, 0x64, 0x78,
    0x73, 0x00, 0x47, 0x00, 0x21, 0x00, 0x07, 0x00, 0xa3, 0x00, 0x90, 0x00, 0x91, 0x00, 0x99,
    0x00, 0x9a, 0x00, 0x9b, 0x00, 0x85, 0x00, 0xf6, 0x00, 0xa1, 0x00, 0xa0, 0x00, 0x9f, 0x00,
    0x9e, 0x00, 0x9d, 0x00, 0xad, 0x00, 0x82, 0x00, 0x19, 0x00, 0x6e, 0x00, 0x18, 0x00, 0x17,
    0x00, 0x16, 0x00, 0x1a, 0x00, 0x70, 0x00, 0xf3, 0x00, 0xf7, 0x00, 0x1e, 0x00, 0x1d, 0x00,
    0x1b, 0x00, 0x1c, 0x00, 0x38, 0x00, 0xbe, 0x00, 0xe2, 0x00, 0x1f, 0x00, 0xe4, 0x00, 0xe5,
    0x00, 0xe6, 0x00, 0xe7, 0x00, 0xe8, 0x00, 0xe9, 0x00, 0xf4, 0x00, 0x71, 0x00, 0xe1, 0x00,
    0xe0, 0x00, 0xdf, 0x00, 0xde, 0x00, 0xdd, 0x00, 0xbd, 0x00, 0x23, 0x00, 0x7c, 0x00, 0x2e,
    0x00, 0x35, 0x00, 0x34, 0x00, 0x41, 0x00, 0x8f, 0x00, 0x6f, 0x00, 0x75, 0x00, 0x76, 0x00,
    0x77, 0x00, 0x78, 0x00, 0x79, 0x00, 0x80, 0x00, 0xf5, 0x00, 0x9c, 0x00, 0x46, 0x00, 0x3f,
    0x00, 0x69, 0x00, 0x42, 0x00, 0x6b, 0x00, 0x37, 0x00, 0xc1, 0x00, 0x74, 0x61, 0x72, 0x67,
    0x65, 0x74, 0x5f, 0x72, 0x6f, 0x74, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x5f, 0x72, 0x61, 0x64,
    0x69, 0x61, 0x6e, 0x73, 0x00, 0x08, 0x00, 0x06, 0x01, 0xf6, 0x00, 0xea, 0x00, 0xdf, 0x00,
    0xce, 0x00, 0xc8, 0x00, 0xc2, 0x00, 0x28, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
    0x10, 0x00, 0x00, 0x00, 0x85, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0xc0,
    0x3f, 0xde, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x06, 0x06, 0x06, 0x0e, 0x0e,
    0x2d, 0x0e, 0x28, 0x26, 0x01};
const std::vector<int32_t> kL2tmSubset = {
    33,  7,   163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173, 130, 25,
    110, 24,  23,  22,  26,  112, 243, 247, 30,  29,  27,  28,  56,  190, 226, 31,  228, 229,
    230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189, 35,  124, 46,  53,  52,  65,
    143, 111, 117, 118, 119, 120, 121, 128, 245, 156, 70,  63,  105, 66,  107, 55,  193};

// custom_options of operator 195 (TransformTensorBilinear v2).
const std::vector<uint8_t> kTtbOptions = {
    0x6f, 0x75, 0x74, 0x70, 0x75, 0x74, 0x5f, 0x68, 0x65, 0x69, 0x67, 0x68, 0x74, 0x00, 0x6f,
    0x75, 0x74, 0x70, 0x75, 0x74, 0x5f, 0x77, 0x69, 0x64, 0x74, 0x68, 0x00, 0x02, 0x1c, 0x0f,
    0x02, 0x01, 0x02, 0x10, 0x10, 0x04, 0x04, 0x04, 0x24, 0x01};

TEST(CustomOptionsTest, ParsesRealLandmarks2TransformMatrixOptions) {
  auto parsed = ParseCustomOptions(OpType::kLandmarks2TransformMatrix, kL2tmOptions, "operator 193");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const auto* o = std::get_if<Landmarks2TransformMatrixOptions>(&*parsed);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->subset_idxs, kL2tmSubset);  // 71 indices: an odd count
  EXPECT_EQ(o->left_rotation_idx, 33);
  EXPECT_EQ(o->right_rotation_idx, 133);
  EXPECT_EQ(o->target_rotation_radians, 0.0f);
  EXPECT_EQ(o->output_height, 16);
  EXPECT_EQ(o->output_width, 16);
  EXPECT_EQ(o->scale_x, 1.5f);
  EXPECT_EQ(o->scale_y, 1.5f);
}

TEST(CustomOptionsTest, ParsesRealTransformTensorBilinearOptions) {
  auto parsed = ParseCustomOptions(OpType::kTransformTensorBilinear, kTtbOptions, "operator 195");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const auto* o = std::get_if<TransformTensorBilinearOptions>(&*parsed);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->output_height, 16);
  EXPECT_EQ(o->output_width, 16);
}

TEST(CustomOptionsTest, TransformLandmarksHasNoOptions) {
  auto parsed = ParseCustomOptions(OpType::kTransformLandmarks, {}, "operator 701");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_TRUE(std::holds_alternative<NoOptions>(*parsed));
}

TEST(CustomOptionsTest, OtherOperatorsAreRejected) {
  auto parsed = ParseCustomOptions(OpType::kAdd, kTtbOptions, "operator 3");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().find("operator 3"), std::string::npos);
}

// Parsed values, when a damaged buffer still parses, must obey the documented limits.
void ExpectSane(const OpOptions& options) {
  if (const auto* o = std::get_if<Landmarks2TransformMatrixOptions>(&options)) {
    EXPECT_FALSE(o->subset_idxs.empty());
    for (int32_t i : o->subset_idxs) EXPECT_TRUE(i >= 0 && i <= 65535);
    EXPECT_TRUE(o->left_rotation_idx >= 0 && o->right_rotation_idx >= 0);
    EXPECT_TRUE(o->output_height >= 1 && o->output_height <= 4096);
    EXPECT_TRUE(o->output_width >= 1 && o->output_width <= 4096);
    EXPECT_TRUE(o->scale_x > 0 && std::isfinite(o->scale_x));
    EXPECT_TRUE(o->scale_y > 0 && std::isfinite(o->scale_y));
    EXPECT_TRUE(std::isfinite(o->target_rotation_radians));
  } else if (const auto* t = std::get_if<TransformTensorBilinearOptions>(&options)) {
    EXPECT_TRUE(t->output_height >= 1 && t->output_height <= 4096);
    EXPECT_TRUE(t->output_width >= 1 && t->output_width <= 4096);
  } else {
    ADD_FAILURE() << "unexpected options type";
  }
}

TEST(CustomOptionsTest, EveryTruncationIsAnError) {
  for (auto [type, bytes] : {std::pair{OpType::kLandmarks2TransformMatrix, &kL2tmOptions},
                             std::pair{OpType::kTransformTensorBilinear, &kTtbOptions}}) {
    for (size_t n = 0; n < bytes->size(); ++n) {
      // Both ends: a prefix (the root is read from the end) and a suffix.
      const std::vector<uint8_t> prefix(bytes->begin(), bytes->begin() + n);
      const std::vector<uint8_t> suffix(bytes->end() - n, bytes->end());
      for (const auto* part : {&prefix, &suffix}) {
        auto parsed = ParseCustomOptions(type, *part, "operator 7");
        ASSERT_FALSE(parsed.ok()) << n << " bytes parsed";
        EXPECT_NE(parsed.error().find("operator 7"), std::string::npos) << parsed.error();
      }
    }
  }
}

TEST(CustomOptionsTest, CorruptedBytesNeverCrash) {
  // Every single-byte corruption of the real buffers either fails cleanly or yields sane values
  // (run under AddressSanitizer/UBSan to catch reads out of bounds).
  int errors = 0;
  for (auto [type, bytes] : {std::pair{OpType::kLandmarks2TransformMatrix, &kL2tmOptions},
                             std::pair{OpType::kTransformTensorBilinear, &kTtbOptions}}) {
    for (size_t i = 0; i < bytes->size(); ++i) {
      const uint8_t original = (*bytes)[i];
      for (uint8_t value : {uint8_t(0), uint8_t(0xff), uint8_t(original ^ 1), uint8_t(original ^ 0x80),
                            uint8_t(original + 2), uint8_t(0x24), uint8_t(0x08)}) {
        std::vector<uint8_t> damaged = *bytes;
        damaged[i] = value;
        auto parsed = ParseCustomOptions(type, damaged, "operator 9");
        if (parsed.ok()) {
          ExpectSane(*parsed);
        } else {
          ++errors;
          EXPECT_NE(parsed.error().find("operator 9"), std::string::npos);
        }
      }
    }
  }
  EXPECT_GT(errors, 0);
  // Garbage of every small length, and a buffer of one repeated byte.
  for (size_t n = 0; n < 64; ++n) {
    std::vector<uint8_t> garbage(n);
    for (size_t i = 0; i < n; ++i) garbage[i] = static_cast<uint8_t>((i * 37 + n * 11) ^ 0x5a);
    EXPECT_FALSE(ParseCustomOptions(OpType::kTransformTensorBilinear, garbage, "op").ok());
    EXPECT_FALSE(ParseCustomOptions(OpType::kLandmarks2TransformMatrix,
                                    std::vector<uint8_t>(n, static_cast<uint8_t>(n)), "op")
                     .ok());
  }
}

TEST(CustomOptionsTest, UnterminatedKeyIsRejected) {
  // A 10-byte map whose only key starts at byte 0 and has no NUL before the end of the buffer.
  // flatbuffers 2.0.8's verifier accepts it; lookups would strcmp past the end.
  const std::vector<uint8_t> bytes = {1, 1, 1, 1, 1, 5, 4, 2, 36, 1};
  auto parsed = ParseCustomOptions(OpType::kTransformTensorBilinear, bytes, "operator 4");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().find("not a valid FlexBuffer"), std::string::npos) << parsed.error();
}

// Builds a Landmarks2TransformMatrix options map, letting a test drop or replace one key.
std::vector<uint8_t> BuildL2tm(const std::string& skip, const std::function<void(flexbuffers::Builder&)>& extra = {}) {
  flexbuffers::Builder fbb;
  fbb.Map([&] {
    if (skip != "left_rotation_idx") fbb.Int("left_rotation_idx", 1);
    if (skip != "output_height") fbb.Int("output_height", 16);
    if (skip != "output_width") fbb.Int("output_width", 8);
    if (skip != "right_rotation_idx") fbb.Int("right_rotation_idx", 2);
    if (skip != "scale_x") fbb.Float("scale_x", 1.5f);
    if (skip != "scale_y") fbb.Float("scale_y", 1.25f);
    if (skip != "subset_idxs") {
      fbb.TypedVector("subset_idxs", [&] {
        for (int i : {1, 2, 3}) fbb.Int(i);
      });
    }
    if (extra) extra(fbb);
  });
  fbb.Finish();
  return fbb.GetBuffer();
}

std::string ParseError(const std::vector<uint8_t>& bytes) {
  auto parsed = ParseCustomOptions(OpType::kLandmarks2TransformMatrix, bytes, "operator 5");
  return parsed.ok() ? std::string() : parsed.error();
}

TEST(CustomOptionsTest, BuiltOptionsParseWithDefaults) {
  auto parsed = ParseCustomOptions(OpType::kLandmarks2TransformMatrix, BuildL2tm(""), "operator 5");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const auto& o = std::get<Landmarks2TransformMatrixOptions>(*parsed);
  EXPECT_EQ(o.subset_idxs, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(o.left_rotation_idx, 1);
  EXPECT_EQ(o.right_rotation_idx, 2);
  EXPECT_EQ(o.target_rotation_radians, 0.0f);  // absent: 0
  EXPECT_EQ(o.output_height, 16);
  EXPECT_EQ(o.output_width, 8);
  EXPECT_EQ(o.scale_x, 1.5f);
  EXPECT_EQ(o.scale_y, 1.25f);
}

TEST(CustomOptionsTest, AlternativeEncodingsAreAccepted) {
  // Unsigned integers, integer scales, an untyped vector and an explicit target rotation.
  flexbuffers::Builder fbb;
  fbb.Map([&] {
    fbb.UInt("left_rotation_idx", 4);
    fbb.UInt("output_height", 300);
    fbb.Int("output_width", 2);
    fbb.UInt("right_rotation_idx", 70000 - 69990);
    fbb.Int("scale_x", 2);
    fbb.Double("scale_y", 0.5);
    fbb.Vector("subset_idxs", [&] {
      fbb.Int(7);
      fbb.UInt(1000);
    });
    fbb.Float("target_rotation_radians", 0.25f);
  });
  fbb.Finish();
  auto parsed = ParseCustomOptions(OpType::kLandmarks2TransformMatrix, fbb.GetBuffer(), "op");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const auto& o = std::get<Landmarks2TransformMatrixOptions>(*parsed);
  EXPECT_EQ(o.subset_idxs, (std::vector<int32_t>{7, 1000}));
  EXPECT_EQ(o.left_rotation_idx, 4);
  EXPECT_EQ(o.right_rotation_idx, 10);
  EXPECT_EQ(o.output_height, 300);
  EXPECT_EQ(o.output_width, 2);
  EXPECT_EQ(o.scale_x, 2.0f);
  EXPECT_EQ(o.scale_y, 0.5f);
  EXPECT_EQ(o.target_rotation_radians, 0.25f);
}

TEST(CustomOptionsTest, MissingKeysAreNamed) {
  for (const char* key : {"left_rotation_idx", "output_height", "output_width", "right_rotation_idx",
                          "scale_x", "scale_y", "subset_idxs"}) {
    const std::string error = ParseError(BuildL2tm(key));
    EXPECT_NE(error.find(std::string("'") + key + "' is missing"), std::string::npos) << error;
    EXPECT_NE(error.find("operator 5"), std::string::npos) << error;
  }
  flexbuffers::Builder fbb;
  fbb.Map([&] { fbb.Int("output_height", 16); });
  fbb.Finish();
  auto parsed = ParseCustomOptions(OpType::kTransformTensorBilinear, fbb.GetBuffer(), "operator 6");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().find("'output_width' is missing"), std::string::npos) << parsed.error();
}

TEST(CustomOptionsTest, WrongTypesAndValuesAreNamed) {
  struct Case {
    const char* skip;
    std::function<void(flexbuffers::Builder&)> write;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"scale_x", [](auto& b) { b.String("scale_x", "1.5"); }, "'scale_x' is a string"},
      {"output_height", [](auto& b) { b.Float("output_height", 16.0f); }, "'output_height' is a float"},
      {"output_height", [](auto& b) { b.Int("output_height", 0); }, "'output_height' is 0"},
      {"output_width", [](auto& b) { b.Int("output_width", 5000); }, "'output_width' is 5000"},
      {"output_width", [](auto& b) { b.Int("output_width", -16); }, "'output_width' is -16"},
      {"output_width", [](auto& b) { b.Int("output_width", int64_t{1} << 40); }, "'output_width' is"},
      {"left_rotation_idx", [](auto& b) { b.Int("left_rotation_idx", -1); }, "'left_rotation_idx' is -1"},
      {"right_rotation_idx", [](auto& b) { b.Bool("right_rotation_idx", true); },
       "'right_rotation_idx' is a bool"},
      {"scale_y", [](auto& b) { b.Float("scale_y", 0.0f); }, "'scale_y' must be positive"},
      {"scale_y", [](auto& b) { b.Float("scale_y", -2.0f); }, "'scale_y' must be positive"},
      {"scale_x", [](auto& b) { b.Float("scale_x", std::numeric_limits<float>::quiet_NaN()); },
       "'scale_x' is not a finite"},
      {"scale_x", [](auto& b) { b.Double("scale_x", 1e300); }, "'scale_x' is not a finite"},
      {"subset_idxs", [](auto& b) { b.Vector("subset_idxs", [&] {}); }, "'subset_idxs' is empty"},
      {"subset_idxs", [](auto& b) { b.Int("subset_idxs", 3); }, "'subset_idxs' is a signed integer"},
      {"subset_idxs",
       [](auto& b) {
         b.TypedVector("subset_idxs", [&] {
           b.Float(1.0f);
           b.Float(2.0f);
         });
       },
       "'subset_idxs' is a vector"},
      {"subset_idxs",
       [](auto& b) {
         b.Vector("subset_idxs", [&] {
           b.Int(1);
           b.String("2");
         });
       },
       "'subset_idxs' element 1 is a string"},
      {"subset_idxs",
       [](auto& b) {
         b.TypedVector("subset_idxs", [&] {
           b.Int(1);
           b.Int(-3);
         });
       },
       "'subset_idxs' is -3"},
      {"", [](auto& b) { b.String("target_rotation_radians", "0"); },
       "'target_rotation_radians' is a string"},
  };
  for (const Case& c : cases) {
    const std::string error = ParseError(BuildL2tm(c.skip, c.write));
    EXPECT_NE(error.find(c.expected), std::string::npos) << "expected '" << c.expected << "', got '" << error << "'";
    EXPECT_NE(error.find("operator 5"), std::string::npos) << error;
  }
}

TEST(CustomOptionsTest, RootMustBeAMap) {
  flexbuffers::Builder fbb;
  fbb.Vector([&] { fbb.Int(16); });
  fbb.Finish();
  auto parsed = ParseCustomOptions(OpType::kTransformTensorBilinear, fbb.GetBuffer(), "operator 8");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().find("expected a map"), std::string::npos) << parsed.error();
}

}  // namespace
}  // namespace speakup::engine
