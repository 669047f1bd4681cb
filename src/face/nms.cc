#include "nms.h"

#include <algorithm>

namespace speakup::face {

float IntersectionOverUnion(const NormalizedDetection& a, const NormalizedDetection& b) {
  const float ax1 = a.xmin + a.width, ay1 = a.ymin + a.height;
  const float bx1 = b.xmin + b.width, by1 = b.ymin + b.height;
  const float ix0 = std::max(a.xmin, b.xmin), iy0 = std::max(a.ymin, b.ymin);
  const float ix1 = std::min(ax1, bx1), iy1 = std::min(ay1, by1);
  if (ix1 < ix0 || iy1 < iy0) return 0.0f;
  const float intersection = (ix1 - ix0) * (iy1 - iy0);
  const float normalization = a.width * a.height + b.width * b.height - intersection;
  return normalization > 0.0f ? intersection / normalization : 0.0f;
}

std::vector<NormalizedDetection> WeightedNonMaxSuppression(std::vector<NormalizedDetection> detections,
                                                           float iou_threshold) {
  // Best first; equal scores keep their anchor order.
  std::stable_sort(
      detections.begin(), detections.end(),
      [](const NormalizedDetection& a, const NormalizedDetection& b) { return a.score > b.score; });
  std::vector<NormalizedDetection> output;
  std::vector<NormalizedDetection> remaining = std::move(detections), rest;
  while (!remaining.empty()) {
    const NormalizedDetection& best = remaining.front();
    float total = 0, xmin = 0, ymin = 0, xmax = 0, ymax = 0;
    std::array<Point2, 6> keypoints{};
    rest.clear();
    for (const NormalizedDetection& candidate : remaining) {
      if (IntersectionOverUnion(candidate, best) > iou_threshold) {
        const float w = candidate.score;
        total += w;
        xmin += candidate.xmin * w;
        ymin += candidate.ymin * w;
        xmax += (candidate.xmin + candidate.width) * w;
        ymax += (candidate.ymin + candidate.height) * w;
        for (size_t k = 0; k < keypoints.size(); ++k) {
          keypoints[k].x += candidate.keypoints[k].x * w;
          keypoints[k].y += candidate.keypoints[k].y * w;
        }
      } else {
        rest.push_back(candidate);
      }
    }
    NormalizedDetection merged = best;
    if (total > 0) {
      merged.xmin = xmin / total;
      merged.ymin = ymin / total;
      merged.width = xmax / total - merged.xmin;
      merged.height = ymax / total - merged.ymin;
      for (size_t k = 0; k < keypoints.size(); ++k) {
        merged.keypoints[k] = {keypoints[k].x / total, keypoints[k].y / total};
      }
    }
    output.push_back(merged);
    // A best box that overlaps nothing, not even itself (zero area), ends the loop as in MediaPipe.
    if (rest.size() == remaining.size()) break;
    remaining.swap(rest);
  }
  return output;
}

}  // namespace speakup::face
