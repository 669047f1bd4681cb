// The six MediaPipe face models (the face mesh solution's four, the Face Landmarker's mesh V2 and
// blendshapes), end to end: the engine (XNNPACK, on the calling thread and on a
// 2-thread pool) against the float64 reference interpreter on the same loaded graph, with
// deterministic inputs in each model's input range. Every output must agree to a relative L2 error
// of 1e-4 (fp32 accumulated over a whole network against fp64; measured errors are printed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "graph.h"
#include "reference.h"
#include "speakup/engine.h"

namespace speakup::engine {
namespace {

constexpr double kModelRelTolerance = 1e-5;
// Face Mesh V2's two one-value heads (a logit and a sigmoid probability) end a deeper 256x256 network
// in a single number: XNNPACK's fp32 accumulation puts ~1e-5 of relative error on them (measured:
// 1.3e-5 on a logit, 8e-5 on a probability of 8e-4 whose sigmoid multiplies the logit's error by
// |logit| = 7; the sigmoid itself is exact to 1e-7, and the 1434-value mesh output of the same run
// stays within kModelRelTolerance). Only those two outputs get this bound.
constexpr double kSingleValueHeadRelTolerance = 1e-4;

std::string ModelPath(const char* file) { return std::string(SPEAKUP_MODELS_DIR) + "/" + file; }

std::vector<float> Noise(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A smooth, face-like synthetic picture in [0, 1] (NHWC, 3 channels): a skin-toned ellipse on a
// gradient background, darker eyes and brows, a reddish mouth, soft edges everywhere. It is no
// face, but it drives the landmark model to a coherent mesh so the attention model's custom ops
// crop plausible regions instead of degenerate ones.
std::vector<float> SmoothFace(int height, int width) {
  std::vector<float> image(static_cast<size_t>(height) * width * 3);
  auto blob = [](double x, double y, double cx, double cy, double rx, double ry) {
    const double dx = (x - cx) / rx, dy = (y - cy) / ry;
    return std::exp(-(dx * dx + dy * dy));
  };
  for (int yi = 0; yi < height; ++yi) {
    for (int xi = 0; xi < width; ++xi) {
      const double x = (xi + 0.5) / width, y = (yi + 0.5) / height;  // [0, 1]
      double rgb[3] = {0.25 + 0.2 * y, 0.3 + 0.1 * x, 0.35 + 0.15 * (1 - y)};
      const double ex = (x - 0.5) / 0.33, ey = (y - 0.52) / 0.42;
      const double face = 1.0 / (1.0 + std::exp((std::sqrt(ex * ex + ey * ey) - 1.0) * 12.0));
      const double skin[3] = {0.85, 0.64, 0.52};
      for (int c = 0; c < 3; ++c)
        rgb[c] = (1 - face) * rgb[c] + face * skin[c] * (0.9 + 0.1 * (1 - y));
      const double eyes = blob(x, y, 0.37, 0.44, 0.06, 0.03) + blob(x, y, 0.63, 0.44, 0.06, 0.03);
      const double brows =
          blob(x, y, 0.36, 0.37, 0.08, 0.015) + blob(x, y, 0.64, 0.37, 0.08, 0.015);
      const double nose = blob(x, y, 0.5, 0.58, 0.03, 0.08);
      const double mouth = blob(x, y, 0.5, 0.73, 0.1, 0.025);
      for (int c = 0; c < 3; ++c) {
        rgb[c] *= 1.0 - 0.75 * std::min(1.0, eyes) - 0.5 * std::min(1.0, brows) - 0.12 * nose;
      }
      rgb[0] = rgb[0] * (1 - 0.3 * mouth) + 0.7 * 0.3 * mouth;
      rgb[1] *= 1 - 0.5 * mouth;
      rgb[2] *= 1 - 0.4 * mouth;
      float* px = &image[(static_cast<size_t>(yi) * width + xi) * 3];
      for (int c = 0; c < 3; ++c) px[c] = static_cast<float>(std::clamp(rgb[c], 0.0, 1.0));
    }
  }
  return image;
}

struct OutputErrors {
  double rel_l2 = 0;
  double max_abs = 0;
  double max_ref = 0;
  bool finite = true;
};

OutputErrors Measure(std::span<const float> got, const std::vector<double>& want) {
  OutputErrors e;
  double diff2 = 0, want2 = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) e.finite = false;
    const double d = static_cast<double>(got[i]) - want[i];
    diff2 += d * d;
    want2 += want[i] * want[i];
    e.max_abs = std::max(e.max_abs, std::abs(d));
    e.max_ref = std::max(e.max_ref, std::abs(want[i]));
  }
  e.rel_l2 = diff2 == 0 ? 0.0 : (want2 == 0 ? INFINITY : std::sqrt(diff2 / want2));
  return e;
}

std::shared_ptr<const Model> LoadOrFail(const char* file) {
  const std::string path = ModelPath(file);
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << path << " is missing: run `make models` to fetch the MediaPipe models.";
    return nullptr;
  }
  auto model = Model::Load(path);
  if (!model.ok()) {
    ADD_FAILURE() << "cannot load " << path << ": " << model.error();
    return nullptr;
  }
  return *model;
}

// Runs `file` on the engine (no pool, then a 2-thread pool) and on the reference with `input` as
// its only input, and compares every output.
// `single_value_tolerance` applies to outputs of one element only.
void CheckModel(const char* file, const std::vector<float>& input, const std::string& label,
                double single_value_tolerance = kModelRelTolerance) {
  SCOPED_TRACE(std::string(file) + ", " + label);
  std::shared_ptr<const Model> model = LoadOrFail(file);
  if (!model) return;
  ASSERT_EQ(model->inputs().size(), 1u);
  ASSERT_EQ(model->inputs()[0].element_count, input.size())
      << "input " << model->inputs()[0].name << " of unexpected size";

  auto want = RunReference(model->graph(), {std::vector<double>(input.begin(), input.end())});
  ASSERT_TRUE(want.ok()) << want.error();
  ASSERT_EQ(want->size(), model->outputs().size());

  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    const char* threads = p ? "2-thread pool" : "no pool";
    SCOPED_TRACE(threads);
    auto runner = Runner::Create(model, p);
    ASSERT_TRUE(runner.ok()) << runner.error();
    std::span<float> in = (*runner)->input(0);
    ASSERT_EQ(in.size(), input.size());
    std::copy(input.begin(), input.end(), in.begin());
    Status run = (*runner)->Run();
    ASSERT_TRUE(run.ok()) << run.message();
    for (size_t o = 0; o < want->size(); ++o) {
      const std::string& name = model->outputs()[o].name;
      std::span<const float> got = (*runner)->output(o);
      ASSERT_EQ(got.size(), (*want)[o].size()) << "output " << name;
      const OutputErrors e = Measure(got, (*want)[o]);
      std::printf("  %s [%s, %s] output %-28s rel_l2 %.3g  max_abs %.3g  (max |ref| %.3g)\n", file,
                  label.c_str(), threads, name.c_str(), e.rel_l2, e.max_abs, e.max_ref);
      EXPECT_TRUE(e.finite) << "output " << name << " has non-finite values";
      EXPECT_LE(e.rel_l2, got.size() == 1 ? single_value_tolerance : kModelRelTolerance)
          << "output " << name << ": max |a-b| " << e.max_abs << ", max |reference| " << e.max_ref;
    }
  }
}

size_t InputSize(const char* file) {
  std::shared_ptr<const Model> model = LoadOrFail(file);
  return model && !model->inputs().empty() ? model->inputs()[0].element_count : 0;
}

// Height and width of an NHWC input.
std::pair<int, int> InputHw(const char* file) {
  std::shared_ptr<const Model> model = LoadOrFail(file);
  if (!model || model->inputs().empty() || model->inputs()[0].shape.size() != 4) return {0, 0};
  return {model->inputs()[0].shape[1], model->inputs()[0].shape[2]};
}

TEST(ModelReferenceTest, FaceLandmarkNoise) {
  const char* file = "face_landmark.tflite";
  const size_t n = InputSize(file);
  if (n == 0) return;
  CheckModel(file, Noise(n, 0.0f, 1.0f, 11), "noise [0,1]");
}

TEST(ModelReferenceTest, FaceLandmarkSmoothImage) {
  const char* file = "face_landmark.tflite";
  auto [h, w] = InputHw(file);
  if (h == 0) return;
  CheckModel(file, SmoothFace(h, w), "smooth face");
}

TEST(ModelReferenceTest, FaceLandmarkWithAttentionNoise) {
  const char* file = "face_landmark_with_attention.tflite";
  const size_t n = InputSize(file);
  if (n == 0) return;
  CheckModel(file, Noise(n, 0.0f, 1.0f, 12), "noise [0,1]");
}

TEST(ModelReferenceTest, FaceLandmarkWithAttentionSmoothImage) {
  const char* file = "face_landmark_with_attention.tflite";
  auto [h, w] = InputHw(file);
  if (h == 0) return;
  CheckModel(file, SmoothFace(h, w), "smooth face");
}

TEST(ModelReferenceTest, FaceDetectionShortRange) {
  const char* file = "face_detection_short_range.tflite";
  const size_t n = InputSize(file);
  if (n == 0) return;
  CheckModel(file, Noise(n, -1.0f, 1.0f, 13), "noise [-1,1]");
}

TEST(ModelReferenceTest, FaceDetectionFullRange) {
  const char* file = "face_detection_full_range.tflite";
  const size_t n = InputSize(file);
  if (n == 0) return;
  CheckModel(file, Noise(n, -1.0f, 1.0f, 14), "noise [-1,1]");
}

TEST(ModelReferenceTest, FaceLandmarksDetectorNoise) {
  const char* file = "face_landmarks_detector.tflite";
  const size_t n = InputSize(file);
  if (n == 0) return;
  CheckModel(file, Noise(n, 0.0f, 1.0f, 15), "noise [0,1]", kSingleValueHeadRelTolerance);
}

TEST(ModelReferenceTest, FaceLandmarksDetectorSmoothImage) {
  const char* file = "face_landmarks_detector.tflite";
  auto [h, w] = InputHw(file);
  if (h == 0) return;
  CheckModel(file, SmoothFace(h, w), "smooth face", kSingleValueHeadRelTolerance);
}

// The blendshape model takes 146 landmarks' x, y in pixels of the image and normalises them itself
// (centre, scale): both a pixel range and the unit square.
TEST(ModelReferenceTest, FaceBlendshapesPixelCoordinates) {
  const char* file = "face_blendshapes.tflite";
  const size_t n = InputSize(file);
  if (n == 0) return;
  CheckModel(file, Noise(n, 100.0f, 400.0f, 16), "noise [100,400]");
}

TEST(ModelReferenceTest, FaceBlendshapesUnitSquare) {
  const char* file = "face_blendshapes.tflite";
  const size_t n = InputSize(file);
  if (n == 0) return;
  CheckModel(file, Noise(n, 0.0f, 1.0f, 17), "noise [0,1]");
}

}  // namespace
}  // namespace speakup::engine
