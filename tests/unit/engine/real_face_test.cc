// face_landmark and face_landmark_with_attention on a real face photo (public domain, from Debian's
// python3-skimage: tests/data/SOURCES.md), checked against MediaPipe's own landmarks for the same
// image (tests/data/goldens, made with Google's WASM build), and on a crop with no face.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "png_reader.h"
#include "speakup/engine.h"

namespace speakup::engine {
namespace {

using Point = std::array<double, 3>;

std::vector<Point> GoldenLandmarks(const std::string& golden) {
  std::ifstream file(std::string(SPEAKUP_TEST_DATA_DIR) + "/goldens/" + golden);
  const nlohmann::json json = nlohmann::json::parse(file);
  std::vector<Point> points;
  for (const auto& p : json.at("faces").at(0).at("landmarks")) points.push_back({p[0], p[1], p[2]});
  return points;
}

// A square region of the image, rotated by `angle` about its centre, as MediaPipe's ROIs are.
struct Roi {
  double cx, cy, size, angle;
  // Crop pixel (u, v) in [0, 192) -> image coordinates.
  std::array<double, 2> ToImage(double u, double v) const {
    const double s = size / 192.0;
    const double dx = (u - 96.0) * s, dy = (v - 96.0) * s;
    return {cx + dx * std::cos(angle) - dy * std::sin(angle), cy + dx * std::sin(angle) + dy * std::cos(angle)};
  }
};

// MediaPipe's tracking ROI from landmarks: box of all points, rotation from landmark 33 to 263
// (the eye corners), enlarged 1.5x and made square on the long side.
Roi RoiFromLandmarks(const std::vector<Point>& points) {
  double min_x = 1e9, min_y = 1e9, max_x = -1e9, max_y = -1e9;
  for (const Point& p : points) {
    min_x = std::min(min_x, p[0]); max_x = std::max(max_x, p[0]);
    min_y = std::min(min_y, p[1]); max_y = std::max(max_y, p[1]);
  }
  const double angle = std::atan2(points[263][1] - points[33][1], points[263][0] - points[33][0]);
  return {(min_x + max_x) / 2, (min_y + max_y) / 2, 1.5 * std::max(max_x - min_x, max_y - min_y), angle};
}

// Bilinear sample of the ROI into the model's 192x192x3 input, values in [0, 1], zero outside.
void WarpToInput(const testing::RgbImage& image, const Roi& roi, std::span<float> input) {
  for (int v = 0; v < 192; ++v) {
    for (int u = 0; u < 192; ++u) {
      const auto [x, y] = roi.ToImage(u + 0.5, v + 0.5);
      const double fx = x - 0.5, fy = y - 0.5;
      const int x0 = static_cast<int>(std::floor(fx)), y0 = static_cast<int>(std::floor(fy));
      const double ax = fx - x0, ay = fy - y0;
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int xx, int yy) -> double {
          if (xx < 0 || yy < 0 || xx >= image.width || yy >= image.height) return 0.0;
          return image.pixels[(static_cast<size_t>(yy) * image.width + xx) * 3 + c] / 255.0;
        };
        const double top = at(x0, y0) * (1 - ax) + at(x0 + 1, y0) * ax;
        const double bottom = at(x0, y0 + 1) * (1 - ax) + at(x0 + 1, y0 + 1) * ax;
        input[(static_cast<size_t>(v) * 192 + u) * 3 + c] = static_cast<float>(top * (1 - ay) + bottom * ay);
      }
    }
  }
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct FaceCase {
  std::string model;
  size_t threads;
};

// How CTest names the cases (gtest would otherwise print the struct's bytes).
void PrintTo(const FaceCase& c, std::ostream* os) { *os << c.model << " on " << c.threads << " thread(s)"; }

class RealFace : public ::testing::TestWithParam<FaceCase> {};

TEST_P(RealFace, LandmarksMatchMediaPipeOnAPublicDomainPhoto) {
  const std::string data = SPEAKUP_TEST_DATA_DIR;
  auto image = testing::ReadPng(data + "/faces/crop_face_astronaut.png");
  ASSERT_TRUE(image.ok()) << image.error();
  const std::vector<Point> golden = GoldenLandmarks("mesh468/crop_face_astronaut.png.json");
  ASSERT_EQ(golden.size(), 468u);

  auto model = Model::Load(std::string(SPEAKUP_MODELS_DIR) + "/" + GetParam().model + ".tflite");
  ASSERT_TRUE(model.ok()) << model.error();
  ThreadPool pool(GetParam().threads);
  auto runner = Runner::Create(*model, &pool);
  ASSERT_TRUE(runner.ok()) << runner.error();

  const Roi roi = RoiFromLandmarks(golden);
  WarpToInput(*image, roi, (*runner)->input(0));
  ASSERT_TRUE((*runner)->Run().ok());

  const int flag = (*model)->output_index(GetParam().model == "face_landmark" ? "conv2d_31" : "conv_faceflag");
  ASSERT_GE(flag, 0);
  const double presence = Sigmoid((*runner)->output(flag)[0]);
  EXPECT_GT(presence, 0.9);

  const auto mesh = (*runner)->output(0);
  const double interocular = std::hypot(golden[263][0] - golden[33][0], golden[263][1] - golden[33][1]);
  double sum = 0, worst = 0;
  for (size_t i = 0; i < 468; ++i) {
    const auto [x, y] = roi.ToImage(mesh[i * 3], mesh[i * 3 + 1]);
    const double d = std::hypot(x - golden[i][0], y - golden[i][1]);
    sum += d;
    worst = std::max(worst, d);
  }
  const double mean = sum / 468;
  // The crop is MediaPipe's tracking ROI rebuilt from its own landmarks, not the exact ROI it used,
  // so the points agree to a few percent of the inter-ocular distance rather than exactly.
  EXPECT_LT(mean / interocular, 0.05) << "mean " << mean << " px, inter-ocular " << interocular << " px";
  EXPECT_LT(worst / interocular, 0.25) << "worst " << worst << " px";
  std::cout << GetParam().model << ": presence " << presence << ", mean distance to MediaPipe "
            << 100 * mean / interocular << "% of the inter-ocular distance, worst " << 100 * worst / interocular << "%\n";
}

TEST_P(RealFace, NonFaceCropScoresLow) {
  auto image = testing::ReadPng(std::string(SPEAKUP_TEST_DATA_DIR) + "/faces/crop_noface_coffee.png");
  ASSERT_TRUE(image.ok()) << image.error();
  auto model = Model::Load(std::string(SPEAKUP_MODELS_DIR) + "/" + GetParam().model + ".tflite");
  ASSERT_TRUE(model.ok()) << model.error();
  ThreadPool pool(GetParam().threads);
  auto runner = Runner::Create(*model, &pool);
  ASSERT_TRUE(runner.ok()) << runner.error();
  const Roi whole{image->width / 2.0, image->height / 2.0, static_cast<double>(image->width), 0.0};
  WarpToInput(*image, whole, (*runner)->input(0));
  ASSERT_TRUE((*runner)->Run().ok());
  const int flag = (*model)->output_index(GetParam().model == "face_landmark" ? "conv2d_31" : "conv_faceflag");
  const double presence = Sigmoid((*runner)->output(flag)[0]);
  EXPECT_LT(presence, 0.5);  // MediaPipe's presence threshold: below it the face is dropped
  std::cout << GetParam().model << ": presence on a non-face crop " << presence << "\n";
}

INSTANTIATE_TEST_SUITE_P(Models, RealFace,
                         ::testing::Values(FaceCase{"face_landmark", 1}, FaceCase{"face_landmark", 2},
                                           FaceCase{"face_landmark_with_attention", 1},
                                           FaceCase{"face_landmark_with_attention", 2}),
                         [](const auto& info) {
                           return info.param.model + "_" + std::to_string(info.param.threads) + "threads";
                         });

}  // namespace
}  // namespace speakup::engine
