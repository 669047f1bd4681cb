#include "tracking.h"

#include <algorithm>

namespace speakup::face {

Box BoundingBox(const std::vector<Landmark>& landmarks) {
  if (landmarks.empty()) return {};
  float min_x = landmarks[0].x, max_x = min_x, min_y = landmarks[0].y, max_y = min_y;
  for (const Landmark& p : landmarks) {
    min_x = std::min(min_x, p.x);
    max_x = std::max(max_x, p.x);
    min_y = std::min(min_y, p.y);
    max_y = std::max(max_y, p.y);
  }
  return {min_x, min_y, max_x - min_x, max_y - min_y};
}

}  // namespace speakup::face
