#include "speakup/media/gst_util.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "convert.h"

namespace speakup::media {

BusError ParseBusError(GstMessage* message) {
  BusError result;
  GError* raw_error = nullptr;
  gchar* raw_debug = nullptr;
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_WARNING) {
    gst_message_parse_warning(message, &raw_error, &raw_debug);
  } else {
    gst_message_parse_error(message, &raw_error, &raw_debug);
  }
  GErrorPtr error(raw_error);
  GCharPtr debug(raw_debug);
  if (error) {
    result.domain = error->domain;
    result.code = error->code;
    result.message = error->message ? error->message : "";
  }
  if (debug) result.debug = debug.get();
  if (GST_MESSAGE_SRC(message)) {
    GCharPtr name(gst_object_get_name(GST_MESSAGE_SRC(message)));
    if (name) result.source = name.get();
  }
  // GStreamer's messages end with a full stop; ours continue after them.
  while (!result.message.empty() && (result.message.back() == '.' || result.message.back() == ' ')) {
    result.message.pop_back();
  }
  return result;
}

std::optional<BusError> PopBusError(GstBus* bus, GstClockTime timeout) {
  MessagePtr message(gst_bus_timed_pop_filtered(bus, timeout, GST_MESSAGE_ERROR));
  if (!message) return std::nullopt;
  return ParseBusError(message.get());
}

Expected<Frame> FrameFromSample(GstSample* sample, int64_t index, double fps, bool keep_yuv) {
  GstCaps* caps = gst_sample_get_caps(sample);
  GstBuffer* buffer = gst_sample_get_buffer(sample);
  GstVideoInfo info;
  if (!caps || !buffer || !gst_video_info_from_caps(&info, caps)) {
    return Error("GStreamer delivered a frame without a video format (internal error)");
  }
  Frame frame;
  frame.index = index;
  if (keep_yuv && ConvertsLazily(GST_VIDEO_INFO_FORMAT(&info))) {
    if (gst_buffer_get_size(buffer) < GST_VIDEO_INFO_SIZE(&info)) {
      return Error("a decoded frame is smaller than its format says (truncated buffer?)");
    }
    frame.width = GST_VIDEO_INFO_WIDTH(&info);
    frame.height = GST_VIDEO_INFO_HEIGHT(&info);
    frame.yuv = HoldPicture(buffer, info);
  } else {
    GstVideoFrame mapped;
    if (!gst_video_frame_map(&mapped, &info, buffer, GST_MAP_READ)) {
      return Error("cannot map a decoded frame into memory (truncated buffer?)");
    }
    Status converted = ConvertToRgb(mapped, &frame);
    gst_video_frame_unmap(&mapped);
    if (!converted.ok()) return converted;
  }

  GstClockTime time = GST_BUFFER_PTS(buffer);
  const GstSegment* segment = gst_sample_get_segment(sample);
  if (GST_CLOCK_TIME_IS_VALID(time) && segment && segment->format == GST_FORMAT_TIME) {
    GstClockTime stream_time = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, time);
    if (GST_CLOCK_TIME_IS_VALID(stream_time)) time = stream_time;
  }
  if (GST_CLOCK_TIME_IS_VALID(time)) {
    frame.timestamp_ms = static_cast<double>(time) / GST_MSECOND;
  } else {
    frame.timestamp_ms = fps > 0 ? static_cast<double>(index) * 1000.0 / fps : 0.0;
  }
  return frame;
}

Expected<BufferPtr> BufferFromFrame(const Frame& frame, const GstVideoInfo& info) {
  if (frame.width != GST_VIDEO_INFO_WIDTH(&info) || frame.height != GST_VIDEO_INFO_HEIGHT(&info)) {
    return Error("the frame is " + std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                 " but this output was opened for " + std::to_string(GST_VIDEO_INFO_WIDTH(&info)) +
                 "x" + std::to_string(GST_VIDEO_INFO_HEIGHT(&info)));
  }
  const size_t row_bytes = static_cast<size_t>(frame.width) * 3;
  if (frame.rgb.size() != row_bytes * frame.height) {
    return Error("the frame holds " + std::to_string(frame.rgb.size()) + " bytes, not 3 x " +
                 std::to_string(frame.width) + " x " + std::to_string(frame.height));
  }
  BufferPtr buffer(gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr));
  if (!buffer) return Error("out of memory allocating a frame buffer");
  GstVideoFrame mapped;
  if (!gst_video_frame_map(&mapped, &info, buffer.get(), GST_MAP_WRITE)) {
    return Error("cannot map a frame buffer for writing (internal error)");
  }
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&mapped, 0);
  auto* target = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&mapped, 0));
  for (int y = 0; y < frame.height; ++y) {
    std::memcpy(target + static_cast<ptrdiff_t>(stride) * y, frame.rgb.data() + row_bytes * y, row_bytes);
  }
  gst_video_frame_unmap(&mapped);
  return buffer;
}

CapsPtr RgbCaps(int width, int height, double fps) {
  int numerator = 0, denominator = 1;
  if (fps > 0) gst_util_double_to_fraction(fps, &numerator, &denominator);
  return CapsPtr(gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "RGB", "width", G_TYPE_INT,
                                     width, "height", G_TYPE_INT, height, "framerate", GST_TYPE_FRACTION,
                                     numerator, denominator, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1,
                                     1, nullptr));
}

Status StartPipeline(GstElement* pipeline, const std::string& what) {
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE) return Status::Ok();
  BusPtr bus(gst_element_get_bus(pipeline));
  if (auto error = PopBusError(bus.get(), 0)) {
    std::string detail = error->message;
    // filesink: "Could not open file "x" for writing." + debug "system error: Permission denied".
    const std::string marker = "system error: ";
    size_t at = error->debug.find(marker);
    if (at != std::string::npos) detail = error->debug.substr(at + marker.size());
    return Status::Error("cannot write " + what + ": " + detail);
  }
  return Status::Error("cannot start the GStreamer pipeline for " + what);
}

Status WaitForEos(GstElement* pipeline, GstClockTime timeout, const std::string& what) {
  BusPtr bus(gst_element_get_bus(pipeline));
  MessagePtr message(gst_bus_timed_pop_filtered(
      bus.get(), timeout, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
  if (!message) return Status::Error("timed out finishing " + what);
  if (GST_MESSAGE_TYPE(message.get()) == GST_MESSAGE_ERROR) {
    BusError error = ParseBusError(message.get());
    return Status::Error("cannot write " + what + ": " + error.message + " (in " + error.source + ")");
  }
  return Status::Ok();
}

GstClockTime TimeoutFromMs(int ms) {
  return ms > 0 ? static_cast<GstClockTime>(ms) * GST_MSECOND : GST_CLOCK_TIME_NONE;
}

std::string Lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string ExtensionOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return Lowercase(path.substr(dot));
}

CapsPtr SinkCaps(int max_width, int max_height) {
  CapsPtr caps(gst_caps_from_string(
      (std::string("video/x-raw, format=(string)") + kSinkFormats + ", pixel-aspect-ratio=(fraction)1/1").c_str()));
  GstStructure* structure = gst_caps_get_structure(caps.get(), 0);
  if (max_width > 0) gst_structure_set(structure, "width", GST_TYPE_INT_RANGE, 1, max_width, nullptr);
  if (max_height > 0) gst_structure_set(structure, "height", GST_TYPE_INT_RANGE, 1, max_height, nullptr);
  return caps;
}

Status RestrictIce(GstElement* webrtcbin, const std::vector<std::string>& local_addresses) {
  GObject* agent = nullptr;
  g_object_get(webrtcbin, "ice-agent", &agent, nullptr);
  GObjectPtr<GObject> ice(agent);
  if (!ice) return Status::Error("webrtcbin has no ICE agent (internal error)");
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice.get()), "ice-tcp")) g_object_set(ice.get(), "ice-tcp", FALSE, nullptr);
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice.get()), "agent")) {
    GObject* nice_agent = nullptr;
    g_object_get(ice.get(), "agent", &nice_agent, nullptr);
    GObjectPtr<GObject> nice(nice_agent);
    if (nice && g_object_class_find_property(G_OBJECT_GET_CLASS(nice.get()), "upnp")) {
      g_object_set(nice.get(), "upnp", FALSE, nullptr);
    }
  }
  for (const std::string& address : local_addresses) {
    gboolean added = FALSE;
    g_signal_emit_by_name(ice.get(), "add-local-ip-address", address.c_str(), &added);
    if (!added) return Status::Error("cannot restrict ICE to the local address '" + address + "' (not an IP address?)");
  }
  return Status::Ok();
}

}  // namespace speakup::media
