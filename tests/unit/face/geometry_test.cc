// Face geometry: loading MediaPipe's canonical face model, and the head pose of synthetic faces (the
// canonical face posed, projected with the same virtual camera: the exact inverse of the pipeline)
// and of MediaPipe's own landmarks for real photos (tests/data/goldens/mesh468).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>

#include "geometry.h"
#include "geometry_metadata.pb.h"

namespace speakup::face {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kRad = kPi / 180.0;

std::string ModelPath() { return std::string(SPEAKUP_MODELS_DIR) + "/geometry_pipeline_metadata_landmarks.binarypb"; }

std::string ReadBytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

const GeometryModel& RealModel() {
  static const std::shared_ptr<const GeometryModel> model = [] {
    auto loaded = GeometryModel::Load(ModelPath());
    if (!loaded) {
      ADD_FAILURE() << loaded.error();
      return std::shared_ptr<const GeometryModel>();
    }
    return *loaded;
  }();
  if (!model) throw std::runtime_error("no geometry model");
  return *model;
}

// A file in a fresh temporary folder, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& bytes) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("speakup_geometry_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".binarypb"))
                .string();
    std::ofstream(path_, std::ios::binary) << bytes;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------------
// Loading

TEST(GeometryModelTest, LoadsMediaPipesCanonicalFace) {
  const GeometryModel& model = RealModel();
  EXPECT_EQ(model.canonical_vertices.size(), 468u);
  EXPECT_EQ(model.uvs.size(), 468u);
  EXPECT_EQ(model.triangles.size(), 898u);
  ASSERT_EQ(model.procrustes_weights.size(), 33u);
  double total = 0;
  for (const auto& [id, weight] : model.procrustes_weights) total += weight;
  EXPECT_NEAR(total, 1.055, 1e-3);
  EXPECT_EQ(model.procrustes_weights.front().first, 4);
  EXPECT_EQ(model.procrustes_weights.back().first, 425);
  // Canonical frame: x towards the subject's left, y up, z out of the face (cm).
  EXPECT_NEAR(model.canonical_vertices[1][2], 7.4756, 1e-3);       // nose tip in front
  EXPECT_LT(model.canonical_vertices[33][0], -4.f);                 // subject's right eye corner
  EXPECT_FLOAT_EQ(model.canonical_vertices[263][0], -model.canonical_vertices[33][0]);  // mirror image
  EXPECT_GT(model.canonical_vertices[10][1], 8.f);                  // forehead up
  EXPECT_LT(model.canonical_vertices[152][1], -9.f);                // chin down
  for (const auto& uv : model.uvs) {
    EXPECT_GE(uv[0], 0.f);
    EXPECT_LE(uv[0], 1.f);
    EXPECT_GE(uv[1], 0.f);
    EXPECT_LE(uv[1], 1.f);
  }
  EXPECT_TRUE(model.Validate().ok());
}

TEST(GeometryModelTest, MissingFileNamesTheFileAndTheFix) {
  auto model = GeometryModel::Load("/nonexistent/geometry.binarypb");
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().find("/nonexistent/geometry.binarypb"), std::string::npos) << model.error();
  EXPECT_NE(model.error().find("make models"), std::string::npos) << model.error();
}

TEST(GeometryModelTest, EmptyFileIsAnError) {
  TempFile empty("");
  auto model = GeometryModel::Load(empty.path());
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().find(empty.path()), std::string::npos) << model.error();
  EXPECT_NE(model.error().find("empty"), std::string::npos) << model.error();
  EXPECT_NE(model.error().find("make models"), std::string::npos) << model.error();
}

TEST(GeometryModelTest, EveryTruncationIsAnError) {
  const std::string bytes = ReadBytes(ModelPath());
  ASSERT_GT(bytes.size(), 1000u);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto model = GeometryModel::FromBytes(bytes.substr(0, n), "cut");
    ASSERT_FALSE(model.ok()) << "truncated to " << n << " of " << bytes.size() << " bytes was accepted";
  }
  TempFile cut(bytes.substr(0, bytes.size() / 2));
  auto model = GeometryModel::Load(cut.path());
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().find(cut.path()), std::string::npos) << model.error();
  EXPECT_NE(model.error().find("make models"), std::string::npos) << model.error();
}

TEST(GeometryModelTest, GarbageAndBitFlipsNeverCrash) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 200; ++trial) {
    std::string garbage(1 + trial * 37, '\0');
    for (char& c : garbage) c = static_cast<char>(byte(rng));
    auto model = GeometryModel::FromBytes(garbage, "garbage");
    EXPECT_FALSE(model.ok());
  }
  // Flipped bytes may still parse (a float changes value); whatever loads must be valid.
  const std::string bytes = ReadBytes(ModelPath());
  std::uniform_int_distribution<size_t> position(0, bytes.size() - 1);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string flipped = bytes;
    flipped[position(rng)] ^= static_cast<char>(1 + byte(rng) % 255);
    auto model = GeometryModel::FromBytes(flipped, "flipped");
    if (model.ok()) {
      EXPECT_TRUE((*model)->Validate().ok());
    }
  }
}

// The real file, altered field by field through the protobuf.
class CorruptModelTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(metadata_.ParseFromString(ReadBytes(ModelPath()))); }
  std::string ErrorOf() {
    auto model = GeometryModel::FromBytes(metadata_.SerializeAsString(), "altered.binarypb");
    EXPECT_FALSE(model.ok());
    return model.ok() ? "" : model.error();
  }
  proto::GeometryPipelineMetadata metadata_;
};

TEST_F(CorruptModelTest, UnalteredLoads) {
  auto model = GeometryModel::FromBytes(metadata_.SerializeAsString(), "same");
  EXPECT_TRUE(model.ok()) << model.error();
}

TEST_F(CorruptModelTest, WrongVertexCount) {
  auto* buffer = metadata_.mutable_canonical_mesh()->mutable_vertex_buffer();
  buffer->Truncate(buffer->size() - 5);
  EXPECT_NE(ErrorOf().find("467 vertices, expected 468"), std::string::npos);
  buffer->Truncate(buffer->size() - 2);
  EXPECT_NE(ErrorOf().find("not a multiple of 5"), std::string::npos);
}

TEST_F(CorruptModelTest, IndexOutOfRange) {
  metadata_.mutable_canonical_mesh()->set_index_buffer(30, 468);
  EXPECT_NE(ErrorOf().find("triangle 10 refers to vertex 468"), std::string::npos);
  metadata_.mutable_canonical_mesh()->add_index_buffer(1);
  EXPECT_NE(ErrorOf().find("not a multiple of 3"), std::string::npos);
}

TEST_F(CorruptModelTest, NonFiniteVertex) {
  metadata_.mutable_canonical_mesh()->set_vertex_buffer(5 * 7 + 1, std::nanf(""));
  EXPECT_NE(ErrorOf().find("canonical vertex 7 is not finite"), std::string::npos);
}

TEST_F(CorruptModelTest, BadWeights) {
  metadata_.mutable_procrustes_landmark_basis(3)->set_weight(std::numeric_limits<float>::infinity());
  EXPECT_NE(ErrorOf().find("landmark 33 has the weight"), std::string::npos);
  metadata_.mutable_procrustes_landmark_basis(3)->set_weight(-0.5f);
  EXPECT_NE(ErrorOf().find("landmark 33 has the weight"), std::string::npos);
  metadata_.mutable_procrustes_landmark_basis(3)->set_weight(0.1f);
  metadata_.mutable_procrustes_landmark_basis(3)->set_landmark_id(500);
  EXPECT_NE(ErrorOf().find("refers to vertex 500"), std::string::npos);
  metadata_.mutable_procrustes_landmark_basis(3)->set_landmark_id(4);
  EXPECT_NE(ErrorOf().find("listed twice"), std::string::npos);
  metadata_.clear_procrustes_landmark_basis();
  EXPECT_NE(ErrorOf().find("basis is empty"), std::string::npos);
}

TEST_F(CorruptModelTest, DetectionMetadataIsRefused) {
  metadata_.set_input_source(proto::INPUT_SOURCE_FACE_DETECTION);
  EXPECT_NE(ErrorOf().find("face landmark version"), std::string::npos);
  metadata_.clear_input_source();
  EXPECT_NE(ErrorOf().find("truncated"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------
// Synthetic faces

using Mat3 = std::array<std::array<double, 3>, 3>;

Mat3 Multiply(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[i][j] += a[i][k] * b[k][j];
  return c;
}

// The documented convention: R = Ry(yaw) Rx(-pitch) Rz(-roll), right-handed rotations about the
// camera axes (x right, y up, z towards the viewer).
Mat3 RotationFromAngles(double yaw_deg, double pitch_deg, double roll_deg) {
  const double a = yaw_deg * kRad, b = -pitch_deg * kRad, c = -roll_deg * kRad;
  const Mat3 ry{{{std::cos(a), 0, std::sin(a)}, {0, 1, 0}, {-std::sin(a), 0, std::cos(a)}}};
  const Mat3 rx{{{1, 0, 0}, {0, std::cos(b), -std::sin(b)}, {0, std::sin(b), std::cos(b)}}};
  const Mat3 rz{{{std::cos(c), -std::sin(c), 0}, {std::sin(c), std::cos(c), 0}, {0, 0, 1}}};
  return Multiply(ry, Multiply(rx, rz));
}

struct Scene {
  int width = 640, height = 480;
  PerspectiveCamera camera;
};

// Camera-space (metric) points -> landmarks as the landmark model reports them: pixels, and z the
// depth relative to the face's mean depth, on the scale of x at that mean depth (weak perspective).
// This is the exact inverse of the pipeline's unprojection.
std::vector<Landmark> Project(const std::vector<std::array<double, 3>>& points, const Scene& scene) {
  const double near = scene.camera.near;
  const double near_height = 2 * near * std::tan(0.5 * scene.camera.vertical_fov_degrees * kRad);
  const double near_width = near_height * scene.width / scene.height;
  double mean_depth = 0;
  for (const auto& p : points) mean_depth += -p[2] / static_cast<double>(points.size());
  std::vector<Landmark> landmarks;
  for (const auto& p : points) {
    const double depth = -p[2];
    const double x_near = p[0] * near / depth, y_near = p[1] * near / depth;
    const double x = (x_near + 0.5 * near_width) / near_width;
    const double y = 1.0 - (y_near + 0.5 * near_height) / near_height;
    const double z = (depth - mean_depth) * near / mean_depth / near_width;
    landmarks.push_back({static_cast<float>(x * scene.width), static_cast<float>(y * scene.height),
                         static_cast<float>(z * scene.width)});
  }
  return landmarks;
}

// The canonical face with this pose, in camera space.
std::vector<std::array<double, 3>> PosedFace(const GeometryModel& model, const Mat3& r,
                                             const std::array<double, 3>& t) {
  std::vector<std::array<double, 3>> points;
  for (const auto& v : model.canonical_vertices) {
    std::array<double, 3> p{};
    for (int i = 0; i < 3; ++i) p[i] = r[i][0] * v[0] + r[i][1] * v[1] + r[i][2] * v[2] + t[i];
    points.push_back(p);
  }
  return points;
}

// Angle in degrees between the rotation of a row-major pose (scale removed) and `r`, from the
// Frobenius distance |A - B| = 2 sqrt(2) sin(angle / 2) (accurate for small angles, unlike acos).
double RotationErrorDegrees(const std::array<float, 16>& m, const Mat3& r) {
  const double scale = std::sqrt(double(m[0]) * m[0] + double(m[4]) * m[4] + double(m[8]) * m[8]);
  double squared = 0;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) squared += std::pow(m[i * 4 + k] / scale - r[i][k], 2);
  return 2 * std::asin(std::min(1.0, std::sqrt(squared) / (2 * std::sqrt(2.0)))) / kRad;
}

struct PoseCase {
  double yaw, pitch, roll;
  std::array<double, 3> t;
};

std::vector<PoseCase> PoseCases() {
  std::vector<PoseCase> cases;
  const double angles[] = {-40, -25, 0, 15, 40};
  const std::array<double, 3> translations[] = {{0, 0, -50}, {6, -4, -40}, {-8, 5, -60}};
  int k = 0;
  for (double yaw : angles)
    for (double pitch : angles)
      for (double roll : angles) cases.push_back({yaw, pitch, roll, translations[k++ % 3]});
  return cases;
}

TEST(HeadPoseTest, RecoversKnownPoses) {
  const GeometryModel& model = RealModel();
  const Scene scene;
  double worst_angle = 0, worst_rotation = 0, worst_translation = 0, worst_metric = 0, worst_scale = 0;
  for (const PoseCase& c : PoseCases()) {
    SCOPED_TRACE("yaw " + std::to_string(c.yaw) + " pitch " + std::to_string(c.pitch) + " roll " +
                 std::to_string(c.roll));
    const Mat3 r = RotationFromAngles(c.yaw, c.pitch, c.roll);
    const auto landmarks = Project(PosedFace(model, r, c.t), scene);
    auto pose = EstimateHeadPose(model, landmarks, scene.width, scene.height, scene.camera);
    ASSERT_TRUE(pose.ok()) << pose.error();
    const double angle_error = std::max({std::abs(pose->yaw - c.yaw), std::abs(pose->pitch - c.pitch),
                                         std::abs(pose->roll - c.roll)});
    // Exact landmarks: the pipeline inverts the projection exactly, up to float rounding (the
    // requirement is < 1 degree and a few % of the distance; this is far tighter).
    EXPECT_LT(angle_error, 0.01);
    EXPECT_LT(RotationErrorDegrees(pose->matrix, r), 0.01);
    worst_angle = std::max(worst_angle, angle_error);
    worst_rotation = std::max(worst_rotation, RotationErrorDegrees(pose->matrix, r));
    const double distance = std::sqrt(c.t[0] * c.t[0] + c.t[1] * c.t[1] + c.t[2] * c.t[2]);
    double translation_error = 0;
    for (int i = 0; i < 3; ++i) translation_error += std::pow(pose->matrix[i * 4 + 3] - c.t[i], 2);
    translation_error = std::sqrt(translation_error) / distance;
    EXPECT_LT(translation_error, 1e-3);
    worst_translation = std::max(worst_translation, translation_error);
    const double scale = std::sqrt(double(pose->matrix[0]) * pose->matrix[0] +
                                   double(pose->matrix[4]) * pose->matrix[4] +
                                   double(pose->matrix[8]) * pose->matrix[8]);
    worst_scale = std::max(worst_scale, std::abs(scale - 1));
    EXPECT_NEAR(pose->matrix[12], 0.f, 1e-6f);
    EXPECT_NEAR(pose->matrix[15], 1.f, 1e-6f);
    // No expression: the metric face is the canonical face.
    ASSERT_EQ(pose->metric_landmarks.size(), 468u);
    for (int i = 0; i < 468; ++i) {
      for (int k = 0; k < 3; ++k) {
        worst_metric = std::max(worst_metric,
                                double(std::abs(pose->metric_landmarks[i][k] - model.canonical_vertices[i][k])));
      }
    }
  }
  EXPECT_LT(worst_metric, 0.05);
  std::printf("[ geometry ] exact landmarks, %zu poses: worst angle error %.5f deg, rotation %.5f deg, "
              "translation %.5f%%, |scale-1| %.2e, metric vertex %.5f cm\n",
              PoseCases().size(), worst_angle, worst_rotation, 100 * worst_translation, worst_scale, worst_metric);
}

TEST(HeadPoseTest, RobustToLandmarkNoise) {
  const GeometryModel& model = RealModel();
  const Scene scene;
  std::mt19937 rng(1234);
  const double sigmas[] = {0.5, 1.0};
  for (double sigma : sigmas) {
    std::normal_distribution<float> noise(0.f, static_cast<float>(sigma));
    double worst = 0, sum = 0, worst_translation = 0;
    int n = 0;
    for (const PoseCase& c : PoseCases()) {
      const Mat3 r = RotationFromAngles(c.yaw, c.pitch, c.roll);
      auto landmarks = Project(PosedFace(model, r, c.t), scene);
      for (Landmark& l : landmarks) {
        l.x += noise(rng);
        l.y += noise(rng);
        l.z += noise(rng);
      }
      auto pose = EstimateHeadPose(model, landmarks, scene.width, scene.height, scene.camera);
      ASSERT_TRUE(pose.ok()) << pose.error();
      const double error = std::max({std::abs(pose->yaw - c.yaw), std::abs(pose->pitch - c.pitch),
                                     std::abs(pose->roll - c.roll)});
      EXPECT_LT(error, sigma < 0.75 ? 1.0 : 2.0) << "sigma " << sigma << " yaw " << c.yaw << " pitch " << c.pitch << " roll " << c.roll;
      worst = std::max(worst, error);
      sum += error;
      ++n;
      const double distance = std::sqrt(c.t[0] * c.t[0] + c.t[1] * c.t[1] + c.t[2] * c.t[2]);
      double translation_error = 0;
      for (int i = 0; i < 3; ++i) translation_error += std::pow(pose->matrix[i * 4 + 3] - c.t[i], 2);
      worst_translation = std::max(worst_translation, std::sqrt(translation_error) / distance);
    }
    EXPECT_LT(worst_translation, 0.05);
    std::printf("[ geometry ] noise %.1f px (640x480, face 40-60 cm): worst angle error %.3f deg, mean %.3f deg, "
                "worst translation %.2f%%\n",
                sigma, worst, sum / n, 100 * worst_translation);
  }
}

// The convention as it shows on the image, independent of the decomposition.
TEST(HeadPoseTest, ConventionOnTheImage) {
  const GeometryModel& model = RealModel();
  const Scene scene;
  auto landmarks_for = [&](double yaw, double pitch, double roll) {
    return Project(PosedFace(model, RotationFromAngles(yaw, pitch, roll), {0, 0, -50}), scene);
  };
  auto estimate = [&](const std::vector<Landmark>& landmarks) {
    auto pose = EstimateHeadPose(model, landmarks, scene.width, scene.height);
    EXPECT_TRUE(pose.ok());
    return *pose;
  };
  const auto straight = landmarks_for(0, 0, 0);
  const HeadPose zero = estimate(straight);
  EXPECT_NEAR(zero.yaw, 0, 1e-3);
  EXPECT_NEAR(zero.pitch, 0, 1e-3);
  EXPECT_NEAR(zero.roll, 0, 1e-3);
  EXPECT_LT(straight[33].x, straight[263].x);  // the subject's right eye on the image's left

  // Turning to their left: the nose tip moves to the image's right.
  const auto turned = landmarks_for(30, 0, 0);
  EXPECT_GT(turned[1].x, straight[1].x + 20);
  EXPECT_NEAR(estimate(turned).yaw, 30, 0.01);

  // Looking up: the nose tip rises on the image relative to the eyes.
  const auto up = landmarks_for(0, 20, 0);
  auto nose_below_eyes = [](const std::vector<Landmark>& l) { return l[1].y - 0.5f * (l[33].y + l[263].y); };
  EXPECT_LT(nose_below_eyes(up), nose_below_eyes(straight) - 5);
  EXPECT_NEAR(estimate(up).pitch, 20, 0.01);

  // Clockwise tilt on screen: the eye on the image's right (the subject's left) goes down.
  const auto tilted = landmarks_for(0, 0, 20);
  EXPECT_GT(tilted[263].y, tilted[33].y + 10);
  EXPECT_NEAR(estimate(tilted).roll, 20, 0.01);

  // A selfie (mirrored) image: yaw and roll change sign, pitch does not. In a mirrored image the
  // landmark model still finds each anatomical point, so the mirrored face's landmark i lies where
  // the original's mirror-symmetric counterpart was (the canonical face is left-right symmetric).
  std::vector<int> counterpart(468, -1);
  for (int i = 0; i < 468; ++i) {
    const auto& v = model.canonical_vertices[i];
    float best = 1e9f;
    for (int j = 0; j < 468; ++j) {
      const auto& w = model.canonical_vertices[j];
      const float d = std::abs(v[0] + w[0]) + std::abs(v[1] - w[1]) + std::abs(v[2] - w[2]);
      if (d < best) {
        best = d;
        counterpart[i] = j;
      }
    }
    ASSERT_LT(best, 1e-3f) << "vertex " << i << " has no mirror image";
  }
  EXPECT_EQ(counterpart[33], 263);
  EXPECT_EQ(counterpart[1], 1);
  const auto original = landmarks_for(25, 10, 15);
  std::vector<Landmark> mirrored(468);
  for (int i = 0; i < 468; ++i) {
    mirrored[i] = original[counterpart[i]];
    mirrored[i].x = scene.width - mirrored[i].x;
  }
  const HeadPose m = estimate(mirrored);
  EXPECT_NEAR(m.yaw, -25, 0.05);
  EXPECT_NEAR(m.pitch, 10, 0.05);
  EXPECT_NEAR(m.roll, -15, 0.05);
}

TEST(HeadPoseTest, OtherImageShapesAndCameras) {
  const GeometryModel& model = RealModel();
  Scene portrait;
  portrait.width = 480;
  portrait.height = 854;
  Scene wide;
  wide.width = 1920;
  wide.height = 1080;
  wide.camera.vertical_fov_degrees = 45;
  wide.camera.near = 0.5f;
  for (const Scene& scene : {portrait, wide}) {
    const Mat3 r = RotationFromAngles(-20, 12, 8);
    const std::array<double, 3> t{3, 2, -45};
    auto pose = EstimateHeadPose(model, Project(PosedFace(model, r, t), scene), scene.width, scene.height,
                                 scene.camera);
    ASSERT_TRUE(pose.ok()) << pose.error();
    EXPECT_NEAR(pose->yaw, -20, 0.01);
    EXPECT_NEAR(pose->pitch, 12, 0.01);
    EXPECT_NEAR(pose->roll, 8, 0.01);
    EXPECT_NEAR(pose->matrix[3], 3, 0.01);
    EXPECT_NEAR(pose->matrix[7], 2, 0.01);
    EXPECT_NEAR(pose->matrix[11], -45, 0.05);
  }
}

TEST(HeadPoseTest, UsesTheFirst468Of478) {
  const GeometryModel& model = RealModel();
  const Scene scene;
  auto landmarks = Project(PosedFace(model, RotationFromAngles(10, -5, 3), {1, 2, -50}), scene);
  auto with_irises = landmarks;
  for (int i = 0; i < 10; ++i) with_irises.push_back({1000.f + i, -400.f, 77.f});
  auto a = EstimateHeadPose(model, landmarks, scene.width, scene.height);
  auto b = EstimateHeadPose(model, with_irises, scene.width, scene.height);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->matrix, b->matrix);
  EXPECT_EQ(a->metric_landmarks, b->metric_landmarks);
}

TEST(HeadPoseTest, BadInputsAreErrors) {
  const GeometryModel& model = RealModel();
  const Scene scene;
  const auto good = Project(PosedFace(model, RotationFromAngles(0, 0, 0), {0, 0, -50}), scene);
  ASSERT_TRUE(EstimateHeadPose(model, good, 640, 480).ok());

  EXPECT_FALSE(EstimateHeadPose(model, std::vector<Landmark>(good.begin(), good.begin() + 467), 640, 480).ok());
  EXPECT_FALSE(EstimateHeadPose(model, {}, 640, 480).ok());
  EXPECT_FALSE(EstimateHeadPose(model, good, 0, 480).ok());
  EXPECT_FALSE(EstimateHeadPose(model, good, 640, -1).ok());
  auto nan = good;
  nan[100].z = std::nanf("");
  EXPECT_FALSE(EstimateHeadPose(model, nan, 640, 480).ok());
  auto inf = good;
  inf[5].x = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(EstimateHeadPose(model, inf, 640, 480).ok());
  // All landmarks on one pixel: too compact to unproject.
  const std::vector<Landmark> dot(468, Landmark{320, 240, 0});
  auto compact = EstimateHeadPose(model, dot, 640, 480);
  ASSERT_FALSE(compact.ok());
  EXPECT_NE(compact.error().find("too small"), std::string::npos) << compact.error();
  // Collinear landmarks: degenerate, an error and no crash.
  std::vector<Landmark> line;
  for (int i = 0; i < 468; ++i) line.push_back({100.f + i, 240.f, 0.f});
  (void)EstimateHeadPose(model, line, 640, 480);
  // Huge coordinates: no crash; an answer, if any, is finite.
  std::vector<Landmark> huge = good;
  for (Landmark& l : huge) l.x *= 1e30f;
  auto huge_pose = EstimateHeadPose(model, huge, 640, 480);
  if (huge_pose.ok()) {
    for (float v : huge_pose->matrix) EXPECT_TRUE(std::isfinite(v));
  }

  for (const PerspectiveCamera& camera : {PerspectiveCamera{0, 1, 100}, PerspectiveCamera{180, 1, 100},
                                          PerspectiveCamera{63, 0, 100}, PerspectiveCamera{63, 10, 5}}) {
    EXPECT_FALSE(EstimateHeadPose(model, good, 640, 480, camera).ok());
  }
  EXPECT_FALSE(EstimateHeadPose(GeometryModel{}, good, 640, 480).ok());
}

TEST(HeadPoseTest, AnglesFromAMatrix) {
  const Mat3 r = RotationFromAngles(-33, 21, -12);
  std::array<float, 16> m{};
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) m[i * 4 + k] = static_cast<float>(2.5 * r[i][k]);  // with a scale
  m[3] = 4;
  m[11] = -50;
  m[15] = 1;
  const auto angles = YawPitchRollDegrees(m);
  EXPECT_NEAR(angles[0], -33, 1e-3);
  EXPECT_NEAR(angles[1], 21, 1e-3);
  EXPECT_NEAR(angles[2], -12, 1e-3);
  const auto identity = YawPitchRollDegrees({1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  EXPECT_EQ(identity, (std::array<float, 3>{0, 0, 0}));
}

// ---------------------------------------------------------------------------------------------------
// Real photos: MediaPipe's own landmarks (Google's WASM build) for test images.

struct Golden {
  int width = 0, height = 0;
  std::vector<std::vector<Landmark>> faces;
};

Golden ReadGolden(const std::string& image) {
  std::ifstream file(std::string(SPEAKUP_TEST_DATA_DIR) + "/goldens/mesh468/" + image + ".json");
  const nlohmann::json json = nlohmann::json::parse(file);
  Golden golden;
  golden.width = json.at("width");
  golden.height = json.at("height");
  for (const auto& face : json.at("faces")) {
    std::vector<Landmark> landmarks;
    for (const auto& p : face.at("landmarks")) landmarks.push_back({p[0], p[1], p[2]});
    golden.faces.push_back(std::move(landmarks));
  }
  return golden;
}

HeadPose GoldenPose(const std::string& image) {
  const Golden golden = ReadGolden(image);
  EXPECT_FALSE(golden.faces.empty());
  if (golden.faces.empty()) return {};
  auto pose = EstimateHeadPose(RealModel(), golden.faces[0], golden.width, golden.height);
  EXPECT_TRUE(pose.ok()) << pose.error();
  if (!pose.ok()) return {};
  std::printf("[ geometry ] %-24s yaw %7.2f  pitch %7.2f  roll %7.2f  t = (%6.2f, %6.2f, %7.2f) cm\n",
              image.c_str(), pose->yaw, pose->pitch, pose->roll, pose->matrix[3], pose->matrix[7],
              pose->matrix[11]);
  return *pose;
}

TEST(HeadPoseRealTest, FrontalFacesAreNearlyStraight) {
  for (const char* image : {"frontal_jesper.jpg", "astronaut.png"}) {
    SCOPED_TRACE(image);
    const HeadPose pose = GoldenPose(image);
    EXPECT_LT(std::abs(pose.yaw), 20.f);
    EXPECT_LT(std::abs(pose.pitch), 20.f);
    EXPECT_LT(std::abs(pose.roll), 20.f);
    EXPECT_LT(pose.matrix[11], -10.f);  // in front of the camera
    EXPECT_GT(pose.matrix[11], -300.f);
    // The fitted scale stays near 1: the unprojection found the face's size in centimetres.
    const float scale = std::sqrt(pose.matrix[0] * pose.matrix[0] + pose.matrix[4] * pose.matrix[4] +
                                  pose.matrix[8] * pose.matrix[8]);
    EXPECT_NEAR(scale, 1.f, 0.1f);
  }
}

TEST(HeadPoseRealTest, ProfileFaceIsTurned) {
  const HeadPose pose = GoldenPose("cameraman_profile.png");
  EXPECT_GT(std::abs(pose.yaw), 25.f);
  EXPECT_LT(pose.matrix[11], -10.f);
}

// MediaPipe's own face geometry for the golden faces: the pose_transform_matrix (its upper three
// rows, row-major; MediaPipe packs it column-major) that @mediapipe/face_mesh 0.4.1657299874 (WASM,
// enableFaceGeometry, default camera) gave for the same images and the same landmarks as the goldens.
struct MediaPipePose {
  const char* image;
  int face;
  std::array<float, 12> rows;
};

TEST(HeadPoseRealTest, MatchesMediaPipesOwnFaceGeometry) {
  const MediaPipePose references[] = {
      {"astronaut.png", 0, {0.9975233, 0.07029372, 0.002592433, -4.953357, -0.06676447, 0.9577565, -0.2797239, 22.79412, -0.02214575, 0.2788579, 0.9600773, -69.98219}},
      {"cameraman_profile.png", 0, {0.7210265, 0.1763648, 0.6700857, -7.155896, 0.1041445, 0.9284954, -0.3564396, 21.98555, -0.6850351, 0.3267884, 0.6511031, -92.25613}},
      {"closeup_background.jpg", 0, {0.9996268, 0.01917136, -0.01947702, 0.02165027, -0.01545257, 0.984308, 0.1757826, -1.92602, 0.02254137, -0.175416, 0.9842367, -30.94262}},
      {"crop_face_astronaut.png", 0, {0.9980938, 0.06029685, -0.01313718, -0.2408353, -0.06136483, 0.9922684, -0.1078765, 0.9635497, 0.006530997, 0.108477, 0.9940773, -22.87761}},
      {"frontal_jesper.jpg", 0, {0.994496, 0.007340682, -0.1045083, -0.6310552, -0.02224259, 0.989594, -0.1421501, 0.6932573, 0.1023774, 0.1436922, 0.9843118, -26.57851}},
      {"grace_hopper_glasses.jpg", 0, {0.998323, -0.05659745, 0.01214453, 0.7401259, 0.05777718, 0.9871178, -0.1491974, 6.477525, -0.003543892, 0.1496489, 0.9887327, -41.94427}},
      {"group3_glasses_qt.jpg", 0, {0.9621781, -0.2716438, 0.02057463, 1.81496, 0.2573766, 0.881691, -0.3954468, 13.3116, 0.08928014, 0.3857855, 0.9182585, -53.25625}},
      {"group3_glasses_qt.jpg", 1, {0.9274209, -0.05808496, -0.3694821, 26.25037, -0.03370592, 0.9708686, -0.2372301, 18.71453, 0.3724979, 0.2324656, 0.8984463, -52.96442}},
      {"group3_glasses_qt.jpg", 2, {0.8852223, 0.2169705, 0.4114678, -19.98769, -0.02946533, 0.9089342, -0.4158979, 14.68874, -0.4642346, 0.3560379, 0.8110017, -50.99141}},
      {"group_bar.jpg", 0, {0.976171, -0.09045792, 0.1972525, -8.538395, 0.1563852, 0.9234345, -0.3504467, 3.009507, -0.150449, 0.3729429, 0.9155758, -56.69855}},
      {"old_photo_dahlgren.jpg", 0, {0.9563535, 0.09626884, 0.2758997, 3.049708, -0.1143454, 0.9921741, 0.05016019, 5.948199, -0.2689116, -0.07951872, 0.9598768, -44.9326}},
      {"pair_bar.jpg", 0, {0.9751832, -0.2036472, -0.0868676, 4.510124, 0.1662768, 0.9327207, -0.3199764, 15.79835, 0.1461855, 0.2975914, 0.9434353, -61.94941}},
      {"pair_bar.jpg", 1, {0.9973099, 0.0283134, 0.06760924, -7.665473, -0.004804967, 0.945653, -0.3251418, 11.87424, -0.07314074, 0.3239423, 0.9432454, -55.3119}},
  };
  double worst_rotation = 0, worst_translation = 0, worst_angle = 0;
  for (const MediaPipePose& reference : references) {
    SCOPED_TRACE(std::string(reference.image) + " face " + std::to_string(reference.face));
    const Golden golden = ReadGolden(reference.image);
    ASSERT_GT(golden.faces.size(), static_cast<size_t>(reference.face));
    auto pose = EstimateHeadPose(RealModel(), golden.faces[reference.face], golden.width, golden.height);
    ASSERT_TRUE(pose.ok()) << pose.error();
    std::array<float, 16> expected{};
    std::copy(reference.rows.begin(), reference.rows.end(), expected.begin());
    expected[15] = 1;
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(pose->matrix[r * 4 + c], expected[r * 4 + c], 1e-4) << "element " << r << "," << c;
        worst_rotation = std::max(worst_rotation, double(std::abs(pose->matrix[r * 4 + c] - expected[r * 4 + c])));
      }
      // The goldens hold landmarks rounded to 0.001 px, MediaPipe saw them unrounded.
      EXPECT_NEAR(pose->matrix[r * 4 + 3], expected[r * 4 + 3], 0.005);
      worst_translation = std::max(worst_translation, double(std::abs(pose->matrix[r * 4 + 3] - expected[r * 4 + 3])));
    }
    const auto angles = YawPitchRollDegrees(expected);
    EXPECT_NEAR(pose->yaw, angles[0], 0.01);
    EXPECT_NEAR(pose->pitch, angles[1], 0.01);
    EXPECT_NEAR(pose->roll, angles[2], 0.01);
    worst_angle = std::max({worst_angle, double(std::abs(pose->yaw - angles[0])),
                            double(std::abs(pose->pitch - angles[1])), double(std::abs(pose->roll - angles[2]))});
  }
  std::printf("[ geometry ] vs MediaPipe (%zu faces): worst rotation element %.2e, translation %.2e cm, angle %.2e deg\n",
              std::size(references), worst_rotation, worst_translation, worst_angle);
}

TEST(HeadPoseRealTest, EveryGoldenFaceHasAPose) {
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SPEAKUP_TEST_DATA_DIR) + "/goldens/mesh468")) {
    const std::string name = entry.path().filename().string();
    if (name == "summary.json" || entry.path().extension() != ".json") continue;
    const Golden golden = ReadGolden(name.substr(0, name.size() - 5));
    for (size_t f = 0; f < golden.faces.size(); ++f) {
      auto pose = EstimateHeadPose(RealModel(), golden.faces[f], golden.width, golden.height);
      ASSERT_TRUE(pose.ok()) << name << " face " << f << ": " << pose.error();
      for (float v : pose->matrix) EXPECT_TRUE(std::isfinite(v));
      std::printf("[ geometry ] %-26s face %zu: yaw %7.2f pitch %7.2f roll %7.2f z %7.2f cm\n", name.c_str(), f,
                  pose->yaw, pose->pitch, pose->roll, pose->matrix[11]);
    }
  }
}

}  // namespace
}  // namespace speakup::face
