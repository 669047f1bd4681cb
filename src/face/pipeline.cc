// The face pipeline as ordinary code: track the faces of the last frame, detect when fewer than
// max_faces are tracked (at a bounded rate), then smooth and pose each face.
//
// With LandmarkModel::kLandmarker it follows the Tasks API's FaceLandmarkerGraph instead
// (mediapipe/tasks/cc/vision/face_landmarker/face_landmarker_graph.cc and face_landmarks_detector_graph.cc):
//  - detection only while fewer than num_faces ROIs came from the last frame (no rate limit), NMS 0.5, the
//    detection's box scaled 1.5 without squaring (face_detector_graph.cc), the CPU converter's warps;
//  - AssociationNormRectCalculator with the last frame's ROIs as its first input and the detections as
//    its second, so a detection replaces the tracked ROI it overlaps (IoU > min_tracking_confidence 0.5);
//    then ClipNormalizedRectVectorSizeCalculator to num_faces; faces keep that order;
//  - presence > min_detection_confidence (ThresholdingCalculator, strictly greater);
//  - the next frame's ROI from the raw landmarks (33 -> 263, scale 1.5, square_long);
//  - in stream mode with num_faces == 1 the landmarks are smoothed (LandmarksSmoothingCalculator, one-euro
//    0.05 / 80 / 1) and the blendshapes and the facial transformation matrix come from the smoothed ones;
//    with more faces nothing is smoothed (smoothing there is an error in MediaPipe).
#include <algorithm>
#include <chrono>
#include <limits>

#include "blendshapes.h"
#include "detector.h"
#include "geometry.h"
#include "one_euro.h"
#include "roi.h"
#include "speakup/face.h"
#include "workspace.h"

namespace speakup::face {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The pixels the detector reads (all of them) and those a landmark warp of `roi` reads.
Status PrepareWhole(ImageSource& source) {
  const ImageView image = source.view();
  return source.Prepare(0, 0, image.width, image.height);
}

Status PrepareRoi(ImageSource& source, const Roi& roi) {
  const ImageView image = source.view();
  const PixelRect footprint = RoiFootprint(roi, image.width, image.height);
  return source.Prepare(footprint.x, footprint.y, footprint.width, footprint.height);
}

// The head pose of `face` from its landmarks (left at zero when it cannot be fitted), its time
// added to the geometry stage.
void SetPose(const GeometryModel& geometry, const ImageView& image, Face& face, StageTimings& timings) {
  const auto geometry_start = Clock::now();
  auto pose = EstimateHeadPose(geometry, face.landmarks, image.width, image.height);
  timings.geometry_ms += MsSince(geometry_start);
  if (!pose) return;
  face.pose = pose->matrix;
  face.yaw = pose->yaw;
  face.pitch = pose->pitch;
  face.roll = pose->roll;
}

// One tracked face of a stream.
struct Track {
  int id = 0;
  float presence = 0;
  Roi roi;                          // where to look in the next frame
  std::vector<Landmark> landmarks;  // this frame's, unsmoothed
  LandmarksSmoother smoother;
};

// The face a track reports this frame: its landmarks smoothed when `smooth` (the ROI keeps coming
// from the raw ones), their box. Pose and blendshapes are added by the caller.
Face FaceFromTrack(Track& track, bool smooth, double timestamp_ms, const ImageView& image) {
  Face face;
  face.id = track.id;
  face.score = track.presence;
  face.landmarks = smooth ? track.smoother.Apply(track.landmarks, timestamp_ms, image.width, image.height)
                          : track.landmarks;
  face.box = BoundingBox(face.landmarks);
  return face;
}

}  // namespace

struct Pipeline::State {
  std::vector<Track> tracks;
  int next_id = 1;
  double last_detection_ms = -std::numeric_limits<double>::infinity();
};

Pipeline::Pipeline(PipelineOptions options) : options_(options), state_(std::make_unique<State>()) {}
Pipeline::~Pipeline() = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;

void Pipeline::set_options(const PipelineOptions& options) {
  const bool restart = EffectiveModel(options) != EffectiveModel(options_) || options.detector != options_.detector ||
                       options.static_images != options_.static_images;
  options_ = options;
  if (restart) {
    state_->tracks.clear();
    state_->last_detection_ms = -std::numeric_limits<double>::infinity();
  }
  if (!options_.smoothing) {
    for (auto& track : state_->tracks) track.smoother.Reset();
  }
  if (static_cast<int>(state_->tracks.size()) > options_.max_faces) state_->tracks.resize(std::max(0, options_.max_faces));
}

Expected<FaceResult> Pipeline::Process(const ImageView& image, double timestamp_ms, Workspace& workspace) {
  ReadyImage ready(image);
  return Process(ready, timestamp_ms, workspace);
}

Expected<FaceResult> Pipeline::Process(ImageSource& source, double timestamp_ms, Workspace& workspace) {
  const auto start = Clock::now();
  const ImageView image = source.view();
  if (image.data == nullptr || image.width <= 0 || image.height <= 0 || image.stride < 3 * image.width) {
    return Error("the image is empty or its stride is too small");
  }
  FaceResult result;
  result.width = image.width;
  result.height = image.height;
  State& state = *state_;
  const Models& models = workspace.models();
  if (options_.static_images) state = State{};  // every image on its own: ids restart at 1

  if (options_.model == LandmarkModel::kLandmarker) return ProcessLandmarker(source, timestamp_ms, workspace, start);

  auto landmarker = workspace.impl_->GetLandmarker(EffectiveModel(options_));
  if (!landmarker) return Error(landmarker.error());

  // Which regions to look at, in MediaPipe's order: this frame's detections (best first, at most
  // max_faces), then the regions tracked from the last frame's landmarks. Of two overlapping
  // regions the later one wins, so a tracked face keeps its track (AssociateRois).
  struct Candidate {
    Roi roi;
    int track = -1;  // index into state.tracks, or -1 for a new detection
  };
  std::vector<Candidate> candidates;
  const bool missing = static_cast<int>(state.tracks.size()) < options_.max_faces;
  const bool due = options_.static_images || state.tracks.empty() ||
                   timestamp_ms - state.last_detection_ms >= options_.detection_interval_ms;
  if (missing && due) {
    const auto detect_start = Clock::now();
    auto detector = workspace.impl_->GetDetector(options_.detector);
    if (!detector) return Error(detector.error());
    if (Status ready = PrepareWhole(source); !ready.ok()) return Error(ready.message());
    auto detections = (*detector)->Detect(image, options_.min_detection_score);
    if (!detections) return Error(detections.error());
    result.timings.detect_ms = MsSince(detect_start);
    result.timings.detected = true;
    state.last_detection_ms = timestamp_ms;
    const size_t count = std::min(detections->size(), static_cast<size_t>(options_.max_faces));
    for (size_t i = 0; i < count; ++i) candidates.push_back({RoiFromDetection((*detections)[i], image.width, image.height)});
  }
  // Newest track first, so that of two tracks that converged on one face the older one wins.
  for (size_t t = state.tracks.size(); t-- > 0;) candidates.push_back({state.tracks[t].roi, static_cast<int>(t)});
  std::vector<Roi> rois;
  for (const Candidate& c : candidates) rois.push_back(c.roi);

  std::vector<Track> tracks;
  for (size_t k : AssociateRois(rois)) {
    const Candidate& candidate = candidates[k];
    if (Status ready = PrepareRoi(source, candidate.roi); !ready.ok()) return Error(ready.message());
    auto found = (*landmarker)->Run(image, candidate.roi);
    if (!found) return Error(found.error());
    result.timings.warp_ms += found->warp_ms;
    result.timings.landmarks_ms += found->inference_ms;
    if (!(found->presence > options_.min_presence)) continue;  // MediaPipe keeps only presence > threshold
    Track track;
    if (candidate.track >= 0) {
      track = std::move(state.tracks[candidate.track]);
    } else {
      track.id = state.next_id++;
    }
    track.presence = found->presence;
    track.landmarks = std::move(found->landmarks);
    track.roi = RoiFromLandmarks(track.landmarks, image.width, image.height);
    tracks.push_back(std::move(track));
  }
  // Oldest first; never more than max_faces.
  std::sort(tracks.begin(), tracks.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  if (static_cast<int>(tracks.size()) > options_.max_faces) tracks.resize(options_.max_faces);
  state.tracks = std::move(tracks);

  // Smooth and pose each face.
  const bool smooth = options_.smoothing && !options_.static_images;
  for (Track& track : state.tracks) {
    Face face = FaceFromTrack(track, smooth, timestamp_ms, image);
    SetPose(*models.geometry, image, face, result.timings);
    result.faces.push_back(std::move(face));
  }
  result.timings.total_ms = MsSince(start);
  return result;
}

Expected<FaceResult> Pipeline::ProcessLandmarker(ImageSource& source, double timestamp_ms, Workspace& workspace,
                                                 std::chrono::steady_clock::time_point start) {
  const ImageView image = source.view();
  FaceResult result;
  result.width = image.width;
  result.height = image.height;
  State& state = *state_;
  const Models& models = workspace.models();
  if (options_.static_images) state = State{};  // IMAGE mode: every image detected on its own
  auto landmarker = workspace.impl_->GetLandmarker(LandmarkModel::kLandmarker);
  if (!landmarker) return Error(landmarker.error());
  auto blendshapes = workspace.impl_->GetBlendshapes();
  if (!blendshapes) return Error(blendshapes.error());
  const size_t max_faces = static_cast<size_t>(std::max(0, options_.max_faces));

  // The association's inputs in order: last frame's ROIs (oldest track first), then this frame's
  // detections (best first, at most num_faces). Of two overlapping ROIs the later is kept; it takes
  // over the track of the one it replaced, so a face keeps its id.
  struct Candidate {
    Roi roi;
    int track = -1;  // index into state.tracks, or -1 for a detection not matched to a track
  };
  std::vector<Candidate> candidates;
  for (size_t t = 0; t < state.tracks.size(); ++t) candidates.push_back({state.tracks[t].roi, static_cast<int>(t)});
  if (state.tracks.size() < max_faces) {
    const auto detect_start = Clock::now();
    auto detector = workspace.impl_->GetDetector(options_.detector);
    if (!detector) return Error(detector.error());
    if (Status ready = PrepareWhole(source); !ready.ok()) return Error(ready.message());
    auto detections = (*detector)->Detect(image, options_.min_detection_score, kTasksDetectionNmsThreshold,
                                          /*cpu_converter=*/true);
    if (!detections) return Error(detections.error());
    result.timings.detect_ms = MsSince(detect_start);
    result.timings.detected = true;
    state.last_detection_ms = timestamp_ms;
    const size_t count = std::min(detections->size(), max_faces);
    for (size_t i = 0; i < count; ++i) {
      candidates.push_back({RoiFromDetection((*detections)[i], image.width, image.height, /*square_long=*/false)});
    }
  }
  std::vector<Candidate> kept;
  for (Candidate& candidate : candidates) {
    std::erase_if(kept, [&](const Candidate& other) {
      if (RoiOverlap(candidate.roi, other.roi) <= kRoiAssociationThreshold) return false;
      if (candidate.track < 0) candidate.track = other.track;
      return true;
    });
    kept.push_back(candidate);
  }
  if (kept.size() > max_faces) kept.resize(max_faces);

  std::vector<Track> tracks;
  for (const Candidate& candidate : kept) {
    if (Status ready = PrepareRoi(source, candidate.roi); !ready.ok()) return Error(ready.message());
    auto found = (*landmarker)->Run(image, candidate.roi);
    if (!found) return Error(found.error());
    result.timings.warp_ms += found->warp_ms;
    result.timings.landmarks_ms += found->inference_ms;
    if (!(found->presence > options_.min_presence)) continue;
    Track track;
    if (candidate.track >= 0 && state.tracks[candidate.track].id != 0) {
      track = std::move(state.tracks[candidate.track]);
      state.tracks[candidate.track].id = 0;  // taken
    } else {
      track.id = state.next_id++;
    }
    track.presence = found->presence;
    track.landmarks = std::move(found->landmarks);
    track.roi = RoiFromLandmarks(track.landmarks, image.width, image.height);  // from the raw landmarks
    tracks.push_back(std::move(track));
  }
  state.tracks = std::move(tracks);

  const bool smooth = options_.smoothing && !options_.static_images && options_.max_faces == 1;
  for (Track& track : state.tracks) {
    Face face = FaceFromTrack(track, smooth, timestamp_ms, image);
    const auto blendshapes_start = Clock::now();
    auto scores = (*blendshapes)->Run(face.landmarks);
    if (!scores) return Error(scores.error());
    face.blendshapes = std::move(*scores);
    result.timings.blendshapes_ms += MsSince(blendshapes_start);
    SetPose(*models.geometry, image, face, result.timings);
    result.faces.push_back(std::move(face));
  }
  result.timings.total_ms = MsSince(start);
  return result;
}

}  // namespace speakup::face
