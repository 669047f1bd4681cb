// The face layer's value types: images, landmarks, faces and per-frame results, the options of a
// pipeline. Plain structs with no behaviour, shared with the layers that carry results (the wire
// protocol, drawing) without linking the models.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace speakup::face {

// Landmark counts of the two Face Mesh models; points from kMeshLandmarks on are the irises.
inline constexpr int kMeshLandmarks = 468;     // face_landmark.tflite
inline constexpr int kRefinedLandmarks = 478;  // face_landmark_with_attention.tflite
inline constexpr int kLandmarkerLandmarks = 478;  // face_landmarks_detector.tflite (Face Mesh V2, Tasks API)
inline constexpr int kBlendshapeCount = 52;     // face_blendshapes.tflite

// The blendshape model's outputs in model order (MediaPipe's kBlendshapeNames in
// tasks/cc/vision/face_landmarker/face_blendshapes_graph.cc); index 0 is "_neutral".
inline constexpr std::array<std::string_view, kBlendshapeCount> kBlendshapeNames = {
    "_neutral",         "browDownLeft",        "browDownRight",     "browInnerUp",       "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff",           "cheekSquintLeft",   "cheekSquintRight",  "eyeBlinkLeft",
    "eyeBlinkRight",    "eyeLookDownLeft",     "eyeLookDownRight",  "eyeLookInLeft",     "eyeLookInRight",
    "eyeLookOutLeft",   "eyeLookOutRight",     "eyeLookUpLeft",     "eyeLookUpRight",    "eyeSquintLeft",
    "eyeSquintRight",   "eyeWideLeft",         "eyeWideRight",      "jawForward",        "jawLeft",
    "jawOpen",          "jawRight",            "mouthClose",        "mouthDimpleLeft",   "mouthDimpleRight",
    "mouthFrownLeft",   "mouthFrownRight",     "mouthFunnel",       "mouthLeft",         "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthPressLeft",   "mouthPressRight",   "mouthPucker",       "mouthRight",
    "mouthRollLower",   "mouthRollUpper",      "mouthShrugLower",   "mouthShrugUpper",   "mouthSmileLeft",
    "mouthSmileRight",  "mouthStretchLeft",    "mouthStretchRight", "mouthUpperUpLeft",  "mouthUpperUpRight",
    "noseSneerLeft",    "noseSneerRight"};
inline constexpr const std::array<std::string_view, kBlendshapeCount>& BlendshapeNames() { return kBlendshapeNames; }

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

// Which MediaPipe graph the pipeline reproduces.
enum class LandmarkModel {
  kMesh,         // legacy Face Mesh, face_landmark.tflite: 468 points (or 478 with `refine`)
  kMeshRefined,  // legacy Face Mesh with attention, face_landmark_with_attention.tflite: 478 points
  kLandmarker,   // Tasks Face Landmarker: Face Mesh V2 (478 points) + 52 blendshapes
};

struct PipelineOptions {
  int max_faces = 1;
  LandmarkModel model = LandmarkModel::kMesh;
  bool refine = false;           // with model kMesh: 478 points (attention model) instead of 468
  bool smoothing = true;         // One Euro filter on tracked faces (video only)
  bool static_images = false;    // every frame independent: detect always, no tracking, no smoothing
  DetectorKind detector = DetectorKind::kShortRange;
  float min_detection_score = 0.5f;
  float min_presence = 0.5f;     // below it a face is lost
  double detection_interval_ms = 200;  // while tracking fewer than max_faces, detect at most this often
                                       // (legacy models; the Landmarker detects whenever a face is missing)
};

// The model a pipeline with these options runs (`refine` upgrades kMesh to kMeshRefined).
inline LandmarkModel EffectiveModel(const PipelineOptions& options) {
  return options.model == LandmarkModel::kMesh && options.refine ? LandmarkModel::kMeshRefined : options.model;
}

struct Face {
  int id = 0;  // stable across frames while the face is tracked
  float score = 0;  // landmark presence
  Box box;          // bounding box of the landmarks
  std::vector<Landmark> landmarks;  // 468 or 478
  std::vector<float> blendshapes;   // kLandmarker only: 52 scores in kBlendshapeNames order; else empty
  std::array<float, 16> pose{};     // facial transformation matrix, row-major, canonical face -> camera (cm)
  float yaw = 0, pitch = 0, roll = 0;  // degrees
};

struct StageTimings {
  double detect_ms = 0, warp_ms = 0, landmarks_ms = 0, blendshapes_ms = 0, geometry_ms = 0, total_ms = 0;
  bool detected = false;  // detection ran on this frame
};

struct FaceResult {
  int width = 0, height = 0;
  std::vector<Face> faces;
  StageTimings timings;
};

}  // namespace speakup::face
