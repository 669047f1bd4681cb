#include "landmarker.h"

#include <chrono>
#include <cmath>
#include <string>

#include "refinement_indices.h"
#include "warp.h"

namespace speakup::face {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Output sizes in the model's order (MediaPipe splits the outputs by position).
constexpr size_t kMeshSize = 468 * 3;
constexpr size_t kAttentionSizes[] = {kMeshSize, 80 * 2, 71 * 2, 71 * 2, 5 * 2, 5 * 2, 1};
constexpr size_t kMeshV2Size = static_cast<size_t>(kLandmarkerLandmarks) * 3;

template <size_t N>
void OverwriteXY(std::span<const float> points, const std::array<int, N>& indices,
                 std::vector<Landmark>& landmarks) {
  for (size_t k = 0; k < N; ++k) {
    landmarks[indices[k]].x = points[2 * k];
    landmarks[indices[k]].y = points[2 * k + 1];
  }
}

template <size_t N, size_t M>
void AddIris(std::span<const float> points, const std::array<int, N>& indices,
             const std::array<int, M>& z_from, std::vector<Landmark>& landmarks) {
  OverwriteXY(points, indices, landmarks);
  double sum = 0;  // MediaPipe sums in double
  for (int index : z_from) sum += landmarks[index].z;
  const float z = static_cast<float>(sum / static_cast<double>(M));
  for (int index : indices) landmarks[index].z = z;
}

}  // namespace

std::vector<Landmark> RefineLandmarks(std::span<const float> mesh, std::span<const float> lips,
                                      std::span<const float> left_eye, std::span<const float> right_eye,
                                      std::span<const float> left_iris, std::span<const float> right_iris) {
  std::vector<Landmark> landmarks(kRefinedPoints);
  for (int i = 0; i < kMeshPoints; ++i) {
    landmarks[i] = {mesh[3 * i], mesh[3 * i + 1], mesh[3 * i + 2]};
  }
  // Lips and eyes: x, y replaced, z kept (z_refinement none).
  OverwriteXY(lips, kLipsRefinement, landmarks);
  OverwriteXY(left_eye, kLeftEyeRefinement, landmarks);
  OverwriteXY(right_eye, kRightEyeRefinement, landmarks);
  // Irises: new points, z the mean of their eye's contour (z_refinement assign_average).
  AddIris(left_iris, kLeftIrisRefinement, kLeftIrisZAverage, landmarks);
  AddIris(right_iris, kRightIrisRefinement, kRightIrisZAverage, landmarks);
  return landmarks;
}

void ProjectLandmarks(const Roi& roi, int crop_size, std::vector<Landmark>& landmarks) {
  const float c = std::cos(roi.rotation), s = std::sin(roi.rotation);
  const float inv = 1.0f / static_cast<float>(crop_size);
  for (Landmark& landmark : landmarks) {
    // Normalised to the crop, centred.
    const float x = landmark.x * inv - 0.5f;
    const float y = landmark.y * inv - 0.5f;
    // LandmarkProjectionCalculator rotates the centred point, then scales by the rect's normalised
    // width (x) and height (y); in pixels that is the ROI's width and height.
    const float rx = c * x - s * y;
    const float ry = s * x + c * y;
    landmark.x = rx * roi.width + roi.cx;
    landmark.y = ry * roi.height + roi.cy;
    landmark.z = landmark.z * inv * roi.width;
  }
}

void ProjectLandmarksWithImageSize(const Roi& roi, int crop_size, int image_width, int image_height,
                                   std::vector<Landmark>& landmarks) {
  const float w = static_cast<float>(image_width), h = static_cast<float>(image_height);
  // The crop's unit x axis in normalised image coordinates, and its length.
  const float axis_x = std::cos(roi.rotation) * roi.width / w, axis_y = std::sin(roi.rotation) * roi.width / h;
  const float z_scale = std::sqrt(axis_x * axis_x + axis_y * axis_y);
  std::vector<float> z(landmarks.size());
  const float inv = 1.0f / static_cast<float>(crop_size);
  for (size_t i = 0; i < landmarks.size(); ++i) z[i] = landmarks[i].z * inv * z_scale * w;
  ProjectLandmarks(roi, crop_size, landmarks);
  for (size_t i = 0; i < landmarks.size(); ++i) landmarks[i].z = z[i];
}

Expected<Landmarker> Landmarker::Create(std::shared_ptr<const engine::Model> model, LandmarkModel kind,
                                        engine::ThreadPool* pool) {
  if (!model) return Error("face landmarker: no model given");
  const char* kind_name = kind == LandmarkModel::kMeshRefined ? "attention"
                          : kind == LandmarkModel::kLandmarker ? "Face Mesh V2"
                                                               : "468-point";
  const std::string what = std::string("face landmarker (") + kind_name + " model '" + model->name() + "')";
  if (model->inputs().size() != 1) return Error(what + ": expected 1 input");
  const auto& shape = model->inputs()[0].shape;
  if (shape.size() != 4 || shape[0] != 1 || shape[1] != shape[2] || shape[1] <= 0 || shape[3] != 3) {
    return Error(what + ": input is not 1xSxSx3");
  }
  const auto& outputs = model->outputs();
  if (kind == LandmarkModel::kMeshRefined) {
    bool ok = outputs.size() == std::size(kAttentionSizes);
    for (size_t i = 0; ok && i < outputs.size(); ++i) ok = outputs[i].element_count == kAttentionSizes[i];
    if (!ok) {
      return Error(what + ": outputs are not mesh, lips, eyes, irises and face flag; use "
                          "face_landmark_with_attention.tflite for 478 points");
    }
  } else if (kind == LandmarkModel::kLandmarker) {
    if (outputs.size() < 2 || outputs[0].element_count != kMeshV2Size || outputs[1].element_count != 1) {
      return Error(what + ": outputs are not 1434 landmark values and a face flag; use "
                          "face_landmarks_detector.tflite (from face_landmarker.task)");
    }
  } else if (outputs.size() != 2 || outputs[0].element_count != kMeshSize || outputs[1].element_count != 1) {
    return Error(what + ": outputs are not 1404 landmark values and a face flag; use face_landmark.tflite for "
                        "468 points");
  }
  auto runner = engine::Runner::Create(model, pool);
  if (!runner) return Error(what + ": " + runner.error());
  Landmarker landmarker;
  landmarker.runner_ = std::move(*runner);
  landmarker.kind_ = kind;
  landmarker.input_size_ = shape[1];
  return landmarker;
}

Expected<LandmarkerResult> Landmarker::Run(const ImageView& image, const Roi& roi) {
  if (image.data == nullptr || image.width <= 0 || image.height <= 0 || image.stride < 3 * image.width) {
    return Error("face landmarker: invalid image (" + std::to_string(image.width) + "x" +
                 std::to_string(image.height) + ", stride " + std::to_string(image.stride) + ")");
  }
  if (!(roi.width > 0) || !(roi.height > 0) || !std::isfinite(roi.cx) || !std::isfinite(roi.cy) ||
      !std::isfinite(roi.rotation)) {
    return Error(
        "face landmarker: invalid region of interest (width and height must be > 0, all values finite)");
  }
  LandmarkerResult result;
  auto start = std::chrono::steady_clock::now();
  if (kind_ == LandmarkModel::kLandmarker) {
    WarpRoiToTensorOpenCv(image, roi, input_size_, input_size_, 0.0f, 1.0f, BorderMode::kReplicate,
                          runner_->input(0).data());
  } else {
    WarpRoiToTensor(image, roi, input_size_, input_size_, 0.0f, 1.0f, BorderMode::kReplicate,
                    runner_->input(0).data());
  }
  result.warp_ms = MsSince(start);

  start = std::chrono::steady_clock::now();
  SPEAKUP_RETURN_IF_ERROR(runner_->Run());
  result.inference_ms = MsSince(start);

  const bool attention = kind_ == LandmarkModel::kMeshRefined;
  const size_t flag_output = attention ? 6 : 1;
  const float flag = runner_->output(flag_output)[0];
  result.presence = 1.0f / (1.0f + std::exp(-flag));
  if (attention) {
    result.landmarks = RefineLandmarks(runner_->output(0), runner_->output(1), runner_->output(2),
                                       runner_->output(3), runner_->output(4), runner_->output(5));
  } else {
    std::span<const float> mesh = runner_->output(0);
    const int count = kind_ == LandmarkModel::kLandmarker ? kLandmarkerLandmarks : kMeshPoints;
    result.landmarks.resize(count);
    for (int i = 0; i < count; ++i) {
      result.landmarks[i] = {mesh[3 * i], mesh[3 * i + 1], mesh[3 * i + 2]};
    }
  }
  if (kind_ == LandmarkModel::kLandmarker) {
    ProjectLandmarksWithImageSize(roi, input_size_, image.width, image.height, result.landmarks);
  } else {
    ProjectLandmarks(roi, input_size_, result.landmarks);
  }
  return result;
}

}  // namespace speakup::face
