// Still JPEG images decoded by libjpeg-turbo directly, with the settings browsers and PIL use
// (ISLOW IDCT, fancy upsampling, RGB output), so the pixels match theirs byte for byte.
// GStreamer's jpegdec outputs I420 for YCbCr JPEGs and videoconvert then upsamples chroma
// differently (up to ~12 levels apart), which is why FrameSource prefers this path for stills.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "speakup/media.h"
#include "speakup/status.h"

namespace speakup::media {

bool LooksLikeJpeg(std::span<const uint8_t> bytes);

struct JpegHeader {
  int width = 0, height = 0;  // as stored, before orientation
  int orientation = 1;        // EXIF orientation 1..8 (1 = as stored)
  int display_width() const { return orientation >= 5 ? height : width; }
  int display_height() const { return orientation >= 5 ? width : height; }
};

enum class JpegFailure {
  kNone,
  kUnsupported,  // libjpeg refused the file (CMYK, 12-bit, corrupt headers...): try another decoder
  kTruncated,    // the data ends or breaks off before the image is complete
};

struct JpegResult {
  JpegFailure failure = JpegFailure::kNone;
  std::string message;  // libjpeg's words when failure != kNone
};

// Reads the header (size, EXIF orientation) without decoding pixels.
JpegResult ReadJpegHeader(std::span<const uint8_t> bytes, JpegHeader* header);

// Decodes to RGB and applies the EXIF orientation. `frame` is only valid when failure == kNone.
JpegResult DecodeJpeg(std::span<const uint8_t> bytes, Frame* frame);

// Reorients an RGB frame as EXIF orientation `orientation` (1..8) prescribes.
Frame ApplyExifOrientation(const Frame& stored, int orientation);

// The orientation in an APP1 "Exif" segment's payload, or 1.
int ExifOrientation(std::span<const uint8_t> app1);

}  // namespace speakup::media
