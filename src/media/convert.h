// Decoded video frames (GStreamer buffers) to tightly packed RGB, with libyuv.
//
// Why not videoconvert: its 8-bit YUV->RGB path is biased (BT.601 limited range, Y=76 U=127 V=114
// comes out as 47,78,67 instead of 47.5,81.6,67.8: about -3 levels of green on every pixel).
// libyuv's conversion is within 2 levels of the exact one and unbiased (with a range expansion
// first for limited BT.709/BT.2020, see convert.cc), and SIMD-fast. So the
// appsink accepts the formats decoders produce (I420, YV12, NV12, NV21), the RGB and grey that
// image decoders produce, and this file does the last step with the stream's own colorimetry.
#pragma once

#include <gst/video/video.h>

#include <memory>

#include "speakup/media.h"
#include "speakup/status.h"

namespace speakup::media {

// The raw formats FrameSource's appsink accepts, for its caps: "{ RGB, I420, YV12, NV12, NV21, GRAY8 }".
extern const char* const kSinkFormats;

// Converts a mapped frame of one of kSinkFormats into `out` (resized to width x height RGB).
// YUV uses the matrix (BT.601, BT.709, BT.2020) and range (limited or full) of the frame's
// colorimetry, and bilinear chroma upsampling for 4:2:0 planar input.
Status ConvertToRgb(const GstVideoFrame& frame, Frame* out);

// The 4:2:0 formats a YuvPicture keeps (the others are converted at once).
bool ConvertsLazily(GstVideoFormat format);
// Holds `buffer` (a reference, no copy) as a picture that converts regions on demand, exactly as
// ConvertToRgb would.
std::shared_ptr<const YuvPicture> HoldPicture(GstBuffer* buffer, const GstVideoInfo& info);

}  // namespace speakup::media
