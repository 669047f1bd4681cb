// ROIs for the landmark model from detections and from landmarks: centre, square on the long side
// in pixels, x1.5, rotation from the eye line (MediaPipe's DetectionsToRects + RectTransformation).
#include "roi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <vector>

#include "warp.h"

namespace speakup::face {
namespace {

constexpr float kPi = std::numbers::pi_v<float>;

Detection MakeDetection(Box box, Point2 right_eye, Point2 left_eye) {
  Detection d;
  d.score = 0.9f;
  d.box = box;
  d.keypoints[0] = right_eye;
  d.keypoints[1] = left_eye;
  return d;
}

TEST(Roi, LevelEyesGiveAnUnrotatedSquareOnTheLongSide) {
  // 100 x 60 box in a non-square image: the long side (pixels) wins, then x1.5.
  const Detection d = MakeDetection({150, 120, 100, 60}, {180, 140}, {220, 140});
  const Roi roi = RoiFromDetection(d, 640, 480);
  EXPECT_NEAR(roi.cx, 200, 1e-3);
  EXPECT_NEAR(roi.cy, 150, 1e-3);
  EXPECT_NEAR(roi.width, 150, 1e-3);
  EXPECT_NEAR(roi.height, 150, 1e-3);
  EXPECT_NEAR(roi.rotation, 0, 1e-6);
  // A tall box: the height is the long side.
  const Roi tall = RoiFromDetection(MakeDetection({0, 0, 40, 80}, {10, 20}, {30, 20}), 100, 300);
  EXPECT_NEAR(tall.width, 120, 1e-3);
  EXPECT_NEAR(tall.height, 120, 1e-3);
}

TEST(Roi, RotationFollowsTheEyeLineClockwiseOnScreen) {
  const Box box{100, 100, 80, 80};
  // Second eye below the first: the face is turned 90 degrees clockwise on screen.
  EXPECT_NEAR(RoiFromDetection(MakeDetection(box, {140, 120}, {140, 160}), 400, 300).rotation, kPi / 2, 1e-6);
  // Second eye above: -90 degrees.
  EXPECT_NEAR(RoiFromDetection(MakeDetection(box, {140, 160}, {140, 120}), 400, 300).rotation, -kPi / 2,
              1e-6);
  // 30 degrees clockwise, measured in pixels of a non-square image.
  const float a = kPi / 6;
  const Roi r = RoiFromDetection(
      MakeDetection(box, {100, 100}, {100 + 40 * std::cos(a), 100 + 40 * std::sin(a)}), 640, 200);
  EXPECT_NEAR(r.rotation, a, 1e-5);
  // Upside down: the eyes reversed give +-pi, wrapped into [-pi, pi).
  EXPECT_NEAR(std::abs(RoiFromDetection(MakeDetection(box, {160, 120}, {120, 120}), 400, 300).rotation), kPi,
              1e-5);
  // The rectangle itself does not turn: same centre and size whatever the angle.
  EXPECT_NEAR(r.cx, 140, 1e-3);
  EXPECT_NEAR(r.width, 120, 1e-3);
}

TEST(Roi, NormalizeRadiansWrapsIntoMinusPiToPi) {
  EXPECT_NEAR(NormalizeRadians(3 * kPi / 2), -kPi / 2, 1e-5);
  EXPECT_NEAR(NormalizeRadians(-3 * kPi / 2), kPi / 2, 1e-5);
  EXPECT_NEAR(NormalizeRadians(0.25f), 0.25f, 1e-7);
  EXPECT_NEAR(NormalizeRadians(5 * kPi), -kPi, 1e-4);
}

TEST(Roi, FromLandmarksUsesTheBoxOfAllPointsAndTheEyeCorners) {
  std::vector<Landmark> landmarks(478);
  // Points on a 200 x 100 px rectangle from (50, 80); the eye corners tilted by 10 degrees.
  for (size_t i = 0; i < landmarks.size(); ++i) {
    landmarks[i] = {50.0f + static_cast<float>(i % 21) * 10.0f, 80.0f + static_cast<float>(i % 11) * 10.0f,
                    0};
  }
  const float a = 10 * kPi / 180;
  landmarks[33] = {100, 120, 0};
  landmarks[263] = {100 + 60 * std::cos(a), 120 + 60 * std::sin(a), 0};
  const Roi roi = RoiFromLandmarks(landmarks, 640, 480);
  EXPECT_NEAR(roi.cx, 150, 1e-3);
  EXPECT_NEAR(roi.cy, 130, 1e-3);
  EXPECT_NEAR(roi.width, 300, 1e-3);
  EXPECT_NEAR(roi.height, 300, 1e-3);
  EXPECT_NEAR(roi.rotation, a, 1e-5);
  // Too few points: no ROI.
  EXPECT_EQ(RoiFromLandmarks(std::vector<Landmark>(10), 640, 480).width, 0);
}

TEST(Roi, OverlapIsTheIouOfTheUnrotatedRectangles) {
  EXPECT_FLOAT_EQ(RoiOverlap({10, 10, 20, 20, 0}, {10, 10, 20, 20, 1.0f}), 1.0f);  // rotation ignored
  EXPECT_FLOAT_EQ(RoiOverlap({10, 10, 20, 20, 0}, {20, 10, 20, 20, 0}), 200.0f / 600.0f);
  EXPECT_FLOAT_EQ(RoiOverlap({10, 10, 20, 20, 0}, {40, 10, 20, 20, 0}), 0.0f);
}

TEST(Roi, AssociationKeepsTheLaterOfTwoOverlappingRois) {
  const std::vector<Roi> rois = {
      {100, 100, 180, 180, 0},  // 0: overlaps 2 by IoU 0.72
      {400, 100, 180, 180, 0},  // 1: alone
      {120, 110, 180, 180, 0},  // 2: replaces 0 and goes to the end
      {130, 250, 180, 180, 0},  // 3: overlaps 2 by IoU < 0.5
  };
  EXPECT_EQ(AssociateRois(rois), (std::vector<size_t>{1, 2, 3}));
  // A later ROI overlapping two kept ones removes both.
  const std::vector<Roi> chain = {{100, 100, 100, 100, 0}, {300, 100, 100, 100, 0}, {200, 100, 300, 100, 0}};
  EXPECT_EQ(AssociateRois(chain, 0.3f), (std::vector<size_t>{2}));
  EXPECT_TRUE(AssociateRois({}).empty());
}

}  // namespace
}  // namespace speakup::face

namespace speakup::face {
namespace {

// Both warps, both border modes, on random ROIs (any rotation, tiny to larger than the image, partly
// or wholly outside it, odd image sizes): the tensor comes out the same whatever the pixels outside
// RoiFootprint hold. That is what lets a camera frame convert only the footprint to RGB.
TEST(RoiFootprint, WarpsReadNothingOutsideIt) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(0, 255);
  const std::pair<int, int> sizes[] = {{1, 1}, {7, 5}, {64, 48}, {181, 127}, {640, 480}};
  int checked = 0, smaller = 0;
  for (auto [width, height] : sizes) {
    std::vector<uint8_t> original(static_cast<size_t>(width) * height * 3);
    for (uint8_t& v : original) v = static_cast<uint8_t>(byte(rng));
    std::uniform_real_distribution<float> cx(-0.5f * width, 1.5f * width), cy(-0.5f * height, 1.5f * height);
    std::uniform_real_distribution<float> size(1.0f, 1.5f * std::max(width, height)), angle(-7.0f, 7.0f);
    for (int i = 0; i < 40; ++i) {
      const Roi roi{cx(rng), cy(rng), size(rng), size(rng), angle(rng)};
      const PixelRect footprint = RoiFootprint(roi, width, height);
      ASSERT_GT(footprint.width, 0);
      ASSERT_GT(footprint.height, 0);
      ASSERT_GE(footprint.x, 0);
      ASSERT_GE(footprint.y, 0);
      ASSERT_LE(footprint.x + footprint.width, width);
      ASSERT_LE(footprint.y + footprint.height, height);
      smaller += footprint.width * footprint.height < width * height;
      // The same image with every pixel outside the footprint inverted.
      std::vector<uint8_t> changed = original;
      for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
          const bool inside = x >= footprint.x && x < footprint.x + footprint.width && y >= footprint.y &&
                              y < footprint.y + footprint.height;
          if (!inside) {
            for (int c = 0; c < 3; ++c) changed[(static_cast<size_t>(y) * width + x) * 3 + c] ^= 0xFF;
          }
        }
      }
      const ImageView a{original.data(), width, height, 3 * width}, b{changed.data(), width, height, 3 * width};
      for (BorderMode border : {BorderMode::kReplicate, BorderMode::kZero}) {
        for (bool opencv : {false, true}) {
          const int n = opencv ? 256 : 192;
          std::vector<float> out_a(static_cast<size_t>(n) * n * 3), out_b(out_a.size());
          auto warp = opencv ? WarpRoiToTensorOpenCv : WarpRoiToTensor;
          warp(a, roi, n, n, 0.0f, 1.0f, border, out_a.data());
          warp(b, roi, n, n, 0.0f, 1.0f, border, out_b.data());
          ASSERT_EQ(0, std::memcmp(out_a.data(), out_b.data(), out_a.size() * sizeof(float)))
              << (opencv ? "OpenCV" : "GL") << " warp of ROI " << roi.cx << "," << roi.cy << " " << roi.width << "x"
              << roi.height << " rot " << roi.rotation << " in " << width << "x" << height << " reads outside "
              << footprint.x << "," << footprint.y << " " << footprint.width << "x" << footprint.height;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 5 * 40 * 4);
  EXPECT_GT(smaller, 100) << "most random ROIs need only part of the image";
}

TEST(RoiFootprint, NonFiniteRoiTakesTheWholeImage) {
  const PixelRect whole = RoiFootprint({std::nanf(""), 10, 20, 20, 0}, 64, 48);
  EXPECT_EQ(whole.x, 0);
  EXPECT_EQ(whole.y, 0);
  EXPECT_EQ(whole.width, 64);
  EXPECT_EQ(whole.height, 48);
  const PixelRect inf = RoiFootprint({10, 10, 20, 20, INFINITY}, 64, 48);
  EXPECT_EQ(inf.width * inf.height, 64 * 48);
}

}  // namespace
}  // namespace speakup::face
