#include "convert.h"

#include <libyuv/convert_argb.h>

#include "speakup/media/gst_handles.h"

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

// Converts the pixels [x0, x1) x [y0, y1) of `frame` into `rgb`, which points at pixel (x0, y0). For 4:2:0
// input, x0 and y0 must be even (the chroma planes are addressed from there); the first and last row
// and column of the rectangle get edge chroma, so callers wanting exact values convert a margin more.
Status ConvertRect(const GstVideoFrame& frame, int x0, int y0, int x1, int y1, uint8_t* rgb, int rgb_stride) {
  const int width = x1 - x0, height = y1 - y0;
  const GstVideoFormat format = GST_VIDEO_FRAME_FORMAT(&frame);
  const Matrix matrix = ChooseMatrix(GST_VIDEO_INFO_COLORIMETRY(&frame.info));
  const libyuv::YuvConstants* constants = matrix.constants;
  static const RangeTables tables;
  const int chroma_width = (width + 1) / 2, chroma_height = (height + 1) / 2;
  auto at = [&](int plane_or_comp, bool comp, int x, int y) {
    const auto* base = static_cast<const uint8_t*>(comp ? GST_VIDEO_FRAME_COMP_DATA(&frame, plane_or_comp)
                                                        : GST_VIDEO_FRAME_PLANE_DATA(&frame, plane_or_comp));
    const int stride = comp ? GST_VIDEO_FRAME_COMP_STRIDE(&frame, plane_or_comp) : Stride(frame, plane_or_comp);
    return base + static_cast<ptrdiff_t>(y) * stride + x;
  };
  int failed = 0;
  switch (format) {
    case GST_VIDEO_FORMAT_RGB:
      for (int y = 0; y < height; ++y) {
        std::memcpy(rgb + static_cast<ptrdiff_t>(rgb_stride) * y, at(0, false, 3 * x0, y0 + y), 3 * width);
      }
      break;
    case GST_VIDEO_FORMAT_GRAY8:
      for (int y = 0; y < height; ++y) {
        const uint8_t* grey = at(0, false, x0, y0 + y);
        uint8_t* row = rgb + static_cast<ptrdiff_t>(rgb_stride) * y;
        for (int x = 0; x < width; ++x) row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = grey[x];
      }
      break;
    case GST_VIDEO_FORMAT_I420:
    case GST_VIDEO_FORMAT_YV12: {  // the same planes in another memory order: address them by component
      const uint8_t* y_plane = at(0, false, x0, y0);
      const uint8_t* u_plane = at(GST_VIDEO_COMP_U, true, x0 / 2, y0 / 2);
      const uint8_t* v_plane = at(GST_VIDEO_COMP_V, true, x0 / 2, y0 / 2);
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
      const uint8_t* y_plane = at(0, false, x0, y0);
      const uint8_t* uv_plane = at(1, false, x0, y0 / 2);  // interleaved: 2 bytes per chroma sample
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

// Chroma upsampling reads one chroma sample beyond a pixel's own, so a rectangle converted on its own
// differs from the whole picture's conversion only in its outermost pixels: converting this many
// more on each side (even, for 4:2:0 addressing) makes the wanted ones exact.
constexpr int kRegionMargin = 4;

class GstYuvPicture final : public YuvPicture {
 public:
  GstYuvPicture(BufferPtr buffer, const GstVideoInfo& info) : buffer_(std::move(buffer)), info_(info) {}
  int width() const override { return GST_VIDEO_INFO_WIDTH(&info_); }
  int height() const override { return GST_VIDEO_INFO_HEIGHT(&info_); }

  Status ConvertRegion(int x, int y, int w, int h, uint8_t* rgb, int stride) const override {
    const int x0 = std::clamp(x, 0, width()), y0 = std::clamp(y, 0, height());
    const int x1 = std::clamp(x + std::max(0, w), x0, width()), y1 = std::clamp(y + std::max(0, h), y0, height());
    if (x0 == x1 || y0 == y1) return Status::Ok();
    if (stride < 3 * width()) return Status::Error("ConvertRegion: the RGB rows are shorter than the picture's");
    GstVideoFrame mapped;
    if (!gst_video_frame_map(&mapped, const_cast<GstVideoInfo*>(&info_), buffer_.get(), GST_MAP_READ)) {
      return Status::Error("cannot map a decoded frame into memory (truncated buffer?)");
    }
    const int ex0 = std::max(0, x0 - kRegionMargin) & ~1, ey0 = std::max(0, y0 - kRegionMargin) & ~1;
    const int ex1 = std::min(width(), x1 + kRegionMargin), ey1 = std::min(height(), y1 + kRegionMargin);
    Status converted = Status::Ok();
    if (x0 == 0 && y0 == 0 && x1 == width() && y1 == height()) {
      converted = ConvertRect(mapped, 0, 0, width(), height(), rgb, stride);
    } else {
      // The margin converted aside, so that no pixel outside the rectangle is touched.
      thread_local std::vector<uint8_t> scratch;
      const int scratch_stride = 3 * (ex1 - ex0);
      scratch.resize(static_cast<size_t>(scratch_stride) * (ey1 - ey0));
      converted = ConvertRect(mapped, ex0, ey0, ex1, ey1, scratch.data(), scratch_stride);
      for (int row = y0; converted.ok() && row < y1; ++row) {
        std::memcpy(rgb + static_cast<ptrdiff_t>(row) * stride + 3 * x0,
                    scratch.data() + static_cast<ptrdiff_t>(row - ey0) * scratch_stride + 3 * (x0 - ex0),
                    3 * static_cast<size_t>(x1 - x0));
      }
    }
    gst_video_frame_unmap(&mapped);
    return converted;
  }

 private:
  BufferPtr buffer_;
  GstVideoInfo info_;
};

}  // namespace

Status ConvertToRgb(const GstVideoFrame& frame, Frame* out) {
  const int width = GST_VIDEO_FRAME_WIDTH(&frame);
  const int height = GST_VIDEO_FRAME_HEIGHT(&frame);
  out->width = width;
  out->height = height;
  out->rgb.resize(static_cast<size_t>(width) * height * 3);
  return ConvertRect(frame, 0, 0, width, height, out->rgb.data(), 3 * width);
}

bool ConvertsLazily(GstVideoFormat format) {
  return format == GST_VIDEO_FORMAT_I420 || format == GST_VIDEO_FORMAT_YV12 || format == GST_VIDEO_FORMAT_NV12 ||
         format == GST_VIDEO_FORMAT_NV21;
}

std::shared_ptr<const YuvPicture> HoldPicture(GstBuffer* buffer, const GstVideoInfo& info) {
  return std::make_shared<GstYuvPicture>(BufferPtr(gst_buffer_ref(buffer)), info);
}

Status EnsureRgb(Frame& frame) {
  const size_t bytes = static_cast<size_t>(frame.width) * frame.height * 3;
  if (frame.rgb.size() == bytes || !frame.yuv) return Status::Ok();
  frame.rgb.resize(bytes);
  return frame.yuv->ConvertRegion(0, 0, frame.width, frame.height, frame.rgb.data(), 3 * frame.width);
}

}  // namespace speakup::media
