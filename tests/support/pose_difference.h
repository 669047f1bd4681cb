// Comparing facial transformation matrices in golden tests: the angle between two poses' rotations.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

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

}  // namespace speakup::test
