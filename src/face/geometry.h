// Face geometry: the head pose (a 4x4 transform and yaw/pitch/roll) and the metric 3D face from the
// 468 face mesh landmarks, as MediaPipe's face_geometry module computes it
// (mediapipe/modules/face_geometry/libs/geometry_pipeline.cc and procrustes_solver.cc).
//
//   auto model = face::GeometryModel::Load("models/geometry_pipeline_metadata_landmarks.binarypb");
//   auto pose = face::EstimateHeadPose(**model, face.landmarks, image.width, image.height);
//   if (pose.ok()) use(pose->yaw, pose->pitch, pose->roll, pose->matrix);
//
// Spaces
// - Screen: the landmarks as the landmark model gives them, in image pixels (origin top-left, y down),
//   z relative to the face and on the scale of x (MediaPipe's z_norm * image width).
// - Metric (camera): right-handed, centimetres, camera at the origin looking down -z, x to the image's
//   right, y up. A face in front of the camera has negative z.
// - Canonical face: the model's own frame, centimetres: x towards the subject's left (the image's right
//   for a face looking at the camera), y up (forehead), z out of the face (the nose tip at z ~ +7.5).
//
// Angles (degrees), from the rotation R of the pose (canonical -> camera), decomposed as
//   R = Ry(yaw) * Rx(-pitch) * Rz(-roll)      (Rk(a): right-handed rotation by a about camera axis k)
// which, for the unmirrored camera image, means:
// - yaw   > 0: the subject turns to their own left (the nose moves towards the image's right).
//              yaw = atan2(f.x, f.z) with f = R * (0, 0, 1) the direction the face points to.
// - pitch > 0: the subject looks up (chin up). pitch = asin(f.y).
// - roll  > 0: the head tilts clockwise as seen on screen (the top of the head moves towards the
//              image's right, i.e. towards the subject's left shoulder).
// All three are 0 for an upright face on the optical axis looking straight into the camera. They
// are relative to the camera's axes, not to the line of sight: a face above the image centre that
// looks at the lens has a negative pitch of about atan(t.y / -t.z) (t the translation), which is
// why photos typically give pitch -5..-25 degrees. For a selfie (mirrored) image yaw and roll change
// sign. These are exactly the angles of MediaPipe's facial transformation matrix.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "speakup/face.h"
#include "speakup/status.h"

namespace speakup::face {

// The canonical face model of MediaPipe's face geometry: 468 vertices with texture coordinates,
// triangles, and the weighted landmarks the pose is fitted on. Immutable once loaded; share it.
struct GeometryModel {
  static constexpr int kNumVertices = 468;

  std::vector<std::array<float, 3>> canonical_vertices;  // 468, centimetres, canonical face frame
  std::vector<std::array<float, 2>> uvs;                 // 468 texture coordinates (u, v) in [0, 1]
  std::vector<std::array<int, 3>> triangles;             // vertex indices
  std::vector<std::pair<int, float>> procrustes_weights;  // (landmark id, weight >= 0), distinct ids

  // Reads and validates a GeometryPipelineMetadata protobuf (geometry_pipeline_metadata_landmarks.binarypb).
  // A missing, truncated, corrupt or unsuitable file gives an error naming the file and the fix.
  static Expected<std::shared_ptr<const GeometryModel>> Load(const std::string& path);
  // The same from the file's bytes in memory; `name` is used in messages.
  static Expected<std::shared_ptr<const GeometryModel>> FromBytes(const std::string& bytes,
                                                                  const std::string& name);

  // Checks the invariants Load guarantees (for models built in code); an error says what is wrong.
  Status Validate() const;
};

// The virtual camera the landmarks are unprojected with. The defaults are MediaPipe's for the face
// mesh (FaceGeometryEnvGeneratorCalculator in its face_geometry graphs and the Tasks
// FaceGeometryFromLandmarksGraph: vertical FOV 63 degrees, near 1 cm, far 100 m, origin top-left).
// The horizontal FOV follows from the image's aspect ratio.
struct PerspectiveCamera {
  float vertical_fov_degrees = 63;  // 0 < fov < 180
  float near = 1;                   // centimetres, > 0
  float far = 10000;                // centimetres, > near (validated only; the pose does not use it)
};

struct HeadPose {
  // Canonical face -> camera (metric space), row-major: p_camera = matrix * (p_canonical, 1).
  // The upper 3x3 is a rotation times a scale close to 1; the last column is the translation in cm
  // (z < 0: in front of the camera). MediaPipe's pose_transform_matrix, transposed out of its
  // column-major packing.
  std::array<float, 16> matrix{};
  float yaw = 0, pitch = 0, roll = 0;  // degrees, convention above
  // The 468 metric landmarks exactly as MediaPipe's FaceGeometry mesh holds them: the face unprojected
  // into centimetres, then brought back into the canonical face frame by the inverse of `matrix`
  // (so the expression remains, the head pose is removed). matrix * (p, 1) puts them in the camera.
  std::vector<std::array<float, 3>> metric_landmarks;
};

// Estimates the head pose of one face, as MediaPipe's GeometryPipeline (face landmark input source).
// `landmarks`: 468 or 478 points in image pixels with z in pixels on the scale of x (the first 468
// are used). Errors (never a crash) for a bad image size or camera, too few or non-finite landmarks,
// a degenerate (too compact) face, or a failed fit.
Expected<HeadPose> EstimateHeadPose(const GeometryModel& model, const std::vector<Landmark>& landmarks,
                                    int image_width, int image_height,
                                    const PerspectiveCamera& camera = {});

// Yaw, pitch and roll in degrees (convention above) of a row-major 4x4 pose whose upper 3x3 is a
// rotation times a positive scale.
std::array<float, 3> YawPitchRollDegrees(const std::array<float, 16>& matrix);

}  // namespace speakup::face
