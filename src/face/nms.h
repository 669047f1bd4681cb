// Weighted non-maximum suppression as MediaPipe's NonMaxSuppressionCalculator runs it for the face
// detector (algorithm WEIGHTED, overlap INTERSECTION_OVER_UNION, min_suppression_threshold 0.3;
// mediapipe/calculators/util/non_max_suppression_calculator.cc).
#pragma once

#include <vector>

#include "detection_decode.h"

namespace speakup::face {

// Intersection over union of two boxes (normalised or pixel, both alike); 0 when they do not
// overlap or the union is empty.
float IntersectionOverUnion(const NormalizedDetection& a, const NormalizedDetection& b);

// Repeatedly takes the best remaining detection and every remaining one overlapping it by IoU >
// threshold (itself included); outputs one detection per group: the box corners and the keypoints
// are the score-weighted means over the group, the score is the best one's. Output is best first.
std::vector<NormalizedDetection> WeightedNonMaxSuppression(std::vector<NormalizedDetection> detections,
                                                           float iou_threshold = 0.3f);

}  // namespace speakup::face
