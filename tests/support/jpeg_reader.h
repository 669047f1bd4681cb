// Test support: reads a JPEG file into 8-bit RGB (libjpeg-turbo, default ISLOW IDCT and fancy
// upsampling: the same bytes as Chromium and PIL give for tests/data, see tests/data/SOURCES.md),
// and ReadImage, which picks the PNG or JPEG reader by the file's extension.
#pragma once

#include <string>

#include "png_reader.h"
#include "speakup/status.h"

namespace speakup::testing {

Expected<RgbImage> ReadJpeg(const std::string& path);

// .png -> ReadPng; .jpg / .jpeg (any case) -> ReadJpeg; anything else is an error.
Expected<RgbImage> ReadImage(const std::string& path);

}  // namespace speakup::testing
