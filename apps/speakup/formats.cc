#include "formats.h"

#include <cstdio>
#include <sstream>

namespace speakup::app {

using face::Face;
using face::FaceResult;
using face::Landmark;
using face::Models;
using face::StageTimings;

nlohmann::json ToJson(const FaceResult& result, const FrameInfo& info) {
  nlohmann::json faces = nlohmann::json::array();
  for (const Face& face : result.faces) {
    nlohmann::json landmarks = nlohmann::json::array();
    for (const Landmark& p : face.landmarks) landmarks.push_back({p.x, p.y, p.z});
    nlohmann::json entry = {
        {"id", face.id},
        {"score", face.score},
        {"box", {face.box.x, face.box.y, face.box.width, face.box.height}},
        {"landmarks", std::move(landmarks)},
        {"pose", face.pose},
        {"yaw", face.yaw},
        {"pitch", face.pitch},
        {"roll", face.roll},
    };
    if (!face.blendshapes.empty()) {
      nlohmann::json blendshapes = nlohmann::json::array();
      for (size_t i = 0; i < face.blendshapes.size() && i < face::kBlendshapeNames.size(); ++i) {
        blendshapes.push_back({{"name", face::kBlendshapeNames[i]}, {"score", face.blendshapes[i]}});
      }
      entry["blendshapes"] = std::move(blendshapes);
    }
    faces.push_back(std::move(entry));
  }
  const StageTimings& t = result.timings;
  return {
      {"source", info.source},
      {"frame", info.frame},
      {"timestamp_ms", info.timestamp_ms},
      {"width", result.width},
      {"height", result.height},
      {"faces", std::move(faces)},
      {"timings_ms",
       {{"detect", t.detect_ms},
        {"warp", t.warp_ms},
        {"landmarks", t.landmarks_ms},
        {"blendshapes", t.blendshapes_ms},
        {"geometry", t.geometry_ms},
        {"total", t.total_ms}}},
  };
}

std::string CsvHeader(size_t landmark_count, bool blendshapes) {
  std::string header = "source,frame,timestamp_ms,face_id,score,box_x,box_y,box_w,box_h,yaw,pitch,roll";
  for (size_t i = 0; i < landmark_count; ++i) {
    const std::string n = std::to_string(i);
    for (const char* axis : {",x", ",y", ",z"}) header.append(axis).append(n);
  }
  if (blendshapes) {
    for (std::string_view name : face::kBlendshapeNames) header.append(",").append(name);
  }
  return header + "\n";
}

namespace {

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void AppendNumber(std::string& out, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), ",%.6g", value);
  out += buffer;
}

}  // namespace

std::string CsvRows(const FaceResult& result, const FrameInfo& info) {
  std::string rows;
  for (const Face& face : result.faces) {
    rows += CsvField(info.source) + "," + std::to_string(info.frame);
    for (double v : {info.timestamp_ms}) AppendNumber(rows, v);
    rows.append(",").append(std::to_string(face.id));
    for (double v : {double(face.score), double(face.box.x), double(face.box.y), double(face.box.width),
                     double(face.box.height), double(face.yaw), double(face.pitch), double(face.roll)}) {
      AppendNumber(rows, v);
    }
    for (const Landmark& p : face.landmarks) {
      AppendNumber(rows, p.x);
      AppendNumber(rows, p.y);
      AppendNumber(rows, p.z);
    }
    for (float score : face.blendshapes) AppendNumber(rows, score);
    rows += "\n";
  }
  return rows;
}

std::string ObjMesh(const Face& face, const Models& models, const std::string& name, size_t first_vertex) {
  const auto geometry = speakup::face::CanonicalFaceMesh(models);
  std::ostringstream out;
  out << "o " << name << "\n";
  for (const Landmark& p : face.landmarks) out << "v " << p.x << " " << -p.y << " " << -p.z << "\n";
  // UVs exist for the 468 canonical vertices; iris points (468..477) get none and no triangles.
  const bool with_uv = geometry.uvs.size() >= static_cast<size_t>(speakup::face::kMeshLandmarks);
  if (with_uv) {
    for (size_t i = 0; i < face.landmarks.size(); ++i) {
      const auto uv = i < geometry.uvs.size() ? geometry.uvs[i] : std::array<float, 2>{0, 0};
      out << "vt " << uv[0] << " " << uv[1] << "\n";
    }
  }
  for (const auto& t : geometry.triangles) {
    out << "f";
    for (int v : t) {
      const size_t index = first_vertex + static_cast<size_t>(v);
      out << " " << index;
      if (with_uv) out << "/" << index;
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace speakup::app
