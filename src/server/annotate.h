// Draws face results over a frame: the mesh (edges of the canonical triangles), the irises and a
// box per face. Used for the annotated video track and by `speakup mesh --render`.
#pragma once

#include <array>
#include <vector>

#include "speakup/face.h"
#include "speakup/media.h"

namespace speakup::server {

void DrawFaces(media::Frame& frame, const face::FaceResult& result, const std::vector<std::array<int, 2>>& edges);

}  // namespace speakup::server
