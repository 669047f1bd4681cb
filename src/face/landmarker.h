// Face Mesh landmark model on one ROI, as MediaPipe's face_landmark_cpu.pbtxt runs it: the rotated
// ROI warped to 192x192 RGB in [0, 1] (ImageToTensorCalculator, default border: replicate), the model,
// the presence score (sigmoid of the face flag), the landmarks decoded (TensorsToLandmarks; for the
// attention model refined into 478 points by LandmarksRefinementCalculator) and projected back into
// the image through the ROI (LandmarkProjectionCalculator).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "speakup/engine.h"
#include "speakup/face.h"
#include "speakup/status.h"

namespace speakup::face {

struct LandmarkerResult {
  float presence = 0;  // sigmoid of the face flag; MediaPipe keeps a face when presence > 0.5 (strictly)
  std::vector<Landmark> landmarks;  // 468 or 478, image pixels; z on the scale of x (see below)
  double warp_ms = 0, inference_ms = 0;
};

// Model outputs (in crop pixels of the model input) -> 468 or 478 landmarks in crop pixels, x, y, z.
// mesh: 1404 floats; with refinement also lips 160, left eye 142, right eye 142, left iris 10, right
// iris 10 (MediaPipe's output order of face_landmark_with_attention.tflite).
std::vector<Landmark> RefineLandmarks(std::span<const float> mesh, std::span<const float> lips,
                                      std::span<const float> left_eye, std::span<const float> right_eye,
                                      std::span<const float> left_iris, std::span<const float> right_iris);

// Crop pixels (of a crop_size x crop_size model input) -> image pixels through `roi`, in place.
// x, y: rotated and scaled by the ROI; z scaled like x (z_image = z_crop / crop_size * roi.width),
// which is MediaPipe's normalised z (relative to the image width) times the image width.
void ProjectLandmarks(const Roi& roi, int crop_size, std::vector<Landmark>& landmarks);

// The Face Landmarker's projection (LandmarkProjectionCalculator with the image size, as the Tasks build
// the goldens come from behaves): x, y as above; z scaled by CalculateZScale, the length in normalised
// image coordinates of the crop's x axis, times the image width. That equals the ROI's width for an
// upright ROI or a square image, and differs for a rotated ROI in a non-square image.
void ProjectLandmarksWithImageSize(const Roi& roi, int crop_size, int image_width, int image_height,
                                   std::vector<Landmark>& landmarks);

class Landmarker {
 public:
  // kind: which model `model` is (kMesh: face_landmark.tflite, 468 points; kMeshRefined:
  // face_landmark_with_attention.tflite, 478; kLandmarker: face_landmarks_detector.tflite, 478).
  // pool may be null.
  static Expected<Landmarker> Create(std::shared_ptr<const engine::Model> model, LandmarkModel kind,
                                     engine::ThreadPool* pool);
  // The legacy models: attention selects kMeshRefined over kMesh.
  static Expected<Landmarker> Create(std::shared_ptr<const engine::Model> model, bool attention,
                                     engine::ThreadPool* pool) {
    return Create(std::move(model), attention ? LandmarkModel::kMeshRefined : LandmarkModel::kMesh, pool);
  }

  Landmarker(Landmarker&&) noexcept = default;
  Landmarker& operator=(Landmarker&&) noexcept = default;
  ~Landmarker() = default;

  // Landmarks of the face in `roi` (image pixels). Always returns the landmarks, whatever the
  // presence; the caller applies its threshold.
  Expected<LandmarkerResult> Run(const ImageView& image, const Roi& roi);

  bool attention() const { return kind_ == LandmarkModel::kMeshRefined; }
  LandmarkModel kind() const { return kind_; }
  int input_size() const { return input_size_; }

 private:
  Landmarker() = default;
  std::unique_ptr<engine::Runner> runner_;
  LandmarkModel kind_ = LandmarkModel::kMesh;
  int input_size_ = 192;
};

}  // namespace speakup::face
