// The whole face pipeline (face::Pipeline): still images against MediaPipe's goldens, 468 and 478
// points; tracking on a synthetic camera move over a real photo; options and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "face_goldens.h"
#include "speakup/face.h"

namespace speakup::face {
namespace {

using namespace testdata;

const Models& SharedModels() {
  static const Models models = [] {
    auto loaded = Models::Load(SPEAKUP_MODELS_DIR);
    if (!loaded) throw std::runtime_error(loaded.error() + " (run `make models`)");
    return *loaded;
  }();
  return models;
}

// Mean landmark distance (x, y) to a golden face, in % of its inter-ocular distance.
double MeanErrorPercent(const Face& face, const GoldenFace& golden) {
  double sum = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    sum += Distance(face.landmarks[i].x, face.landmarks[i].y, golden[i][0], golden[i][1]);
  }
  return 100 * sum / golden.size() / InterOcular(golden);
}

class PipelineStill : public ::testing::TestWithParam<bool> {};

TEST_P(PipelineStill, EveryGoldenImageMatchesMediaPipe) {
  const bool refine = GetParam();
  engine::ThreadPool pool(1);
  Workspace workspace(SharedModels(), &pool);
  PipelineOptions options;
  options.static_images = true;
  options.max_faces = 4;  // as the goldens were made
  options.refine = refine;
  Pipeline pipeline(options);
  int faces_checked = 0, images_with_faces = 0;
  for (const std::string& name : ImageNames()) {
    const Golden golden = LoadGolden(refine ? "mesh478" : "mesh468", name);
    const LoadedImage image = LoadImage(name);
    auto result = pipeline.Process(image.view(), 0, workspace);
    ASSERT_TRUE(result.ok()) << result.error();
    ASSERT_EQ(result->faces.size(), golden.faces.size()) << name;
    images_with_faces += !golden.faces.empty();
    std::set<int> ids;
    for (const Face& face : result->faces) {
      ASSERT_EQ(face.landmarks.size(), refine ? 478u : 468u);
      ids.insert(face.id);
      // The golden face nearest to this one (faces are matched by position, not list order).
      const auto centre = BoxCentre(face.landmarks);
      const GoldenFace* nearest = nullptr;
      double best = 1e30;
      for (const GoldenFace& g : golden.faces) {
        const auto c = BoxCentre(g);
        const double d = Distance(centre[0], centre[1], c[0], c[1]);
        if (d < best) best = d, nearest = &g;
      }
      ASSERT_NE(nearest, nullptr);
      const double error = MeanErrorPercent(face, *nearest);
      EXPECT_LE(error, 1.0) << name << " face " << face.id;
      EXPECT_GT(face.score, 0.5f);
      EXPECT_TRUE(std::isfinite(face.yaw) && std::isfinite(face.pitch) && std::isfinite(face.roll));
      ++faces_checked;
    }
    EXPECT_EQ(ids.size(), result->faces.size()) << "ids must be distinct";
  }
  // The bar: at least 10 faces from at least 6 images.
  EXPECT_GE(faces_checked, 10);
  EXPECT_GE(images_with_faces, 6);
}

INSTANTIATE_TEST_SUITE_P(Refine, PipelineStill, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "478" : "468"; });

// A camera move over a real photo, made in the test: each frame is a crop of the image that pans
// and zooms, resampled to 640x480 (nearest pixel, enough for a moving face).
Image CameraFrame(const testing::RgbImage& photo, int frame) {
  Image out;
  out.width = 640;
  out.height = 480;
  out.pixels.resize(640 * 480 * 3);
  const double zoom = 1.0 + 0.25 * std::sin(frame * 0.05);
  const double cx = photo.width / 2.0 + 40 * std::sin(frame * 0.07), cy = photo.height / 2.0;
  for (int y = 0; y < 480; ++y) {
    for (int x = 0; x < 640; ++x) {
      const int sx = static_cast<int>(cx + (x - 320) / zoom);
      const int sy = static_cast<int>(cy + (y - 240) / zoom);
      uint8_t* dst = &out.pixels[(static_cast<size_t>(y) * 640 + x) * 3];
      if (sx < 0 || sy < 0 || sx >= photo.width || sy >= photo.height) {
        dst[0] = dst[1] = dst[2] = 0;
        continue;
      }
      const uint8_t* src = &photo.pixels[(static_cast<size_t>(sy) * photo.width + sx) * 3];
      dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
    }
  }
  return out;
}

TEST(PipelineTracking, KeepsTheFaceAndItsIdWithoutDetectingEveryFrame) {
  const LoadedImage photo = LoadImage("frontal_jesper.jpg");
  engine::ThreadPool pool(1);
  Workspace workspace(SharedModels(), &pool);
  for (int max_faces : {1, 2}) {
    PipelineOptions options;
    options.max_faces = max_faces;
    Pipeline pipeline(options);
    int detections = 0, frames_with_face = 0;
    std::set<int> ids;
    const int frames = 90;
    for (int i = 0; i < frames; ++i) {
      const Image frame = CameraFrame(photo.rgb, i);
      auto result = pipeline.Process(frame.view(), i * 1000.0 / 30, workspace);
      ASSERT_TRUE(result.ok()) << result.error();
      detections += result->timings.detected;
      frames_with_face += result->faces.size() == 1;
      for (const Face& f : result->faces) ids.insert(f.id);
    }
    EXPECT_EQ(frames_with_face, frames) << "max_faces " << max_faces;
    EXPECT_EQ(ids, std::set<int>{1}) << "max_faces " << max_faces;
    if (max_faces == 1) {
      EXPECT_EQ(detections, 1);  // found once, then tracked
    } else {
      // Looking for a second face at a bounded rate (every 200 ms at 30 fps: 1 frame in 6).
      EXPECT_LE(detections, frames / 6 + 1);
      EXPECT_GE(detections, 2);
    }
  }
}

TEST(PipelineTracking, SmoothingReducesJitterOfAStillFace) {
  // The same still image every frame gives identical raw landmarks; with camera noise added the
  // smoothed landmarks move less than the raw ones.
  const LoadedImage photo = LoadImage("frontal_jesper.jpg");
  engine::ThreadPool pool(1);
  Workspace workspace(SharedModels(), &pool);
  auto jitter = [&](bool smoothing) {
    PipelineOptions options;
    options.smoothing = smoothing;
    Pipeline pipeline(options);
    std::mt19937 random(5);
    std::normal_distribution<double> noise(0, 6);
    double motion = 0;
    std::vector<Landmark> last;
    for (int i = 0; i < 40; ++i) {
      testing::RgbImage noisy = photo.rgb;
      for (uint8_t& v : noisy.pixels) v = static_cast<uint8_t>(std::clamp(v + noise(random), 0.0, 255.0));
      auto result = pipeline.Process({noisy.pixels.data(), noisy.width, noisy.height, 3 * noisy.width}, i * 33.3, workspace);
      EXPECT_TRUE(result.ok());
      if (!result.ok() || result->faces.empty()) continue;
      const auto& points = result->faces[0].landmarks;
      if (i >= 10 && !last.empty()) {
        for (size_t k = 0; k < points.size(); ++k) motion += std::hypot(points[k].x - last[k].x, points[k].y - last[k].y);
      }
      last = points;
    }
    return motion;
  };
  const double raw = jitter(false), smoothed = jitter(true);
  std::printf("landmark motion on a still, noisy face: raw %.1f px, smoothed %.1f px\n", raw, smoothed);
  EXPECT_GT(raw, 0);
  EXPECT_LT(smoothed, 0.8 * raw);
}

TEST(PipelineOptionsChange, RefineSwitchesTo478PointsAndBack) {
  const LoadedImage photo = LoadImage("frontal_jesper.jpg");
  engine::ThreadPool pool(1);
  Workspace workspace(SharedModels(), &pool);
  Pipeline pipeline;
  auto result = pipeline.Process(photo.view(), 0, workspace);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->faces.size(), 1u);
  EXPECT_EQ(result->faces[0].landmarks.size(), 468u);
  PipelineOptions options = pipeline.options();
  options.refine = true;
  pipeline.set_options(options);
  result = pipeline.Process(photo.view(), 33, workspace);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->faces.size(), 1u);
  EXPECT_EQ(result->faces[0].landmarks.size(), 478u);
  EXPECT_TRUE(result->timings.detected) << "a new landmark model restarts tracking";
  options.refine = false;
  options.detector = DetectorKind::kFullRange;
  pipeline.set_options(options);
  result = pipeline.Process(photo.view(), 66, workspace);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->faces.size(), 1u);
  EXPECT_EQ(result->faces[0].landmarks.size(), 468u);
}

TEST(PipelineBadInput, EmptyImageIsAnErrorNotACrash) {
  engine::ThreadPool pool(1);
  Workspace workspace(SharedModels(), &pool);
  Pipeline pipeline;
  EXPECT_FALSE(pipeline.Process({}, 0, workspace).ok());
  std::vector<uint8_t> pixels(10 * 10 * 3);
  EXPECT_FALSE(pipeline.Process({pixels.data(), 10, 10, 5}, 0, workspace).ok()) << "stride below 3 * width";
  auto tiny = pipeline.Process({pixels.data(), 1, 1, 3}, 0, workspace);
  ASSERT_TRUE(tiny.ok()) << tiny.error();
  EXPECT_TRUE(tiny->faces.empty());
}

TEST(ModelsLoad, MissingFolderNamesTheFix) {
  auto models = Models::Load("/nonexistent-models");
  ASSERT_FALSE(models.ok());
  EXPECT_NE(models.error().find("make models"), std::string::npos) << models.error();
}

}  // namespace
}  // namespace speakup::face
