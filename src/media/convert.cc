#include "convert.h"

#include <libyuv/convert_argb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace speakup::media {

const char* const kSinkFormats = "{ RGB, I420, YV12, NV12, NV21, GRAY8 }";

namespace {

// libyuv's "RGB24" is B, G, R in memory; "RAW" is R, G, B. Its RAW converters call the RGB24 ones
// with U and V swapped and the matching "Yvu" constants: so do we, for every matrix.
//
// libyuv keeps its coefficients in 6 bits and clamps the blue one of limited-range BT.709 and
// BT.2020 (2.11 and 2.14) to 2.0: strongly blue pixels would come out up to 11 levels too dark.
// Those two are therefore first expanded to full range (a table per plane, exact to rounding) and
// converted with the full-range constants, whose coefficients all fit.
struct Matrix {
  const libyuv::YuvConstants* constants;
  bool expand_range;  // limited -> full before converting
};

Matrix ChooseMatrix(const GstVideoColorimetry& colorimetry) {
  const bool full = colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255;
  switch (colorimetry.matrix) {
    case GST_VIDEO_COLOR_MATRIX_BT709:
      return {&libyuv::kYvuF709Constants, !full};
    case GST_VIDEO_COLOR_MATRIX_BT2020:
      return {&libyuv::kYvuV2020Constants, !full};
    default:  // BT.601, FCC, SMPTE 240M, unknown: libyuv's limited BT.601 constants fit
      return {full ? &libyuv::kYvuJPEGConstants : &libyuv::kYvuI601Constants, false};
  }
}

struct RangeTables {
  uint8_t luma[256], chroma[256];
  RangeTables() {
    for (int i = 0; i < 256; ++i) {
      luma[i] = static_cast<uint8_t>(std::clamp(std::lround((i - 16) * 255.0 / 219.0), 0L, 255L));
      chroma[i] = static_cast<uint8_t>(std::clamp(std::lround(128 + (i - 128) * 255.0 / 224.0), 0L, 255L));
    }
  }
};

// Copies `rows` rows of `bytes` bytes through `table` into a tight plane.
std::vector<uint8_t> ExpandPlane(const uint8_t* source, int stride, int bytes, int rows, const uint8_t* table) {
  std::vector<uint8_t> plane(static_cast<size_t>(bytes) * rows);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in = source + static_cast<ptrdiff_t>(stride) * y;
    uint8_t* out = plane.data() + static_cast<size_t>(bytes) * y;
    for (int x = 0; x < bytes; ++x) out[x] = table[in[x]];
  }
  return plane;
}

const uint8_t* Plane(const GstVideoFrame& frame, int plane) {
  return static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, plane));
}
int Stride(const GstVideoFrame& frame, int plane) { return GST_VIDEO_FRAME_PLANE_STRIDE(&frame, plane); }

}  // namespace

Status ConvertToRgb(const GstVideoFrame& frame, Frame* out) {
  const int width = GST_VIDEO_FRAME_WIDTH(&frame);
  const int height = GST_VIDEO_FRAME_HEIGHT(&frame);
  out->width = width;
  out->height = height;
  out->rgb.resize(static_cast<size_t>(width) * height * 3);
  uint8_t* rgb = out->rgb.data();
  const int rgb_stride = width * 3;
  const GstVideoFormat format = GST_VIDEO_FRAME_FORMAT(&frame);
  const Matrix matrix = ChooseMatrix(GST_VIDEO_INFO_COLORIMETRY(&frame.info));
  const libyuv::YuvConstants* constants = matrix.constants;
  static const RangeTables tables;
  const int chroma_width = (width + 1) / 2, chroma_height = (height + 1) / 2;
  int failed = 0;
  switch (format) {
    case GST_VIDEO_FORMAT_RGB:
      for (int y = 0; y < height; ++y) {
        std::memcpy(rgb + static_cast<size_t>(rgb_stride) * y, Plane(frame, 0) + static_cast<ptrdiff_t>(Stride(frame, 0)) * y,
                    rgb_stride);
      }
      break;
    case GST_VIDEO_FORMAT_GRAY8:
      for (int y = 0; y < height; ++y) {
        const uint8_t* grey = Plane(frame, 0) + static_cast<ptrdiff_t>(Stride(frame, 0)) * y;
        uint8_t* row = rgb + static_cast<size_t>(rgb_stride) * y;
        for (int x = 0; x < width; ++x) row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = grey[x];
      }
      break;
    case GST_VIDEO_FORMAT_I420:
    case GST_VIDEO_FORMAT_YV12: {  // the same planes in another memory order: address them by component
      const uint8_t* y_plane = Plane(frame, 0);
      const auto* u_plane = static_cast<const uint8_t*>(GST_VIDEO_FRAME_COMP_DATA(&frame, GST_VIDEO_COMP_U));
      const auto* v_plane = static_cast<const uint8_t*>(GST_VIDEO_FRAME_COMP_DATA(&frame, GST_VIDEO_COMP_V));
      int y_stride = Stride(frame, 0);
      int u_stride = GST_VIDEO_FRAME_COMP_STRIDE(&frame, GST_VIDEO_COMP_U);
      int v_stride = GST_VIDEO_FRAME_COMP_STRIDE(&frame, GST_VIDEO_COMP_V);
      std::vector<uint8_t> y_full, u_full, v_full;
      if (matrix.expand_range) {
        y_full = ExpandPlane(y_plane, y_stride, width, height, tables.luma);
        u_full = ExpandPlane(u_plane, u_stride, chroma_width, chroma_height, tables.chroma);
        v_full = ExpandPlane(v_plane, v_stride, chroma_width, chroma_height, tables.chroma);
        y_plane = y_full.data(), u_plane = u_full.data(), v_plane = v_full.data();
        y_stride = width, u_stride = v_stride = chroma_width;
      }
      failed = libyuv::I420ToRGB24MatrixFilter(y_plane, y_stride, v_plane, v_stride, u_plane, u_stride, rgb, rgb_stride,
                                               constants, width, height, libyuv::kFilterBilinear);
      break;
    }
    case GST_VIDEO_FORMAT_NV12:
    case GST_VIDEO_FORMAT_NV21: {
      const uint8_t* y_plane = Plane(frame, 0);
      const uint8_t* uv_plane = Plane(frame, 1);
      int y_stride = Stride(frame, 0), uv_stride = Stride(frame, 1);
      std::vector<uint8_t> y_full, uv_full;
      if (matrix.expand_range) {
        y_full = ExpandPlane(y_plane, y_stride, width, height, tables.luma);
        uv_full = ExpandPlane(uv_plane, uv_stride, 2 * chroma_width, chroma_height, tables.chroma);
        y_plane = y_full.data(), uv_plane = uv_full.data();
        y_stride = width, uv_stride = 2 * chroma_width;
      }
      // RAW output swaps U and V: NV12 (U first) goes through libyuv's NV21 converter and vice versa.
      failed = format == GST_VIDEO_FORMAT_NV12
                   ? libyuv::NV21ToRGB24Matrix(y_plane, y_stride, uv_plane, uv_stride, rgb, rgb_stride, constants,
                                               width, height)
                   : libyuv::NV12ToRGB24Matrix(y_plane, y_stride, uv_plane, uv_stride, rgb, rgb_stride, constants,
                                               width, height);
      break;
    }
    default:
      return Status::Error(std::string("cannot convert ") + gst_video_format_to_string(format) +
                           " frames to RGB (internal error: the appsink caps allow only " + kSinkFormats + ")");
  }
  if (failed) {
    return Status::Error(std::string("libyuv failed to convert a ") + gst_video_format_to_string(format) + " frame");
  }
  return Status::Ok();
}

}  // namespace speakup::media
