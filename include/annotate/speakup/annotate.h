// Where face results meet media frames: a decoded frame seen as the face layer's image, and faces
// drawn over a frame (the mesh's edges, the irises, a box per face). Used for the annotated video
// track of `speakup serve` and by `speakup mesh --render`.
#pragma once

#include <array>
#include <vector>

#include "speakup/face.h"
#include "speakup/media.h"

namespace speakup::annotate {

// The frame's RGB pixels as the pipeline reads them (no copy: valid while the frame is).
face::ImageView ImageOf(const media::Frame& frame);

// Unique undirected edges of the canonical face's triangles, the lines a mesh is drawn with.
std::vector<std::array<int, 2>> MeshEdges(const face::Models& models);

// Draws every face of `result` over `frame` with the mesh `edges` (MeshEdges).
void DrawFaces(media::Frame& frame, const face::FaceResult& result, const std::vector<std::array<int, 2>>& edges);

}  // namespace speakup::annotate
