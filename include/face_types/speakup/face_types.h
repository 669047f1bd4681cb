// The face layer's value types: images, landmarks, faces and per-frame results, the options of a
// pipeline. Plain structs with no behaviour, shared with the layers that carry results (the wire
// protocol, drawing) without linking the models.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace speakup::face {

// Landmark counts of the two Face Mesh models; points from kMeshLandmarks on are the irises.
inline constexpr int kMeshLandmarks = 468;     // face_landmark.tflite
inline constexpr int kRefinedLandmarks = 478;  // face_landmark_with_attention.tflite

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
