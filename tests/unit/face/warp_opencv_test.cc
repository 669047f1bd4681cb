// The fast WarpRoiToTensorOpenCv against its first scalar version (warp_opencv_reference.cc): every
// float must be the same bits, on random images (odd sizes, padded rows) and random ROIs (any
// rotation, scales from a few pixels to far larger than the image, partly or wholly outside it),
// for both border modes and two value ranges. The goldens rest on that version's output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <numbers>
#include <random>
#include <vector>

#include "warp.h"
#include "warp_opencv_reference.h"

namespace speakup::face {
namespace {

struct PaddedImage {
  int width, height, stride;
  std::vector<uint8_t> bytes;  // exactly (height - 1) * stride + 3 * width: no slack after the last pixel
  ImageView view() const { return {bytes.data(), width, height, stride}; }
};

PaddedImage RandomImage(int width, int height, int padding, std::mt19937& rng) {
  const int stride = 3 * width + padding;
  PaddedImage image{width, height, stride,
                    std::vector<uint8_t>(static_cast<size_t>(height - 1) * stride + 3 * static_cast<size_t>(width))};
  for (auto& b : image.bytes) b = static_cast<uint8_t>(rng() & 0xff);
  return image;
}

// Counts the floats whose bits differ and reports the first one.
int CompareBits(const std::vector<float>& expected, const std::vector<float>& actual, int out_width) {
  int differences = 0;
  for (size_t k = 0; k < expected.size(); ++k) {
    if (std::memcmp(&expected[k], &actual[k], sizeof(float)) == 0) continue;
    if (differences++ == 0) {
      const size_t pixel = k / 3;
      ADD_FAILURE() << "first difference at tensor pixel (" << pixel % out_width << ", " << pixel / out_width
                    << ") channel " << k % 3 << ": " << expected[k] << " expected, " << actual[k] << " got";
    }
  }
  return differences;
}

void ExpectSameAsReference(const PaddedImage& image, const Roi& roi, int out_width, int out_height,
                           float range_min, float range_max, BorderMode border) {
  SCOPED_TRACE(::testing::Message() << "image " << image.width << "x" << image.height << " stride " << image.stride
                                    << ", roi (" << roi.cx << ", " << roi.cy << ", " << roi.width << ", "
                                    << roi.height << ", " << roi.rotation << "), out " << out_width << "x"
                                    << out_height << (border == BorderMode::kZero ? ", zero" : ", replicate"));
  const size_t floats = static_cast<size_t>(out_width) * out_height * 3;
  // Different fill values, so that a float left unwritten by either version shows up.
  std::vector<float> expected(floats, -7.0f), actual(floats, 9.0f);
  reference::ReferenceWarpRoiToTensorOpenCv(image.view(), roi, out_width, out_height, range_min, range_max, border,
                                            expected.data());
  WarpRoiToTensorOpenCv(image.view(), roi, out_width, out_height, range_min, range_max, border, actual.data());
  EXPECT_EQ(CompareBits(expected, actual, out_width), 0);
}

TEST(WarpOpenCvFast, MatchesTheScalarVersionBitForBitOnRandomRois) {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  constexpr float kPi = std::numbers::pi_v<float>;
  const int sizes[][2] = {{1, 1}, {2, 3}, {3, 2}, {5, 7}, {17, 13}, {64, 48}, {101, 77}, {640, 480}};
  const int outputs[] = {1, 3, 17, 64, 255, 256};
  int cases = 0;
  for (const auto& size : sizes) {
    for (int padding : {0, 5}) {
      const PaddedImage image = RandomImage(size[0], size[1], padding, rng);
      for (int trial = 0; trial < 12; ++trial) {
        const float extent = static_cast<float>(std::max(size[0], size[1]));
        // Centres up to half an image outside; sizes from 1 pixel to twice the image.
        Roi roi;
        roi.cx = (unit(rng) * 2.0f - 0.5f) * size[0];
        roi.cy = (unit(rng) * 2.0f - 0.5f) * size[1];
        roi.width = 1.0f + unit(rng) * 2.0f * extent;
        roi.height = trial % 3 == 0 ? roi.width : 1.0f + unit(rng) * 2.0f * extent;
        roi.rotation = trial % 4 == 0 ? 0.0f : (unit(rng) * 2.0f - 1.0f) * kPi;
        const int out_width = outputs[rng() % std::size(outputs)];
        const int out_height = trial % 2 ? out_width : outputs[rng() % std::size(outputs)];
        const BorderMode border = trial % 2 ? BorderMode::kReplicate : BorderMode::kZero;
        const bool symmetric = trial % 5 == 0;
        ExpectSameAsReference(image, roi, out_width, out_height, symmetric ? -1.0f : 0.0f, 1.0f, border);
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 8 * 2 * 12);
}

TEST(WarpOpenCvFast, MatchesOnTiesExtremesAndTheLandmarkerCase) {
  std::mt19937 rng(5);
  const PaddedImage image = RandomImage(640, 480, 0, rng);
  // A face-sized ROI into 256x256, as the Face Landmarker runs it.
  ExpectSameAsReference(image, {321.7f, 233.2f, 211.3f, 211.3f, 0.21f}, 256, 256, 0.0f, 1.0f, BorderMode::kReplicate);
  // Steps of 1/64 pixel put sample positions exactly halfway between two 1/32 steps: round half to even.
  ExpectSameAsReference(image, {100.0f, 80.0f, 4.0f, 4.0f, 0.0f}, 256, 256, 0.0f, 1.0f, BorderMode::kReplicate);
  ExpectSameAsReference(image, {0.0f, 0.0f, 4.0f, 4.0f, 0.0f}, 256, 256, 0.0f, 255.0f, BorderMode::kZero);
  // Touching the last column and row, and far beyond the image (positions past the int range).
  ExpectSameAsReference(image, {639.0f, 479.0f, 3.0f, 3.0f, 0.0f}, 17, 17, 0.0f, 1.0f, BorderMode::kReplicate);
  ExpectSameAsReference(image, {639.0f, 479.0f, 3.0f, 3.0f, 0.0f}, 17, 17, 0.0f, 1.0f, BorderMode::kZero);
  ExpectSameAsReference(image, {320.0f, 240.0f, 3e9f, 3e9f, 0.5f}, 9, 9, 0.0f, 1.0f, BorderMode::kReplicate);
  ExpectSameAsReference(image, {-5e8f, 7e8f, 10.0f, 10.0f, 1.0f}, 9, 9, 0.0f, 1.0f, BorderMode::kZero);
}

}  // namespace
}  // namespace speakup::face
