#include "one_euro.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace speakup::face {
namespace {

// MediaPipe rejects these settings at or below this value.
constexpr double kEpsilon = 1e-6;

OneEuroOptions Sanitised(OneEuroOptions options) {
  const OneEuroOptions defaults;
  if (!(options.frequency > kEpsilon)) options.frequency = defaults.frequency;
  if (!(options.min_cutoff > kEpsilon)) options.min_cutoff = defaults.min_cutoff;
  if (!(options.derivate_cutoff > kEpsilon)) options.derivate_cutoff = defaults.derivate_cutoff;
  return options;
}

}  // namespace

double OneEuroFilter::LowPass::Apply(double value, double new_alpha) {
  // Same acceptance test as MediaPipe's SetAlpha: only values outside [0, 1] are refused.
  if (!(new_alpha < 0.0 || new_alpha > 1.0)) alpha = new_alpha;
  if (initialized) {
    // alpha * value + (1 - alpha) * stored, written so that value == stored gives stored exactly.
    stored += alpha * (value - stored);
  } else {
    stored = value;
    initialized = true;
  }
  raw = value;
  return stored;
}

OneEuroFilter::OneEuroFilter(const OneEuroOptions& options) : options_(Sanitised(options)) {
  Reset();
}

void OneEuroFilter::Reset() {
  frequency_ = options_.frequency;
  x_ = LowPass{};
  dx_ = LowPass{};
  x_.alpha = Alpha(options_.min_cutoff);
  dx_.alpha = Alpha(options_.derivate_cutoff);
  last_ns_ = 0;
  has_last_ = false;
}

double OneEuroFilter::Alpha(double cutoff) const {
  const double te = 1.0 / frequency_;
  const double tau = 1.0 / (2.0 * std::numbers::pi * cutoff);
  return 1.0 / (1.0 + tau / te);
}

double OneEuroFilter::Apply(double value, double timestamp_seconds, double value_scale) {
  // Timestamps are whole nanoseconds, as absl::ToInt64Nanoseconds gives MediaPipe. A timestamp
  // that is not a finite number is treated like a non-increasing one.
  const double ns_real = timestamp_seconds * 1e9;
  if (!std::isfinite(ns_real) || std::fabs(ns_real) > 9.0e18) return value;
  return ApplyNs(value, std::llround(ns_real), value_scale);
}

double OneEuroFilter::ApplyNs(double value, int64_t now_ns, double value_scale) {
  if (has_last_ && last_ns_ >= now_ns) {
    // MediaPipe: "results are unpredictable", so the raw value is returned and no state changes.
    return value;
  }

  // The rate follows the timestamps, except when either of the two is exactly zero (MediaPipe
  // uses 0 as "no timestamp"): a stream starting at 0 keeps the configured rate one step longer.
  if (has_last_ && last_ns_ != 0 && now_ns != 0) {
    // now_ns > last_ns_, so the unsigned difference is exact even where the signed one overflows.
    const uint64_t dt_ns = static_cast<uint64_t>(now_ns) - static_cast<uint64_t>(last_ns_);
    frequency_ = 1.0 / (static_cast<double>(dt_ns) * 1e-9);
  }
  last_ns_ = now_ns;
  has_last_ = true;

  // Speed in object sizes per second; 0 on the first sample.
  const double speed = x_.initialized ? (value - x_.raw) * value_scale * frequency_ : 0.0;
  const double smoothed_speed = dx_.Apply(speed, Alpha(options_.derivate_cutoff));
  const double cutoff = options_.min_cutoff + options_.beta * std::fabs(smoothed_speed);
  return x_.Apply(value, Alpha(cutoff));
}

float LandmarksSmoother::ObjectScale(const std::vector<Landmark>& landmarks) {
  if (landmarks.empty()) return 0.0f;
  const auto [min_x, max_x] = std::minmax_element(
      landmarks.begin(), landmarks.end(), [](const Landmark& a, const Landmark& b) { return a.x < b.x; });
  const auto [min_y, max_y] = std::minmax_element(
      landmarks.begin(), landmarks.end(), [](const Landmark& a, const Landmark& b) { return a.y < b.y; });
  const float width = max_x->x - min_x->x;
  const float height = max_y->y - min_y->y;
  return (width + height) / 2.0f;
}

std::vector<Landmark> LandmarksSmoother::Apply(const std::vector<Landmark>& landmarks,
                                               double timestamp_ms, int /*image_width*/,
                                               int /*image_height*/) {
  if (landmarks.empty()) {
    Reset();
    return {};
  }
  // MediaPipe makes the filters before looking at the object scale (and refuses a size change;
  // here a size change starts over from this frame).
  if (filters_.size() != 3 * landmarks.size()) {
    filters_.assign(3 * landmarks.size(), OneEuroFilter(options_));
  }

  float value_scale = 1.0f;
  if (!options_.disable_value_scaling) {
    const float object_scale = ObjectScale(landmarks);
    // Written so that a NaN scale also passes the landmarks through.
    if (!(object_scale >= options_.min_allowed_object_scale)) return landmarks;
    value_scale = 1.0f / object_scale;
  }

  // A MediaPipe packet timestamp is whole microseconds. A timestamp that is not a usable number
  // passes the landmarks through, like a non-increasing one.
  if (!std::isfinite(timestamp_ms) || std::fabs(timestamp_ms) > 9.0e12) return landmarks;
  const int64_t ns = std::llround(timestamp_ms * 1e3) * 1000;

  std::vector<Landmark> out(landmarks.size());
  for (size_t i = 0; i < landmarks.size(); ++i) {
    const Landmark& in = landmarks[i];
    OneEuroFilter* f = &filters_[3 * i];
    out[i].x = static_cast<float>(f[0].ApplyNs(in.x, ns, value_scale));
    out[i].y = static_cast<float>(f[1].ApplyNs(in.y, ns, value_scale));
    out[i].z = static_cast<float>(f[2].ApplyNs(in.z, ns, value_scale));
  }
  return out;
}

}  // namespace speakup::face
