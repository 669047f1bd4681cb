// SpeakUp's face layer: MediaPipe Face Mesh reimplemented as ordinary code over the engine.
// Knows images, regions of interest and faces; knows no GStreamer and no sockets.
//
//   auto models = face::Models::Load("models");           // shared, immutable
//   face::Pipeline pipeline(*models, face::PipelineOptions{}, &pool);  // one per stream
//   face::FaceResult result = pipeline.Process(image, timestamp_ms);
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "speakup/engine.h"
#include "speakup/status.h"

namespace speakup::face {

// A read-only view of an 8-bit RGB image (3 bytes per pixel, rows `stride` bytes apart).
struct ImageView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int stride = 0;  // bytes per row, >= 3 * width
};

// An owned 8-bit RGB image.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // row-major RGB, stride 3 * width

  ImageView view() const { return {pixels.data(), width, height, 3 * width}; }
};

struct Point2 {
  float x = 0, y = 0;
};

struct Landmark {
  float x = 0, y = 0, z = 0;  // image pixels; z on the scale of x (MediaPipe's convention), relative
};

struct Box {
  float x = 0, y = 0, width = 0, height = 0;  // image pixels, top-left corner and size
};

// A face found by the BlazeFace detector, in image pixels.
struct Detection {
  float score = 0;
  Box box;
  std::array<Point2, 6> keypoints;  // right eye, left eye (the subject's), nose tip, mouth, right ear, left ear
};

// A rotated rectangle in image pixels: centre, size, rotation in radians (clockwise on screen, as
// MediaPipe's NormalizedRect.rotation with y pointing down).
struct Roi {
  float cx = 0, cy = 0, width = 0, height = 0, rotation = 0;
};

enum class DetectorKind { kShortRange, kFullRange };

// All models, loaded once and shared by every pipeline of a process.
struct Models {
  std::shared_ptr<const engine::Model> detector_short;
  std::shared_ptr<const engine::Model> detector_full;
  std::shared_ptr<const engine::Model> landmarks;            // face_landmark.tflite, 468 points
  std::shared_ptr<const engine::Model> landmarks_attention;  // face_landmark_with_attention.tflite, 478
  std::shared_ptr<const struct GeometryModel> geometry;     // canonical face for head pose

  // Loads every file from `dir` (the models/ folder); errors name the file and the fix.
  static Expected<Models> Load(const std::string& dir);
};

struct PipelineOptions {
  int max_faces = 1;
  bool refine = false;           // 478 points (attention model) instead of 468
  bool smoothing = true;         // One Euro filter on tracked faces (video only)
  bool static_images = false;    // every frame independent: detect always, no tracking, no smoothing
  DetectorKind detector = DetectorKind::kShortRange;
  float min_detection_score = 0.5f;
  float min_presence = 0.5f;     // below it a face is lost
  double detection_interval_ms = 200;  // while tracking fewer than max_faces, detect at most this often
};

struct Face {
  int id = 0;  // stable across frames while the face is tracked
  float score = 0;  // landmark presence
  Box box;          // bounding box of the landmarks
  std::vector<Landmark> landmarks;  // 468 or 478
  std::array<float, 16> pose{};     // facial transformation matrix, row-major, canonical face -> camera (cm)
  float yaw = 0, pitch = 0, roll = 0;  // degrees
};

struct StageTimings {
  double detect_ms = 0, warp_ms = 0, landmarks_ms = 0, geometry_ms = 0, total_ms = 0;
  bool detected = false;  // detection ran on this frame
};

struct FaceResult {
  int width = 0, height = 0;
  std::vector<Face> faces;
  StageTimings timings;
};

}  // namespace speakup::face

namespace speakup::face {

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

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  Models models_;
  std::unique_ptr<Impl> impl_;
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

  // Changes options between frames; a change of landmark model or detector restarts tracking.
  void set_options(const PipelineOptions& options);
  const PipelineOptions& options() const { return options_; }
  void Reset();

 private:
  struct State;
  PipelineOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace speakup::face
