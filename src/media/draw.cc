#include "draw.h"

#include <algorithm>
#include <cmath>

namespace speakup::media {
namespace draw_internal {
namespace {

// Radii beyond this cover any frame we can hold; capping them keeps the arithmetic finite.
constexpr float kMaxRadius = 1e6f;

bool Drawable(const Frame& frame) {
  return frame.width > 0 && frame.height > 0 &&
         frame.rgb.size() >= static_cast<size_t>(frame.width) * frame.height * 3;
}

// Pixels i whose centres i + 0.5 lie in [lo, hi], clipped to [0, size - 1]. Empty when first > last.
struct Range {
  int first, last;
};
Range PixelRange(double lo, double hi, int size) {
  double first = std::ceil(lo - 0.5), last = std::floor(hi - 0.5);
  if (!(first <= last) || last < 0 || first > size - 1) return {1, 0};
  return {static_cast<int>(std::max(first, 0.0)), static_cast<int>(std::min(last, size - 1.0))};
}

// Liang-Barsky: clips the segment p0 + t (p1 - p0), t in [0, 1], to the box. false if outside.
bool ClipSegment(double& x0, double& y0, double& x1, double& y1, double xmin, double ymin, double xmax,
                 double ymax) {
  const double dx = x1 - x0, dy = y1 - y0;
  double t0 = 0, t1 = 1;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {x0 - xmin, xmax - x0, y0 - ymin, ymax - y0};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0) {
      t0 = std::max(t0, t);
    } else {
      t1 = std::min(t1, t);
    }
    if (t0 > t1) return false;
  }
  const double sx = x0, sy = y0;
  x0 = sx + t0 * dx;
  y0 = sy + t0 * dy;
  x1 = sx + t1 * dx;
  y1 = sy + t1 * dy;
  return true;
}

}  // namespace

void DrawDisc(Frame& frame, float x, float y, float radius, Rgb colour) {
  if (!Drawable(frame) || !std::isfinite(x) || !std::isfinite(y) || !(radius > 0)) return;
  const float r = std::min(radius, kMaxRadius);
  const float reach = r + 0.5f;  // pixels further than this get no coverage
  const float solid2 = r > 0.5f ? (r - 0.5f) * (r - 0.5f) : -1.0f;
  const Range rows = PixelRange(static_cast<double>(y) - reach, static_cast<double>(y) + reach, frame.height);
  for (int j = rows.first; j <= rows.last; ++j) {
    const float py = j + 0.5f - y;
    const float half = std::sqrt(std::max(0.0f, reach * reach - py * py));
    const Range cols = PixelRange(static_cast<double>(x) - half, static_cast<double>(x) + half, frame.width);
    uint8_t* row = frame.pixel(0, j);
    for (int i = cols.first; i <= cols.last; ++i) {
      const float px = i + 0.5f - x;
      const float d2 = px * px + py * py;
      if (d2 <= solid2) {
        Blend(row + 3 * i, colour, 1.0f);
        continue;
      }
      const float coverage = reach - std::sqrt(d2);
      if (coverage > 0) Blend(row + 3 * i, colour, std::min(coverage, 1.0f));
    }
  }
}

void DrawCapsule(Frame& frame, float x0, float y0, float x1, float y1, float radius, Rgb colour) {
  if (!Drawable(frame) || !std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1) ||
      !(radius > 0)) {
    return;
  }
  const float r = std::min(radius, kMaxRadius);
  const float reach = r + 0.5f;
  // Only the part of the segment near the frame matters (an end cut here is more than `reach`
  // outside, so its cap would not touch a pixel); this also keeps huge coordinates finite.
  double ax = x0, ay = y0, bx = x1, by = y1;
  const double margin = reach + 1.0;
  if (!ClipSegment(ax, ay, bx, by, -margin, -margin, frame.width + margin, frame.height + margin)) return;
  const double dx = bx - ax, dy = by - ay;
  const double length2 = dx * dx + dy * dy;
  if (length2 < 1e-12) {
    DrawDisc(frame, static_cast<float>(ax), static_cast<float>(ay), r, colour);
    return;
  }
  const double length = std::sqrt(length2);
  const float solid2 = r > 0.5f ? (r - 0.5f) * (r - 0.5f) : -1.0f;
  const float fax = static_cast<float>(ax), fay = static_cast<float>(ay);
  const float fdx = static_cast<float>(dx), fdy = static_cast<float>(dy);
  const float inv_length2 = static_cast<float>(1.0 / length2);

  // Squared distance from a pixel centre to the segment, then the blend.
  auto shade = [&](int i, int j) {
    const float px = i + 0.5f - fax, py = j + 0.5f - fay;
    const float t = std::clamp((px * fdx + py * fdy) * inv_length2, 0.0f, 1.0f);
    const float ex = px - t * fdx, ey = py - t * fdy;
    const float d2 = ex * ex + ey * ey;
    uint8_t* pixel = frame.pixel(i, j);
    if (d2 <= solid2) {
      Blend(pixel, colour, 1.0f);
      return;
    }
    const float coverage = reach - std::sqrt(d2);
    if (coverage > 0) Blend(pixel, colour, std::min(coverage, 1.0f));
  };

  // Walk the major axis; across it, the capsule lies within the strip of half-width `reach`
  // around the line, which spans reach * length / |major| on the minor axis (at most reach * sqrt 2).
  if (std::abs(dx) >= std::abs(dy)) {
    const Range cols = PixelRange(std::min(ax, bx) - reach, std::max(ax, bx) + reach, frame.width);
    const double half = reach * length / std::abs(dx);
    const double slope = dy / dx;
    const double ylo = std::min(ay, by) - reach, yhi = std::max(ay, by) + reach;
    for (int i = cols.first; i <= cols.last; ++i) {
      const double centre = ay + (i + 0.5 - ax) * slope;
      const Range rows = PixelRange(std::max(centre - half, ylo), std::min(centre + half, yhi), frame.height);
      for (int j = rows.first; j <= rows.last; ++j) shade(i, j);
    }
  } else {
    const Range rows = PixelRange(std::min(ay, by) - reach, std::max(ay, by) + reach, frame.height);
    const double half = reach * length / std::abs(dy);
    const double slope = dx / dy;
    const double xlo = std::min(ax, bx) - reach, xhi = std::max(ax, bx) + reach;
    for (int j = rows.first; j <= rows.last; ++j) {
      const double centre = ax + (j + 0.5 - ay) * slope;
      const Range cols = PixelRange(std::max(centre - half, xlo), std::min(centre + half, xhi), frame.width);
      for (int i = cols.first; i <= cols.last; ++i) shade(i, j);
    }
  }
}

}  // namespace draw_internal

void DrawLine(Frame& frame, float x0, float y0, float x1, float y1, Rgb colour, float thickness) {
  draw_internal::DrawCapsule(frame, x0, y0, x1, y1, thickness * 0.5f, colour);
}

void DrawPoint(Frame& frame, float x, float y, float radius, Rgb colour) {
  draw_internal::DrawDisc(frame, x, y, radius, colour);
}

void DrawLines(Frame& frame, const std::vector<std::array<float, 4>>& segments, Rgb colour, float thickness) {
  for (const auto& s : segments) draw_internal::DrawCapsule(frame, s[0], s[1], s[2], s[3], thickness * 0.5f, colour);
}

void DrawPoints(Frame& frame, const std::vector<std::array<float, 2>>& points, float radius, Rgb colour) {
  for (const auto& p : points) draw_internal::DrawDisc(frame, p[0], p[1], radius, colour);
}

}  // namespace speakup::media
