// Comparing a Face Landmarker face with a golden one (Google's FaceLandmarker output): landmarks in
// inter-ocular distances, blendshape scores, and the angle between the poses' rotations. Used by the
// photo and the video golden tests.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <vector>

#include "speakup/face_types.h"

namespace speakup::test {

// The rotation of a row-major 4x4 pose whose 3x3 is a rotation times a scale.
inline std::array<double, 9> RotationOf(const std::array<double, 16>& m) {
  std::array<double, 9> r{};
  for (int col = 0; col < 3; ++col) {
    const double norm = std::hypot(m[col], m[4 + col], m[8 + col]);
    for (int row = 0; row < 3; ++row) r[3 * row + col] = m[4 * row + col] / norm;
  }
  return r;
}

// Angle of the rotation between two poses, degrees.
inline double RotationDifferenceDegrees(const std::array<double, 16>& a, const std::array<double, 16>& b) {
  const auto ra = RotationOf(a), rb = RotationOf(b);
  double trace = 0;  // trace(ra * rb^T)
  for (int i = 0; i < 9; ++i) trace += ra[i] * rb[i];
  return std::acos(std::clamp((trace - 1) / 2, -1.0, 1.0)) * 180 / std::numbers::pi;
}

struct LandmarkerErrors {
  double landmarks_percent_iod = 0;  // mean (x, y) distance over the landmarks / inter-ocular distance
  double z_percent_iod = 0;          // mean |z difference| / inter-ocular distance
  double blendshapes_mean = 0, blendshapes_worst = 0;
  double rotation_degrees = 0;
};

// `landmarks`: the golden's, pixels (z on the scale of x); the inter-ocular distance is between
// landmarks 33 and 263 (outer eye corners). `matrix`: row-major.
inline LandmarkerErrors CompareWithGolden(const face::Face& face, const std::vector<std::array<double, 3>>& landmarks,
                                          const std::vector<double>& blendshapes,
                                          const std::array<double, 16>& matrix) {
  LandmarkerErrors e;
  const auto& g = landmarks;
  const double interocular = std::hypot(g[263][0] - g[33][0], g[263][1] - g[33][1]);
  double sum = 0, z_sum = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    sum += std::hypot(face.landmarks[i].x - g[i][0], face.landmarks[i].y - g[i][1]);
    z_sum += std::abs(face.landmarks[i].z - g[i][2]);
  }
  e.landmarks_percent_iod = 100 * sum / g.size() / interocular;
  e.z_percent_iod = 100 * z_sum / g.size() / interocular;
  double blend_sum = 0;
  for (size_t i = 0; i < blendshapes.size(); ++i) {
    const double d = std::abs(face.blendshapes[i] - blendshapes[i]);
    blend_sum += d;
    e.blendshapes_worst = std::max(e.blendshapes_worst, d);
  }
  e.blendshapes_mean = blend_sum / blendshapes.size();
  std::array<double, 16> pose{};
  std::copy(face.pose.begin(), face.pose.end(), pose.begin());
  e.rotation_degrees = RotationDifferenceDegrees(pose, matrix);
  return e;
}

}  // namespace speakup::test
