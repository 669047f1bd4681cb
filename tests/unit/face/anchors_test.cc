// SSD anchors: counts and positions for both detector models, and the per-layer scales when anchor
// sizes are not fixed (MediaPipe's SsdAnchorsCalculator).
#include "anchors.h"

#include <gtest/gtest.h>

#include <cmath>

namespace speakup::face {
namespace {

TEST(Anchors, ShortRangeHas896AnchorsOnTwoGrids) {
  const std::vector<Anchor> anchors = GenerateAnchors(AnchorOptions::ShortRange());
  ASSERT_EQ(anchors.size(), 896u);  // 16x16 cells x 2 + 8x8 cells x 6
  // Stride 8: 2 anchors per cell of a 16x16 grid.
  EXPECT_FLOAT_EQ(anchors[0].x_center, 0.5f / 16);
  EXPECT_FLOAT_EQ(anchors[0].y_center, 0.5f / 16);
  EXPECT_FLOAT_EQ(anchors[1].x_center, 0.5f / 16);
  EXPECT_FLOAT_EQ(anchors[2].x_center, 1.5f / 16);
  EXPECT_FLOAT_EQ(anchors[32].y_center, 1.5f / 16);  // second row
  EXPECT_FLOAT_EQ(anchors[511].x_center, 15.5f / 16);
  EXPECT_FLOAT_EQ(anchors[511].y_center, 15.5f / 16);
  // Three layers of stride 16 merged: 6 anchors per cell of an 8x8 grid.
  for (int k = 0; k < 6; ++k) {
    EXPECT_FLOAT_EQ(anchors[512 + k].x_center, 0.5f / 8);
    EXPECT_FLOAT_EQ(anchors[512 + k].y_center, 0.5f / 8);
  }
  EXPECT_FLOAT_EQ(anchors[518].x_center, 1.5f / 8);
  EXPECT_FLOAT_EQ(anchors.back().x_center, 7.5f / 8);
  EXPECT_FLOAT_EQ(anchors.back().y_center, 7.5f / 8);
  for (const Anchor& anchor : anchors) {
    EXPECT_EQ(anchor.width, 1.0f);
    EXPECT_EQ(anchor.height, 1.0f);
  }
}

TEST(Anchors, FullRangeHas2304AnchorsOnOneGrid) {
  const std::vector<Anchor> anchors = GenerateAnchors(AnchorOptions::FullRange());
  ASSERT_EQ(anchors.size(), 2304u);  // 48x48, one anchor per cell
  EXPECT_FLOAT_EQ(anchors[0].x_center, 0.5f / 48);
  EXPECT_FLOAT_EQ(anchors[0].y_center, 0.5f / 48);
  EXPECT_FLOAT_EQ(anchors[1].x_center, 1.5f / 48);
  EXPECT_FLOAT_EQ(anchors[48].y_center, 1.5f / 48);
  EXPECT_FLOAT_EQ(anchors.back().x_center, 47.5f / 48);
  EXPECT_FLOAT_EQ(anchors.back().y_center, 47.5f / 48);
  EXPECT_EQ(AnchorOptions::For(DetectorKind::kFullRange).input_width, 192);
  EXPECT_EQ(AnchorOptions::For(DetectorKind::kShortRange).input_width, 128);
}

TEST(Anchors, ScalesInterpolateBetweenMinAndMaxWhenSizesAreNotFixed) {
  AnchorOptions options = AnchorOptions::ShortRange();
  options.fixed_anchor_size = false;
  const std::vector<Anchor> anchors = GenerateAnchors(options);
  ASSERT_EQ(anchors.size(), 896u);
  const float min = 0.1484375f, max = 0.75f;
  const float scale1 = min + (max - min) / 3.0f;               // layer 1 of 4
  EXPECT_FLOAT_EQ(anchors[0].width, min);                      // aspect 1
  EXPECT_FLOAT_EQ(anchors[1].width, std::sqrt(min * scale1));  // interpolated
  EXPECT_FLOAT_EQ(anchors[512].width, scale1);                 // layer 1
  EXPECT_FLOAT_EQ(anchors[517].width, std::sqrt(max * 1.0f));  // last layer's interpolated
  EXPECT_FLOAT_EQ(anchors[517].height, anchors[517].width);
}

}  // namespace
}  // namespace speakup::face
