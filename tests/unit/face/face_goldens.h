// Shared by the face layer's tests: the test images and MediaPipe's own landmarks for them
// (tests/data/goldens, made with Google's WASM build; see tests/data/SOURCES.md).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "jpeg_reader.h"
#include "speakup/face.h"

namespace speakup::face::testdata {

inline const std::vector<std::string>& ImageNames() {
  static const std::vector<std::string> names = {
      "astronaut.png",          "cameraman_profile.png",    "cat_noface.png",
      "closeup_background.jpg", "crop_face_astronaut.png",  "crop_noface_coffee.png",
      "frontal_jesper.jpg",     "grace_hopper_glasses.jpg", "group3_glasses_qt.jpg",
      "group_bar.jpg",          "old_photo_dahlgren.jpg",   "pair_bar.jpg",
      "profile_pool.jpg"};
  return names;
}

struct LoadedImage {
  testing::RgbImage rgb;
  ImageView view() const { return {rgb.pixels.data(), rgb.width, rgb.height, 3 * rgb.width}; }
};

inline LoadedImage LoadImage(const std::string& name) {
  auto image = testing::ReadImage(std::string(SPEAKUP_TEST_DATA_DIR) + "/faces/" + name);
  if (!image) throw std::runtime_error(image.error());
  return {std::move(*image)};
}

using GoldenFace = std::vector<std::array<double, 3>>;  // pixels, z = z_norm * width

struct Golden {
  int width = 0, height = 0;
  std::vector<GoldenFace> faces;
};

// set: "mesh468" or "mesh478".
inline Golden LoadGolden(const std::string& set, const std::string& name) {
  std::ifstream file(std::string(SPEAKUP_TEST_DATA_DIR) + "/goldens/" + set + "/" + name + ".json");
  if (!file) throw std::runtime_error("missing golden " + set + "/" + name);
  const nlohmann::json json = nlohmann::json::parse(file);
  Golden golden;
  golden.width = json.at("width");
  golden.height = json.at("height");
  for (const auto& face : json.at("faces")) {
    GoldenFace points;
    for (const auto& p : face.at("landmarks")) points.push_back({p[0], p[1], p[2]});
    golden.faces.push_back(std::move(points));
  }
  return golden;
}

// The Face Landmarker goldens (goldens/landmarker: Google's Tasks API FaceLandmarker, see SOURCES.md):
// landmarks as above plus 52 blendshape scores (model order) and the facial transformation matrix
// (row-major, translation in cm at [3], [7], [11]).
struct LandmarkerGoldenFace {
  GoldenFace landmarks;
  std::vector<std::string> blendshape_names;
  std::vector<double> blendshapes;
  std::array<double, 16> matrix{};
};

struct LandmarkerGolden {
  int width = 0, height = 0;
  std::vector<LandmarkerGoldenFace> faces;
};

inline LandmarkerGolden ParseLandmarkerGolden(const nlohmann::json& json) {
  LandmarkerGolden golden;
  golden.width = json.at("width");
  golden.height = json.at("height");
  for (const auto& face : json.at("faces")) {
    LandmarkerGoldenFace parsed;
    for (const auto& p : face.at("landmarks")) parsed.landmarks.push_back({p[0], p[1], p[2]});
    for (const auto& b : face.at("blendshapes")) {
      parsed.blendshape_names.push_back(b.at("name"));
      parsed.blendshapes.push_back(b.at("score"));
    }
    for (size_t i = 0; i < 16; ++i) parsed.matrix[i] = face.at("matrix").at(i);
    golden.faces.push_back(std::move(parsed));
  }
  return golden;
}

// path: relative to tests/data/goldens, e.g. "landmarker/astronaut.png.json".
inline LandmarkerGolden LoadLandmarkerGolden(const std::string& path) {
  std::ifstream file(std::string(SPEAKUP_TEST_DATA_DIR) + "/goldens/" + path);
  if (!file) throw std::runtime_error("missing golden " + path);
  return ParseLandmarkerGolden(nlohmann::json::parse(file));
}

inline std::array<double, 2> Mean(const GoldenFace& face, int a, int b) {
  return {(face[a][0] + face[b][0]) / 2, (face[a][1] + face[b][1]) / 2};
}

inline double Distance(double ax, double ay, double bx, double by) { return std::hypot(ax - bx, ay - by); }

// Inter-ocular distance as the accuracy bound uses it: landmarks 33 and 263 (outer eye corners).
inline double InterOcular(const GoldenFace& face) {
  return Distance(face[33][0], face[33][1], face[263][0], face[263][1]);
}

// Centre of the landmarks' bounding box.
template <typename Points, typename GetX, typename GetY>
std::array<double, 2> BoxCentre(const Points& points, GetX x_of, GetY y_of) {
  double min_x = 1e30, max_x = -1e30, min_y = 1e30, max_y = -1e30;
  for (const auto& p : points) {
    min_x = std::min<double>(min_x, x_of(p));
    max_x = std::max<double>(max_x, x_of(p));
    min_y = std::min<double>(min_y, y_of(p));
    max_y = std::max<double>(max_y, y_of(p));
  }
  return {(min_x + max_x) / 2, (min_y + max_y) / 2};
}

inline std::array<double, 2> BoxCentre(const GoldenFace& face) {
  return BoxCentre(
      face, [](const auto& p) { return p[0]; }, [](const auto& p) { return p[1]; });
}

inline std::array<double, 2> BoxCentre(const std::vector<Landmark>& landmarks) {
  return BoxCentre(
      landmarks, [](const Landmark& p) { return p.x; }, [](const Landmark& p) { return p.y; });
}

}  // namespace speakup::face::testdata
