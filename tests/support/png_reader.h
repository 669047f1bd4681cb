// Test support: reads a PNG file into 8-bit RGB (libpng). The engine knows no images; its tests do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "speakup/status.h"

namespace speakup::testing {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major RGB, 3 bytes per pixel
};

Expected<RgbImage> ReadPng(const std::string& path);

}  // namespace speakup::testing
