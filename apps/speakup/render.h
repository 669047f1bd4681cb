// Draws face results over their frames and writes them: one image (.png/.jpg) or a video.
// Where face/ (landmarks, mesh edges) and media/ (drawing, encoders) meet for the command line.
#pragma once

#include <memory>
#include <string>

#include "speakup/face.h"
#include "speakup/media.h"

namespace speakup::app {

class Renderer {
 public:
  Renderer(std::string path, const face::Models& models);
  // Draws and writes one frame; the first frame decides between an image and a video file.
  Status Add(const media::Frame& frame, const face::FaceResult& result, const media::FrameSource& source);
  Status Finish();

 private:
  std::string path_;
  std::vector<std::array<int, 2>> edges_;
  std::unique_ptr<media::VideoWriter> video_;
  bool wrote_image_ = false;
};

}  // namespace speakup::app
