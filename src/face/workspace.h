// What a Workspace holds: one runner per model, made on first use.
#pragma once

#include <optional>

#include "blendshapes.h"
#include "detector.h"
#include "landmarker.h"
#include "speakup/face.h"

namespace speakup::face {

struct Workspace::Impl {
  Impl(const Models& models, engine::ThreadPool* pool) : models(models), pool(pool) {}

  const Models& models;
  engine::ThreadPool* pool = nullptr;
  std::optional<Detector> detector_short, detector_full;
  std::optional<Landmarker> landmarker, landmarker_attention, landmarker_v2;
  std::optional<BlendshapeModel> blendshapes;

  Expected<Detector*> GetDetector(DetectorKind kind);
  Expected<Landmarker*> GetLandmarker(LandmarkModel model);
  Expected<BlendshapeModel*> GetBlendshapes();
};

}  // namespace speakup::face
