// The box of a face's landmarks (a Face's `box`).
#pragma once

#include <vector>

#include "speakup/face.h"

namespace speakup::face {

Box BoundingBox(const std::vector<Landmark>& landmarks);

}  // namespace speakup::face
