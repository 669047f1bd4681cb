#include "geometry.h"
#include "speakup/face.h"

namespace speakup::face {

Expected<Models> Models::Load(const std::string& dir) {
  Models models;
  struct File {
    const char* name;
    std::shared_ptr<const engine::Model>* slot;
  };
  for (const File& file : {File{"face_detection_short_range.tflite", &models.detector_short},
                           File{"face_detection_full_range.tflite", &models.detector_full},
                           File{"face_landmark.tflite", &models.landmarks},
                           File{"face_landmark_with_attention.tflite", &models.landmarks_attention},
                           File{"face_landmarks_detector.tflite", &models.face_landmarks_detector},
                           File{"face_blendshapes.tflite", &models.face_blendshapes}}) {
    auto model = engine::Model::Load(dir + "/" + file.name);
    if (!model) return Error(model.error());
    *file.slot = std::move(*model);
  }
  auto geometry = GeometryModel::Load(dir + "/geometry_pipeline_metadata_landmarks.binarypb");
  if (!geometry) return Error(geometry.error());
  models.geometry = std::move(*geometry);
  return models;
}

CanonicalMesh CanonicalFaceMesh(const Models& models) {
  return {models.geometry->uvs, models.geometry->triangles};
}

}  // namespace speakup::face
