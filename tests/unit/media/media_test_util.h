// Helpers for the media tests: a temporary directory, pipelines run from a gst-launch description,
// and image comparisons.
#pragma once

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "speakup/media/gst_handles.h"
#include "jpeg_reader.h"
#include "speakup/media/gst_util.h"
#include "speakup/media.h"

namespace speakup::media::testing {

inline std::string FacesDir() { return std::string(SPEAKUP_TEST_DATA_DIR) + "/faces"; }

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "speakup-media-XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    char* made = mkdtemp(buffer.data());
    EXPECT_NE(made, nullptr);
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs a gst-launch style pipeline until EOS; returns the error text, or "" on success.
inline std::string RunPipeline(const std::string& description) {
  Status init = EnsureGstInitialized();
  if (!init.ok()) return init.message();
  GError* raw_error = nullptr;
  PipelinePtr pipeline(gst_parse_launch(description.c_str(), &raw_error));
  GErrorPtr error(raw_error);
  if (!pipeline) return std::string("cannot parse pipeline: ") + (error ? error->message : "?");
  if (error) return std::string("pipeline: ") + error->message;
  Status started = StartPipeline(pipeline.get(), "test pipeline");
  if (!started.ok()) return started.message();
  Status done = WaitForEos(pipeline.get(), 120 * GST_SECOND, "test pipeline");
  return done.ok() ? "" : done.message();
}

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Difference {
  int max = 0;
  double mean = 0;
};
inline Difference Compare(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  Difference result;
  if (a.size() != b.size() || a.empty()) return {256, 256};
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    int d = std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
    result.max = std::max(result.max, d);
    sum += d;
  }
  result.mean = sum / static_cast<double>(a.size());
  return result;
}

// A frame with a smooth, moving pattern that survives lossy encoding well: gradients plus a disc.
inline Frame PatternFrame(int width, int height, int n) {
  Frame frame(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = frame.pixel(x, y);
      p[0] = static_cast<uint8_t>(x * 255 / std::max(1, width - 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max(1, height - 1));
      p[2] = static_cast<uint8_t>((n * 8) & 0xFF);
    }
  }
  DrawPoint(frame, 20.0f + 4.0f * n, height / 2.0f, std::min(width, height) / 8.0f, {255, 255, 255});
  return frame;
}

// A crop of a real photograph (frontal_jesper.jpg, 640x426), shifted by n pixels per frame, with a
// moving disc drawn on it: content like what SpeakUp encodes. width <= 560, height <= 346.
inline Frame PhotoFrame(int width, int height, int n) {
  static const std::vector<uint8_t> photo = [] {
    auto image = speakup::testing::ReadJpeg(FacesDir() + "/frontal_jesper.jpg");
    EXPECT_TRUE(image.ok());
    EXPECT_EQ(image.ok() ? image->width : 0, 640);
    return image.ok() ? image->pixels : std::vector<uint8_t>(640 * 426 * 3, 128);
  }();
  Frame frame(width, height);
  const int dx = (2 * n) % 80, dy = n % 80;
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = photo.data() + (static_cast<size_t>(y + dy) * 640 + dx) * 3;
    std::copy(row, row + 3 * width, frame.pixel(0, y));
  }
  DrawPoint(frame, 20.0f + 4.0f * n, height / 2.0f, std::min(width, height) / 10.0f, {250, 240, 40});
  return frame;
}

// Mean of each channel.
inline std::array<double, 3> MeanColour(const Frame& frame) {
  std::array<double, 3> sum{0, 0, 0};
  for (size_t i = 0; i < frame.rgb.size(); ++i) sum[i % 3] += frame.rgb[i];
  const double count = static_cast<double>(frame.rgb.size() / 3);
  return {sum[0] / count, sum[1] / count, sum[2] / count};
}

// Reads every frame; fails the test on an error.
inline std::vector<Frame> ReadAll(FrameSource& source) {
  std::vector<Frame> frames;
  while (true) {
    auto next = source.Next();
    EXPECT_TRUE(next.ok()) << (next.ok() ? "" : next.error());
    if (!next.ok() || !*next) break;
    frames.push_back(std::move(**next));
  }
  return frames;
}

}  // namespace speakup::media::testing
