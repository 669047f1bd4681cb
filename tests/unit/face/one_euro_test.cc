// One Euro filter and landmark smoother (src/face/one_euro.h) on synthetic signals.
#include "one_euro.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>
#include <vector>

namespace speakup::face {
namespace {

constexpr double kPi = std::numbers::pi;

// alpha(c) at rate f, written out from the formula: 1 / (1 + tau / te), tau = 1/(2 pi c), te = 1/f.
double AlphaOf(double cutoff, double frequency) {
  const double tau = 1.0 / (2.0 * kPi * cutoff);
  const double te = 1.0 / frequency;
  return 1.0 / (1.0 + tau / te);
}

double StdDev(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(v.size()));
}

// A synthetic face: a 5 x 4 grid of points spanning `size` pixels, top-left at (left, top), with a
// little depth that varies across the grid.
std::vector<Landmark> Face(float left, float top, float size) {
  std::vector<Landmark> out;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 5; ++c) {
      out.push_back({left + size * static_cast<float>(c) / 4.0f, top + size * static_cast<float>(r) / 3.0f,
                     size * 0.05f * static_cast<float>(c - r)});
    }
  }
  return out;
}

std::vector<Landmark> Scaled(const std::vector<Landmark>& in, float k) {
  std::vector<Landmark> out = in;
  for (auto& p : out) {
    p.x *= k;
    p.y *= k;
    p.z *= k;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The scalar filter against the formula.

TEST(OneEuroFilter, DefaultsAreTheFaceLandmarkers) {
  const OneEuroOptions o;
  EXPECT_EQ(o.frequency, 30.0);
  EXPECT_EQ(o.min_cutoff, 0.05);
  EXPECT_EQ(o.beta, 80.0);
  EXPECT_EQ(o.derivate_cutoff, 1.0);
  EXPECT_EQ(o.min_allowed_object_scale, 1e-6);
  EXPECT_FALSE(o.disable_value_scaling);
  // MediaPipe's comments: min_cutoff 0.05 gives alpha ~0.01 for a still landmark, derivate_cutoff 1
  // gives ~0.17 for the speed filter (at the default 30 Hz).
  EXPECT_NEAR(AlphaOf(0.05, 30), 0.0104, 1e-4);
  EXPECT_NEAR(AlphaOf(1.0, 30), 0.173, 1e-3);
}

TEST(OneEuroFilter, FirstTwoSamplesMatchTheFormula) {
  OneEuroFilter f;
  const double scale = 1.0 / 200.0;  // a 200-pixel face
  // First sample: passes through unchanged.
  EXPECT_EQ(f.Apply(100.0, 1.000, scale), 100.0);
  // Second sample 50 ms later: rate 20 Hz, speed (103 - 100) * scale * 20 = 0.3 object sizes per
  // second, filtered from 0 with alpha(1 Hz); cutoff 0.05 + 80 * |that|.
  const double got = f.Apply(103.0, 1.050, scale);
  const double freq = 20.0;
  const double speed = 3.0 * scale * freq;
  const double a_d = AlphaOf(1.0, freq);
  const double smoothed_speed = 0.0 + a_d * (speed - 0.0);
  const double cutoff = 0.05 + 80.0 * smoothed_speed;
  const double a = AlphaOf(cutoff, freq);
  const double want = a * 103.0 + (1.0 - a) * 100.0;
  std::printf("  second sample: f=%.3f Hz speed=%.4f alpha_d=%.6f cutoff=%.6f Hz alpha=%.6f -> %.9f\n",
              f.frequency(), speed, a_d, cutoff, a, got);
  EXPECT_NEAR(f.frequency(), 20.0, 1e-9);
  EXPECT_NEAR(got, want, 1e-12);
  // By hand: alpha_d = 1/(1 + 20/(2 pi)) = 0.239057, smoothed speed 0.239057 * 0.3 = 0.0717172,
  // cutoff = 0.05 + 80 * 0.0717172 = 5.787373, alpha = 1/(1 + 20/(2 pi 5.787373)) = 0.645158,
  // result 100 + 3 * 0.645158 = 101.935474.
  EXPECT_NEAR(a_d, 0.239057, 1e-6);
  EXPECT_NEAR(cutoff, 5.787373, 1e-6);
  EXPECT_NEAR(a, 0.645158, 1e-6);
  EXPECT_NEAR(got, 101.935474, 1e-6);
}

TEST(OneEuroFilter, StreamStartingAtZeroKeepsTheConfiguredRateOneStepLonger) {
  // MediaPipe treats a zero timestamp as "unknown" when updating the rate, so the second sample
  // of a stream that starts at t = 0 is filtered at the configured 30 Hz, not at 1 / 0.1 s.
  OneEuroFilter f;
  EXPECT_EQ(f.Apply(0.0, 0.0, 1.0), 0.0);
  const double got = f.Apply(1.0, 0.1, 1.0);
  EXPECT_EQ(f.frequency(), 30.0);
  const double cutoff = 0.05 + 80.0 * AlphaOf(1.0, 30.0) * (1.0 * 30.0);
  EXPECT_NEAR(got, AlphaOf(cutoff, 30.0) * 1.0, 1e-12);
  f.Apply(1.0, 0.2, 1.0);
  EXPECT_NEAR(f.frequency(), 10.0, 1e-9);
}

TEST(OneEuroFilter, ConstantStaysExactlyConstant) {
  OneEuroFilter f;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> dt(0.010, 0.060);
  double t = 3.0;
  for (int i = 0; i < 500; ++i) {
    t += dt(rng);
    ASSERT_EQ(f.Apply(123.456, t, 1.0 / 150.0), 123.456) << "sample " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Behaviour on synthetic signals (a 200-pixel face at 30 Hz unless said otherwise).

std::vector<double> StepResponse(double beta, int frames_after) {
  OneEuroOptions o;
  o.beta = beta;
  OneEuroFilter f(o);
  const double scale = 1.0 / 200.0;
  for (int i = 0; i < 30; ++i) f.Apply(50.0, i / 30.0, scale);
  std::vector<double> out;
  for (int i = 30; i < 30 + frames_after; ++i) out.push_back(f.Apply(55.0, i / 30.0, scale));
  return out;
}

TEST(OneEuroFilter, StepConvergesMonotonicallyAndLagsLessWithLargerBeta) {
  const auto fast = StepResponse(80.0, 90);
  const auto slow = StepResponse(10.0, 90);
  double prev = 50.0;
  for (size_t i = 0; i < fast.size(); ++i) {
    EXPECT_GE(fast[i], prev) << "frame " << i;  // never moves back
    EXPECT_LE(fast[i], 55.0) << "frame " << i;  // never overshoots
    prev = fast[i];
  }
  prev = 50.0;
  for (double v : slow) {
    EXPECT_GE(v, prev);
    EXPECT_LE(v, 55.0);
    prev = v;
  }
  // Remaining error 1, 3 and 10 frames after a 5-pixel step.
  std::printf("  5 px step, error after 1/3/10/30/90 frames: beta 80: %.4f %.4f %.4f %.4f %.4f;"
              " beta 10: %.4f %.4f %.4f %.4f %.4f\n",
              55 - fast[0], 55 - fast[2], 55 - fast[9], 55 - fast[29], 55 - fast[89], 55 - slow[0],
              55 - slow[2], 55 - slow[9], 55 - slow[29], 55 - slow[89]);
  for (size_t i = 0; i < 10; ++i) EXPECT_GT(fast[i], slow[i]) << "frame " << i;
  EXPECT_LT(55.0 - fast[9], 0.5);   // 90 % of the step within a third of a second
  EXPECT_LT(55.0 - fast[89], 0.1);  // and close to it after three seconds
}

TEST(OneEuroFilter, NoisyStillSignalIsCalmed) {
  // A still landmark with Gaussian jitter (fixed seed) on a 200 px face at 30 Hz. With beta 80 the
  // jitter itself raises the cutoff (its speed is what the filter sees), so the reduction depends
  // on the jitter's size relative to the face; beta 0 shows the min_cutoff filter alone.
  auto run = [](double sigma, double beta, double* raw_sd) {
    std::mt19937 rng(12345);
    std::normal_distribution<double> noise(0.0, sigma);
    OneEuroOptions o;
    o.beta = beta;
    OneEuroFilter f(o);
    std::vector<double> raw, out;
    for (int i = 0; i < 3000; ++i) {
      const double v = 320.0 + noise(rng);
      const double y = f.Apply(v, i / 30.0, 1.0 / 200.0);
      if (i >= 300) {  // past the start-up
        raw.push_back(v);
        out.push_back(y);
      }
    }
    *raw_sd = StdDev(raw);
    return StdDev(out);
  };
  const struct {
    double sigma, min_factor;
  } cases[] = {{0.1, 4.5}, {0.25, 2.8}, {0.5, 2.0}, {1.0, 1.5}};
  for (const auto& [sigma, min_factor] : cases) {
    double raw_sd = 0;
    const double sd80 = run(sigma, 80.0, &raw_sd);
    const double sd0 = run(sigma, 0.0, &raw_sd);
    std::printf("  still signal, noise sd %.4f px: filtered sd %.4f px with beta 80 (factor %.2f), "
                "%.5f px with beta 0 (factor %.2f)\n",
                raw_sd, sd80, raw_sd / sd80, sd0, raw_sd / sd0);
    EXPECT_GT(raw_sd / sd80, min_factor) << sigma;
    EXPECT_GT(raw_sd / sd0, 12.0) << sigma;  // min_cutoff alone: ~sqrt((2 - a) / a) = 13.8
  }
}

// Steady state on a ramp of v px/s: the speed estimate settles at v * scale, the cutoff at
// c = min_cutoff + beta * v * scale, and an exponential filter trails a ramp by
// v * (1 - alpha) / (alpha * f) = v / (2 pi c) pixels: less than object_size / (2 pi beta) at any speed.
double RampLag(double speed_px_s, double beta, double face = 200.0) {
  OneEuroOptions o;
  o.beta = beta;
  OneEuroFilter f(o);
  double y = 0;
  double v = 0;
  for (int i = 0; i < 3000; ++i) {
    v = 80.0 + speed_px_s * i / 30.0;
    y = f.Apply(v, i / 30.0, 1.0 / face);
  }
  return v - y;
}

TEST(OneEuroFilter, RampIsFollowedWithBoundedLag) {
  for (double speed : {2.0, 20.0, 200.0, 2000.0}) {
    const double lag = RampLag(speed, 80.0);
    const double cutoff = 0.05 + 80.0 * speed / 200.0;
    const double want = speed / (2 * kPi * cutoff);
    std::printf("  ramp %6.0f px/s: lag %.5f px (%.2f ms), formula %.5f px\n", speed, lag,
                1000 * lag / speed, want);
    EXPECT_NEAR(lag, want, 1e-6 * std::max(1.0, want));
    EXPECT_LT(lag, 200.0 / (2 * kPi * 80.0));  // < 0.398 px however fast
  }
}

TEST(OneEuroFilter, FastMotionLagsLessInTimeThanSlowMotion) {
  // Same min_cutoff: with beta 0 the filter is a fixed low-pass and its time lag does not depend
  // on the speed; with beta 80 the faster motion is followed much more closely.
  const double slow = RampLag(5.0, 80.0) / 5.0;
  const double fast = RampLag(100.0, 80.0) / 100.0;
  const double slow0 = RampLag(5.0, 0.0) / 5.0;
  const double fast0 = RampLag(100.0, 0.0) / 100.0;
  std::printf("  time lag: beta 80: %.2f ms at 5 px/s, %.2f ms at 100 px/s; beta 0: %.1f ms, %.1f ms\n",
              1000 * slow, 1000 * fast, 1000 * slow0, 1000 * fast0);
  EXPECT_LT(fast, slow / 10.0);
  EXPECT_NEAR(fast0, slow0, 1e-6);
  EXPECT_LT(slow, slow0 / 10.0);
}

TEST(OneEuroFilter, IrregularAndNonIncreasingTimestamps) {
  OneEuroFilter f, g;  // g never sees the bad samples
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> dt(0.005, 0.100);
  double t = 1.0;
  for (int i = 0; i < 300; ++i) {
    const double step = dt(rng);
    t += step;
    const double v = 100.0 + 20.0 * std::sin(t * 3.0);
    const double a = f.Apply(v, t, 1.0 / 180.0);
    const double b = g.Apply(v, t, 1.0 / 180.0);
    ASSERT_TRUE(std::isfinite(a));
    ASSERT_EQ(a, b);
    if (i > 0) {
      ASSERT_NEAR(f.frequency(), 1.0 / step, 1e-6 / step);  // the rate follows the clock
    }
    if (i % 7 == 3) {
      // A repeated and an earlier timestamp return the raw value (MediaPipe) and change nothing.
      EXPECT_EQ(f.Apply(v + 5.0, t, 1.0 / 180.0), v + 5.0);
      EXPECT_EQ(f.Apply(v - 5.0, t - 0.5, 1.0 / 180.0), v - 5.0);
      EXPECT_EQ(f.Apply(v, std::nan(""), 1.0 / 180.0), v);
      EXPECT_EQ(f.Apply(v, INFINITY, 1.0 / 180.0), v);
    }
  }
}

TEST(OneEuroFilter, ResetRestartsFromTheRawInput) {
  OneEuroFilter f;
  for (int i = 0; i < 10; ++i) f.Apply(10.0 * i, i / 30.0, 0.01);
  f.Reset();
  EXPECT_EQ(f.frequency(), 30.0);
  EXPECT_EQ(f.Apply(-7.5, 0.2, 0.01), -7.5);  // earlier than before the reset: fine, and raw
  EXPECT_NE(f.Apply(0.0, 0.25, 0.01), 0.0);   // then filtering again
}

TEST(OneEuroFilter, InvalidSettingsFallBackToDefaults) {
  OneEuroOptions bad;
  bad.frequency = 0;
  bad.min_cutoff = -1;
  bad.derivate_cutoff = 0;
  OneEuroFilter f(bad), g;
  for (int i = 0; i < 20; ++i) {
    const double v = i * i * 0.3;
    ASSERT_EQ(f.Apply(v, i / 25.0, 0.01), g.Apply(v, i / 25.0, 0.01));
  }
}

// ---------------------------------------------------------------------------------------------
// The landmark smoother.

TEST(LandmarksSmoother, ObjectScaleIsTheMeanBoxSide) {
  std::vector<Landmark> pts = {{10, 20, 5}, {110, 25, -9}, {40, 220, 0}};
  EXPECT_EQ(LandmarksSmoother::ObjectScale(pts), (100.0f + 200.0f) / 2.0f);
  EXPECT_EQ(LandmarksSmoother::ObjectScale({}), 0.0f);
}

TEST(LandmarksSmoother, EachCoordinateIsOneScaleAwareFilter) {
  LandmarksSmoother s;
  std::vector<OneEuroFilter> ref(3 * 20);
  for (int k = 0; k < 40; ++k) {
    const float shift = 3.0f * std::sin(0.3f * k);
    const auto face = Face(200.0f + shift, 150.0f - shift, 160.0f + 0.5f * shift);
    const double ms = 1000.0 + 33.0 * k + (k % 3);
    const auto out = s.Apply(face, ms, 640, 480);
    ASSERT_EQ(out.size(), face.size());
    for (size_t i = 0; i < face.size(); ++i) {
      // The value scale is computed in float, as MediaPipe does.
      const double vs = 1.0f / LandmarksSmoother::ObjectScale(face);
      EXPECT_EQ(out[i].x, static_cast<float>(ref[3 * i].Apply(face[i].x, ms / 1000.0, vs)));
      EXPECT_EQ(out[i].y, static_cast<float>(ref[3 * i + 1].Apply(face[i].y, ms / 1000.0, vs)));
      EXPECT_EQ(out[i].z, static_cast<float>(ref[3 * i + 2].Apply(face[i].z, ms / 1000.0, vs)));
    }
  }
}

TEST(LandmarksSmoother, StillFaceStaysExactlyStill) {
  LandmarksSmoother s;
  const auto face = Face(123.4f, 87.6f, 211.3f);
  for (int k = 0; k < 200; ++k) {
    const auto out = s.Apply(face, 40.0 * k + 7, 1280, 720);
    for (size_t i = 0; i < face.size(); ++i) {
      ASSERT_EQ(out[i].x, face[i].x);
      ASSERT_EQ(out[i].y, face[i].y);
      ASSERT_EQ(out[i].z, face[i].z);
    }
  }
}

TEST(LandmarksSmoother, TwiceTheFaceTwiceTheMotionGivesExactlyTwiceTheOutput) {
  // Scale invariance: the speed is measured in face sizes, so a face twice as big moving twice
  // as many pixels is filtered identically, and its output offsets are exactly doubled.
  LandmarksSmoother small, big;
  std::mt19937 rng(5);
  std::normal_distribution<float> jitter(0.0f, 0.4f);
  const auto start = Face(150.0f, 100.0f, 120.0f);
  double max_offset = 0;
  for (int k = 0; k < 120; ++k) {
    auto face = start;
    const float dx = (k < 40 ? 0.0f : k < 60 ? 1.5f * (k - 40) : 30.0f) + jitter(rng);
    const float dy = 4.0f * std::sin(0.2f * k);
    for (auto& p : face) {
      p.x += dx;
      p.y += dy;
    }
    const auto a = small.Apply(face, 33.0 * k, 640, 480);
    const auto b = big.Apply(Scaled(face, 2.0f), 33.0 * k, 1280, 960);
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(b[i].x, 2.0f * a[i].x);
      ASSERT_EQ(b[i].y, 2.0f * a[i].y);
      ASSERT_EQ(b[i].z, 2.0f * a[i].z);
      ASSERT_EQ(b[i].x - 2.0f * start[i].x, 2.0f * (a[i].x - start[i].x));
      max_offset = std::max(max_offset, std::fabs(static_cast<double>(a[i].x - start[i].x)));
    }
  }
  EXPECT_GT(max_offset, 25.0);  // it did move
}

TEST(LandmarksSmoother, TheSamePixelMotionIsSmoothedMoreOnABiggerFace) {
  auto lag_after = [](float size) {
    LandmarksSmoother s;
    const auto face = Face(100.0f, 100.0f, size);
    for (int k = 0; k < 30; ++k) s.Apply(face, 33.0 * k, 1280, 720);
    auto moved = face;
    for (auto& p : moved) p.x += 4.0f;
    const auto out = s.Apply(moved, 33.0 * 30, 1280, 720);
    return moved[0].x - out[0].x;
  };
  const float small_lag = lag_after(100.0f), big_lag = lag_after(400.0f);
  std::printf("  4 px jump, remaining after one frame: %.4f px on a 100 px face, %.4f px on a 400 px face\n",
              small_lag, big_lag);
  EXPECT_GT(big_lag, small_lag);
}

TEST(LandmarksSmoother, DisabledValueScalingUsesScaleOne) {
  OneEuroOptions o;
  o.disable_value_scaling = true;
  LandmarksSmoother s(o);
  OneEuroFilter ref(o);
  for (int k = 0; k < 20; ++k) {
    const auto face = Face(50.0f + k, 60.0f, 90.0f);
    const auto out = s.Apply(face, 50.0 * k + 1, 320, 240);
    EXPECT_EQ(out[0].x, static_cast<float>(ref.Apply(face[0].x, (50.0 * k + 1) / 1000.0, 1.0)));
  }
}

TEST(LandmarksSmoother, TinyFacePassesThrough) {
  LandmarksSmoother s;
  std::vector<Landmark> dot(5, Landmark{10.0f, 20.0f, 0.0f});
  for (int k = 0; k < 5; ++k) {
    dot[k % 5].z = static_cast<float>(k);
    const auto out = s.Apply(dot, 33.0 * k, 640, 480);
    for (size_t i = 0; i < dot.size(); ++i) EXPECT_EQ(out[i].z, dot[i].z);
  }
}

TEST(LandmarksSmoother, ResetAndSizeChangeRestartFromTheRawInput) {
  LandmarksSmoother s;
  auto face = Face(100.0f, 100.0f, 150.0f);
  for (int k = 0; k < 10; ++k) s.Apply(Face(100.0f + 3.0f * k, 100.0f, 150.0f), 33.0 * k, 640, 480);
  EXPECT_EQ(s.size(), 20u);

  // Reset: the next frame is returned exactly as given.
  s.Reset();
  EXPECT_EQ(s.size(), 0u);
  face = Face(10.0f, 20.0f, 150.0f);
  auto out = s.Apply(face, 400.0, 640, 480);
  for (size_t i = 0; i < face.size(); ++i) {
    EXPECT_EQ(out[i].x, face[i].x);
    EXPECT_EQ(out[i].y, face[i].y);
    EXPECT_EQ(out[i].z, face[i].z);
  }
  auto moved = Face(30.0f, 20.0f, 150.0f);
  out = s.Apply(moved, 433.0, 640, 480);
  EXPECT_LT(out[0].x, moved[0].x);  // filtering again
  EXPECT_GT(out[0].x, face[0].x);

  // A different number of landmarks: starts over from it.
  face.pop_back();
  out = s.Apply(face, 466.0, 640, 480);
  EXPECT_EQ(s.size(), 19u);
  for (size_t i = 0; i < face.size(); ++i) EXPECT_EQ(out[i].x, face[i].x);

  // No landmarks: nothing out, and the filters are dropped.
  EXPECT_TRUE(s.Apply({}, 500.0, 640, 480).empty());
  EXPECT_EQ(s.size(), 0u);
}

TEST(LandmarksSmoother, RepeatedOrEarlierTimestampReturnsTheInputWithoutHarm) {
  LandmarksSmoother s;
  for (int k = 0; k < 10; ++k) s.Apply(Face(100.0f + k, 100.0f, 150.0f), 33.0 * k, 640, 480);
  const auto face = Face(140.0f, 90.0f, 150.0f);
  for (double ms : {33.0 * 9, 100.0, std::nan("")}) {
    const auto out = s.Apply(face, ms, 640, 480);
    for (size_t i = 0; i < face.size(); ++i) {
      ASSERT_TRUE(std::isfinite(out[i].x) && std::isfinite(out[i].y) && std::isfinite(out[i].z));
      EXPECT_EQ(out[i].x, face[i].x);
    }
  }
  const auto next = s.Apply(face, 33.0 * 10, 640, 480);
  for (const auto& p : next) ASSERT_TRUE(std::isfinite(p.x) && std::isfinite(p.y) && std::isfinite(p.z));
  EXPECT_LT(next[0].x, face[0].x);  // continues from the state before the bad frames
  EXPECT_GT(next[0].x, 109.0f);
}

}  // namespace
}  // namespace speakup::face
