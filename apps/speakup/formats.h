// Writing face results for people and programs: JSON (one object per frame), CSV rows and
// Wavefront OBJ meshes. The same JSON form serves as the debug form of the wire protocol.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "speakup/face.h"

namespace speakup::app {

struct FrameInfo {
  std::string source;
  int64_t frame = 0;
  double timestamp_ms = 0;
};

// Faces with blendshapes (the Face Landmarker) get "blendshapes": [{"name", "score"}, ...] in model order.
nlohmann::json ToJson(const face::FaceResult& result, const FrameInfo& info);

// CSV: one row per face; the header names every column (landmark columns x0,y0,z0,...; with
// blendshapes, then one column per blendshape named as the model names it, in model order).
std::string CsvHeader(size_t landmark_count, bool blendshapes = false);
std::string CsvRows(const face::FaceResult& result, const FrameInfo& info);

// OBJ: one object per face with its landmarks as vertices (x right, y up, z toward the viewer:
// image y and z negated), the canonical UVs and the canonical triangles. Vertex indices continue
// from `first_vertex` (1-based, as OBJ counts) so several faces can share one file.
std::string ObjMesh(const face::Face& face, const face::Models& models, const std::string& name, size_t first_vertex);

}  // namespace speakup::app
