#include "workspace.h"

namespace speakup::face {

Workspace::Workspace(Models models, engine::ThreadPool* pool)
    : models_(std::move(models)), impl_(std::make_unique<Impl>(models_, pool)) {}

Workspace::~Workspace() = default;

Expected<Detector*> Workspace::Impl::GetDetector(DetectorKind kind) {
  std::optional<Detector>& slot = kind == DetectorKind::kShortRange ? detector_short : detector_full;
  if (!slot) {
    auto detector = Detector::Create(kind == DetectorKind::kShortRange ? models.detector_short : models.detector_full,
                                     kind, pool);
    if (!detector) return Error(detector.error());
    slot.emplace(std::move(*detector));
  }
  return &*slot;
}

Expected<Landmarker*> Workspace::Impl::GetLandmarker(LandmarkModel model) {
  std::optional<Landmarker>& slot = model == LandmarkModel::kLandmarker    ? landmarker_v2
                                    : model == LandmarkModel::kMeshRefined ? landmarker_attention
                                                                           : landmarker;
  if (!slot) {
    const auto& file = model == LandmarkModel::kLandmarker    ? models.face_landmarks_detector
                       : model == LandmarkModel::kMeshRefined ? models.landmarks_attention
                                                              : models.landmarks;
    auto created = Landmarker::Create(file, model, pool);
    if (!created) return Error(created.error());
    slot.emplace(std::move(*created));
  }
  return &*slot;
}

Expected<BlendshapeModel*> Workspace::Impl::GetBlendshapes() {
  if (!blendshapes) {
    auto created = BlendshapeModel::Create(models.face_blendshapes, pool);
    if (!created) return Error(created.error());
    blendshapes.emplace(std::move(*created));
  }
  return &*blendshapes;
}

}  // namespace speakup::face
