// The Face Landmarker mode on a real video through the real media path: face_motion.mp4 decoded by
// media::FrameSource, run in VIDEO mode (one face, landmark smoothing on), compared frame by frame with
// Google's own FaceLandmarker in VIDEO mode on the same decoded frames (tests/data/goldens/landmarker_video,
// see SOURCES.md). This checks what the still goldens cannot: tracking from the previous frame's raw
// landmarks, the one-euro smoothing, and blendshapes and matrix computed from the smoothed landmarks.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "speakup/annotate.h"
#include "landmarker_compare.h"
#include "speakup/face.h"
#include "speakup/media.h"

namespace speakup {
namespace {

// The bounds (not to be loosened), as means over the sequence.
constexpr double kMeanLandmarkErrorPercentIod = 0.2;
constexpr double kMeanBlendshapeError = 0.005;
// The still goldens' bound on the rotation of the facial transformation matrix, held on every frame.
constexpr double kRotationErrorDegrees = 0.5;
// The goldens were made from the frames at frame * 1000 / 30 ms (tasks-ref, --fps 30).
constexpr double kGoldenFps = 30;

struct GoldenFrame {
  double timestamp_ms = 0;
  bool has_face = false;
  std::vector<std::array<double, 3>> landmarks;  // pixels
  std::vector<double> blendshapes;               // model order
  std::array<double, 16> matrix{};               // row-major
};

struct Golden {
  std::vector<std::string> blendshape_names;
  std::vector<GoldenFrame> frames;
};

Golden LoadGolden() {
  std::ifstream file(std::string(SPEAKUP_TEST_DATA_DIR) + "/goldens/landmarker_video/face_motion.json");
  const nlohmann::json json = nlohmann::json::parse(file);
  Golden golden;
  golden.blendshape_names = json.at("blendshape_names").get<std::vector<std::string>>();
  for (const auto& frame : json.at("frames")) {
    GoldenFrame g;
    g.timestamp_ms = frame.at("timestamp_ms").get<double>();
    const auto& faces = frame.at("faces");
    g.has_face = faces.size() == 1;
    if (g.has_face) {
      for (const auto& p : faces[0].at("landmarks")) g.landmarks.push_back({p[0], p[1], p[2]});
      g.blendshapes = faces[0].at("blendshapes").get<std::vector<double>>();
      const auto matrix = faces[0].at("matrix").get<std::vector<double>>();
      std::copy_n(matrix.begin(), std::min<size_t>(matrix.size(), 16), g.matrix.begin());
    }
    golden.frames.push_back(std::move(g));
  }
  return golden;
}

struct FrameErrors : test::LandmarkerErrors {
  int frame = 0;
};

FrameErrors Compare(int index, const face::Face& face, const GoldenFrame& golden) {
  FrameErrors e;
  static_cast<test::LandmarkerErrors&>(e) = test::CompareWithGolden(face, golden.landmarks, golden.blendshapes,
                                                                      golden.matrix);
  e.frame = index;
  return e;
}

TEST(LandmarkerVideo, SmoothedTrackingMatchesMediaPipeFrameByFrame) {
  const Golden golden = LoadGolden();
  ASSERT_EQ(golden.frames.size(), 120u);
  ASSERT_EQ(golden.blendshape_names.size(), static_cast<size_t>(face::kBlendshapeCount));
  for (int i = 0; i < face::kBlendshapeCount; ++i) ASSERT_EQ(golden.blendshape_names[i], face::kBlendshapeNames[i]);

  auto models = face::Models::Load(SPEAKUP_MODELS_DIR);
  ASSERT_TRUE(models.ok()) << models.error();
  auto source = media::FrameSource::OpenFile(std::string(SPEAKUP_TEST_DATA_DIR) + "/video/face_motion.mp4");
  ASSERT_TRUE(source.ok()) << source.error();
  engine::ThreadPool pool(1);
  face::Workspace workspace(*models, &pool);
  face::PipelineOptions options;
  options.model = face::LandmarkModel::kLandmarker;
  options.max_faces = 1;  // VIDEO mode, numFaces 1: MediaPipe smooths the landmarks
  options.smoothing = true;
  options.static_images = false;
  face::Pipeline pipeline(options);

  std::vector<FrameErrors> errors;
  int frames = 0, detections = 0;
  while (true) {
    auto next = (*source)->Next();
    ASSERT_TRUE(next.ok()) << next.error();
    if (!*next) break;
    const media::Frame& frame = **next;
    ASSERT_LT(frame.index, static_cast<int64_t>(golden.frames.size()));
    const GoldenFrame& expected = golden.frames[frame.index];
    // The golden's timestamps (tasks-ref: frame * 1000 / fps), which the decoder's agree with.
    const double timestamp_ms = frame.index * 1000.0 / kGoldenFps;
    EXPECT_NEAR(timestamp_ms, expected.timestamp_ms, 1e-3);
    EXPECT_NEAR(timestamp_ms, frame.timestamp_ms, 1e-3);
    auto result = pipeline.Process(annotate::ImageOf(frame), timestamp_ms, workspace);
    ASSERT_TRUE(result.ok()) << result.error();
    ++frames;
    detections += result->timings.detected;
    ASSERT_TRUE(expected.has_face) << "frame " << frame.index;
    ASSERT_EQ(result->faces.size(), 1u) << "frame " << frame.index;
    const face::Face& face = result->faces[0];
    ASSERT_EQ(face.landmarks.size(), static_cast<size_t>(face::kLandmarkerLandmarks));
    ASSERT_EQ(face.blendshapes.size(), static_cast<size_t>(face::kBlendshapeCount));
    errors.push_back(Compare(static_cast<int>(frame.index), face, expected));
  }
  EXPECT_EQ(frames, 120);
  EXPECT_EQ(detections, 1) << "one face wanted and tracked: detection on the first frame only";
  ASSERT_FALSE(errors.empty());

  auto mean_of = [&](double FrameErrors::*field) {
    double sum = 0;
    for (const FrameErrors& e : errors) sum += e.*field;
    return sum / errors.size();
  };
  auto worst_of = [&](double FrameErrors::*field) {
    return *std::max_element(errors.begin(), errors.end(),
                             [&](const FrameErrors& a, const FrameErrors& b) { return a.*field < b.*field; });
  };
  const double landmarks_mean = mean_of(&FrameErrors::landmarks_percent_iod);
  const double z_mean = mean_of(&FrameErrors::z_percent_iod);
  const double blendshapes_mean = mean_of(&FrameErrors::blendshapes_mean);
  const double rotation_mean = mean_of(&FrameErrors::rotation_degrees);
  const FrameErrors landmarks_worst = worst_of(&FrameErrors::landmarks_percent_iod);
  const FrameErrors blendshapes_worst = worst_of(&FrameErrors::blendshapes_mean);
  const FrameErrors score_worst = worst_of(&FrameErrors::blendshapes_worst);
  const FrameErrors rotation_worst = worst_of(&FrameErrors::rotation_degrees);
  for (const FrameErrors& e : errors) {
    if (e.frame % 10 != 0 && e.frame > 3) continue;
    std::printf("frame %3d: landmarks %.4f%% IOD (z %.4f%%), blendshapes mean %.5f worst %.5f, rotation %.3f deg\n",
                e.frame, e.landmarks_percent_iod, e.z_percent_iod, e.blendshapes_mean, e.blendshapes_worst,
                e.rotation_degrees);
  }
  std::printf("landmarker video vs MediaPipe, %zu frames: landmarks mean %.4f%% IOD (z %.4f%%), worst frame %d "
              "%.4f%%\n",
              errors.size(), landmarks_mean, z_mean, landmarks_worst.frame, landmarks_worst.landmarks_percent_iod);
  std::printf("  blendshapes mean %.5f, worst frame %d mean %.5f, worst score frame %d %.5f\n", blendshapes_mean,
              blendshapes_worst.frame, blendshapes_worst.blendshapes_mean, score_worst.frame,
              score_worst.blendshapes_worst);
  std::printf("  rotation mean %.3f deg, worst frame %d %.3f deg\n", rotation_mean, rotation_worst.frame,
              rotation_worst.rotation_degrees);
  EXPECT_LE(landmarks_mean, kMeanLandmarkErrorPercentIod);
  EXPECT_LE(blendshapes_mean, kMeanBlendshapeError);
  EXPECT_LE(rotation_worst.rotation_degrees, kRotationErrorDegrees);
}

}  // namespace
}  // namespace speakup
