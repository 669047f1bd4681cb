#include "roi.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace speakup::face {
namespace {

// A box and two reference points in normalised image coordinates -> the landmark model's ROI.
Roi RoiFromNormalizedBox(float xmin, float ymin, float width, float height, Point2 start, Point2 end,
                         int image_width, int image_height, bool square_long = true) {
  const float w_img = static_cast<float>(image_width), h_img = static_cast<float>(image_height);
  // DetectionsToRectsCalculator::ComputeRotation: the angle of start -> end in pixels.
  const float x0 = start.x * w_img, y0 = start.y * h_img;
  const float x1 = end.x * w_img, y1 = end.y * h_img;
  const float target_angle = 0.0f;
  const float rotation = NormalizeRadians(target_angle - std::atan2(-(y1 - y0), x1 - x0));

  // DetectionToNormalizedRect: the box's centre and size.
  const float x_center = xmin + width / 2;
  const float y_center = ymin + height / 2;

  // RectTransformationCalculator::TransformNormalizedRect (no shift): square on the long side in
  // pixels, then scaled.
  float rect_width = width * kRoiScale;
  float rect_height = height * kRoiScale;
  if (square_long) {
    const float long_side = std::max(width * w_img, height * h_img);
    rect_width = long_side / w_img * kRoiScale;
    rect_height = long_side / h_img * kRoiScale;
  }

  // ImageToTensorCalculator's GetRoi: normalised rect -> pixels.
  Roi roi;
  roi.cx = x_center * w_img;
  roi.cy = y_center * h_img;
  roi.width = rect_width * w_img;
  roi.height = rect_height * h_img;
  roi.rotation = rotation;
  return roi;
}

}  // namespace

float NormalizeRadians(float angle) {
  const double pi = std::numbers::pi;
  return static_cast<float>(angle - 2 * pi * std::floor((angle - (-pi)) / (2 * pi)));
}

float RoiOverlap(const Roi& a, const Roi& b) {
  const float ax0 = a.cx - a.width / 2, ay0 = a.cy - a.height / 2;
  const float bx0 = b.cx - b.width / 2, by0 = b.cy - b.height / 2;
  const float ix0 = std::max(ax0, bx0), iy0 = std::max(ay0, by0);
  const float ix1 = std::min(ax0 + a.width, bx0 + b.width), iy1 = std::min(ay0 + a.height, by0 + b.height);
  if (ix1 < ix0 || iy1 < iy0) return 0.0f;
  const float intersection = (ix1 - ix0) * (iy1 - iy0);
  const float union_area = a.width * a.height + b.width * b.height - intersection;
  return union_area > 0.0f ? intersection / union_area : 0.0f;
}

std::vector<size_t> AssociateRois(const std::vector<Roi>& rois, float threshold) {
  std::vector<size_t> kept;
  for (size_t i = 0; i < rois.size(); ++i) {
    std::erase_if(kept, [&](size_t k) { return RoiOverlap(rois[i], rois[k]) > threshold; });
    kept.push_back(i);
  }
  return kept;
}

Roi RoiFromDetection(const Detection& detection, int image_width, int image_height, bool square_long) {
  const float w = static_cast<float>(image_width), h = static_cast<float>(image_height);
  const Point2 start{detection.keypoints[0].x / w, detection.keypoints[0].y / h};
  const Point2 end{detection.keypoints[1].x / w, detection.keypoints[1].y / h};
  return RoiFromNormalizedBox(detection.box.x / w, detection.box.y / h, detection.box.width / w,
                              detection.box.height / h, start, end, image_width, image_height, square_long);
}

Roi RoiFromLandmarks(const std::vector<Landmark>& landmarks, int image_width, int image_height) {
  if (landmarks.size() <= static_cast<size_t>(kRoiRotationEndLandmark)) return Roi{};
  const float w = static_cast<float>(image_width), h = static_cast<float>(image_height);
  // LandmarksToDetectionCalculator: the box of all (normalised) landmarks. Its maxima start at
  // FLT_MIN (the smallest positive float, not the lowest), so a face wholly off the image's left or
  // top edge gets a box reaching 0 there; kept for identical rectangles.
  float min_x = std::numeric_limits<float>::max(), max_x = std::numeric_limits<float>::min();
  float min_y = std::numeric_limits<float>::max(), max_y = std::numeric_limits<float>::min();
  for (const Landmark& landmark : landmarks) {
    const float x = landmark.x / w, y = landmark.y / h;
    min_x = std::min(min_x, x);
    max_x = std::max(max_x, x);
    min_y = std::min(min_y, y);
    max_y = std::max(max_y, y);
  }
  const Landmark& a = landmarks[kRoiRotationStartLandmark];
  const Landmark& b = landmarks[kRoiRotationEndLandmark];
  return RoiFromNormalizedBox(min_x, min_y, max_x - min_x, max_y - min_y, {a.x / w, a.y / h},
                              {b.x / w, b.y / h}, image_width, image_height);
}

Box BoundingBox(const std::vector<Landmark>& landmarks) {
  if (landmarks.empty()) return {};
  float min_x = landmarks[0].x, max_x = min_x, min_y = landmarks[0].y, max_y = min_y;
  for (const Landmark& p : landmarks) {
    min_x = std::min(min_x, p.x);
    max_x = std::max(max_x, p.x);
    min_y = std::min(min_y, p.y);
    max_y = std::max(max_y, p.y);
  }
  return {min_x, min_y, max_x - min_x, max_y - min_y};
}

PixelRect RoiFootprint(const Roi& roi, int image_width, int image_height) {
  const PixelRect whole{0, 0, image_width, image_height};
  if (!std::isfinite(roi.cx) || !std::isfinite(roi.cy) || !std::isfinite(roi.width) || !std::isfinite(roi.height) ||
      !std::isfinite(roi.rotation) || image_width <= 0 || image_height <= 0) {
    return whole;
  }
  constexpr double kMargin = 3;  // a bilinear sample reads floor(p) and floor(p) + 1; positions round
  const double c = std::abs(std::cos(static_cast<double>(roi.rotation)));
  const double s = std::abs(std::sin(static_cast<double>(roi.rotation)));
  const double half_w = 0.5 * (c * std::abs(roi.width) + s * std::abs(roi.height));
  const double half_h = 0.5 * (s * std::abs(roi.width) + c * std::abs(roi.height));
  auto clamp_to = [](double v, int last) { return static_cast<int>(std::clamp(v, 0.0, static_cast<double>(last))); };
  const int x0 = clamp_to(std::floor(roi.cx - half_w - kMargin), image_width - 1);
  const int y0 = clamp_to(std::floor(roi.cy - half_h - kMargin), image_height - 1);
  const int x1 = clamp_to(std::ceil(roi.cx + half_w + kMargin), image_width - 1) + 1;
  const int y1 = clamp_to(std::ceil(roi.cy + half_h + kMargin), image_height - 1) + 1;
  return {x0, y0, x1 - x0, y1 - y0};
}

}  // namespace speakup::face
