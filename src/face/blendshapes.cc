#include "blendshapes.h"

#include <string>

namespace speakup::face {

const std::array<int, kBlendshapeInputLandmarks> kBlendshapeLandmarkSubset = {
    0,   1,   4,   5,   6,   7,   8,   10,  13,  14,  17,  21,  33,  37,  39,  40,  46,  52,  53,  54,  55,
    58,  61,  63,  65,  66,  67,  70,  78,  80,  81,  82,  84,  87,  88,  91,  93,  95,  103, 105, 107, 109,
    127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163,
    168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283,
    284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334,
    336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389,
    390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477};

bool BlendshapeInput(const std::vector<Landmark>& landmarks, std::span<float> out) {
  if (landmarks.size() < static_cast<size_t>(kLandmarkerLandmarks) ||
      out.size() < static_cast<size_t>(2 * kBlendshapeInputLandmarks)) {
    return false;
  }
  for (int k = 0; k < kBlendshapeInputLandmarks; ++k) {
    const Landmark& landmark = landmarks[kBlendshapeLandmarkSubset[k]];
    out[2 * k] = landmark.x;
    out[2 * k + 1] = landmark.y;
  }
  return true;
}

Expected<BlendshapeModel> BlendshapeModel::Create(std::shared_ptr<const engine::Model> model,
                                                  engine::ThreadPool* pool) {
  if (!model) return Error("face blendshapes: no model given");
  const std::string what = "face blendshapes (model '" + model->name() + "')";
  const auto& inputs = model->inputs();
  if (inputs.size() != 1 || inputs[0].element_count != static_cast<size_t>(2 * kBlendshapeInputLandmarks)) {
    return Error(what + ": input is not 1x146x2 landmarks; use face_blendshapes.tflite (from face_landmarker.task)");
  }
  if (model->outputs().empty() || model->outputs()[0].element_count != static_cast<size_t>(kBlendshapeCount)) {
    return Error(what + ": first output is not 52 scores; use face_blendshapes.tflite (from face_landmarker.task)");
  }
  auto runner = engine::Runner::Create(model, pool);
  if (!runner) return Error(what + ": " + runner.error());
  BlendshapeModel result;
  result.runner_ = std::move(*runner);
  return result;
}

Expected<std::vector<float>> BlendshapeModel::Run(const std::vector<Landmark>& landmarks) {
  if (!BlendshapeInput(landmarks, runner_->input(0))) {
    return Error("face blendshapes: need " + std::to_string(kLandmarkerLandmarks) + " landmarks, got " +
                 std::to_string(landmarks.size()));
  }
  SPEAKUP_RETURN_IF_ERROR(runner_->Run());
  std::span<const float> scores = runner_->output(0);
  return std::vector<float>(scores.begin(), scores.begin() + kBlendshapeCount);
}

}  // namespace speakup::face
