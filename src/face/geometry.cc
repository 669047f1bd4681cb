// Head pose from face mesh landmarks, after MediaPipe's face_geometry GeometryPipeline: unproject the
// screen landmarks with a perspective camera, estimating the unknown depth scale in two passes, then
// fit the canonical face to them with a weighted similarity (orthogonal Procrustes with scale).
#include "geometry.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#if __has_include(<Eigen/Dense>)
#include <Eigen/Dense>
#else
#include <eigen3/Eigen/Dense>
#endif

#include "geometry_metadata.pb.h"

namespace speakup::face {
namespace {

constexpr int kVertexSize = 5;     // VERTEX_PT: x, y, z, u, v
constexpr int kPrimitiveSize = 3;  // TRIANGLE
// MediaPipe's absolute error margin for weights, norms and scales.
constexpr float kEpsilon = 1e-9f;
// A face whose landmarks all lie within this distance of their mean (in normalised image units) is
// too small to unproject stably; MediaPipe skips it.
constexpr float kTooCompact = 1e-3f;
constexpr float kDegreesPerRadian = static_cast<float>(180.0 / 3.14159265358979323846);

const char kReinstall[] =
    "Re-install the models with `make models` (scripts/fetch_models.sh --force if the file was altered).";

// Similarity transform (rotation, positive scale, translation) minimising
// sum_i w_i |scale * R * source_i + t - target_i|^2, R a proper rotation (no reflection): the weighted
// orthogonal Procrustes problem with scale (Akca 2003, section 2.4; Umeyama 1991), solved by the SVD
// of the weighted cross-covariance. The result maps source to target.
Status FitSimilarity(const Eigen::Matrix3Xf& source, const Eigen::Matrix3Xf& target,
                     const Eigen::VectorXf& weights, Eigen::Matrix4f& transform) {
  const float total_weight = weights.sum();
  if (!(total_weight > kEpsilon)) return Status::Error("the total landmark weight is too small");

  const Eigen::Vector3f source_mean = source * weights / total_weight;
  const Eigen::Vector3f target_mean = target * weights / total_weight;
  const Eigen::Matrix3Xf source_centred = source.colwise() - source_mean;
  const Eigen::Matrix3Xf target_centred = target.colwise() - target_mean;

  const Eigen::Matrix3f covariance = target_centred * weights.asDiagonal() * source_centred.transpose();
  if (!covariance.allFinite()) return Status::Error("non-finite landmark coordinates");
  if (!(covariance.norm() > kEpsilon)) return Status::Error("the landmarks are degenerate (no spread)");

  Eigen::JacobiSVD<Eigen::Matrix3f> svd(covariance, Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::Matrix3f u = svd.matrixU();
  const Eigen::Matrix3f v = svd.matrixV();
  // A reflection fits better than any rotation: flip the axis of the smallest singular value.
  if (u.determinant() * v.determinant() < 0.f) u.col(2) *= -1.f;
  const Eigen::Matrix3f rotation = u * v.transpose();

  const Eigen::Matrix3Xf rotated = rotation * source_centred;
  const float numerator = (rotated.cwiseProduct(target_centred).colwise().sum().transpose().array() *
                           weights.array()).sum();
  const float denominator =
      (source_centred.colwise().squaredNorm().transpose().array() * weights.array()).sum();
  if (!(denominator > kEpsilon)) return Status::Error("the canonical landmarks are degenerate");
  const float scale = numerator / denominator;
  if (!(scale > kEpsilon) || !std::isfinite(scale)) return Status::Error("the fitted scale is not positive");

  transform.setIdentity();
  transform.topLeftCorner<3, 3>() = scale * rotation;
  transform.topRightCorner<3, 1>() = target_mean - scale * rotation * source_mean;
  if (!transform.allFinite()) return Status::Error("the fitted transform is not finite");
  return Status::Ok();
}

// The near plane of the perspective camera, in camera units (cm), for a frame of this aspect ratio.
struct NearPlane {
  float left, bottom, width, height, near;
};

NearPlane MakeNearPlane(const PerspectiveCamera& camera, int image_width, int image_height) {
  const float half_fov = 0.5f * camera.vertical_fov_degrees / kDegreesPerRadian;
  const float height = 2.f * camera.near * std::tan(half_fov);
  const float width = static_cast<float>(image_width) * height / static_cast<float>(image_height);
  return {-0.5f * width, -0.5f * height, width, height, camera.near};
}

// The landmarks at the given depth scale: z (relative, near-plane units, larger = farther) is moved so
// that its mean lies on the near plane and divided by `scale` (near-plane units per cm), giving the
// distance from the camera in cm; x and y are unprojected along their rays to that distance; the
// result is made right-handed (camera looking down -z).
Eigen::Matrix3Xf Unproject(const Eigen::Matrix3Xf& screen, float depth_offset, float scale,
                           const NearPlane& plane) {
  Eigen::Matrix3Xf metric(3, screen.cols());
  for (Eigen::Index i = 0; i < screen.cols(); ++i) {
    const float depth = (screen(2, i) - depth_offset + plane.near) / scale;
    metric(0, i) = screen(0, i) * depth / plane.near;
    metric(1, i) = screen(1, i) * depth / plane.near;
    metric(2, i) = -depth;
  }
  return metric;
}

Eigen::Matrix3Xf SelectColumns(const Eigen::Matrix3Xf& points, const std::vector<int>& ids) {
  Eigen::Matrix3Xf selected(3, static_cast<Eigen::Index>(ids.size()));
  for (size_t k = 0; k < ids.size(); ++k) selected.col(static_cast<Eigen::Index>(k)) = points.col(ids[k]);
  return selected;
}

}  // namespace

Status GeometryModel::Validate() const {
  if (canonical_vertices.size() != static_cast<size_t>(kNumVertices)) {
    return Status::Error("the canonical mesh has " + std::to_string(canonical_vertices.size()) +
                         " vertices, expected " + std::to_string(kNumVertices));
  }
  if (uvs.size() != canonical_vertices.size()) {
    return Status::Error("the canonical mesh has " + std::to_string(uvs.size()) + " texture coordinates for " +
                         std::to_string(canonical_vertices.size()) + " vertices");
  }
  for (size_t i = 0; i < canonical_vertices.size(); ++i) {
    const auto& p = canonical_vertices[i];
    const auto& uv = uvs[i];
    if (!std::isfinite(p[0]) || !std::isfinite(p[1]) || !std::isfinite(p[2]) || !std::isfinite(uv[0]) ||
        !std::isfinite(uv[1])) {
      return Status::Error("canonical vertex " + std::to_string(i) + " is not finite");
    }
  }
  if (triangles.empty()) return Status::Error("the canonical mesh has no triangles");
  for (size_t t = 0; t < triangles.size(); ++t) {
    for (int index : triangles[t]) {
      if (index < 0 || index >= kNumVertices) {
        return Status::Error("triangle " + std::to_string(t) + " refers to vertex " + std::to_string(index) +
                             ", outside 0.." + std::to_string(kNumVertices - 1));
      }
    }
  }
  if (procrustes_weights.empty()) return Status::Error("the Procrustes landmark basis is empty");
  std::set<int> seen;
  double total = 0;
  for (const auto& [id, weight] : procrustes_weights) {
    if (id < 0 || id >= kNumVertices) {
      return Status::Error("a Procrustes landmark refers to vertex " + std::to_string(id) + ", outside 0.." +
                           std::to_string(kNumVertices - 1));
    }
    if (!std::isfinite(weight) || weight < 0.f) {
      return Status::Error("Procrustes landmark " + std::to_string(id) + " has the weight " + std::to_string(weight) +
                           " (must be finite and non-negative)");
    }
    if (!seen.insert(id).second) {
      return Status::Error("Procrustes landmark " + std::to_string(id) + " is listed twice");
    }
    total += weight;
  }
  if (!(total > kEpsilon)) return Status::Error("the Procrustes landmark weights sum to zero");
  return Status::Ok();
}

Expected<std::shared_ptr<const GeometryModel>> GeometryModel::FromBytes(const std::string& bytes,
                                                                        const std::string& name) {
  const std::string where = "geometry model '" + name + "': ";
  if (bytes.empty()) return Error(where + "the file is empty");

  proto::GeometryPipelineMetadata metadata;
  if (!metadata.ParseFromString(bytes)) {
    return Error(where + "not a valid GeometryPipelineMetadata protobuf (corrupt or truncated)");
  }
  // input_source is the last field of the file (fields are written in number order): without it the
  // file was cut short at a field boundary.
  if (!metadata.has_input_source()) {
    return Error(where + "no input_source field: the file is truncated or not MediaPipe's face geometry metadata");
  }
  if (metadata.input_source() == proto::INPUT_SOURCE_FACE_DETECTION) {
    return Error(where + "made for face detector keypoints; SpeakUp needs the face landmark version "
                 "(geometry_pipeline_metadata_landmarks.binarypb)");
  }
  if (!metadata.has_canonical_mesh()) return Error(where + "no canonical face mesh");
  const proto::Mesh3d& mesh = metadata.canonical_mesh();
  if (mesh.vertex_type() != proto::Mesh3d::VERTEX_PT || mesh.primitive_type() != proto::Mesh3d::TRIANGLE) {
    return Error(where + "the canonical mesh is not made of textured vertices and triangles");
  }
  if (mesh.vertex_buffer_size() % kVertexSize != 0) {
    return Error(where + "the vertex buffer holds " + std::to_string(mesh.vertex_buffer_size()) +
                 " floats, not a multiple of " + std::to_string(kVertexSize));
  }
  if (mesh.vertex_buffer_size() / kVertexSize != kNumVertices) {
    return Error(where + "the canonical mesh has " + std::to_string(mesh.vertex_buffer_size() / kVertexSize) +
                 " vertices, expected " + std::to_string(kNumVertices));
  }
  if (mesh.index_buffer_size() % kPrimitiveSize != 0) {
    return Error(where + "the index buffer holds " + std::to_string(mesh.index_buffer_size()) +
                 " indices, not a multiple of " + std::to_string(kPrimitiveSize));
  }

  auto model = std::make_shared<GeometryModel>();
  model->canonical_vertices.resize(kNumVertices);
  model->uvs.resize(kNumVertices);
  for (int i = 0; i < kNumVertices; ++i) {
    const int base = i * kVertexSize;
    model->canonical_vertices[i] = {mesh.vertex_buffer(base), mesh.vertex_buffer(base + 1),
                                    mesh.vertex_buffer(base + 2)};
    model->uvs[i] = {mesh.vertex_buffer(base + 3), mesh.vertex_buffer(base + 4)};
  }
  model->triangles.reserve(mesh.index_buffer_size() / kPrimitiveSize);
  for (int t = 0; t + kPrimitiveSize <= mesh.index_buffer_size(); t += kPrimitiveSize) {
    std::array<int, 3> triangle{};
    for (int k = 0; k < kPrimitiveSize; ++k) {
      const uint32_t index = mesh.index_buffer(t + k);
      if (index >= static_cast<uint32_t>(kNumVertices)) {
        return Error(where + "triangle " + std::to_string(t / kPrimitiveSize) + " refers to vertex " +
                     std::to_string(index) + ", outside 0.." + std::to_string(kNumVertices - 1));
      }
      triangle[k] = static_cast<int>(index);
    }
    model->triangles.push_back(triangle);
  }
  for (const proto::WeightedLandmark& landmark : metadata.procrustes_landmark_basis()) {
    if (landmark.landmark_id() >= static_cast<uint32_t>(kNumVertices)) {
      return Error(where + "a Procrustes landmark refers to vertex " + std::to_string(landmark.landmark_id()) +
                   ", outside 0.." + std::to_string(kNumVertices - 1));
    }
    model->procrustes_weights.emplace_back(static_cast<int>(landmark.landmark_id()), landmark.weight());
  }
  Status valid = model->Validate();
  if (!valid.ok()) return Error(where + valid.message());
  return std::shared_ptr<const GeometryModel>(std::move(model));
}

Expected<std::shared_ptr<const GeometryModel>> GeometryModel::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Error("cannot open geometry model '" + path +
                 "'. Install the models with `make models` (scripts/fetch_models.sh).");
  }
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) return Error("cannot read geometry model '" + path + "'. " + kReinstall);
  auto model = FromBytes(bytes, path);
  if (!model) return Error(model.error() + ". " + kReinstall);
  return model;
}

std::array<float, 3> YawPitchRollDegrees(const std::array<float, 16>& m) {
  // Columns of the upper 3x3, normalised: the canonical axes in camera space.
  auto column = [&m](int c) {
    Eigen::Vector3f v(m[c], m[4 + c], m[8 + c]);
    const float n = v.norm();
    return n > 0.f ? Eigen::Vector3f(v / n) : Eigen::Vector3f::Zero();
  };
  const Eigen::Vector3f right = column(0);    // canonical +x (subject's left)
  const Eigen::Vector3f up = column(1);       // canonical +y
  const Eigen::Vector3f forward = column(2);  // canonical +z: where the face points
  // R = Ry(yaw) Rx(-pitch) Rz(-roll): forward = (sin yaw cos pitch, sin pitch, cos yaw cos pitch),
  // R(1,0) = -cos pitch sin roll, R(1,1) = cos pitch cos roll.
  const float yaw = std::atan2(forward.x(), forward.z());
  const float pitch = std::asin(std::clamp(forward.y(), -1.f, 1.f));
  const float roll = std::atan2(-right.y(), up.y());
  return {yaw * kDegreesPerRadian, pitch * kDegreesPerRadian, roll * kDegreesPerRadian};
}

Expected<HeadPose> EstimateHeadPose(const GeometryModel& model, const std::vector<Landmark>& landmarks,
                                    int image_width, int image_height, const PerspectiveCamera& camera) {
  constexpr int kN = GeometryModel::kNumVertices;
  const std::string where = "head pose: ";
  if (image_width <= 0 || image_height <= 0) {
    return Error(where + "invalid image size " + std::to_string(image_width) + "x" + std::to_string(image_height));
  }
  if (!(camera.near > kEpsilon) || !(camera.far > camera.near + kEpsilon) ||
      !(camera.vertical_fov_degrees > kEpsilon) || !(camera.vertical_fov_degrees + kEpsilon < 180.f) ||
      !std::isfinite(camera.far)) {
    return Error(where + "invalid perspective camera (need 0 < near < far and 0 < vertical FOV < 180 degrees)");
  }
  if (model.canonical_vertices.size() != static_cast<size_t>(kN) || model.procrustes_weights.empty()) {
    return Error(where + "the geometry model is not loaded or not valid");
  }
  if (landmarks.size() < static_cast<size_t>(kN)) {
    return Error(where + "needs " + std::to_string(kN) + " face mesh landmarks, got " +
                 std::to_string(landmarks.size()));
  }

  // Screen landmarks, normalised like MediaPipe's (x / width, y / height, z / width), then projected
  // onto the near plane (y up): x, y, z all in near-plane units, z on the scale of x.
  const NearPlane plane = MakeNearPlane(camera, image_width, image_height);
  const float inv_width = 1.f / static_cast<float>(image_width);
  const float inv_height = 1.f / static_cast<float>(image_height);
  Eigen::Matrix3Xf screen(3, kN);
  float mean_x = 0.f, mean_y = 0.f;
  for (int i = 0; i < kN; ++i) {
    const Landmark& l = landmarks[i];
    if (!std::isfinite(l.x) || !std::isfinite(l.y) || !std::isfinite(l.z)) {
      return Error(where + "landmark " + std::to_string(i) + " is not finite");
    }
    const float x = l.x * inv_width, y = l.y * inv_height, z = l.z * inv_width;
    mean_x += (x - mean_x) / static_cast<float>(i + 1);
    mean_y += (y - mean_y) / static_cast<float>(i + 1);
    screen(0, i) = x * plane.width + plane.left;
    screen(1, i) = (1.f - y) * plane.height + plane.bottom;
    screen(2, i) = z * plane.width;
  }
  float max_distance_sq = 0.f;
  for (int i = 0; i < kN; ++i) {
    const float dx = landmarks[i].x * inv_width - mean_x, dy = landmarks[i].y * inv_height - mean_y;
    max_distance_sq = std::max(max_distance_sq, dx * dx + dy * dy);
  }
  if (std::sqrt(max_distance_sq) <= kTooCompact) return Error(where + "the face is too small");

  std::vector<int> ids;
  Eigen::VectorXf weights(static_cast<Eigen::Index>(model.procrustes_weights.size()));
  Eigen::Matrix3Xf canonical(3, kN);
  for (int i = 0; i < kN; ++i) {
    const auto& p = model.canonical_vertices[i];
    canonical.col(i) << p[0], p[1], p[2];
  }
  for (size_t k = 0; k < model.procrustes_weights.size(); ++k) {
    const auto& [id, weight] = model.procrustes_weights[k];
    if (id < 0 || id >= kN) return Error(where + "the geometry model is not valid");
    ids.push_back(id);
    weights(static_cast<Eigen::Index>(k)) = weight;
  }
  const Eigen::Matrix3Xf canonical_basis = SelectColumns(canonical, ids);

  // The scale of a fit of the canonical face onto these landmarks (target units per cm).
  auto fitted_scale = [&](const Eigen::Matrix3Xf& points, const char* pass) -> Expected<float> {
    Eigen::Matrix4f transform;
    Status fit = FitSimilarity(canonical_basis, SelectColumns(points, ids), weights, transform);
    if (!fit.ok()) return Error(where + pass + ": " + fit.message());
    return transform.col(0).head<3>().norm();
  };

  const float depth_offset = screen.row(2).mean();

  // Pass 1: the z coordinate is relative, so unprojecting is not safe yet; fit the near-plane
  // landmarks as they are (right-handed) to get a first canonical -> near-plane scale.
  Eigen::Matrix3Xf first = screen;
  first.row(2) *= -1.f;
  Expected<float> first_scale = fitted_scale(first, "first scale estimate");
  if (!first_scale) return Error(first_scale.error());

  // Pass 2: unproject with that scale and fit again; the product of both scales is the final one.
  Expected<float> second_scale =
      fitted_scale(Unproject(screen, depth_offset, *first_scale, plane), "second scale estimate");
  if (!second_scale) return Error(second_scale.error());

  const Eigen::Matrix3Xf metric = Unproject(screen, depth_offset, *first_scale * *second_scale, plane);
  Eigen::Matrix4f pose;
  Status fit = FitSimilarity(canonical_basis, SelectColumns(metric, ids), weights, pose);
  if (!fit.ok()) return Error(where + "pose fit: " + fit.message());

  HeadPose result;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) result.matrix[r * 4 + c] = pose(r, c);
  }
  const Eigen::Matrix4f inverse = pose.inverse();
  if (!inverse.allFinite()) return Error(where + "the pose is not invertible");
  const Eigen::Matrix3Xf aligned =
      (inverse.topLeftCorner<3, 3>() * metric).colwise() + inverse.topRightCorner<3, 1>();
  if (!aligned.allFinite()) return Error(where + "the metric landmarks are not finite");
  result.metric_landmarks.resize(kN);
  for (int i = 0; i < kN; ++i) result.metric_landmarks[i] = {aligned(0, i), aligned(1, i), aligned(2, i)};
  const auto angles = YawPitchRollDegrees(result.matrix);
  result.yaw = angles[0];
  result.pitch = angles[1];
  result.roll = angles[2];
  return result;
}

}  // namespace speakup::face
