#include "speakup/media/gst_handles.h"

#include <mutex>
#include <string_view>

namespace speakup::media {

Status EnsureGstInitialized() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    GError* raw_error = nullptr;
    if (!gst_init_check(nullptr, nullptr, &raw_error)) {
      GErrorPtr error(raw_error);
      result = Status::Error(std::string("cannot initialise GStreamer: ") +
                             (error ? error->message : "unknown error") +
                             " (is libgstreamer1.0-0 installed and GST_PLUGIN_PATH sane?)");
    }
  });
  return result;
}

std::string DebianPackageForElement(const std::string& factory) {
  struct Entry {
    std::string_view factory, package;
  };
  static constexpr Entry kPackages[] = {
      {"filesrc", "libgstreamer1.0-0"},        {"filesink", "libgstreamer1.0-0"},
      {"fakesink", "libgstreamer1.0-0"},       {"typefind", "libgstreamer1.0-0"},
      {"capsfilter", "libgstreamer1.0-0"},     {"queue", "libgstreamer1.0-0"},
      {"decodebin", "gstreamer1.0-plugins-base"}, {"uridecodebin", "gstreamer1.0-plugins-base"},
      {"videoconvert", "gstreamer1.0-plugins-base"}, {"videoscale", "gstreamer1.0-plugins-base"},
      {"appsrc", "gstreamer1.0-plugins-base"}, {"appsink", "gstreamer1.0-plugins-base"},
      {"videoflip", "gstreamer1.0-plugins-good"}, {"v4l2src", "gstreamer1.0-plugins-good"},
      {"pngenc", "gstreamer1.0-plugins-good"}, {"pngdec", "gstreamer1.0-plugins-good"},
      {"jpegenc", "gstreamer1.0-plugins-good"}, {"jpegdec", "gstreamer1.0-plugins-good"},
      {"mp4mux", "gstreamer1.0-plugins-good"}, {"qtmux", "gstreamer1.0-plugins-good"},
      {"matroskamux", "gstreamer1.0-plugins-good"}, {"webmmux", "gstreamer1.0-plugins-good"},
      {"vp8enc", "gstreamer1.0-plugins-good"}, {"x264enc", "gstreamer1.0-plugins-ugly"},
      {"h264parse", "gstreamer1.0-plugins-bad"}, {"avdec_h264", "gstreamer1.0-libav"},
      {"webrtcbin", "gstreamer1.0-plugins-bad"}, {"dtlssrtpenc", "gstreamer1.0-plugins-bad"},
      {"sctpenc", "gstreamer1.0-plugins-bad"}, {"srtpenc", "gstreamer1.0-plugins-bad"},
      {"nicesrc", "gstreamer1.0-nice"},        {"nicesink", "gstreamer1.0-nice"},
      {"rtpbin", "gstreamer1.0-plugins-good"}, {"rtpvp8depay", "gstreamer1.0-plugins-good"},
      {"rtpvp8pay", "gstreamer1.0-plugins-good"}, {"rtpvp9depay", "gstreamer1.0-plugins-good"},
      {"rtph264depay", "gstreamer1.0-plugins-good"}, {"vp8dec", "gstreamer1.0-plugins-good"},
      {"vp9dec", "gstreamer1.0-plugins-good"},
  };
  for (const Entry& entry : kPackages) {
    if (entry.factory == factory) return std::string(entry.package);
  }
  return {};
}

Expected<ElementPtr> MakeElement(const char* factory, const char* name) {
  SPEAKUP_RETURN_IF_ERROR(EnsureGstInitialized());
  GstElement* element = gst_element_factory_make(factory, name);
  if (!element) {
    std::string package = DebianPackageForElement(factory);
    return Error(std::string("the GStreamer element '") + factory + "' is not installed" +
                 (package.empty() ? std::string(" (gst-inspect-1.0 lists what is)")
                                  : " (Debian package " + package + ")"));
  }
  return ElementPtr(GST_ELEMENT(gst_object_ref_sink(element)));
}

}  // namespace speakup::media
