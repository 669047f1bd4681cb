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

Expected<Landmarker*> Workspace::Impl::GetLandmarker(bool refine) {
  std::optional<Landmarker>& slot = refine ? landmarker_attention : landmarker;
  if (!slot) {
    auto landmarker = Landmarker::Create(refine ? models.landmarks_attention : models.landmarks, refine, pool);
    if (!landmarker) return Error(landmarker.error());
    slot.emplace(std::move(*landmarker));
  }
  return &*slot;
}

}  // namespace speakup::face
