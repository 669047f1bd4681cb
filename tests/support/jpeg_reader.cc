#include "jpeg_reader.h"

#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <cstdio>
#include <memory>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

namespace speakup::testing {
namespace {

// libjpeg reports fatal errors through error_exit; jump back out of the decoder with the message.
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr info) {
  auto* manager = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, manager->message);
  std::longjmp(manager->jump, 1);
}

std::string Lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Decodes into *image; false with *message set on failure. Kept apart from the caller so that
// nothing this function changes after setjmp lives in its own frame except libjpeg's state (the
// image is reached through a pointer that never changes), as setjmp/longjmp require.
bool Decode(FILE* file, RgbImage* image, std::string* message) {
  jpeg_decompress_struct info;
  ErrorManager errors;
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = OnError;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&info);
    *message = errors.message;
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_stdio_src(&info, file);
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_RGB;  // greyscale and YCbCr files both come out as RGB
  jpeg_start_decompress(&info);
  if (info.output_components != 3) {
    jpeg_destroy_decompress(&info);
    *message = "unsupported colour space";
    return false;
  }
  image->width = static_cast<int>(info.output_width);
  image->height = static_cast<int>(info.output_height);
  image->pixels.resize(static_cast<size_t>(image->width) * image->height * 3);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image->pixels.data() + static_cast<size_t>(info.output_scanline) * image->width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return true;
}

}  // namespace

Expected<RgbImage> ReadJpeg(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return Error("cannot open JPEG '" + path + "'");
  RgbImage result;
  std::string message;
  if (!Decode(file.get(), &result, &message)) return Error("cannot decode JPEG '" + path + "': " + message);
  return result;
}

Expected<RgbImage> ReadImage(const std::string& path) {
  const std::string lower = Lowercase(path);
  if (EndsWith(lower, ".png")) return ReadPng(path);
  if (EndsWith(lower, ".jpg") || EndsWith(lower, ".jpeg")) return ReadJpeg(path);
  return Error("cannot read image '" + path + "': unknown extension (expected .png, .jpg or .jpeg)");
}

}  // namespace speakup::testing
