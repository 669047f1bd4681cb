// One Euro filtering of face landmarks, as MediaPipe's Face Landmarker does it
// (LandmarksSmoothingCalculator with its one_euro_filter options, util/filtering/one_euro_filter.cc).
// Pure and deterministic: time is an argument, nothing reads a clock.
//
// Facts this follows (MediaPipe):
//  * Filtering happens in image pixels: the calculator turns normalised landmarks into pixels
//    (x * width, y * height, z * width), filters, and turns them back. SpeakUp's landmarks are
//    already pixels with z on the x scale, so they are filtered as they are.
//  * Every coordinate of every landmark has its own filter; all share the frame's timestamp and
//    value scale. value_scale = 1 / object_scale, object_scale = mean of the width and height of
//    the landmarks' axis-aligned bounding box (pixels). Below min_allowed_object_scale the
//    landmarks pass through untouched (the filters are not advanced).
//  * The filter: derivative dx = (value - previous raw value) * value_scale * frequency, low-passed
//    with the alpha of derivate_cutoff; cutoff = min_cutoff + beta * |filtered dx|; the value is
//    low-passed with the alpha of that cutoff. alpha(c) = 1 / (1 + tau / te), tau = 1 / (2 pi c),
//    te = 1 / frequency. The first sample passes through (and the derivative filter starts at 0).
//  * frequency starts at options.frequency and becomes 1 / (t - t_prev) once two samples have
//    non-zero timestamps (so a stream starting at t = 0 filters its second sample at the default
//    frequency). A timestamp not after the previous one returns the raw value and changes nothing.
// Deliberate differences: the state is kept in double (MediaPipe's LowPassFilter stores float, and
// its options are float, e.g. min_cutoff 0.05f), and the low-pass step is written as
// s + alpha * (v - s), so a constant input stays bit-exact; results agree to float rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "speakup/face.h"

namespace speakup::face {

// Defaults are the Face Landmarker's (face_landmarks_detector_graph.cc sets min_cutoff 0.05,
// beta 80, derivate_cutoff 1; frequency, min_allowed_object_scale and disable_value_scaling are
// the LandmarksSmoothingCalculatorOptions.OneEuroFilter proto defaults).
struct OneEuroOptions {
  double frequency = 30;         // Hz, used until two timestamps give the real rate
  double min_cutoff = 0.05;      // Hz, cutoff of a still value (alpha ~0.0104 at 30 Hz)
  double beta = 80;              // cutoff slope per unit of (scaled) speed
  double derivate_cutoff = 1.0;  // Hz, cutoff of the speed estimate (alpha ~0.173 at 30 Hz)
  double min_allowed_object_scale = 1e-6;  // pixels; smaller faces pass through unfiltered
  bool disable_value_scaling = false;      // value_scale = 1 instead of 1 / object_scale
};

// One scalar signal.
class OneEuroFilter {
 public:
  // Invalid settings (frequency, min_cutoff or derivate_cutoff <= 1e-6, where MediaPipe only logs
  // an error) fall back to the defaults above.
  explicit OneEuroFilter(const OneEuroOptions& options = {});

  // Filters `value` taken at `timestamp_seconds` (quantised to whole nanoseconds, as MediaPipe's
  // absl::Duration). `value_scale` multiplies the speed estimate (1 / object size).
  double Apply(double value, double timestamp_seconds, double value_scale);
  // The same with the timestamp already in nanoseconds.
  double ApplyNs(double value, int64_t timestamp_ns, double value_scale);

  // Forgets everything: the next sample passes through and the frequency is the configured one.
  void Reset();

  double frequency() const { return frequency_; }  // current sampling-rate estimate, Hz

 private:
  // MediaPipe's LowPassFilter: exponential smoothing whose first sample passes through; an alpha
  // outside [0, 1] is ignored (the previous alpha is kept).
  struct LowPass {
    double alpha = 0;
    double raw = 0;     // last input
    double stored = 0;  // last output
    bool initialized = false;
    double Apply(double value, double new_alpha);
  };

  double Alpha(double cutoff) const;

  OneEuroOptions options_;
  double frequency_;
  LowPass x_, dx_;
  int64_t last_ns_ = 0;
  bool has_last_ = false;
};

// The filters of one face: one OneEuroFilter per coordinate per landmark.
class LandmarksSmoother {
 public:
  explicit LandmarksSmoother(const OneEuroOptions& options = {}) : options_(options) {}

  // Smooths one frame's landmarks (image pixels). timestamp_ms is taken in whole microseconds,
  // like a MediaPipe packet timestamp. The image size is accepted for symmetry with MediaPipe's
  // calculator but does not change the result: MediaPipe filters pixels, and these are pixels.
  // An empty list resets the filters (MediaPipe resets on an empty packet); a list whose size
  // differs from the previous one restarts the filters from it.
  std::vector<Landmark> Apply(const std::vector<Landmark>& landmarks, double timestamp_ms,
                              int image_width, int image_height);

  // The next Apply starts again from its raw input.
  void Reset() { filters_.clear(); }

  size_t size() const { return filters_.size() / 3; }  // landmarks being tracked (0 after Reset)
  const OneEuroOptions& options() const { return options_; }

  // Mean of the width and height of the landmarks' axis-aligned bounding box (0 for none).
  static float ObjectScale(const std::vector<Landmark>& landmarks);

 private:
  OneEuroOptions options_;
  std::vector<OneEuroFilter> filters_;  // x, y, z of landmark 0, then landmark 1, ...
};

}  // namespace speakup::face
