// SSD anchors for the BlazeFace detectors, generated the way MediaPipe's SsdAnchorsCalculator does
// (mediapipe/calculators/tflite/ssd_anchors_calculator.cc) for the options in MediaPipe's graphs
// (modules/face_detection/face_detection_short_range_common.pbtxt, face_detection_full_range.pbtxt).
#pragma once

#include <vector>

#include "speakup/face.h"

namespace speakup::face {

struct Anchor {
  float x_center = 0, y_center = 0;  // normalised to the input tensor, [0, 1]
  float width = 1, height = 1;       // normalised; 1 with fixed_anchor_size
};

struct AnchorOptions {
  int input_width = 128;
  int input_height = 128;
  float min_scale = 0.1484375f;
  float max_scale = 0.75f;
  float anchor_offset_x = 0.5f;
  float anchor_offset_y = 0.5f;
  std::vector<int> strides = {8, 16, 16, 16};  // one per layer (num_layers = strides.size())
  std::vector<float> aspect_ratios = {1.0f};
  // > 0 adds one more anchor per cell with this aspect ratio and the scale sqrt(scale * next_scale).
  float interpolated_scale_aspect_ratio = 1.0f;
  bool reduce_boxes_in_lowest_layer = false;
  bool fixed_anchor_size = true;  // every anchor is 1 x 1 (the model regresses absolute sizes)

  // The options of MediaPipe's graphs for each detector model.
  static AnchorOptions ShortRange();  // 128x128, 4 layers, 896 anchors
  static AnchorOptions FullRange();   // 192x192, 1 layer of stride 4, 2304 anchors
  static AnchorOptions For(DetectorKind kind);
};

// Anchors in the order the model's outputs use: layer by layer (layers of equal stride merged),
// then row, column, anchor within the cell.
std::vector<Anchor> GenerateAnchors(const AnchorOptions& options);

}  // namespace speakup::face
