#include "jpeg_decoder.h"

// jpeglib.h needs FILE and size_t declared first.
#include <algorithm>
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <utility>

#include <jerror.h>
#include <jpeglib.h>

namespace speakup::media {
namespace {

// Larger images are refused here (and left to GStreamer, which will refuse or stream them).
constexpr size_t kMaxPixels = size_t{1} << 28;

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char fatal[JMSG_LENGTH_MAX];
  char truncation[JMSG_LENGTH_MAX];
  int truncation_warnings;
};

[[noreturn]] void OnFatalError(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  errors->pub.format_message(cinfo, errors->fatal);
  std::longjmp(errors->jump, 1);
}

// Warnings (level < 0) are collected, never printed. Only those that mean the data is missing or
// broken off matter: libjpeg then fills the rest of the image with grey.
void OnMessage(j_common_ptr cinfo, int level) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (level >= 0) return;
  errors->pub.num_warnings++;
  int code = errors->pub.msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {
    if (errors->truncation_warnings++ == 0) errors->pub.format_message(cinfo, errors->truncation);
  }
}

// Everything that libjpeg may longjmp() out of happens here, with only trivially destructible
// locals in this frame. `rgb` (the caller's) is sized before decoding starts.
bool RunLibjpeg(const uint8_t* data, size_t size, ErrorManager* errors, JpegHeader* header,
                std::vector<uint8_t>* rgb) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&errors->pub);
  errors->pub.error_exit = OnFatalError;
  errors->pub.emit_message = OnMessage;
  errors->fatal[0] = errors->truncation[0] = '\0';
  errors->truncation_warnings = 0;
  if (setjmp(errors->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  header->width = static_cast<int>(cinfo.image_width);
  header->height = static_cast<int>(cinfo.image_height);
  header->orientation = 1;
  for (jpeg_saved_marker_ptr marker = cinfo.marker_list; marker; marker = marker->next) {
    if (marker->marker != JPEG_APP0 + 1) continue;
    int orientation = ExifOrientation({marker->data, marker->data_length});
    if (orientation != 1) {
      header->orientation = orientation;
      break;
    }
  }
  if (rgb) {
    if (static_cast<size_t>(cinfo.image_width) * cinfo.image_height > kMaxPixels) {
      std::snprintf(errors->fatal, sizeof(errors->fatal), "image too large (%ux%u)", cinfo.image_width,
                    cinfo.image_height);
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
    cinfo.out_color_space = JCS_RGB;  // defaults otherwise: JDCT_ISLOW, fancy upsampling on
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3 || cinfo.output_width != cinfo.image_width ||
        cinfo.output_height != cinfo.image_height ||
        rgb->size() != static_cast<size_t>(cinfo.output_width) * cinfo.output_height * 3) {
      std::snprintf(errors->fatal, sizeof(errors->fatal), "unexpected output layout");
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
    const size_t stride = static_cast<size_t>(cinfo.output_width) * 3;
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = rgb->data() + stride * cinfo.output_scanline;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
  }
  jpeg_destroy_decompress(&cinfo);
  return true;
}

uint32_t ReadUint(const uint8_t* p, int bytes, bool big_endian) {
  uint32_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    int shift = big_endian ? 8 * (bytes - 1 - i) : 8 * i;
    value |= static_cast<uint32_t>(p[i]) << shift;
  }
  return value;
}

JpegResult Failure(JpegFailure kind, const char* message) { return {kind, message}; }

}  // namespace

bool LooksLikeJpeg(std::span<const uint8_t> bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

int ExifOrientation(std::span<const uint8_t> app1) {
  // "Exif\0\0", then a TIFF header: byte order ("II"/"MM"), 42, offset of IFD0 from the TIFF start.
  static constexpr uint8_t kExif[6] = {'E', 'x', 'i', 'f', 0, 0};
  if (app1.size() < 6 + 8 || !std::equal(kExif, kExif + 6, app1.begin())) return 1;
  std::span<const uint8_t> tiff = app1.subspan(6);
  bool big_endian;
  if (tiff[0] == 'M' && tiff[1] == 'M') {
    big_endian = true;
  } else if (tiff[0] == 'I' && tiff[1] == 'I') {
    big_endian = false;
  } else {
    return 1;
  }
  if (ReadUint(&tiff[2], 2, big_endian) != 42) return 1;
  uint32_t ifd = ReadUint(&tiff[4], 4, big_endian);
  if (ifd > tiff.size() || tiff.size() - ifd < 2) return 1;
  uint32_t entries = ReadUint(&tiff[ifd], 2, big_endian);
  for (uint32_t i = 0; i < entries; ++i) {
    size_t at = ifd + 2 + static_cast<size_t>(i) * 12;
    if (at + 12 > tiff.size()) return 1;
    if (ReadUint(&tiff[at], 2, big_endian) != 0x0112) continue;  // Orientation
    uint32_t type = ReadUint(&tiff[at + 2], 2, big_endian);
    uint32_t count = ReadUint(&tiff[at + 4], 4, big_endian);
    if (type != 3 || count != 1) return 1;  // SHORT, one value, stored at the start of the field
    uint32_t value = ReadUint(&tiff[at + 8], 2, big_endian);
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

Frame ApplyExifOrientation(const Frame& stored, int orientation) {
  if (orientation < 2 || orientation > 8) return stored;
  const int w = stored.width, h = stored.height;
  const bool swap = orientation >= 5;
  Frame out(swap ? h : w, swap ? w : h);
  out.timestamp_ms = stored.timestamp_ms;
  out.index = stored.index;
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      int sx = ox, sy = oy;
      switch (orientation) {
        case 2: sx = w - 1 - ox; sy = oy; break;           // mirrored left-right
        case 3: sx = w - 1 - ox; sy = h - 1 - oy; break;   // rotated 180
        case 4: sx = ox; sy = h - 1 - oy; break;           // mirrored top-bottom
        case 5: sx = oy; sy = ox; break;                   // transposed
        case 6: sx = oy; sy = h - 1 - ox; break;           // needs 90 degrees clockwise
        case 7: sx = w - 1 - oy; sy = h - 1 - ox; break;   // transversed
        case 8: sx = w - 1 - oy; sy = ox; break;           // needs 90 degrees counter-clockwise
      }
      const uint8_t* from = stored.pixel(sx, sy);
      uint8_t* to = out.pixel(ox, oy);
      to[0] = from[0];
      to[1] = from[1];
      to[2] = from[2];
    }
  }
  return out;
}

JpegResult ReadJpegHeader(std::span<const uint8_t> bytes, JpegHeader* header) {
  ErrorManager errors;
  if (!RunLibjpeg(bytes.data(), bytes.size(), &errors, header, nullptr)) {
    return Failure(JpegFailure::kUnsupported, errors.fatal);
  }
  return {};
}

JpegResult DecodeJpeg(std::span<const uint8_t> bytes, Frame* frame) {
  JpegHeader header;
  JpegResult result = ReadJpegHeader(bytes, &header);
  if (result.failure != JpegFailure::kNone) return result;
  if (static_cast<size_t>(header.width) * header.height > kMaxPixels) {
    return Failure(JpegFailure::kUnsupported, "image too large");
  }
  Frame stored(header.width, header.height);
  ErrorManager errors;
  if (!RunLibjpeg(bytes.data(), bytes.size(), &errors, &header, &stored.rgb)) {
    // A fatal error after the header is usually broken data.
    return Failure(errors.truncation_warnings ? JpegFailure::kTruncated : JpegFailure::kUnsupported,
                   errors.fatal);
  }
  if (errors.truncation_warnings > 0) return Failure(JpegFailure::kTruncated, errors.truncation);
  *frame = header.orientation == 1 ? std::move(stored) : ApplyExifOrientation(stored, header.orientation);
  return {};
}

}  // namespace speakup::media
