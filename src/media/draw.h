// Drawing on RGB frames: anti-aliased lines (capsules) and discs, clipped to the frame. Plain C++
// (no GStreamer); the public entry points are declared in speakup/media.h.
//
// Coverage model: a pixel whose centre lies at distance d from the ideal shape (a segment with
// radius r = thickness / 2, or a disc of radius r) is blended with coverage clamp(r + 0.5 - d, 0, 1).
// A horizontal line of thickness 1 through pixel centres (y = j + 0.5) therefore sets row j exactly
// and leaves its neighbours alone.
#pragma once

#include <cstdint>

#include "speakup/media.h"

namespace speakup::media::draw_internal {

// Blends `colour` over an RGB pixel with coverage `alpha` in (0, 1].
inline void Blend(uint8_t* pixel, Rgb colour, float alpha) {
  if (alpha >= 1.0f) {
    pixel[0] = colour.r;
    pixel[1] = colour.g;
    pixel[2] = colour.b;
    return;
  }
  pixel[0] = static_cast<uint8_t>(pixel[0] + (static_cast<float>(colour.r) - pixel[0]) * alpha + 0.5f);
  pixel[1] = static_cast<uint8_t>(pixel[1] + (static_cast<float>(colour.g) - pixel[1]) * alpha + 0.5f);
  pixel[2] = static_cast<uint8_t>(pixel[2] + (static_cast<float>(colour.b) - pixel[2]) * alpha + 0.5f);
}

// The segment (x0, y0)-(x1, y1) with round ends of radius `radius`.
void DrawCapsule(Frame& frame, float x0, float y0, float x1, float y1, float radius, Rgb colour);
// A disc of radius `radius` centred at (x, y).
void DrawDisc(Frame& frame, float x, float y, float radius, Rgb colour);

}  // namespace speakup::media::draw_internal
