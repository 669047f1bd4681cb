#include "detector.h"

#include <chrono>
#include <string>

#include "nms.h"
#include "warp.h"

namespace speakup::face {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::string KindName(DetectorKind kind) {
  return kind == DetectorKind::kFullRange ? "full-range" : "short-range";
}

}  // namespace

float DefaultMinDetectionScore(DetectorKind kind) { return kind == DetectorKind::kFullRange ? 0.6f : 0.5f; }

std::vector<Detection> DetectionsFromTensors(std::span<const float> raw_boxes,
                                             std::span<const float> raw_scores,
                                             const std::vector<Anchor>& anchors, const DecodeOptions& options,
                                             const Letterbox& letterbox, int image_width, int image_height,
                                             float nms_threshold) {
  std::vector<NormalizedDetection> decoded = DecodeDetections(raw_boxes, raw_scores, anchors, options);
  std::vector<NormalizedDetection> kept =
      WeightedNonMaxSuppression(std::move(decoded), nms_threshold);
  std::vector<Detection> detections;
  detections.reserve(kept.size());
  for (const NormalizedDetection& detection : kept) {
    detections.push_back(ToPixels(RemoveLetterbox(detection, letterbox), image_width, image_height));
  }
  return detections;
}

Expected<Detector> Detector::Create(std::shared_ptr<const engine::Model> model, DetectorKind kind,
                                    engine::ThreadPool* pool) {
  if (!model) return Error("face detector: no model given");
  const std::string what = "face detector (" + KindName(kind) + ", model '" + model->name() + "')";
  const AnchorOptions anchor_options = AnchorOptions::For(kind);
  if (model->inputs().size() != 1) return Error(what + ": expected 1 input");
  const auto& shape = model->inputs()[0].shape;
  if (shape.size() != 4 || shape[0] != 1 || shape[1] != anchor_options.input_height ||
      shape[2] != anchor_options.input_width || shape[3] != 3) {
    return Error(what + ": input is not 1x" + std::to_string(anchor_options.input_height) + "x" +
                 std::to_string(anchor_options.input_width) +
                 "x3; is this the right model for the detector kind?");
  }
  std::vector<Anchor> anchors = GenerateAnchors(anchor_options);
  const size_t n = anchors.size();
  // MediaPipe's TensorsToDetectionsCalculator takes the boxes from output 0 and the scores from 1.
  if (model->outputs().size() < 2 || model->outputs()[0].element_count != n * 16 ||
      model->outputs()[1].element_count != n) {
    return Error(what + ": expected outputs of " + std::to_string(n) + "x16 boxes and " + std::to_string(n) +
                 " scores; is this the right model for the detector kind?");
  }
  auto runner = engine::Runner::Create(model, pool);
  if (!runner) return Error(what + ": " + runner.error());

  Detector detector;
  detector.runner_ = std::move(*runner);
  detector.anchors_ = std::move(anchors);
  detector.kind_ = kind;
  detector.input_width_ = anchor_options.input_width;
  detector.input_height_ = anchor_options.input_height;
  return detector;
}

Expected<std::vector<Detection>> Detector::Detect(const ImageView& image, float min_score, float nms_threshold,
                                                  bool cpu_converter) {
  if (image.data == nullptr || image.width <= 0 || image.height <= 0 || image.stride < 3 * image.width) {
    return Error("face detector: invalid image (" + std::to_string(image.width) + "x" +
                 std::to_string(image.height) + ", stride " + std::to_string(image.stride) + ")");
  }
  auto start = std::chrono::steady_clock::now();
  const Letterbox letterbox = ComputeLetterbox(image.width, image.height, input_width_, input_height_);
  if (cpu_converter) {
    WarpRoiToTensorOpenCv(image, letterbox.roi, input_width_, input_height_, -1.0f, 1.0f, BorderMode::kZero,
                          runner_->input(0).data());
  } else {
    WarpRoiToTensor(image, letterbox.roi, input_width_, input_height_, -1.0f, 1.0f, BorderMode::kZero,
                    runner_->input(0).data());
  }
  timings_.warp_ms = MsSince(start);

  start = std::chrono::steady_clock::now();
  SPEAKUP_RETURN_IF_ERROR(runner_->Run());
  timings_.inference_ms = MsSince(start);

  start = std::chrono::steady_clock::now();
  std::vector<Detection> detections =
      DetectionsFromTensors(runner_->output(0), runner_->output(1), anchors_,
                            DecodeOptions::For(kind_, min_score), letterbox, image.width, image.height,
                            nms_threshold);
  timings_.post_ms = MsSince(start);
  return detections;
}

}  // namespace speakup::face
