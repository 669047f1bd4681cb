// BlazeFace face detector (short or full range) as MediaPipe's face_detection graphs run it: the
// whole image letterboxed into the square input (keep aspect ratio, zero border, bilinear, values in
// [-1, 1]), anchors decoding, weighted NMS (IoU 0.3), letterbox removal. Detections in image pixels,
// best first.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "anchors.h"
#include "detection_decode.h"
#include "speakup/engine.h"
#include "speakup/face.h"
#include "speakup/status.h"

namespace speakup::face {

// MediaPipe's min_score_thresh per model (face_detection_short_range.pbtxt: 0.5,
// face_detection_full_range.pbtxt: 0.6). The face mesh solution passes its min_detection_confidence
// (default 0.5) instead.
float DefaultMinDetectionScore(DetectorKind kind);

// The NMS IoU threshold of MediaPipe's face detection graphs (legacy face_detection_*.pbtxt).
inline constexpr float kDetectionNmsThreshold = 0.3f;
// The Tasks API's FaceDetectorGraph: min_suppression_threshold defaults to 0.5
// (tasks/cc/vision/face_detector/proto/face_detector_graph_options.proto).
inline constexpr float kTasksDetectionNmsThreshold = 0.5f;

// Everything after inference, as a pure function: raw tensors -> detections in image pixels.
std::vector<Detection> DetectionsFromTensors(std::span<const float> raw_boxes,
                                             std::span<const float> raw_scores,
                                             const std::vector<Anchor>& anchors, const DecodeOptions& options,
                                             const Letterbox& letterbox, int image_width, int image_height,
                                             float nms_threshold = kDetectionNmsThreshold);

class Detector {
 public:
  // The model must be the detector of that kind (input 1 x S x S x 3; outputs boxes 1 x N x 16 and
  // scores 1 x N x 1, N the anchor count). pool may be null (runs on the calling thread).
  static Expected<Detector> Create(std::shared_ptr<const engine::Model> model, DetectorKind kind,
                                   engine::ThreadPool* pool);

  Detector(Detector&&) noexcept = default;
  Detector& operator=(Detector&&) noexcept = default;
  ~Detector() = default;

  // Faces in `image` with a score >= min_score, in image pixels, best first.
  Expected<std::vector<Detection>> Detect(const ImageView& image, float min_score) {
    return Detect(image, min_score, kDetectionNmsThreshold, false);
  }
  // The same with the NMS threshold given, and with cpu_converter the letterbox warped as MediaPipe's
  // CPU ImageToTensor converter does (WarpRoiToTensorOpenCv; the Tasks API with the CPU delegate).
  Expected<std::vector<Detection>> Detect(const ImageView& image, float min_score, float nms_threshold,
                                          bool cpu_converter);

  struct Timings {
    double warp_ms = 0, inference_ms = 0, post_ms = 0;
  };
  const Timings& last_timings() const { return timings_; }
  DetectorKind kind() const { return kind_; }
  int input_width() const { return input_width_; }
  int input_height() const { return input_height_; }

 private:
  Detector() = default;
  std::unique_ptr<engine::Runner> runner_;
  std::vector<Anchor> anchors_;
  DetectorKind kind_ = DetectorKind::kShortRange;
  int input_width_ = 0, input_height_ = 0;
  Timings timings_;
};

}  // namespace speakup::face
