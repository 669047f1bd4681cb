#include "detection_decode.h"

#include <algorithm>
#include <cmath>

namespace speakup::face {

DecodeOptions DecodeOptions::For(DetectorKind kind, float min_score) {
  DecodeOptions options;
  const float size = kind == DetectorKind::kFullRange ? 192.0f : 128.0f;
  options.x_scale = options.y_scale = options.w_scale = options.h_scale = size;
  options.min_score = min_score;
  return options;
}

std::vector<NormalizedDetection> DecodeDetections(std::span<const float> raw_boxes,
                                                  std::span<const float> raw_scores,
                                                  const std::vector<Anchor>& anchors,
                                                  const DecodeOptions& options) {
  std::vector<NormalizedDetection> detections;
  const size_t count = std::min(
      {anchors.size(), raw_scores.size(), raw_boxes.size() / static_cast<size_t>(options.num_coords)});
  const int keypoints = std::min(options.num_keypoints, 6);
  for (size_t i = 0; i < count; ++i) {
    float logit = raw_scores[i];
    logit = std::clamp(logit, -options.score_clipping, options.score_clipping);
    const float score = 1.0f / (1.0f + std::exp(-logit));
    // MediaPipe drops the score (and with it the detection) only when it is below the threshold.
    if (score < options.min_score) continue;

    const Anchor& anchor = anchors[i];
    const float* raw = raw_boxes.data() + i * options.num_coords;
    const float* box = raw + options.box_coord_offset;
    const float x_center = box[0] / options.x_scale * anchor.width + anchor.x_center;
    const float y_center = box[1] / options.y_scale * anchor.height + anchor.y_center;
    const float w = box[2] / options.w_scale * anchor.width;
    const float h = box[3] / options.h_scale * anchor.height;

    NormalizedDetection detection;
    detection.score = score;
    const float xmin = x_center - w / 2.f, ymin = y_center - h / 2.f;
    const float xmax = x_center + w / 2.f, ymax = y_center + h / 2.f;
    detection.xmin = xmin;
    detection.ymin = ymin;
    detection.width = xmax - xmin;
    detection.height = ymax - ymin;
    if (!(detection.width >= 0) || !(detection.height >= 0)) continue;  // negative or NaN
    for (int k = 0; k < keypoints; ++k) {
      const float* point = raw + options.keypoint_coord_offset + 2 * k;
      detection.keypoints[k].x = point[0] / options.x_scale * anchor.width + anchor.x_center;
      detection.keypoints[k].y = point[1] / options.y_scale * anchor.height + anchor.y_center;
    }
    detections.push_back(detection);
  }
  return detections;
}

Letterbox ComputeLetterbox(int image_width, int image_height, int tensor_width, int tensor_height) {
  Letterbox letterbox;
  // The whole image as the region (GetRoi without a rect) ...
  float width = static_cast<float>(image_width), height = static_cast<float>(image_height);
  letterbox.roi.cx = 0.5f * image_width;
  letterbox.roi.cy = 0.5f * image_height;
  // ... grown to the tensor's aspect ratio (PadRoi with keep_aspect_ratio).
  const float tensor_aspect = static_cast<float>(tensor_height) / tensor_width;
  const float roi_aspect = height / width;
  if (tensor_aspect > roi_aspect) {
    letterbox.pad_y = (1.0f - roi_aspect / tensor_aspect) / 2.0f;
    height = width * tensor_aspect;
  } else {
    letterbox.pad_x = (1.0f - tensor_aspect / roi_aspect) / 2.0f;
    width = height / tensor_aspect;
  }
  letterbox.roi.width = width;
  letterbox.roi.height = height;
  letterbox.roi.rotation = 0;
  return letterbox;
}

NormalizedDetection RemoveLetterbox(const NormalizedDetection& detection, const Letterbox& letterbox) {
  const float left = letterbox.pad_x, top = letterbox.pad_y;
  const float sx = 1.0f - 2 * letterbox.pad_x, sy = 1.0f - 2 * letterbox.pad_y;
  NormalizedDetection out = detection;
  out.xmin = (detection.xmin - left) / sx;
  out.ymin = (detection.ymin - top) / sy;
  out.width = detection.width / sx;
  out.height = detection.height / sy;
  for (size_t k = 0; k < out.keypoints.size(); ++k) {
    out.keypoints[k].x = (detection.keypoints[k].x - left) / sx;
    out.keypoints[k].y = (detection.keypoints[k].y - top) / sy;
  }
  return out;
}

Detection ToPixels(const NormalizedDetection& detection, int image_width, int image_height) {
  const float w = static_cast<float>(image_width), h = static_cast<float>(image_height);
  Detection out;
  out.score = detection.score;
  out.box = {detection.xmin * w, detection.ymin * h, detection.width * w, detection.height * h};
  for (size_t k = 0; k < out.keypoints.size(); ++k) {
    out.keypoints[k] = {detection.keypoints[k].x * w, detection.keypoints[k].y * h};
  }
  return out;
}

}  // namespace speakup::face
