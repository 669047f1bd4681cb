// What a Workspace holds: one runner per model, made on first use.
#pragma once

#include <optional>

#include "detector.h"
#include "landmarker.h"
#include "speakup/face.h"

namespace speakup::face {

struct Workspace::Impl {
  Impl(const Models& models, engine::ThreadPool* pool) : models(models), pool(pool) {}

  const Models& models;
  engine::ThreadPool* pool = nullptr;
  std::optional<Detector> detector_short, detector_full;
  std::optional<Landmarker> landmarker, landmarker_attention;

  Expected<Detector*> GetDetector(DetectorKind kind);
  Expected<Landmarker*> GetLandmarker(bool refine);
};

}  // namespace speakup::face
