// Drawing: exact pixels for simple cases, clipping, hostile coordinates, speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "draw.h"
#include "speakup/media.h"

namespace speakup::media {
namespace {

constexpr Rgb kRed{255, 0, 0};

bool IsColour(const Frame& frame, int x, int y, Rgb colour) {
  const uint8_t* p = frame.pixel(x, y);
  return p[0] == colour.r && p[1] == colour.g && p[2] == colour.b;
}
bool IsBlack(const Frame& frame, int x, int y) { return IsColour(frame, x, y, {0, 0, 0}); }

int CountTouched(const Frame& frame) {
  int count = 0;
  for (size_t i = 0; i < frame.rgb.size(); i += 3) count += (frame.rgb[i] | frame.rgb[i + 1] | frame.rgb[i + 2]) != 0;
  return count;
}

TEST(Draw, HorizontalLineThroughPixelCentresSetsOneRow) {
  Frame frame(40, 20);
  // Row 10's centres are at y = 10.5; columns 5..25 have centres 5.5..25.5.
  DrawLine(frame, 5.5f, 10.5f, 25.5f, 10.5f, kRed, 1.0f);
  for (int y = 0; y < 20; ++y) {
    for (int x = 0; x < 40; ++x) {
      bool on_line = y == 10 && x >= 5 && x <= 25;
      if (on_line) {
        EXPECT_TRUE(IsColour(frame, x, y, kRed)) << x << "," << y;
      } else if (y == 10 && (x == 4 || x == 26)) {
        // The round caps reach half a pixel beyond the ends: partial coverage at most.
        EXPECT_LT(frame.pixel(x, y)[0], 255) << x;
      } else {
        EXPECT_TRUE(IsBlack(frame, x, y)) << x << "," << y;
      }
    }
  }
}

TEST(Draw, VerticalThickLineCoversItsWidth) {
  Frame frame(30, 30);
  DrawLine(frame, 15.0f, 5.5f, 15.0f, 24.5f, {0, 255, 0}, 4.0f);  // x in [13, 17]
  for (int y = 6; y <= 23; ++y) {
    for (int x = 13; x <= 16; ++x) EXPECT_TRUE(IsColour(frame, x, y, {0, 255, 0})) << x << "," << y;
    EXPECT_TRUE(IsBlack(frame, 11, y));
    EXPECT_TRUE(IsBlack(frame, 18, y));
  }
}

TEST(Draw, DiagonalLineIsSymmetricAndContinuous) {
  Frame frame(32, 32);
  DrawLine(frame, 0.5f, 0.5f, 31.5f, 31.5f, {255, 255, 255}, 1.0f);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(frame.pixel(i, i)[0], 255) << i;  // every diagonal pixel fully on
    if (i + 1 < 32) {
      EXPECT_EQ(frame.pixel(i + 1, i)[0], frame.pixel(i, i + 1)[0]) << i;
    }
  }
}

TEST(Draw, AntialiasedEdgesBlend) {
  Frame frame(20, 20);
  for (auto& v : frame.rgb) v = 100;
  DrawLine(frame, 2.0f, 10.0f, 18.0f, 10.0f, {200, 200, 200}, 1.0f);  // between rows 9 and 10
  // Each row's centre is 0.5 from the line: coverage 0.5 -> halfway.
  EXPECT_EQ(frame.pixel(10, 9)[0], 150);
  EXPECT_EQ(frame.pixel(10, 10)[0], 150);
  EXPECT_EQ(frame.pixel(10, 8)[0], 100);
  EXPECT_EQ(frame.pixel(10, 11)[0], 100);
}

TEST(Draw, LinesAreClippedAtTheBorders) {
  Frame frame(50, 40);
  DrawLine(frame, -100.0f, 20.5f, 200.0f, 20.5f, kRed, 1.0f);  // across the whole frame
  for (int x = 0; x < 50; ++x) EXPECT_TRUE(IsColour(frame, x, 20, kRed)) << x;
  EXPECT_EQ(CountTouched(frame), 50);

  Frame corner(50, 40);
  DrawLine(corner, -10.0f, -10.0f, 5.0f, 5.0f, kRed, 3.0f);  // enters at the top-left corner
  EXPECT_TRUE(IsColour(corner, 2, 2, kRed));
  EXPECT_TRUE(IsBlack(corner, 20, 20));

  Frame outside(50, 40);
  DrawLine(outside, -10.0f, -10.0f, -5.0f, 100.0f, kRed, 3.0f);  // entirely left of the frame
  DrawLine(outside, 60.0f, 0.0f, 80.0f, 40.0f, kRed, 3.0f);      // entirely right
  DrawPoint(outside, 25.0f, -8.0f, 5.0f, kRed);                   // above
  EXPECT_EQ(CountTouched(outside), 0);

  Frame edge(50, 40);
  DrawLine(edge, 49.5f, 0.0f, 49.5f, 40.0f, kRed, 1.0f);  // the last column
  for (int y = 0; y < 40; ++y) EXPECT_TRUE(IsColour(edge, 49, y, kRed)) << y;
  EXPECT_TRUE(IsBlack(edge, 48, 20));
}

TEST(Draw, HostileCoordinatesAreSafe) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float huge = 1e30f;
  Frame frame(64, 48);
  DrawLine(frame, nan, 0, 10, 10, kRed, 1);
  DrawLine(frame, 0, 0, inf, 10, kRed, 1);
  DrawLine(frame, 0, 0, 10, 10, kRed, nan);
  DrawLine(frame, 0, 0, 10, 10, kRed, -3);
  DrawPoint(frame, nan, 5, 3, kRed);
  DrawPoint(frame, 5, 5, inf, kRed);  // an infinite radius: the whole frame
  EXPECT_EQ(CountTouched(frame), 64 * 48);

  Frame big(64, 48);
  DrawLine(big, -1e6f, -1e6f, 1e6f, 1e6f, kRed, 1);  // far ends: only the part in the frame is drawn
  EXPECT_TRUE(IsColour(big, 20, 20, kRed));
  EXPECT_TRUE(IsBlack(big, 20, 25));
  // At 1e30 float and double can no longer place the line within a pixel: safe, not exact.
  DrawLine(big, -huge, -huge, huge, huge, kRed, 1);
  DrawLine(big, -huge, 24.5f, huge, 24.5f, kRed, huge);  // covers everything
  EXPECT_EQ(CountTouched(big), 64 * 48);

  Frame empty;
  DrawLine(empty, 0, 0, 10, 10, kRed, 2);
  DrawPoint(empty, 1, 1, 3, kRed);
  Frame inconsistent(10, 10);
  inconsistent.rgb.resize(5);  // too small for its size: drawing must not touch it
  DrawLine(inconsistent, 0, 0, 10, 10, kRed, 2);
  DrawPoint(inconsistent, 5, 5, 3, kRed);

  // Random junk everywhere, under ASan: no out-of-bounds access.
  std::mt19937 random(7);
  std::uniform_real_distribution<float> coordinate(-200.0f, 200.0f), width(0.0f, 30.0f);
  Frame junk(37, 23);
  for (int i = 0; i < 5000; ++i) {
    DrawLine(junk, coordinate(random), coordinate(random), coordinate(random), coordinate(random), kRed,
             width(random));
    DrawPoint(junk, coordinate(random), coordinate(random), width(random), kRed);
  }
}

TEST(Draw, PointIsARoundDisc) {
  Frame frame(21, 21);
  DrawPoint(frame, 10.5f, 10.5f, 5.0f, {0, 0, 255});
  EXPECT_TRUE(IsColour(frame, 10, 10, {0, 0, 255}));
  EXPECT_TRUE(IsColour(frame, 14, 10, {0, 0, 255}));  // 4 px from the centre
  EXPECT_TRUE(IsBlack(frame, 16, 10));                 // 6 px
  EXPECT_TRUE(IsBlack(frame, 15, 15));                 // a corner of the bounding box
  // Symmetric under the square's symmetries.
  for (int y = 0; y < 21; ++y) {
    for (int x = 0; x < 21; ++x) {
      EXPECT_EQ(frame.pixel(x, y)[2], frame.pixel(20 - x, y)[2]);
      EXPECT_EQ(frame.pixel(x, y)[2], frame.pixel(y, x)[2]);
    }
  }
  // Area close to pi r^2 (coverage summed).
  double area = 0;
  for (size_t i = 2; i < frame.rgb.size(); i += 3) area += frame.rgb[i] / 255.0;
  EXPECT_NEAR(area, M_PI * 25.0, 1.5);
}

TEST(Draw, DrawLinesAndPointsDrawEach) {
  Frame frame(30, 30);
  DrawLines(frame, {{1.5f, 1.5f, 10.5f, 1.5f}, {1.5f, 20.5f, 10.5f, 20.5f}}, kRed, 1.0f);
  DrawPoints(frame, {{25.5f, 25.5f}, {25.5f, 5.5f}}, 1.0f, kRed);
  EXPECT_TRUE(IsColour(frame, 5, 1, kRed));
  EXPECT_TRUE(IsColour(frame, 5, 20, kRed));
  EXPECT_TRUE(IsColour(frame, 25, 25, kRed));
  EXPECT_TRUE(IsColour(frame, 25, 5, kRed));
  EXPECT_TRUE(IsBlack(frame, 5, 10));
}

}  // namespace
}  // namespace speakup::media
