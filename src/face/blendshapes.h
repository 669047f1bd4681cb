// Face blendshapes as the Tasks API's FaceBlendshapesGraph computes them
// (mediapipe/tasks/cc/vision/face_landmarker/face_blendshapes_graph.cc): 146 of the 478 landmarks
// (kLandmarksSubsetIdxs, in that order), their x and y in image pixels (LandmarksToTensorCalculator with
// attributes X, Y: normalised x times the image width, y times the height; z unused) as a 1x146x2 tensor,
// face_blendshapes.tflite, and its first output's 52 scores as they are (TensorsToClassification with
// top_k 0 and min_score_threshold -1: no sorting, no filtering), in kBlendshapeNames order.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <vector>

#include "speakup/engine.h"
#include "speakup/face.h"
#include "speakup/status.h"

namespace speakup::face {

inline constexpr int kBlendshapeInputLandmarks = 146;
// face_blendshapes_graph.cc kLandmarksSubsetIdxs: the landmarks the model reads, in its input order.
extern const std::array<int, kBlendshapeInputLandmarks> kBlendshapeLandmarkSubset;

// The model input from one face's 478 landmarks (image pixels, as SpeakUp keeps them, which is
// MediaPipe's normalised x * width, y * height): out[2 k] = x, out[2 k + 1] = y of landmark
// kBlendshapeLandmarkSubset[k]. `out` holds 2 * kBlendshapeInputLandmarks floats. Returns false (out
// untouched) when there are too few landmarks.
bool BlendshapeInput(const std::vector<Landmark>& landmarks, std::span<float> out);

class BlendshapeModel {
 public:
  // The model must be face_blendshapes.tflite (input 1x146x2, first output 52 scores). pool may be null.
  static Expected<BlendshapeModel> Create(std::shared_ptr<const engine::Model> model, engine::ThreadPool* pool);

  BlendshapeModel(BlendshapeModel&&) noexcept = default;
  BlendshapeModel& operator=(BlendshapeModel&&) noexcept = default;
  ~BlendshapeModel() = default;

  // 52 scores from one face's 478 landmarks (image pixels).
  Expected<std::vector<float>> Run(const std::vector<Landmark>& landmarks);

 private:
  BlendshapeModel() = default;
  std::unique_ptr<engine::Runner> runner_;
};

}  // namespace speakup::face
