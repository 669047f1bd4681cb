#include "speakup/annotate.h"

#include <algorithm>
#include <set>
#include <utility>

#include "speakup/cpu_time.h"

namespace speakup::annotate {

face::ImageView ImageOf(const media::Frame& frame) {
  return {frame.rgb.data(), frame.width, frame.height, 3 * frame.width};
}

FrameImage::FrameImage(const media::Frame& frame, std::vector<uint8_t>& buffer) : frame_(frame), buffer_(buffer) {
  const size_t bytes = static_cast<size_t>(std::max(0, frame.width)) * std::max(0, frame.height) * 3;
  lazy_ = frame.yuv && frame.rgb.size() != bytes;
  if (lazy_ && buffer_.size() != bytes) buffer_.resize(bytes);  // grows or shrinks only when the size changes
}

face::ImageView FrameImage::view() const {
  if (!lazy_) return ImageOf(frame_);
  return {buffer_.data(), frame_.width, frame_.height, 3 * frame_.width};
}

Status FrameImage::Prepare(int x, int y, int w, int h) {
  if (!lazy_) return Status::Ok();
  const double start = ThreadCpuMs();
  Status converted = frame_.yuv->ConvertRegion(x, y, w, h, buffer_.data(), 3 * frame_.width);
  convert_cpu_ms_ += ThreadCpuMs() - start;
  return converted;
}

std::vector<std::array<int, 2>> MeshEdges(const face::Models& models) {
  std::set<std::pair<int, int>> unique;
  for (const auto& t : face::CanonicalFaceMesh(models).triangles) {
    for (int k = 0; k < 3; ++k) {
      const int a = t[k], b = t[(k + 1) % 3];
      unique.insert({std::min(a, b), std::max(a, b)});
    }
  }
  std::vector<std::array<int, 2>> edges;
  for (const auto& [a, b] : unique) edges.push_back({a, b});
  return edges;
}

void DrawFaces(media::Frame& frame, const face::FaceResult& result, const std::vector<std::array<int, 2>>& edges) {
  const float scale = std::max(1.0f, std::min(frame.width, frame.height) / 480.0f);
  for (const face::Face& face : result.faces) {
    std::vector<std::array<float, 4>> segments;
    segments.reserve(edges.size());
    for (const auto& [a, b] : edges) {
      if (static_cast<size_t>(std::max(a, b)) >= face.landmarks.size()) continue;
      const face::Landmark& p = face.landmarks[a];
      const face::Landmark& q = face.landmarks[b];
      segments.push_back({p.x, p.y, q.x, q.y});
    }
    media::DrawLines(frame, segments, {64, 224, 96}, 0.8f * scale);
    std::vector<std::array<float, 2>> irises;
    for (size_t i = face::kMeshLandmarks; i < face.landmarks.size(); ++i) irises.push_back({face.landmarks[i].x, face.landmarks[i].y});
    media::DrawPoints(frame, irises, 1.5f * scale, {255, 80, 80});
    const face::Box& box = face.box;
    const std::vector<std::array<float, 4>> outline = {{box.x, box.y, box.x + box.width, box.y},
                                                       {box.x + box.width, box.y, box.x + box.width, box.y + box.height},
                                                       {box.x + box.width, box.y + box.height, box.x, box.y + box.height},
                                                       {box.x, box.y + box.height, box.x, box.y}};
    media::DrawLines(frame, outline, {255, 200, 0}, scale);
  }
}

}  // namespace speakup::annotate
