// YUV/grey/RGB frames to RGB (convert.h) against the exact colour equations.
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "convert.h"
#include "speakup/media/gst_handles.h"
#include "media_test_util.h"

namespace speakup::media {
namespace {

// Fills a new buffer of `format` through a callback (component, x, y) -> value, maps it for reading.
class TestFrame {
 public:
  TestFrame(GstVideoFormat format, int width, int height, GstVideoColorimetry colorimetry,
            const std::function<uint8_t(int, int, int)>& value) {
    EXPECT_TRUE(EnsureGstInitialized().ok());
    gst_video_info_set_format(&info_, format, width, height);
    info_.colorimetry = colorimetry;
    buffer_.reset(gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info_), nullptr));
    GstVideoFrame writable;
    EXPECT_TRUE(gst_video_frame_map(&writable, &info_, buffer_.get(), GST_MAP_WRITE));
    for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS(&writable); ++c) {
      auto* data = static_cast<uint8_t*>(GST_VIDEO_FRAME_COMP_DATA(&writable, c));
      const int stride = GST_VIDEO_FRAME_COMP_STRIDE(&writable, c);
      const int pixel_stride = GST_VIDEO_FRAME_COMP_PSTRIDE(&writable, c);
      for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT(&writable, c); ++y) {
        for (int x = 0; x < GST_VIDEO_FRAME_COMP_WIDTH(&writable, c); ++x) {
          data[y * stride + x * pixel_stride] = value(static_cast<int>(c), x, y);
        }
      }
    }
    gst_video_frame_unmap(&writable);
    EXPECT_TRUE(gst_video_frame_map(&frame_, &info_, buffer_.get(), GST_MAP_READ));
  }
  ~TestFrame() { gst_video_frame_unmap(&frame_); }
  const GstVideoFrame& frame() const { return frame_; }
  GstBuffer* buffer() const { return buffer_.get(); }
  const GstVideoInfo& info() const { return info_; }

 private:
  GstVideoInfo info_;
  BufferPtr buffer_;
  GstVideoFrame frame_;
};

GstVideoColorimetry Colorimetry(GstVideoColorMatrix matrix, GstVideoColorRange range) {
  GstVideoColorimetry colorimetry{};
  colorimetry.range = range;
  colorimetry.matrix = matrix;
  colorimetry.transfer = GST_VIDEO_TRANSFER_BT709;
  colorimetry.primaries = GST_VIDEO_COLOR_PRIMARIES_BT709;
  return colorimetry;
}

// The textbook equations (ITU-R BT.601 / 709 / 2020), in floating point.
std::array<double, 3> ExactRgb(int y, int u, int v, GstVideoColorMatrix matrix, GstVideoColorRange range) {
  double kr = 0.299, kb = 0.114;
  if (matrix == GST_VIDEO_COLOR_MATRIX_BT709) kr = 0.2126, kb = 0.0722;
  if (matrix == GST_VIDEO_COLOR_MATRIX_BT2020) kr = 0.2627, kb = 0.0593;
  const double kg = 1 - kr - kb;
  const bool full = range == GST_VIDEO_COLOR_RANGE_0_255;
  const double luma = full ? y : (y - 16) * 255.0 / 219.0;
  const double cb = full ? u - 128.0 : (u - 128) * 255.0 / 224.0;
  const double cr = full ? v - 128.0 : (v - 128) * 255.0 / 224.0;
  const double r = luma + 2 * (1 - kr) * cr;
  const double b = luma + 2 * (1 - kb) * cb;
  const double g = (luma - kr * r - kb * b) / kg;
  return {std::clamp(r, 0.0, 255.0), std::clamp(g, 0.0, 255.0), std::clamp(b, 0.0, 255.0)};
}

struct Accuracy {
  int max = 0;
  double bias[3] = {0, 0, 0};
  double over_2 = 0;  // fraction of channel values more than 2 levels off
};

// Forward equations: the Y, U, V an encoder makes from an RGB colour (rounded).
std::array<int, 3> ExactYuv(double r, double g, double b, GstVideoColorMatrix matrix, GstVideoColorRange range) {
  double kr = 0.299, kb = 0.114;
  if (matrix == GST_VIDEO_COLOR_MATRIX_BT709) kr = 0.2126, kb = 0.0722;
  if (matrix == GST_VIDEO_COLOR_MATRIX_BT2020) kr = 0.2627, kb = 0.0593;
  const double luma = kr * r + (1 - kr - kb) * g + kb * b;
  const double cb = (b - luma) / (2 * (1 - kb)), cr = (r - luma) / (2 * (1 - kr));
  const bool full = range == GST_VIDEO_COLOR_RANGE_0_255;
  return {static_cast<int>(std::lround(full ? luma : 16 + luma * 219.0 / 255.0)),
          static_cast<int>(std::lround(128 + cb * (full ? 1.0 : 224.0 / 255.0))),
          static_cast<int>(std::lround(128 + cr * (full ? 1.0 : 224.0 / 255.0)))};
}

// Per image: one chroma (so upsampling cannot matter) from a random RGB colour, and luma varying
// around it. Colours an encoder can produce, not arbitrary YUV triples (which saturate).
Accuracy Measure(GstVideoFormat format, GstVideoColorMatrix matrix, GstVideoColorRange range) {
  std::mt19937 random(3);
  std::uniform_real_distribution<double> channel(10.0, 245.0);
  Accuracy accuracy;
  long count = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const bool full = range == GST_VIDEO_COLOR_RANGE_0_255;
    const std::array<int, 3> base = ExactYuv(channel(random), channel(random), channel(random), matrix, range);
    const int u = base[1], v = base[2];
    std::vector<uint8_t> luma(32 * 4);
    for (auto& value : luma) {
      value = static_cast<uint8_t>(std::clamp(base[0] + static_cast<int>(random() % 21) - 10, full ? 0 : 16, full ? 255 : 235));
    }
    TestFrame frame(format, 32, 4, Colorimetry(matrix, range), [&](int c, int x, int y) -> uint8_t {
      return c == 0 ? luma[y * 32 + x] : c == 1 ? u : v;
    });
    Frame out;
    Status status = ConvertToRgb(frame.frame(), &out);
    EXPECT_TRUE(status.ok()) << status.message();
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 32; ++x) {
        auto exact = ExactRgb(luma[y * 32 + x], u, v, matrix, range);
        for (int c = 0; c < 3; ++c) {
          const double got = out.pixel(x, y)[c];
          const int error = static_cast<int>(std::lround(std::abs(got - exact[c])));
          accuracy.max = std::max(accuracy.max, error);
          accuracy.over_2 += error > 2;
          accuracy.bias[c] += got - exact[c];
        }
        ++count;
      }
    }
  }
  for (double& bias : accuracy.bias) bias /= static_cast<double>(count);
  accuracy.over_2 /= 3.0 * static_cast<double>(count);
  return accuracy;
}

TEST(ConvertToRgb, YuvMatchesTheStandardEquations) {
  struct Case {
    GstVideoFormat format;
    GstVideoColorMatrix matrix;
    GstVideoColorRange range;
    const char* name;
  };
  const Case cases[] = {
      {GST_VIDEO_FORMAT_I420, GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235, "I420 BT.601 limited"},
      {GST_VIDEO_FORMAT_I420, GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_0_255, "I420 BT.601 full (JPEG)"},
      {GST_VIDEO_FORMAT_I420, GST_VIDEO_COLOR_MATRIX_BT709, GST_VIDEO_COLOR_RANGE_16_235, "I420 BT.709 limited"},
      {GST_VIDEO_FORMAT_I420, GST_VIDEO_COLOR_MATRIX_BT709, GST_VIDEO_COLOR_RANGE_0_255, "I420 BT.709 full"},
      {GST_VIDEO_FORMAT_I420, GST_VIDEO_COLOR_MATRIX_BT2020, GST_VIDEO_COLOR_RANGE_16_235, "I420 BT.2020 limited"},
      {GST_VIDEO_FORMAT_YV12, GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235, "YV12 BT.601 limited"},
      {GST_VIDEO_FORMAT_NV12, GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235, "NV12 BT.601 limited"},
      {GST_VIDEO_FORMAT_NV12, GST_VIDEO_COLOR_MATRIX_BT709, GST_VIDEO_COLOR_RANGE_16_235, "NV12 BT.709 limited"},
      {GST_VIDEO_FORMAT_NV21, GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235, "NV21 BT.601 limited"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Accuracy accuracy = Measure(c.format, c.matrix, c.range);
    std::printf("[ info ] %-24s max %d, %.2f%% over 2, bias R %+.2f G %+.2f B %+.2f\n", c.name, accuracy.max,
                100 * accuracy.over_2, accuracy.bias[0], accuracy.bias[1], accuracy.bias[2]);
    EXPECT_LE(accuracy.max, 2);
    EXPECT_LT(accuracy.over_2, 0.02);
    for (double bias : accuracy.bias) EXPECT_LT(std::abs(bias), 0.6);
  }
}

TEST(ConvertToRgb, GreyAndRgb) {
  const int width = 7, height = 5;  // odd: GStreamer pads rows to 4 bytes
  TestFrame grey(GST_VIDEO_FORMAT_GRAY8, width, height, Colorimetry(GST_VIDEO_COLOR_MATRIX_RGB, GST_VIDEO_COLOR_RANGE_0_255),
                 [](int, int x, int y) { return static_cast<uint8_t>(x * 30 + y); });
  Frame out;
  ASSERT_TRUE(ConvertToRgb(grey.frame(), &out).ok());
  ASSERT_EQ(out.rgb.size(), static_cast<size_t>(width * height * 3));
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(out.pixel(x, y)[c], x * 30 + y);
    }
  }
  TestFrame rgb(GST_VIDEO_FORMAT_RGB, width, height, Colorimetry(GST_VIDEO_COLOR_MATRIX_RGB, GST_VIDEO_COLOR_RANGE_0_255),
                [](int c, int x, int y) { return static_cast<uint8_t>(c * 80 + x * 10 + y); });
  ASSERT_TRUE(ConvertToRgb(rgb.frame(), &out).ok());
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(out.pixel(x, y)[c], c * 80 + x * 10 + y);
    }
  }
}

TEST(ConvertToRgb, OddSizedYuvAndUnsupportedFormats) {
  // 4:2:0 with odd sizes: the last chroma sample covers one column / row (checked under ASan).
  for (GstVideoFormat format : {GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_NV12}) {
    TestFrame odd(format, 9, 7, Colorimetry(GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235),
                  [](int c, int, int) -> uint8_t { return c == 0 ? 126 : 128; });
    Frame out;
    ASSERT_TRUE(ConvertToRgb(odd.frame(), &out).ok());
    ASSERT_EQ(out.width, 9);
    ASSERT_EQ(out.height, 7);
    for (uint8_t value : out.rgb) EXPECT_NEAR(value, 128, 1);  // (126 - 16) * 255 / 219 = 128.1
  }
  TestFrame yuy2(GST_VIDEO_FORMAT_YUY2, 8, 2, Colorimetry(GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235),
                 [](int, int, int) -> uint8_t { return 128; });
  Frame out;
  Status status = ConvertToRgb(yuy2.frame(), &out);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot convert YUY2"), std::string::npos) << status.message();
}

TEST(ConvertToRgb, VideoconvertIsBiasedWhichIsWhyThisExists) {
  // One solid BT.601 colour through videoconvert's I420 -> RGB, for the record (not asserted:
  // GStreamer may improve). Ours is asserted above.
  const std::string error = testing::RunPipeline(
      "videotestsrc num-buffers=1 pattern=solid-color foreground-color=0xff315146 ! "
      "video/x-raw,format=I420,width=16,height=16,colorimetry=bt601 ! videoconvert ! video/x-raw,format=RGB ! "
      "fakesink");
  ASSERT_EQ(error, "");
  TestFrame solid(GST_VIDEO_FORMAT_I420, 16, 16, Colorimetry(GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235),
                  [](int c, int, int) -> uint8_t { return c == 0 ? 76 : c == 1 ? 127 : 114; });
  Frame out;
  ASSERT_TRUE(ConvertToRgb(solid.frame(), &out).ok());
  auto exact = ExactRgb(76, 127, 114, GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235);
  std::printf("[ info ] Y76 U127 V114: exact %.1f %.1f %.1f, ours %d %d %d, videoconvert (GStreamer 1.22) 47 78 67\n",
              exact[0], exact[1], exact[2], out.pixel(0, 0)[0], out.pixel(0, 0)[1], out.pixel(0, 0)[2]);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(out.pixel(5, 5)[c], exact[c], 1.0);
}

// A picture kept in YUV (what WebRTC cameras deliver) converts any rectangle to exactly the pixels
// the whole picture's conversion has there, and touches nothing else: noise images (so chroma
// upsampling matters), every 4:2:0 layout, a range-expanded and a plain matrix, odd sizes, rectangles
// at odd positions, partly or wholly outside, empty.
TEST(YuvPicture, RegionsConvertExactlyAsTheWholePicture) {
  std::mt19937 rng(7);
  const std::pair<int, int> sizes[] = {{1, 1}, {3, 5}, {17, 9}, {64, 48}, {101, 77}, {640, 480}};
  const GstVideoColorimetry colorimetries[] = {
      Colorimetry(GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235),
      Colorimetry(GST_VIDEO_COLOR_MATRIX_BT709, GST_VIDEO_COLOR_RANGE_16_235),  // expanded to full range first
      Colorimetry(GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_0_255)};
  int rectangles = 0;
  for (GstVideoFormat format :
       {GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_YV12, GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_NV21}) {
    for (const auto& colorimetry : colorimetries) {
      for (auto [width, height] : sizes) {
        SCOPED_TRACE(std::string(gst_video_format_to_string(format)) + " " + std::to_string(width) + "x" +
                     std::to_string(height) + " matrix " + std::to_string(colorimetry.matrix));
        std::uniform_int_distribution<int> byte(0, 255);
        TestFrame picture(format, width, height, colorimetry, [&](int, int, int) { return byte(rng); });
        Frame whole;
        ASSERT_TRUE(ConvertToRgb(picture.frame(), &whole).ok());
        const auto held = HoldPicture(picture.buffer(), picture.info());
        ASSERT_EQ(held->width(), width);
        ASSERT_EQ(held->height(), height);
        const int stride = 3 * width + 5;  // rows with padding
        std::uniform_int_distribution<int> xs(-width / 2, width), ys(-height / 2, height);
        std::uniform_int_distribution<int> ws(0, width + 3), hs(0, height + 3);
        for (int i = 0; i < 12; ++i) {
          const int x = i == 0 ? 0 : xs(rng), y = i == 0 ? 0 : ys(rng);
          const int w = i == 0 ? width : ws(rng), h = i == 0 ? height : hs(rng);
          std::vector<uint8_t> rgb(static_cast<size_t>(stride) * height, 0xAB);
          ASSERT_TRUE(held->ConvertRegion(x, y, w, h, rgb.data(), stride).ok());
          ++rectangles;
          for (int row = 0; row < height; ++row) {
            for (int col = 0; col < width; ++col) {
              const bool inside = col >= x && col < x + w && row >= y && row < y + h;
              for (int c = 0; c < 3; ++c) {
                const uint8_t got = rgb[static_cast<size_t>(row) * stride + 3 * col + c];
                const uint8_t want = inside ? whole.rgb[(static_cast<size_t>(row) * width + col) * 3 + c] : 0xAB;
                ASSERT_EQ(got, want) << "pixel " << col << "," << row << " channel " << c << " of rectangle " << x
                                     << "," << y << " " << w << "x" << h << (inside ? "" : " (outside it)");
              }
            }
          }
        }
        Frame lazy;
        lazy.width = width;
        lazy.height = height;
        lazy.yuv = held;
        ASSERT_TRUE(EnsureRgb(lazy).ok());
        EXPECT_EQ(lazy.rgb, whole.rgb) << "EnsureRgb converts the whole picture";
      }
    }
  }
  EXPECT_EQ(rectangles, 4 * 3 * 6 * 12);
}

TEST(YuvPicture, TooShortRowsAreRefused) {
  TestFrame picture(GST_VIDEO_FORMAT_I420, 8, 8, Colorimetry(GST_VIDEO_COLOR_MATRIX_BT601, GST_VIDEO_COLOR_RANGE_16_235),
                    [](int, int, int) -> uint8_t { return 100; });
  const auto held = HoldPicture(picture.buffer(), picture.info());
  std::vector<uint8_t> rgb(8 * 8 * 3);
  EXPECT_FALSE(held->ConvertRegion(0, 0, 8, 8, rgb.data(), 3 * 8 - 1).ok());
  EXPECT_TRUE(held->ConvertRegion(0, 0, 8, 8, rgb.data(), 3 * 8).ok());
}

}  // namespace
}  // namespace speakup::media
