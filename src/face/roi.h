// Regions of interest for the landmark model, computed as MediaPipe's graphs do:
//  - from a detection: modules/face_landmark/face_detection_front_detection_to_roi.pbtxt
//    (DetectionsToRectsCalculator, rotation from keypoint 0 to keypoint 1, target angle 0; then
//    RectTransformationCalculator scale 1.5 x 1.5, square_long);
//  - from landmarks (tracking): face_landmark_landmarks_to_roi.pbtxt (LandmarksToDetectionCalculator:
//    the box of all landmarks; rotation from landmark 33 to landmark 263; scale 1.5, square_long).
// MediaPipe works in coordinates normalised by the image size and brings the size in where it
// matters (the rotation angle and the long side are taken in pixels); this code follows the same
// steps, so that non-square images give the same rectangles.
#pragma once

#include <cstddef>
#include <vector>

#include "speakup/face.h"

namespace speakup::face {

inline constexpr float kRoiScale = 1.5f;
inline constexpr int kRoiRotationStartLandmark = 33;  // outer corner of the eye on the image's left
inline constexpr int kRoiRotationEndLandmark = 263;   // outer corner of the other eye

// square_long: the legacy graph squares the box on its long side (face_detection_front_detection_to_roi);
// the Tasks FaceDetectorGraph does not (face_detector_graph.cc ConfigureRectTransformationCalculator:
// scale 1.5 x 1.5 only).
Roi RoiFromDetection(const Detection& detection, int image_width, int image_height, bool square_long = true);

// `landmarks` in image pixels (468 or 478 of them; all count for the box).
Roi RoiFromLandmarks(const std::vector<Landmark>& landmarks, int image_width, int image_height);

// Whole pixels [x, x + width) x [y, y + height).
struct PixelRect {
  int x = 0, y = 0, width = 0, height = 0;
};

// The pixels a warp of `roi` (either warp, any border mode) may read: the rotated rectangle's bounding
// box with a margin for the bilinear neighbours and the sample positions' rounding, clipped to the
// image but never empty (a rectangle off the image still reads its nearest edge). A non-finite ROI
// gives the whole image.
PixelRect RoiFootprint(const Roi& roi, int image_width, int image_height);

// The axis-aligned box of a face's landmarks (a Face's `box`).
Box BoundingBox(const std::vector<Landmark>& landmarks);

// MediaPipe's NormalizeRadians: wraps to [-pi, pi).
float NormalizeRadians(float angle);

// How MediaPipe's face_landmark_front graphs keep ROIs from overlapping before running the landmark
// model (AssociationNormRectCalculator, min_similarity_threshold 0.5; association_calculator.h):
// the ROIs are taken in order (those from this frame's detections first, best first, then those
// tracked from the previous frame's landmarks); each one removes every ROI already kept whose
// overlap with it is > threshold, and is appended. So of two overlapping ROIs the later one wins,
// even when it comes from a weaker detection. The overlap is the IoU of the axis-aligned
// rectangles (rotation ignored, as MediaPipe does).
inline constexpr float kRoiAssociationThreshold = 0.5f;
float RoiOverlap(const Roi& a, const Roi& b);
// Returns the indices into `rois` of the ROIs kept, in MediaPipe's output order.
std::vector<size_t> AssociateRois(const std::vector<Roi>& rois, float threshold = kRoiAssociationThreshold);

}  // namespace speakup::face
