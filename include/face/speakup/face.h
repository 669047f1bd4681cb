// SpeakUp's face layer: MediaPipe Face Mesh reimplemented as ordinary code over the engine.
// Knows images, regions of interest and faces; knows no GStreamer and no sockets.
//
//   auto models = face::Models::Load("models");           // shared, immutable
//   face::Pipeline pipeline(*models, face::PipelineOptions{}, &pool);  // one per stream
//   face::FaceResult result = pipeline.Process(image, timestamp_ms);
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "speakup/engine.h"
#include "speakup/face_types.h"
#include "speakup/status.h"

namespace speakup::face {

// All models, loaded once and shared by every pipeline of a process.
struct Models {
  std::shared_ptr<const engine::Model> detector_short;
  std::shared_ptr<const engine::Model> detector_full;
  std::shared_ptr<const engine::Model> landmarks;            // face_landmark.tflite, 468 points
  std::shared_ptr<const engine::Model> landmarks_attention;  // face_landmark_with_attention.tflite, 478
  std::shared_ptr<const engine::Model> face_landmarks_detector;  // Face Mesh V2 (Face Landmarker), 478
  std::shared_ptr<const engine::Model> face_blendshapes;         // 52 blendshape scores from 146 landmarks
  std::shared_ptr<const struct GeometryModel> geometry;     // canonical face for head pose

  // Loads every file from `dir` (the models/ folder); errors name the file and the fix.
  static Expected<Models> Load(const std::string& dir);
};

// The canonical face's mesh from the geometry model: a texture coordinate per mesh landmark
// (kMeshLandmarks) and the triangles between them, for drawing and exporting meshes. Views into
// `models`, valid while it is.
struct CanonicalMesh {
  const std::vector<std::array<float, 2>>& uvs;
  const std::vector<std::array<int, 3>>& triangles;
};
CanonicalMesh CanonicalFaceMesh(const Models& models);

// The inference objects of one worker thread (detectors, landmarkers and their buffers), made on
// first use and reused for every stream the thread serves. Not thread-safe: one per thread.
class Workspace {
 public:
  // pool: the threads XNNPACK may use for one inference (null: the calling thread only).
  Workspace(Models models, engine::ThreadPool* pool);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  const Models& models() const { return models_; }

 private:
  friend class Pipeline;  // takes its detectors and landmarkers from here
  struct Impl;
  Models models_;
  std::unique_ptr<Impl> impl_;
};

// Where the pipeline reads its pixels. The whole image as RGB (an ImageView: ReadyImage), or a
// picture that converts to RGB only the parts asked for (a camera frame still in YUV), so that
// tracking a face pays for its crop, not for the frame.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  // The image's size and RGB rows, in which the pixels prepared so far are valid.
  virtual ImageView view() const = 0;
  // Makes the pixels [x, x + w) x [y, y + h) (clipped to the image) valid in view().
  virtual Status Prepare(int x, int y, int w, int h) = 0;
};

// An RGB image whose every pixel is ready.
class ReadyImage final : public ImageSource {
 public:
  explicit ReadyImage(const ImageView& image) : image_(image) {}
  ImageView view() const override { return image_; }
  Status Prepare(int, int, int, int) override { return Status::Ok(); }

 private:
  ImageView image_;
};

// One stream's face tracking: detect-or-track, landmarks, smoothing and head pose per frame.
// The state (tracked faces, filters) is small and owned here; the heavy objects are in the
// Workspace passed to each call, so many streams can share a few workspaces.
class Pipeline {
 public:
  explicit Pipeline(PipelineOptions options = {});
  ~Pipeline();
  Pipeline(Pipeline&&) noexcept;
  Pipeline& operator=(Pipeline&&) noexcept;

  // Processes one frame. timestamp_ms must increase between calls (it drives smoothing and the
  // detection rate) unless options.static_images is set.
  Expected<FaceResult> Process(const ImageView& image, double timestamp_ms, Workspace& workspace);
  // The same, preparing only the pixels it reads: the whole image when it detects, each tracked
  // face's crop (RoiFootprint) before warping it.
  Expected<FaceResult> Process(ImageSource& source, double timestamp_ms, Workspace& workspace);

  // Changes options between frames; a change of landmark model or detector restarts tracking.
  void set_options(const PipelineOptions& options);
  const PipelineOptions& options() const { return options_; }

 private:
  struct State;
  Expected<FaceResult> ProcessLandmarker(ImageSource& source, double timestamp_ms, Workspace& workspace,
                                         std::chrono::steady_clock::time_point start);
  PipelineOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace speakup::face
