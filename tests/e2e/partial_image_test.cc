// The pipeline reads only what it prepares: run over real videos with an image source whose pixels are
// garbage until prepared (as a camera frame still in YUV is until converted), every result must be
// bit for bit what the whole RGB frame gives, for both landmark models, while tracking prepares only a
// small part of each frame. With media's exact region conversion (YuvPicture tests) this is why the
// server may convert only the face's crop without changing a single landmark.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "speakup/annotate.h"
#include "speakup/face.h"
#include "speakup/media.h"

namespace speakup {
namespace {

// A copy of `frame` that holds 0x5A everywhere until Prepare copies a rectangle in; counts the area.
class PartialImage final : public face::ImageSource {
 public:
  explicit PartialImage(const media::Frame& frame)
      : frame_(frame), pixels_(frame.rgb.size(), 0x5A) {}
  face::ImageView view() const override { return {pixels_.data(), frame_.width, frame_.height, 3 * frame_.width}; }
  Status Prepare(int x, int y, int w, int h) override {
    const int x0 = std::clamp(x, 0, frame_.width), x1 = std::clamp(x + w, x0, frame_.width);
    const int y0 = std::clamp(y, 0, frame_.height), y1 = std::clamp(y + h, y0, frame_.height);
    for (int row = y0; row < y1; ++row) {
      const size_t offset = (static_cast<size_t>(row) * frame_.width + x0) * 3;
      std::memcpy(pixels_.data() + offset, frame_.rgb.data() + offset, 3 * static_cast<size_t>(x1 - x0));
    }
    prepared_pixels_ += static_cast<double>(x1 - x0) * (y1 - y0);
    return Status::Ok();
  }
  double prepared_pixels() const { return prepared_pixels_; }

 private:
  const media::Frame& frame_;
  std::vector<uint8_t> pixels_;
  double prepared_pixels_ = 0;
};

void ExpectSameFaces(const face::FaceResult& a, const face::FaceResult& b, int64_t frame) {
  ASSERT_EQ(a.faces.size(), b.faces.size()) << "frame " << frame;
  for (size_t i = 0; i < a.faces.size(); ++i) {
    const face::Face& fa = a.faces[i];
    const face::Face& fb = b.faces[i];
    EXPECT_EQ(fa.id, fb.id);
    ASSERT_EQ(fa.landmarks.size(), fb.landmarks.size());
    EXPECT_EQ(0, std::memcmp(fa.landmarks.data(), fb.landmarks.data(), fa.landmarks.size() * sizeof(fa.landmarks[0])))
        << "frame " << frame << " face " << i << ": landmarks differ";
    EXPECT_EQ(fa.blendshapes, fb.blendshapes) << "frame " << frame;
    EXPECT_EQ(fa.pose, fb.pose) << "frame " << frame;
  }
}

struct Case {
  const char* video;
  face::LandmarkModel model;
  int max_faces;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.video << (c.model == face::LandmarkModel::kMesh ? " mesh" : " landmarker") << " max_faces " << c.max_faces;
}

class PartialImagePipeline : public testing::TestWithParam<Case> {};

TEST_P(PartialImagePipeline, PreparedPixelsGiveTheWholeFramesResults) {
  const Case& c = GetParam();
  auto models = face::Models::Load(SPEAKUP_MODELS_DIR);
  ASSERT_TRUE(models.ok()) << models.error();
  auto source = media::FrameSource::OpenFile(std::string(SPEAKUP_TEST_DATA_DIR) + "/video/" + c.video);
  ASSERT_TRUE(source.ok()) << source.error();
  face::Workspace workspace(*models, nullptr);
  face::PipelineOptions options;
  options.model = c.model;
  options.max_faces = c.max_faces;
  face::Pipeline whole(options), partial(options);
  int frames = 0, faces = 0;
  double tracked_share = 0;
  int tracked_frames = 0;
  while (true) {
    auto next = (*source)->Next();
    ASSERT_TRUE(next.ok()) << next.error();
    if (!*next) break;
    const media::Frame& frame = **next;
    auto want = whole.Process(annotate::ImageOf(frame), frame.timestamp_ms, workspace);
    ASSERT_TRUE(want.ok()) << want.error();
    PartialImage image(frame);
    auto got = partial.Process(image, frame.timestamp_ms, workspace);
    ASSERT_TRUE(got.ok()) << got.error();
    ASSERT_EQ(want->timings.detected, got->timings.detected);
    ExpectSameFaces(*want, *got, frame.index);
    ++frames;
    faces += static_cast<int>(got->faces.size());
    if (!got->timings.detected && !got->faces.empty()) {
      tracked_share += image.prepared_pixels() / (static_cast<double>(frame.width) * frame.height);
      ++tracked_frames;
    }
  }
  ASSERT_GT(frames, 60);
  ASSERT_GT(faces, frames / 2);
  ASSERT_GT(tracked_frames, frames / 2);
  std::printf("%s: %d frames, %d faces; a tracked frame prepared %.1f%% of its pixels on average\n", c.video, frames,
              faces, 100 * tracked_share / tracked_frames);
  EXPECT_LT(tracked_share / tracked_frames, 0.9) << "tracking should not need the whole frame";
}

INSTANTIATE_TEST_SUITE_P(Videos, PartialImagePipeline,
                         testing::Values(Case{"face_motion.mp4", face::LandmarkModel::kMesh, 1},
                                         Case{"face_motion.mp4", face::LandmarkModel::kLandmarker, 1},
                                         Case{"talking.avi", face::LandmarkModel::kLandmarker, 1},
                                         Case{"talking.avi", face::LandmarkModel::kMesh, 2}),
                         [](const testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.video[0] == 'f' ? "FaceMotion" : "Talking") +
                                  (info.param.model == face::LandmarkModel::kMesh ? "Mesh" : "Landmarker") +
                                  std::to_string(info.param.max_faces);
                         });

}  // namespace
}  // namespace speakup
