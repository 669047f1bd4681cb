// Decoding BlazeFace's raw outputs into detections, and the letterbox that fits a whole image into
// the detector's square input. Pure functions, normalised coordinates; facts from MediaPipe's
// TensorsToDetectionsCalculator, ImageToTensorCalculator (image_to_tensor_utils.cc: GetRoi, PadRoi)
// and DetectionLetterboxRemovalCalculator.
#pragma once

#include <array>
#include <span>
#include <vector>

#include "anchors.h"
#include "speakup/face.h"

namespace speakup::face {

// A detection in normalised coordinates (of the detector's input tensor before letterbox removal,
// of the image after it): box corner and size, 6 keypoints.
struct NormalizedDetection {
  float score = 0;
  float xmin = 0, ymin = 0, width = 0, height = 0;
  std::array<Point2, 6> keypoints;
};

struct DecodeOptions {
  int num_coords = 16;  // per anchor: 4 box values, then 6 keypoints x (x, y)
  int box_coord_offset = 0;
  int keypoint_coord_offset = 4;
  int num_keypoints = 6;
  float x_scale = 128, y_scale = 128, w_scale = 128, h_scale = 128;  // the input size
  float score_clipping = 100;  // logits clipped to [-100, 100] before the sigmoid
  float min_score = 0.5f;      // detections below it are dropped

  static DecodeOptions For(DetectorKind kind, float min_score);
};

// raw_boxes: num_anchors x num_coords, in x-before-y order (MediaPipe's reverse_output_order):
// x_center, y_center, w, h offsets, then keypoint x, y. raw_scores: one logit per anchor.
// Returns detections with score >= min_score in anchor order; boxes with a negative or NaN size are
// dropped (as MediaPipe does).
std::vector<NormalizedDetection> DecodeDetections(std::span<const float> raw_boxes,
                                                  std::span<const float> raw_scores,
                                                  const std::vector<Anchor>& anchors,
                                                  const DecodeOptions& options);

// How a whole image is fitted into a tensor keeping its aspect ratio: the region of the image
// (centre and size in pixels, possibly larger than the image: the excess is the zero border) that
// maps onto the whole tensor, and the padding on each side as a fraction of the tensor.
struct Letterbox {
  Roi roi;          // pixels; rotation 0
  float pad_x = 0;  // left = right padding, fraction of the tensor width
  float pad_y = 0;  // top = bottom padding, fraction of the tensor height
};

Letterbox ComputeLetterbox(int image_width, int image_height, int tensor_width, int tensor_height);

// Tensor-normalised -> image-normalised coordinates (MediaPipe's DetectionLetterboxRemoval).
NormalizedDetection RemoveLetterbox(const NormalizedDetection& detection, const Letterbox& letterbox);

// Image-normalised -> image pixels.
Detection ToPixels(const NormalizedDetection& detection, int image_width, int image_height);

}  // namespace speakup::face
