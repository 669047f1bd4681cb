// FrameSource: every test image, videos made on the spot, options, and inputs that must fail
// with a clear message.
#include <gst/app/gstappsink.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "jpeg_decoder.h"
#include "jpeg_reader.h"
#include "media_test_util.h"
#include "png_reader.h"
#include "speakup/media.h"

namespace speakup::media {
namespace {

using testing::Compare;
using testing::FacesDir;
using testing::ReadAll;
using testing::RunPipeline;
using testing::TempDir;

std::vector<std::string> FaceImages() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(FacesDir())) {
    std::string extension = entry.path().extension().string();
    if (extension == ".png" || extension == ".jpg") names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Frame OnlyFrame(const std::string& path, const SourceOptions& options = {}) {
  auto source = FrameSource::OpenFile(path, options);
  EXPECT_TRUE(source.ok()) << (source.ok() ? "" : source.error());
  if (!source.ok()) return {};
  EXPECT_TRUE((*source)->is_still_image()) << path;
  EXPECT_FALSE((*source)->frame_rate().has_value());
  EXPECT_FALSE((*source)->duration_ms().has_value());
  std::vector<Frame> frames = ReadAll(**source);
  EXPECT_EQ(frames.size(), 1u) << path;
  return frames.empty() ? Frame() : std::move(frames[0]);
}

// ---- images ----

TEST(FrameSourceImages, EveryTestImageDecodesToTheReferencePixels) {
  std::vector<std::string> names = FaceImages();
  ASSERT_GE(names.size(), 13u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const std::string path = FacesDir() + "/" + name;
    auto reference = speakup::testing::ReadImage(path);  // libpng / libjpeg-turbo, as browsers decode
    ASSERT_TRUE(reference.ok()) << reference.error();
    Frame frame = OnlyFrame(path);
    EXPECT_EQ(frame.width, reference->width);
    EXPECT_EQ(frame.height, reference->height);
    EXPECT_EQ(frame.index, 0);
    // Byte for byte: PNGs through GStreamer (pngdec; grey PNGs via videoconvert), JPEGs through
    // libjpeg-turbo with the browsers' settings.
    testing::Difference difference = Compare(frame.rgb, reference->pixels);
    EXPECT_EQ(difference.max, 0) << "mean " << difference.mean;
  }
}

TEST(FrameSourceImages, GStreamerJpegPathIsWithinAFewLevels) {
  // exact_jpeg = false: jpegdec (ISLOW) to I420, then libyuv with bilinear chroma upsampling. Not
  // byte-exact (libjpeg's "fancy" upsampling differs at the edges, rounding differs), but close.
  for (const char* name : {"frontal_jesper.jpg", "grace_hopper_glasses.jpg", "group_bar.jpg"}) {
    SCOPED_TRACE(name);
    const std::string path = FacesDir() + "/" + name;
    auto reference = speakup::testing::ReadJpeg(path);
    ASSERT_TRUE(reference.ok()) << reference.error();
    SourceOptions options;
    options.exact_jpeg = false;
    Frame frame = OnlyFrame(path, options);
    ASSERT_EQ(frame.width, reference->width);
    ASSERT_EQ(frame.height, reference->height);
    testing::Difference difference = Compare(frame.rgb, reference->pixels);
    EXPECT_LT(difference.mean, 0.25);
    EXPECT_LE(difference.max, 4);
    std::printf("[ info ] %s via GStreamer jpegdec + libyuv: max %d, mean %.3f levels from libjpeg-turbo\n", name,
                difference.max, difference.mean);
  }
}

TEST(FrameSourceImages, OddWidthRowsAreUnpadded) {
  // 451 x 3 = 1353 bytes per row; GStreamer pads RGB rows to 1356.
  const std::string path = FacesDir() + "/cat_noface.png";
  auto reference = speakup::testing::ReadPng(path);
  ASSERT_TRUE(reference.ok());
  Frame frame = OnlyFrame(path);
  ASSERT_EQ(frame.width, 451);
  ASSERT_EQ(frame.rgb.size(), 451u * 300u * 3u);
  for (int y : {0, 1, 150, 299}) {
    for (int x : {0, 1, 225, 450}) {
      const uint8_t* expected = &reference->pixels[(static_cast<size_t>(y) * 451 + x) * 3];
      EXPECT_EQ(frame.pixel(x, y)[0], expected[0]) << x << "," << y;
      EXPECT_EQ(frame.pixel(x, y)[1], expected[1]) << x << "," << y;
      EXPECT_EQ(frame.pixel(x, y)[2], expected[2]) << x << "," << y;
    }
  }
}

TEST(FrameSourceImages, MaxWidthDownscalesKeepingAspect) {
  SourceOptions options;
  options.max_width = 200;
  for (const char* name : {"cat_noface.png", "frontal_jesper.jpg"}) {
    SCOPED_TRACE(name);
    const std::string path = FacesDir() + "/" + name;
    auto reference = speakup::testing::ReadImage(path);
    ASSERT_TRUE(reference.ok());
    auto source = FrameSource::OpenFile(path, options);
    ASSERT_TRUE(source.ok()) << source.error();
    EXPECT_EQ((*source)->width(), 200);
    Frame frame = OnlyFrame(path, options);
    EXPECT_EQ(frame.width, 200);
    const double expected_height = 200.0 * reference->height / reference->width;
    EXPECT_NEAR(frame.height, expected_height, 1.0);
    // Same picture, smaller: the mean colour hardly moves.
    Frame full(reference->width, reference->height);
    full.rgb = reference->pixels;
    auto mean_full = testing::MeanColour(full), mean_small = testing::MeanColour(frame);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(mean_small[c], mean_full[c], 2.0);
  }
  // Small images are never upscaled.
  options.max_width = 4000;
  options.max_height = 4000;
  Frame frame = OnlyFrame(FacesDir() + "/crop_face_astronaut.png", options);
  EXPECT_EQ(frame.width, 160);
  EXPECT_EQ(frame.height, 160);
  // A height limit alone.
  SourceOptions tall;
  tall.max_height = 100;
  frame = OnlyFrame(FacesDir() + "/astronaut.png", tall);
  EXPECT_EQ(frame.width, 100);
  EXPECT_EQ(frame.height, 100);
}

TEST(FrameSourceImages, ExifOrientationIsAppliedOnBothPaths) {
  TempDir dir;
  // A 64x32 colour-bar picture stored with EXIF orientation 6 ("rotate 90 degrees clockwise to
  // display"): it must come out 32x64, the stored left column becoming the top row.
  const std::string path = dir.File("rotated.jpg");
  std::string error = RunPipeline(
      "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width=64,height=32 ! videoconvert ! "
      "jpegenc quality=95 ! taginject tags=\"image-orientation=rotate-90\" ! jifmux ! filesink location=" + path);
  ASSERT_EQ(error, "");
  auto stored = speakup::testing::ReadJpeg(path);
  ASSERT_TRUE(stored.ok()) << stored.error();
  ASSERT_EQ(stored->width, 64);
  ASSERT_EQ(stored->height, 32);
  {
    auto bytes = testing::ReadBytes(path);
    JpegHeader header;
    ASSERT_EQ(ReadJpegHeader(bytes, &header).failure, JpegFailure::kNone);
    ASSERT_EQ(header.orientation, 6) << "jifmux wrote no EXIF orientation";
  }
  for (bool exact : {true, false}) {
    SCOPED_TRACE(exact ? "libjpeg path" : "GStreamer path");
    SourceOptions options;
    options.exact_jpeg = exact;
    Frame frame = OnlyFrame(path, options);
    ASSERT_EQ(frame.width, 32);
    ASSERT_EQ(frame.height, 64);
    // Rotating clockwise brings the stored left column to the top row: stored (x, y) -> (31 - y, x).
    for (auto [sx, sy] : {std::pair{4, 4}, std::pair{60, 4}, std::pair{4, 28}, std::pair{60, 28}}) {
      const uint8_t* want = &stored->pixels[(static_cast<size_t>(sy) * 64 + sx) * 3];
      const uint8_t* got = frame.pixel(31 - sy, sx);
      for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[c], want[c], 12) << sx << "," << sy << " channel " << c;
    }
  }
}

TEST(FrameSourceImages, ExifOrientationTransformsMatchTheirDefinitions) {
  Frame stored(3, 2);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 3; ++x) stored.pixel(x, y)[0] = static_cast<uint8_t>(10 * y + x);
  }
  // Expected top rows of the displayed image (as "pixel values" 10*y+x of the stored image).
  struct Case {
    int orientation, width, height;
    std::vector<int> values;  // displayed image, row by row
  };
  const Case cases[] = {
      {1, 3, 2, {0, 1, 2, 10, 11, 12}},  {2, 3, 2, {2, 1, 0, 12, 11, 10}},
      {3, 3, 2, {12, 11, 10, 2, 1, 0}},  {4, 3, 2, {10, 11, 12, 0, 1, 2}},
      {5, 2, 3, {0, 10, 1, 11, 2, 12}},  {6, 2, 3, {10, 0, 11, 1, 12, 2}},
      {7, 2, 3, {12, 2, 11, 1, 10, 0}},  {8, 2, 3, {2, 12, 1, 11, 0, 10}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.orientation);
    Frame out = ApplyExifOrientation(stored, c.orientation);
    ASSERT_EQ(out.width, c.width);
    ASSERT_EQ(out.height, c.height);
    for (int i = 0; i < c.width * c.height; ++i) EXPECT_EQ(out.rgb[i * 3], c.values[i]) << i;
  }
}

// ---- videos ----

TEST(FrameSourceVideo, ReadsEveryFrameWithTimestamps) {
  TempDir dir;
  const std::string path = dir.File("test.mp4");
  ASSERT_EQ(RunPipeline("videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
                        "x264enc ! mp4mux ! filesink location=" + path),
            "");
  auto source = FrameSource::OpenFile(path);
  ASSERT_TRUE(source.ok()) << source.error();
  EXPECT_FALSE((*source)->is_still_image());
  EXPECT_FALSE((*source)->is_camera());
  EXPECT_EQ((*source)->width(), 320);
  EXPECT_EQ((*source)->height(), 240);
  ASSERT_TRUE((*source)->frame_rate().has_value());
  EXPECT_NEAR(*(*source)->frame_rate(), 30.0, 1e-6);
  ASSERT_TRUE((*source)->duration_ms().has_value());
  EXPECT_NEAR(*(*source)->duration_ms(), 1000.0, 1.0);
  std::vector<Frame> frames = ReadAll(**source);
  ASSERT_EQ(frames.size(), 30u);
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(frames[i].width, 320);
    EXPECT_EQ(frames[i].height, 240);
    EXPECT_EQ(frames[i].rgb.size(), 320u * 240u * 3u);
    EXPECT_NEAR(frames[i].timestamp_ms, i * 1000.0 / 30.0, 0.5) << i;
  }
  // After the end: more end.
  auto again = (*source)->Next();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
}

TEST(FrameSourceVideo, VideoWithAudioAndScaling) {
  TempDir dir;
  const std::string path = dir.File("av.mkv");
  ASSERT_EQ(RunPipeline("matroskamux name=mux ! filesink location=" + path +
                        " videotestsrc num-buffers=20 ! video/x-raw,width=640,height=360,framerate=20/1 ! "
                        "x264enc ! mux. audiotestsrc num-buffers=50 ! audioconvert ! opusenc ! mux."),
            "");
  SourceOptions options;
  options.max_width = 320;
  auto source = FrameSource::OpenFile(path, options);
  ASSERT_TRUE(source.ok()) << source.error();
  std::vector<Frame> frames = ReadAll(**source);
  ASSERT_EQ(frames.size(), 20u);
  EXPECT_EQ(frames[0].width, 320);
  EXPECT_EQ(frames[0].height, 180);
  EXPECT_NEAR(frames[19].timestamp_ms, 950.0, 0.5);
}

TEST(FrameSourceVideo, RotationMatrixOfAnMp4IsApplied) {
  // Phones record sideways and store a rotation matrix in the track header (tkhd). Write a plain
  // MP4, then set its matrix to a 90-degree rotation as a phone would.
  TempDir dir;
  const std::string path = dir.File("rotated.mp4");
  ASSERT_EQ(RunPipeline("videotestsrc num-buffers=5 ! video/x-raw,width=160,height=96,framerate=10/1 ! "
                        "x264enc ! mp4mux ! filesink location=" + path),
            "");
  std::vector<uint8_t> bytes = testing::ReadBytes(path);
  const std::string tkhd = "tkhd";
  auto at = std::search(bytes.begin(), bytes.end(), tkhd.begin(), tkhd.end());
  ASSERT_NE(at, bytes.end());
  // Version 0 tkhd: the 3x3 matrix (big-endian 16.16 / 2.30) starts 40 bytes after the type.
  size_t matrix = static_cast<size_t>(at - bytes.begin()) + 4 + 40;
  ASSERT_LE(matrix + 36, bytes.size());
  const uint32_t rotate90[9] = {0, 0x10000, 0, 0xFFFF0000u, 0, 0, 0, 0, 0x40000000};
  for (int i = 0; i < 9; ++i) {
    for (int b = 0; b < 4; ++b) bytes[matrix + 4 * i + b] = static_cast<uint8_t>(rotate90[i] >> (24 - 8 * b));
  }
  testing::WriteBytes(path, bytes);

  auto source = FrameSource::OpenFile(path);
  ASSERT_TRUE(source.ok()) << source.error();
  EXPECT_EQ((*source)->width(), 96);
  EXPECT_EQ((*source)->height(), 160);
  std::vector<Frame> frames = ReadAll(**source);
  ASSERT_EQ(frames.size(), 5u);
  for (const Frame& frame : frames) {
    EXPECT_EQ(frame.width, 96);
    EXPECT_EQ(frame.height, 160);
  }
}

TEST(FrameSourceVideo, StillImageThroughGStreamerEndsAfterOneFrame) {
  SourceOptions options;
  options.exact_jpeg = false;
  auto source = FrameSource::OpenFile(FacesDir() + "/pair_bar.jpg", options);
  ASSERT_TRUE(source.ok()) << source.error();
  EXPECT_TRUE((*source)->is_still_image());
  EXPECT_EQ(ReadAll(**source).size(), 1u);
}

TEST(FrameSourceVideo, MovesKeepWorking) {
  auto opened = FrameSource::OpenFile(FacesDir() + "/astronaut.png");
  ASSERT_TRUE(opened.ok());
  FrameSource moved(std::move(**opened));
  opened->reset();
  auto frame = moved.Next();
  ASSERT_TRUE(frame.ok());
  ASSERT_TRUE(frame->has_value());
  EXPECT_EQ((*frame)->width, 512);
}

// ---- inputs that fail ----

TEST(FrameSourceErrors, MissingFile) {
  auto source = FrameSource::OpenFile("/nonexistent/face.jpg");
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.error(), "cannot read '/nonexistent/face.jpg': No such file or directory");
}

TEST(FrameSourceErrors, Directory) {
  auto source = FrameSource::OpenFile(FacesDir());
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.error().find("it is a directory"), std::string::npos) << source.error();
}

TEST(FrameSourceErrors, EmptyFile) {
  TempDir dir;
  testing::WriteBytes(dir.File("empty.png"), {});
  auto source = FrameSource::OpenFile(dir.File("empty.png"));
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.error().find("is empty"), std::string::npos) << source.error();
}

TEST(FrameSourceErrors, TextFileNamedJpg) {
  TempDir dir;
  const std::string text = "this is a text file, not a picture\n";
  testing::WriteBytes(dir.File("notes.jpg"), std::vector<uint8_t>(text.begin(), text.end()));
  auto source = FrameSource::OpenFile(dir.File("notes.jpg"));
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.error(), "'" + dir.File("notes.jpg") + "' is not an image or video GStreamer can decode "
                            "(unknown file format)");
}

TEST(FrameSourceErrors, TruncatedPng) {
  TempDir dir;
  std::vector<uint8_t> bytes = testing::ReadBytes(FacesDir() + "/astronaut.png");
  bytes.resize(20000);
  testing::WriteBytes(dir.File("cut.png"), bytes);
  auto source = FrameSource::OpenFile(dir.File("cut.png"));
  ASSERT_FALSE(source.ok()) << "a truncated PNG opened";
  EXPECT_NE(source.error().find("cannot decode '" + dir.File("cut.png") + "'"), std::string::npos) << source.error();
  EXPECT_NE(source.error().find("truncated or damaged"), std::string::npos) << source.error();
  std::printf("[ info ] truncated PNG: %s\n", source.error().c_str());
}

TEST(FrameSourceErrors, TruncatedJpeg) {
  TempDir dir;
  std::vector<uint8_t> bytes = testing::ReadBytes(FacesDir() + "/frontal_jesper.jpg");
  bytes.resize(bytes.size() / 2);
  testing::WriteBytes(dir.File("cut.jpg"), bytes);
  auto source = FrameSource::OpenFile(dir.File("cut.jpg"));
  ASSERT_FALSE(source.ok()) << "a truncated JPEG opened";
  EXPECT_EQ(source.error(), "'" + dir.File("cut.jpg") + "' is a truncated or damaged JPEG (Premature end of JPEG file)");
  // GStreamer's jpegdec, for the record, decodes what is there and fills the rest without a word.
  SourceOptions options;
  options.exact_jpeg = false;
  auto lenient = FrameSource::OpenFile(dir.File("cut.jpg"), options);
  if (lenient.ok()) {
    auto frame = (*lenient)->Next();
    std::printf("[ info ] truncated JPEG via GStreamer: %s\n",
                frame.ok() ? (*frame ? "decodes (partly grey)" : "no frame") : frame.error().c_str());
  } else {
    std::printf("[ info ] truncated JPEG via GStreamer: %s\n", lenient.error().c_str());
  }
}

TEST(FrameSourceErrors, TruncatedMp4WithIndexAtTheEnd) {
  // mp4mux writes the index (moov) last: cut the file and nothing is playable. Found at open.
  TempDir dir;
  const std::string path = dir.File("full.mp4");
  ASSERT_EQ(RunPipeline("videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
                        "x264enc ! mp4mux ! filesink location=" + path),
            "");
  std::vector<uint8_t> bytes = testing::ReadBytes(path);
  bytes.resize(bytes.size() / 2);
  testing::WriteBytes(dir.File("cut.mp4"), bytes);
  auto source = FrameSource::OpenFile(dir.File("cut.mp4"));
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.error().find("cannot decode '" + dir.File("cut.mp4") + "'"), std::string::npos) << source.error();
  EXPECT_NE(source.error().find("truncated or damaged"), std::string::npos) << source.error();
  std::printf("[ info ] truncated MP4 (moov last): %s\n", source.error().c_str());
}

TEST(FrameSourceErrors, TruncatedMp4WithIndexFirstEndsEarly) {
  // With the index first (faststart), a cut file opens and plays until the data ends: fewer frames,
  // no error (GStreamer's qtdemux just reaches the end).
  TempDir dir;
  const std::string path = dir.File("full.mp4");
  ASSERT_EQ(RunPipeline("videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
                        "x264enc key-int-max=10 ! mp4mux faststart=true ! filesink location=" + path),
            "");
  std::vector<uint8_t> bytes = testing::ReadBytes(path);
  bytes.resize(bytes.size() / 2);
  testing::WriteBytes(dir.File("cut.mp4"), bytes);
  auto source = FrameSource::OpenFile(dir.File("cut.mp4"));
  ASSERT_TRUE(source.ok()) << source.error();
  size_t count = 0;
  while (true) {
    auto frame = (*source)->Next();
    if (!frame.ok()) {
      std::printf("[ info ] truncated faststart MP4: error after %zu frames: %s\n", count, frame.error().c_str());
      break;
    }
    if (!*frame) break;
    ++count;
  }
  EXPECT_GT(count, 0u);
  EXPECT_LT(count, 60u);
  std::printf("[ info ] truncated faststart MP4: %zu of 60 frames\n", count);
}

TEST(FrameSourceErrors, DecoderErrorInTheMiddleIsAnErrorFromNext) {
  // An MJPEG Matroska file whose frames from the 10th on are garbage (a pad probe overwrites them
  // before muxing). jpegdec skips undecodable frames, as players do; past max_decode_errors of them
  // Next() fails, after the good frames.
  TempDir dir;
  const std::string path = dir.File("broken.mkv");
  ASSERT_TRUE(EnsureGstInitialized().ok());
  GError* raw_error = nullptr;
  PipelinePtr pipeline(gst_parse_launch(
      ("videotestsrc num-buffers=60 ! video/x-raw,width=160,height=120,framerate=30/1 ! jpegenc ! "
       "identity name=breaker ! matroskamux ! filesink location=" + path).c_str(),
      &raw_error));
  GErrorPtr error(raw_error);
  ASSERT_TRUE(pipeline) << (error ? error->message : "");
  ElementPtr breaker(gst_bin_get_by_name(GST_BIN(pipeline.get()), "breaker"));
  PadPtr pad(gst_element_get_static_pad(breaker.get(), "src"));
  static int frame_count;
  frame_count = 0;
  gst_pad_add_probe(
      pad.get(), GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo* info, gpointer) -> GstPadProbeReturn {
        if (frame_count++ < 10) return GST_PAD_PROBE_OK;
        GstBuffer* buffer = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
        GstMapInfo map;
        if (gst_buffer_map(buffer, &map, GST_MAP_WRITE)) {
          // Keep the start-of-image marker and the first segment header; garble everything after.
          for (gsize i = 20; i + 2 < map.size; ++i) map.data[i] = static_cast<guint8>(i * 37 + 11);
          gst_buffer_unmap(buffer, &map);
        }
        GST_PAD_PROBE_INFO_DATA(info) = buffer;
        return GST_PAD_PROBE_OK;
      },
      nullptr, nullptr);
  ASSERT_TRUE(StartPipeline(pipeline.get(), "broken.mkv").ok());
  ASSERT_TRUE(WaitForEos(pipeline.get(), 60 * GST_SECOND, "broken.mkv").ok());
  pipeline.reset();

  auto source = FrameSource::OpenFile(path);
  ASSERT_TRUE(source.ok()) << source.error();
  size_t good = 0;
  std::string failure;
  while (true) {
    auto frame = (*source)->Next();
    if (!frame.ok()) {
      failure = frame.error();
      break;
    }
    if (!*frame) break;
    ++good;
  }
  std::printf("[ info ] MJPEG broken from frame 10: %zu frames, then: %s\n", good,
              failure.empty() ? "(end of stream)" : failure.c_str());
  EXPECT_GE(good, 10u);
  ASSERT_FALSE(failure.empty()) << "a stream of broken frames ended without an error";
  EXPECT_NE(failure.find("cannot decode '" + path + "'"), std::string::npos) << failure;
  // Errors are sticky.
  auto again = (*source)->Next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error(), failure);

  // max_decode_errors = -1: the broken frames are skipped silently, as players do.
  SourceOptions lenient;
  lenient.max_decode_errors = -1;
  auto skipping = FrameSource::OpenFile(path, lenient);
  ASSERT_TRUE(skipping.ok()) << skipping.error();
  EXPECT_EQ(ReadAll(**skipping).size(), 10u);
}

TEST(FrameSourceErrors, AudioOnlyFile) {
  TempDir dir;
  const std::string path = dir.File("sound.wav");
  ASSERT_EQ(RunPipeline("audiotestsrc num-buffers=20 ! audioconvert ! wavenc ! filesink location=" + path), "");
  auto source = FrameSource::OpenFile(path);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.error(), "'" + path + "' has no video stream (it is audio/x-wav)");
}

TEST(FrameSourceErrors, MissingCamera) {
  auto source = FrameSource::OpenCamera("/dev/video99");
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.error(), "no camera at /dev/video99 (ls /dev/video* lists the cameras)");
}

TEST(FrameSourceErrors, NotACamera) {
  auto regular = FrameSource::OpenCamera(FacesDir() + "/astronaut.png");
  ASSERT_FALSE(regular.ok());
  EXPECT_NE(regular.error().find("is not a camera"), std::string::npos) << regular.error();
  SourceOptions options;
  options.timeout_ms = 3000;
  auto null_device = FrameSource::OpenCamera("/dev/null", options);
  ASSERT_FALSE(null_device.ok());
  EXPECT_NE(null_device.error().find("/dev/null is not a camera"), std::string::npos) << null_device.error();
}

}  // namespace
}  // namespace speakup::media
