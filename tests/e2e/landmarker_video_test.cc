// The Face Landmarker mode on real videos through the real media path: each video decoded by
// media::FrameSource, run in VIDEO mode (one face, landmark smoothing on), compared frame by frame with
// Google's own FaceLandmarker in VIDEO mode on the same decoded frames (tests/data/goldens/landmarker_video,
// see SOURCES.md). This checks what the still goldens cannot: tracking from the previous frame's raw
// landmarks, the one-euro smoothing, and blendshapes and matrix computed from the smoothed landmarks.
// Two videos of different kinds: face_motion.mp4 (a photo panned and zoomed, 640x480 H.264, 30 fps) and
// talking.avi (a real webcam clip of a man talking, 160x120 MJPEG, 15 fps, the mouth opening and closing).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <string>
#include <string_view>
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

struct VideoCase {
  const char* name;
  const char* video;   // under tests/data/video
  const char* golden;  // under tests/data/goldens/landmarker_video
  size_t frames;
};

void PrintTo(const VideoCase& v, std::ostream* os) { *os << v.video; }

const VideoCase kVideos[] = {
    {"FaceMotion", "face_motion.mp4", "face_motion.json", 120},
    {"Talking", "talking.avi", "talking.json", 68},
};

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

Golden LoadGolden(const std::string& name) {
  std::ifstream file(std::string(SPEAKUP_TEST_DATA_DIR) + "/goldens/landmarker_video/" + name);
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

// What the pipeline gave on one video, frame by frame.
struct VideoRun {
  std::vector<FrameErrors> errors;
  std::vector<double> jaw_open;  // our jawOpen score per frame
  int frames = 0;
  int detections = 0;
};

class LandmarkerVideo : public testing::TestWithParam<VideoCase> {};

// Runs the whole video through the landmarker pipeline as MediaPipe's VIDEO mode does, comparing with the golden.
void RunVideo(const VideoCase& video, const Golden& golden, VideoRun& run) {
  auto models = face::Models::Load(SPEAKUP_MODELS_DIR);
  ASSERT_TRUE(models.ok()) << models.error();
  auto source = media::FrameSource::OpenFile(std::string(SPEAKUP_TEST_DATA_DIR) + "/video/" + video.video);
  ASSERT_TRUE(source.ok()) << source.error();
  engine::ThreadPool pool(1);
  face::Workspace workspace(*models, &pool);
  face::PipelineOptions options;
  options.model = face::LandmarkModel::kLandmarker;
  options.max_faces = 1;  // VIDEO mode, numFaces 1: MediaPipe smooths the landmarks
  options.smoothing = true;
  options.static_images = false;
  face::Pipeline pipeline(options);
  const auto jaw_open = static_cast<size_t>(
      std::find(face::kBlendshapeNames.begin(), face::kBlendshapeNames.end(), "jawOpen") - face::kBlendshapeNames.begin());
  while (true) {
    auto next = (*source)->Next();
    ASSERT_TRUE(next.ok()) << next.error();
    if (!*next) break;
    const media::Frame& frame = **next;
    ASSERT_LT(frame.index, static_cast<int64_t>(golden.frames.size()));
    const GoldenFrame& expected = golden.frames[frame.index];
    // The golden's timestamps (tasks-ref: frame * the frame duration), which the decoder's agree with.
    EXPECT_NEAR(frame.timestamp_ms, expected.timestamp_ms, 1e-3) << "frame " << frame.index;
    auto result = pipeline.Process(annotate::ImageOf(frame), expected.timestamp_ms, workspace);
    ASSERT_TRUE(result.ok()) << result.error();
    ++run.frames;
    run.detections += result->timings.detected;
    ASSERT_TRUE(expected.has_face) << "frame " << frame.index;
    ASSERT_EQ(result->faces.size(), 1u) << "frame " << frame.index;
    const face::Face& face = result->faces[0];
    ASSERT_EQ(face.landmarks.size(), static_cast<size_t>(face::kLandmarkerLandmarks));
    ASSERT_EQ(face.blendshapes.size(), static_cast<size_t>(face::kBlendshapeCount));
    run.errors.push_back(Compare(static_cast<int>(frame.index), face, expected));
    run.jaw_open.push_back(face.blendshapes[jaw_open]);
  }
}

TEST_P(LandmarkerVideo, SmoothedTrackingMatchesMediaPipeFrameByFrame) {
  const VideoCase& video = GetParam();
  const Golden golden = LoadGolden(video.golden);
  ASSERT_EQ(golden.frames.size(), video.frames);
  ASSERT_EQ(golden.blendshape_names.size(), static_cast<size_t>(face::kBlendshapeCount));
  for (int i = 0; i < face::kBlendshapeCount; ++i) ASSERT_EQ(golden.blendshape_names[i], face::kBlendshapeNames[i]);
  VideoRun run;
  ASSERT_NO_FATAL_FAILURE(RunVideo(video, golden, run));
  const std::vector<FrameErrors>& errors = run.errors;
  EXPECT_EQ(run.frames, static_cast<int>(video.frames));
  EXPECT_EQ(run.detections, 1) << "one face wanted and tracked: detection on the first frame only";
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
  std::printf("%s: landmarker video vs MediaPipe, %zu frames: landmarks mean %.4f%% IOD (z %.4f%%), worst frame %d "
              "%.4f%%\n",
              video.video, errors.size(), landmarks_mean, z_mean, landmarks_worst.frame, landmarks_worst.landmarks_percent_iod);
  std::printf("  blendshapes mean %.5f, worst frame %d mean %.5f, worst score frame %d %.5f\n", blendshapes_mean,
              blendshapes_worst.frame, blendshapes_worst.blendshapes_mean, score_worst.frame,
              score_worst.blendshapes_worst);
  std::printf("  rotation mean %.3f deg, worst frame %d %.3f deg\n", rotation_mean, rotation_worst.frame,
              rotation_worst.rotation_degrees);
  EXPECT_LE(landmarks_mean, kMeanLandmarkErrorPercentIod);
  EXPECT_LE(blendshapes_mean, kMeanBlendshapeError);
  EXPECT_LE(rotation_worst.rotation_degrees, kRotationErrorDegrees);
}

INSTANTIATE_TEST_SUITE_P(Videos, LandmarkerVideo, testing::ValuesIn(kVideos),
                         [](const testing::TestParamInfo<VideoCase>& info) { return std::string(info.param.name); });

// The expression follows the face: in talking.avi the mouth is plainly closed in frames 0-5 and 62-67 and
// open in frames 9-17 (looked at frame by frame); every open frame must score jawOpen above every closed one.
TEST(LandmarkerExpression, OpenMouthScoresJawOpenAboveClosedMouth) {
  const VideoCase& video = kVideos[1];
  const Golden golden = LoadGolden(video.golden);
  VideoRun run;
  ASSERT_NO_FATAL_FAILURE(RunVideo(video, golden, run));
  ASSERT_EQ(run.jaw_open.size(), video.frames);
  double closed_max = 0, open_min = 1;
  for (int i : {0, 1, 2, 3, 4, 5, 62, 63, 64, 65, 66, 67}) closed_max = std::max(closed_max, run.jaw_open[i]);
  for (int i = 9; i <= 17; ++i) open_min = std::min(open_min, run.jaw_open[i]);
  std::printf("jawOpen: closed mouth at most %.3f, open mouth at least %.3f\n", closed_max, open_min);
  EXPECT_GT(open_min, closed_max + 0.05);
}

}  // namespace
}  // namespace speakup
