// The landmark model: refinement into 478 points and projection through the ROI on synthetic data,
// then end to end (detector -> ROIs from detections -> ROI association -> landmarks, as MediaPipe's
// face_landmark_front graph does for a still image, with no second pass from the landmarks)
// on every test photo against MediaPipe's own results: same faces, and a mean landmark distance of
// at most 1% of the inter-ocular distance per face, for 468 and for 478 points.
#include "landmarker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "detector.h"
#include "face_goldens.h"
#include "refinement_indices.h"
#include "roi.h"

namespace speakup::face {
namespace {

TEST(Refinement, IndexTablesAreDisjointWhereMediaPipeMakesThemSo) {
  std::vector<int> seen(kMeshPoints, 0);
  for (int i : kLipsRefinement) ++seen.at(i);
  for (int i : kLeftEyeRefinement) ++seen.at(i);
  for (int i : kRightEyeRefinement) ++seen.at(i);
  for (int count : seen) EXPECT_LE(count, 1);
  for (int i : kLeftIrisZAverage)
    EXPECT_EQ(std::count(kLeftEyeRefinement.begin(), kLeftEyeRefinement.end(), i), 1);
  for (int i : kRightIrisZAverage)
    EXPECT_EQ(std::count(kRightEyeRefinement.begin(), kRightEyeRefinement.end(), i), 1);
}

TEST(Refinement, LipsAndEyesReplaceXYIrisesAppendWithTheEyesMeanZ) {
  std::vector<float> mesh(1404), lips(160), left_eye(142), right_eye(142), left_iris(10), right_iris(10);
  for (int i = 0; i < 468; ++i) {
    mesh[3 * i] = static_cast<float>(i);
    mesh[3 * i + 1] = static_cast<float>(1000 + i);
    mesh[3 * i + 2] = static_cast<float>(i % 7);
  }
  for (size_t k = 0; k < 80; ++k) lips[2 * k] = -1.0f - k, lips[2 * k + 1] = -2.0f;
  for (size_t k = 0; k < 71; ++k) left_eye[2 * k] = -100.0f - k, right_eye[2 * k] = -200.0f - k;
  for (size_t k = 0; k < 5; ++k) left_iris[2 * k] = 500.0f + k, right_iris[2 * k + 1] = 600.0f + k;
  const std::vector<Landmark> out = RefineLandmarks(mesh, lips, left_eye, right_eye, left_iris, right_iris);
  ASSERT_EQ(out.size(), 478u);
  EXPECT_EQ(out[1].x, 1.0f);  // untouched mesh point
  EXPECT_EQ(out[1].z, 1.0f);
  EXPECT_EQ(out[61].x, -1.0f);  // first lip point
  EXPECT_EQ(out[61].y, -2.0f);
  EXPECT_EQ(out[61].z, static_cast<float>(61 % 7));  // z kept from the mesh
  EXPECT_EQ(out[407].x, -80.0f);                     // last lip point
  EXPECT_EQ(out[33].x, -100.0f);
  EXPECT_EQ(out[193].x, -170.0f);
  EXPECT_EQ(out[263].x, -200.0f);
  EXPECT_EQ(out[468].x, 500.0f);
  EXPECT_EQ(out[472].x, 504.0f);
  EXPECT_EQ(out[477].y, 604.0f);
  double left_z = 0, right_z = 0;
  for (int i : kLeftIrisZAverage) left_z += i % 7;
  for (int i : kRightIrisZAverage) right_z += i % 7;
  EXPECT_FLOAT_EQ(out[470].z, static_cast<float>(left_z / 16));
  EXPECT_FLOAT_EQ(out[475].z, static_cast<float>(right_z / 16));
}

TEST(Projection, CropPixelsMapThroughTheRotatedRoi) {
  std::vector<Landmark> points = {{96, 96, 0}, {192, 96, 19.2f}, {96, 0, -9.6f}};
  ProjectLandmarks({300, 200, 150, 150, 0}, 192, points);
  EXPECT_NEAR(points[0].x, 300, 1e-4);
  EXPECT_NEAR(points[0].y, 200, 1e-4);
  EXPECT_NEAR(points[1].x, 375, 1e-4);
  EXPECT_NEAR(points[1].z, 15, 1e-4);  // z scales like x: 19.2 / 192 * 150
  EXPECT_NEAR(points[2].y, 125, 1e-4);
  EXPECT_NEAR(points[2].z, -7.5, 1e-4);
  std::vector<Landmark> turned = {{192, 96, 0}, {96, 0, 0}};
  ProjectLandmarks({300, 200, 150, 150, std::numbers::pi_v<float> / 2}, 192, turned);
  EXPECT_NEAR(turned[0].x, 300, 1e-3);  // the crop's right edge is below the centre
  EXPECT_NEAR(turned[0].y, 275, 1e-3);
  EXPECT_NEAR(turned[1].x, 375, 1e-3);  // the crop's top edge is right of it
  EXPECT_NEAR(turned[1].y, 200, 1e-3);
}

// ---- End to end against MediaPipe ----

std::shared_ptr<const engine::Model> LoadModel(const std::string& file) {
  auto model = engine::Model::Load(std::string(SPEAKUP_MODELS_DIR) + "/" + file);
  if (!model) throw std::runtime_error(model.error());
  return *model;
}

TEST(Landmarker, RejectsTheWrongModel) {
  EXPECT_FALSE(Landmarker::Create(LoadModel("face_landmark.tflite"), true, nullptr).ok());
  EXPECT_FALSE(Landmarker::Create(LoadModel("face_landmark_with_attention.tflite"), false, nullptr).ok());
  EXPECT_FALSE(Landmarker::Create(LoadModel("face_detection_short_range.tflite"), false, nullptr).ok());
  auto ok = Landmarker::Create(LoadModel("face_landmark.tflite"), false, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.error();
  const uint8_t pixel[3] = {1, 2, 3};
  EXPECT_FALSE(ok->Run({pixel, 1, 1, 3}, {0, 0, 0, 0, 0}).ok());
}

constexpr int kMaxFaces = 4;           // the goldens were made with --max-faces 4
constexpr float kMinPresence = 0.5f;   // the solution's min_tracking_confidence default
constexpr float kMinDetection = 0.5f;  // min_detection_confidence default

struct OurFace {
  float presence;
  float detection_score;
  std::vector<Landmark> landmarks;
};

void CompareWithMediaPipe(bool attention) {
  const std::string set = attention ? "mesh478" : "mesh468";
  auto detector =
      Detector::Create(LoadModel("face_detection_short_range.tflite"), DetectorKind::kShortRange, nullptr);
  ASSERT_TRUE(detector.ok()) << detector.error();
  auto landmarker = Landmarker::Create(
      LoadModel(attention ? "face_landmark_with_attention.tflite" : "face_landmark.tflite"), attention,
      nullptr);
  ASSERT_TRUE(landmarker.ok()) << landmarker.error();

  double warp_ms = 0, inference_ms = 0, detect_ms = 0;
  int warps = 0, detects = 0;
  double worst = 0;
  for (const std::string& name : testdata::ImageNames()) {
    const testdata::LoadedImage image = testdata::LoadImage(name);
    const testdata::Golden golden = testdata::LoadGolden(set, name);
    ASSERT_EQ(golden.width, image.rgb.width);
    auto detections = detector->Detect(image.view(), kMinDetection);
    ASSERT_TRUE(detections.ok()) << detections.error();
    detect_ms += detector->last_timings().warp_ms + detector->last_timings().inference_ms;
    ++detects;

    // As face_landmark_front_*.pbtxt: at most kMaxFaces detections, best first; their ROIs; ROIs
    // overlapping by IoU > 0.5 associated (the later one kept); then the landmark model on each.
    std::vector<OurFace> faces;
    const size_t count = std::min<size_t>(detections->size(), kMaxFaces);
    std::vector<Roi> rois;
    for (size_t i = 0; i < count; ++i) {
      rois.push_back(RoiFromDetection((*detections)[i], image.rgb.width, image.rgb.height));
    }
    const std::vector<size_t> kept = AssociateRois(rois);
    for (size_t i = 0; i < count; ++i) {
      if (std::find(kept.begin(), kept.end(), i) == kept.end()) {
        std::printf("%s %-26s detection %zu score %.3f: ROI replaced by a later overlapping one\n",
                    set.c_str(), name.c_str(), i, (*detections)[i].score);
      }
    }
    for (size_t i : kept) {
      const Detection& detection = (*detections)[i];
      auto result = landmarker->Run(image.view(), rois[i]);
      ASSERT_TRUE(result.ok()) << result.error();
      warp_ms += result->warp_ms;
      inference_ms += result->inference_ms;
      ++warps;
      const auto centre = testdata::BoxCentre(result->landmarks);
      std::printf(
          "%s %-26s detection %zu score %.3f -> presence %.4f (%s), landmark box centre (%.0f, %.0f)\n",
          set.c_str(), name.c_str(), i, detection.score, result->presence,
          result->presence > kMinPresence ? "kept" : "dropped", centre[0], centre[1]);
      if (result->presence > kMinPresence) {
        faces.push_back({result->presence, detection.score, std::move(result->landmarks)});
      }
    }
    EXPECT_EQ(faces.size(), golden.faces.size()) << set << " " << name << ": number of faces";

    // Match each golden face to our nearest face by landmark box centre.
    for (size_t g = 0; g < golden.faces.size(); ++g) {
      const testdata::GoldenFace& want = golden.faces[g];
      const auto want_centre = testdata::BoxCentre(want);
      const OurFace* best = nullptr;
      double best_distance = 1e30;
      for (const OurFace& face : faces) {
        const auto c = testdata::BoxCentre(face.landmarks);
        const double d = testdata::Distance(c[0], c[1], want_centre[0], want_centre[1]);
        if (d < best_distance) best_distance = d, best = &face;
      }
      const double iod = testdata::InterOcular(want);
      if (best == nullptr) {
        ADD_FAILURE() << set << " " << name << " golden face " << g << " at (" << want_centre[0] << ", "
                      << want_centre[1] << ") has no match";
        continue;
      }
      ASSERT_EQ(best->landmarks.size(), want.size());
      double sum_xy = 0, sum_xyz = 0, max_xy = 0;
      for (size_t k = 0; k < want.size(); ++k) {
        const double dx = best->landmarks[k].x - want[k][0], dy = best->landmarks[k].y - want[k][1];
        const double dz = best->landmarks[k].z - want[k][2];
        sum_xy += std::hypot(dx, dy);
        sum_xyz += std::sqrt(dx * dx + dy * dy + dz * dz);
        max_xy = std::max(max_xy, std::hypot(dx, dy));
      }
      const double mean_xy = sum_xy / want.size(), mean_xyz = sum_xyz / want.size();
      const double percent = 100 * mean_xyz / iod;
      worst = std::max(worst, percent);
      std::printf(
          "%s %-26s face %zu (eye distance %.1f px, presence %.4f): mean error %.3f px 2D, %.3f px 3D = "
          "%.3f%%, "
          "max 2D %.2f px\n",
          set.c_str(), name.c_str(), g, iod, best->presence, mean_xy, mean_xyz, percent, max_xy);
      EXPECT_LE(mean_xyz, 0.01 * iod) << set << " " << name << " face " << g;
    }
  }
  std::printf(
      "%s: worst face %.3f%% of the eye distance; per image detector %.2f ms (warp + inference); per face "
      "warp %.3f ms, inference %.2f ms (1 thread)\n",
      set.c_str(), worst, detect_ms / detects, warps ? warp_ms / warps : 0.0,
      warps ? inference_ms / warps : 0.0);
}

TEST(Landmarker, MatchesMediaPipe468OnEveryTestImage) { CompareWithMediaPipe(false); }

TEST(Landmarker, MatchesMediaPipe478OnEveryTestImage) { CompareWithMediaPipe(true); }

}  // namespace
}  // namespace speakup::face
