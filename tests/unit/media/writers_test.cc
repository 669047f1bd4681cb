// VideoWriter and WriteImage: round trips through the files they write, and their errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "media_test_util.h"
#include "png_reader.h"
#include "speakup/media.h"

namespace speakup::media {
namespace {

using testing::Compare;
using testing::PatternFrame;
using testing::ReadAll;
using testing::TempDir;

void RoundTrip(const std::string& extension, int width, int height, double max_mean_difference) {
  SCOPED_TRACE(extension + " " + std::to_string(width) + "x" + std::to_string(height));
  TempDir dir;
  const std::string path = dir.File("out" + extension);
  constexpr int kFrames = 24;
  std::vector<Frame> written;
  {
    auto writer = VideoWriter::Open(path, width, height, 24.0);
    ASSERT_TRUE(writer.ok()) << writer.error();
    for (int n = 0; n < kFrames; ++n) {
      written.push_back(testing::PhotoFrame(width, height, n));
      ASSERT_TRUE((*writer)->Write(written.back()).ok());
    }
    EXPECT_EQ((*writer)->frames_written(), kFrames);
    Status finished = (*writer)->Finish();
    ASSERT_TRUE(finished.ok()) << finished.message();
    EXPECT_TRUE((*writer)->Finish().ok());  // idempotent
  }
  auto source = FrameSource::OpenFile(path);
  ASSERT_TRUE(source.ok()) << source.error();
  ASSERT_TRUE((*source)->frame_rate().has_value());
  EXPECT_NEAR(*(*source)->frame_rate(), 24.0, 1e-6);
  std::vector<Frame> read = ReadAll(**source);
  ASSERT_EQ(read.size(), written.size());
  double worst_mean = 0;
  for (size_t i = 0; i < read.size(); ++i) {
    // Odd sizes were coded one pixel larger for H.264: compare the shared area.
    ASSERT_GE(read[i].width, width);
    ASSERT_GE(read[i].height, height);
    ASSERT_LE(read[i].width, width + 1);
    ASSERT_LE(read[i].height, height + 1);
    EXPECT_NEAR(read[i].timestamp_ms, i * 1000.0 / 24.0, 0.5);
    Frame decoded = read[i];
    if (decoded.width != width || decoded.height != height) {
      // Scaled by a pixel: compare the common area (content moved by at most half a pixel).
      Frame common(width, height);
      for (int y = 0; y < height; ++y) std::copy(decoded.pixel(0, y), decoded.pixel(0, y) + 3 * width, common.pixel(0, y));
      decoded = std::move(common);
    }
    testing::Difference difference = Compare(decoded.rgb, written[i].rgb);
    EXPECT_LT(difference.mean, max_mean_difference) << "frame " << i;
    worst_mean = std::max(worst_mean, difference.mean);
  }
  std::printf("[ info ] %s %dx%d round trip: worst frame's mean difference %.2f levels\n", extension.c_str(), width,
              height, worst_mean);
}

TEST(VideoWriter, Mp4RoundTrip) { RoundTrip(".mp4", 320, 240, 2.5); }
TEST(VideoWriter, MkvRoundTrip) { RoundTrip(".mkv", 320, 240, 2.5); }
TEST(VideoWriter, WebmRoundTrip) { RoundTrip(".webm", 320, 240, 4.0); }
TEST(VideoWriter, OddSizeIsCodedEven) { RoundTrip(".mp4", 161, 121, 6.0); }

TEST(VideoWriter, DestructorFinishesTheFile) {
  TempDir dir;
  const std::string path = dir.File("auto.mp4");
  {
    auto writer = VideoWriter::Open(path, 128, 96, 10);
    ASSERT_TRUE(writer.ok()) << writer.error();
    for (int n = 0; n < 5; ++n) ASSERT_TRUE((*writer)->Write(PatternFrame(128, 96, n)).ok());
  }
  auto source = FrameSource::OpenFile(path);
  ASSERT_TRUE(source.ok()) << source.error();
  EXPECT_EQ(ReadAll(**source).size(), 5u);
}

TEST(VideoWriter, Errors) {
  TempDir dir;
  auto bad_extension = VideoWriter::Open(dir.File("out.avi"), 64, 64, 30);
  ASSERT_FALSE(bad_extension.ok());
  EXPECT_NE(bad_extension.error().find("unknown video extension '.avi'"), std::string::npos) << bad_extension.error();

  auto bad_size = VideoWriter::Open(dir.File("out.mp4"), 0, 64, 30);
  ASSERT_FALSE(bad_size.ok());
  EXPECT_NE(bad_size.error().find("bad frame size 0x64"), std::string::npos);

  auto bad_rate = VideoWriter::Open(dir.File("out.mp4"), 64, 64, 0);
  ASSERT_FALSE(bad_rate.ok());
  EXPECT_NE(bad_rate.error().find("bad frame rate"), std::string::npos);

  auto no_directory = VideoWriter::Open(dir.File("missing/out.mp4"), 64, 64, 30);
  ASSERT_FALSE(no_directory.ok());
  EXPECT_EQ(no_directory.error(), "cannot write '" + dir.File("missing/out.mp4") + "': No such file or directory");

  auto writer = VideoWriter::Open(dir.File("out.mp4"), 64, 64, 30);
  ASSERT_TRUE(writer.ok()) << writer.error();
  Status wrong_size = (*writer)->Write(Frame(32, 32));
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_NE(wrong_size.message().find("the frame is 32x32 but this output was opened for 64x64"), std::string::npos)
      << wrong_size.message();
  Frame short_frame(64, 64);
  short_frame.rgb.resize(100);
  EXPECT_FALSE((*writer)->Write(short_frame).ok());
  // Nothing written: finishing says so.
  Status empty = (*writer)->Finish();
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.message().find("no frames were written"), std::string::npos) << empty.message();
  Status after = (*writer)->Write(Frame(64, 64));
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.message().find("already finished"), std::string::npos);
}

TEST(WriteImage, PngRoundTripIsExact) {
  TempDir dir;
  for (int width : {64, 65, 67}) {  // odd widths: padded rows inside GStreamer
    Frame frame = PatternFrame(width, 37, 3);
    const std::string path = dir.File("frame" + std::to_string(width) + ".png");
    Status written = WriteImage(path, frame);
    ASSERT_TRUE(written.ok()) << written.message();
    auto png = speakup::testing::ReadPng(path);
    ASSERT_TRUE(png.ok()) << png.error();
    EXPECT_EQ(png->width, width);
    EXPECT_EQ(png->height, 37);
    EXPECT_EQ(png->pixels, frame.rgb);
    auto source = FrameSource::OpenFile(path);
    ASSERT_TRUE(source.ok()) << source.error();
    auto read = (*source)->Next();
    ASSERT_TRUE(read.ok() && read->has_value());
    EXPECT_EQ((*read)->rgb, frame.rgb);
  }
}

TEST(WriteImage, JpegRoundTripIsClose) {
  TempDir dir;
  Frame frame = PatternFrame(160, 120, 5);
  for (const char* name : {"frame.jpg", "frame.JPEG"}) {
    const std::string path = dir.File(name);
    Status written = WriteImage(path, frame);
    ASSERT_TRUE(written.ok()) << written.message();
    auto source = FrameSource::OpenFile(path);
    ASSERT_TRUE(source.ok()) << source.error();
    auto read = (*source)->Next();
    ASSERT_TRUE(read.ok() && read->has_value());
    ASSERT_EQ((*read)->width, 160);
    ASSERT_EQ((*read)->height, 120);
    testing::Difference difference = Compare((*read)->rgb, frame.rgb);
    EXPECT_LT(difference.mean, 2.5) << name;
  }
}

TEST(WriteImage, Errors) {
  TempDir dir;
  Status bmp = WriteImage(dir.File("x.bmp"), Frame(4, 4));
  ASSERT_FALSE(bmp.ok());
  EXPECT_NE(bmp.message().find("unknown image extension '.bmp'"), std::string::npos);
  Status empty = WriteImage(dir.File("x.png"), Frame());
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.message().find("the frame is empty"), std::string::npos);
  Status nowhere = WriteImage(dir.File("no/such/dir/x.png"), Frame(4, 4));
  ASSERT_FALSE(nowhere.ok());
  EXPECT_EQ(nowhere.message(), "cannot write '" + dir.File("no/such/dir/x.png") + "': No such file or directory");
}

}  // namespace
}  // namespace speakup::media
