// What a Workspace holds: one runner per model, made on first use.
#pragma once

#include <optional>

#include "detector.h"
#include "landmarker.h"
#include "speakup/face.h"

namespace speakup::face {

struct Workspace::Impl {
  engine::ThreadPool* pool = nullptr;
  std::optional<Detector> detector_short, detector_full;
  std::optional<Landmarker> landmarker, landmarker_attention;

  Expected<Detector*> GetDetector(const Models& models, DetectorKind kind);
  Expected<Landmarker*> GetLandmarker(const Models& models, bool refine);
};

}  // namespace speakup::face
