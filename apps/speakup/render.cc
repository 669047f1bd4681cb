#include "render.h"

#include "speakup/annotate.h"

namespace speakup::app {

Renderer::Renderer(std::string path, const face::Models& models) : path_(std::move(path)), edges_(annotate::MeshEdges(models)) {}

Status Renderer::Add(const media::Frame& frame, const face::FaceResult& result, const media::FrameSource& source) {
  media::Frame drawn = frame;
  annotate::DrawFaces(drawn, result, edges_);
  if (source.is_still_image()) {
    if (wrote_image_) return Status::Error("--render writes one image; give one image input");
    wrote_image_ = true;
    return media::WriteImage(path_, drawn);
  }
  if (!video_) {
    auto writer = media::VideoWriter::Open(path_, frame.width, frame.height, source.frame_rate().value_or(30.0));
    if (!writer) return Status::Error(writer.error());
    video_ = std::move(*writer);
  }
  return video_->Write(drawn);
}

Status Renderer::Finish() { return video_ ? video_->Finish() : Status::Ok(); }

}  // namespace speakup::app
