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

// A frame as the pipeline's image source. A frame with its RGB (files, images, a frame made whole by
// media::EnsureRgb) is used as it is; a frame still in YUV (a WebRTC camera's) converts only what the
// pipeline prepares (the whole frame to detect, a face's crop to track) into `buffer`, which the
// caller keeps from frame to frame: in the steady state nothing is allocated or cleared.
class FrameImage final : public face::ImageSource {
 public:
  FrameImage(const media::Frame& frame, std::vector<uint8_t>& buffer);
  face::ImageView view() const override;
  Status Prepare(int x, int y, int w, int h) override;
  // CPU time this thread spent converting for this frame (the server's "convert" stage).
  double convert_cpu_ms() const { return convert_cpu_ms_; }

 private:
  const media::Frame& frame_;
  std::vector<uint8_t>& buffer_;
  bool lazy_ = false;
  double convert_cpu_ms_ = 0;
};

// Unique undirected edges of the canonical face's triangles, the lines a mesh is drawn with.
std::vector<std::array<int, 2>> MeshEdges(const face::Models& models);

// Draws every face of `result` over `frame` with the mesh `edges` (MeshEdges).
void DrawFaces(media::Frame& frame, const face::FaceResult& result, const std::vector<std::array<int, 2>>& edges);

}  // namespace speakup::annotate
