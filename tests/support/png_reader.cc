#include "png_reader.h"

#include <png.h>

#include <cstring>

namespace speakup::testing {

Expected<RgbImage> ReadPng(const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    return Error("cannot read PNG '" + path + "': " + image.message);
  }
  image.format = PNG_FORMAT_RGB;
  RgbImage result;
  result.width = static_cast<int>(image.width);
  result.height = static_cast<int>(image.height);
  result.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, result.pixels.data(), 0, nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    return Error("cannot decode PNG '" + path + "': " + message);
  }
  return result;
}

}  // namespace speakup::testing
