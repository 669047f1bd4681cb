// VideoWriter and WriteImage: RGB frames into files through GStreamer.
//
// Video: appsrc ! videoconvert ! videoscale ! capsfilter(I420) ! x264enc|vp8enc ! mp4mux|qtmux|
//        matroskamux|webmmux ! filesink
// Image: appsrc ! videoconvert ! pngenc|jpegenc ! filesink
#include <gst/app/gstappsrc.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"
#include "speakup/media.h"

namespace speakup::media {
namespace {

constexpr GstClockTime kFinishTimeout = 300 * GST_SECOND;  // an encoder's look-ahead at 4K takes a while
constexpr GstClockTime kImageTimeout = 60 * GST_SECOND;
constexpr guint64 kQueuedFrames = 3;  // frames appsrc may hold before Write() waits for the encoder

std::string Quoted(const std::string& path) { return "'" + path + "'"; }

struct VideoFormat {
  const char* encoder;
  const char* muxer;
  bool even_size;  // 4:2:0 H.264 needs even width and height
};

std::optional<VideoFormat> FormatForExtension(const std::string& extension) {
  if (extension == ".mp4" || extension == ".m4v") return VideoFormat{"x264enc", "mp4mux", true};
  if (extension == ".mov") return VideoFormat{"x264enc", "qtmux", true};
  if (extension == ".mkv") return VideoFormat{"x264enc", "matroskamux", true};
  if (extension == ".webm") return VideoFormat{"vp8enc", "webmmux", false};
  return std::nullopt;
}

Status CheckFrameShape(const Frame& frame) {
  if (frame.width <= 0 || frame.height <= 0) return Status::Error("the frame is empty");
  if (frame.rgb.size() != static_cast<size_t>(frame.width) * frame.height * 3) {
    return Status::Error("the frame holds " + std::to_string(frame.rgb.size()) + " bytes, not 3 x " +
                         std::to_string(frame.width) + " x " + std::to_string(frame.height));
  }
  return Status::Ok();
}

// Makes `factories` in order inside `pipeline` and links them.
Expected<std::vector<GstElement*>> BuildChain(GstElement* pipeline, const std::vector<const char*>& factories) {
  std::vector<GstElement*> elements;
  for (const char* factory : factories) {
    auto element = MakeElement(factory);
    if (!element) return Error(element.error());
    gst_bin_add(GST_BIN(pipeline), element->get());
    elements.push_back(element->get());
  }
  for (size_t i = 1; i < elements.size(); ++i) {
    if (!gst_element_link(elements[i - 1], elements[i])) {
      return Error(std::string("cannot link ") + GST_ELEMENT_NAME(elements[i - 1]) + " to " +
                   GST_ELEMENT_NAME(elements[i]) + " (internal error)");
    }
  }
  return elements;
}

void ConfigureAppsrc(GstElement* appsrc, GstCaps* caps) {
  g_object_set(appsrc, "caps", caps, "format", GST_FORMAT_TIME, "is-live", FALSE, "block", FALSE, nullptr);
}

}  // namespace

// ---- VideoWriter ----

class VideoWriter::Impl {
 public:
  std::string path;
  int width = 0, height = 0;
  int fps_numerator = 0, fps_denominator = 1;
  GstVideoInfo info;
  GstElement* appsrc = nullptr;  // owned by the pipeline
  BusPtr bus;
  int64_t frames = 0;
  bool finished = false;
  Status finish_status;
  std::optional<std::string> failure;
  PipelinePtr pipeline;  // last: stopped first

  std::string Describe(const BusError& error) const {
    std::string text = "cannot write " + Quoted(path) + ": " + error.message;
    if (!error.source.empty()) text += " (" + error.source + ")";
    return text;
  }

  Status Write(const Frame& frame) {
    if (finished) return Status::Error("cannot write to " + Quoted(path) + ": the video is already finished");
    if (failure) return Status::Error(*failure);
    if (Status shape = CheckFrameShape(frame); !shape.ok()) {
      return Status::Error("cannot write a frame to " + Quoted(path) + ": " + shape.message());
    }
    auto buffer = BufferFromFrame(frame, info);
    if (!buffer) return Status::Error("cannot write a frame to " + Quoted(path) + ": " + buffer.error());
    GstClockTime start = gst_util_uint64_scale(frames, GST_SECOND * fps_denominator, fps_numerator);
    GstClockTime end = gst_util_uint64_scale(frames + 1, GST_SECOND * fps_denominator, fps_numerator);
    GST_BUFFER_PTS(buffer->get()) = start;
    GST_BUFFER_DTS(buffer->get()) = start;
    GST_BUFFER_DURATION(buffer->get()) = end - start;
    // Back-pressure without appsrc's own blocking (which never wakes up once the pipeline failed):
    // wait for room while watching the bus.
    const guint64 limit = kQueuedFrames * GST_VIDEO_INFO_SIZE(&info);
    while (true) {
      if (auto error = PopBusError(bus.get(), 0)) {
        failure = Describe(*error);
        return Status::Error(*failure);
      }
      if (gst_app_src_get_current_level_bytes(GST_APP_SRC(appsrc)) < limit) break;
      if (auto error = PopBusError(bus.get(), 2 * GST_MSECOND)) {
        failure = Describe(*error);
        return Status::Error(*failure);
      }
    }
    if (gst_app_src_push_buffer(GST_APP_SRC(appsrc), buffer->release()) != GST_FLOW_OK) {
      failure = "cannot write to " + Quoted(path) + ": the encoding pipeline stopped";
      return Status::Error(*failure);
    }
    ++frames;
    return Status::Ok();
  }

  Status Finish() {
    if (finished) return finish_status;
    finished = true;
    if (failure) {
      finish_status = Status::Error(*failure);
    } else {
      gst_app_src_end_of_stream(GST_APP_SRC(appsrc));
      finish_status = WaitForEos(pipeline.get(), kFinishTimeout, Quoted(path));
      if (finish_status.ok() && frames == 0) {
        finish_status = Status::Error("no frames were written to " + Quoted(path));
      }
    }
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);  // closes the file
    return finish_status;
  }
};

VideoWriter::VideoWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VideoWriter::~VideoWriter() {
  if (impl_) impl_->Finish();
}
VideoWriter::VideoWriter(VideoWriter&&) noexcept = default;
VideoWriter& VideoWriter::operator=(VideoWriter&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->Finish();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Expected<std::unique_ptr<VideoWriter>> VideoWriter::Open(const std::string& path, int width, int height, double fps) {
  const std::string extension = ExtensionOf(path);
  std::optional<VideoFormat> format = FormatForExtension(extension);
  if (!format) {
    return Error("cannot write " + Quoted(path) + ": unknown video extension '" + extension +
                 "' (use .mp4, .m4v, .mov, .mkv or .webm)");
  }
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384) {
    return Error("cannot write " + Quoted(path) + ": bad frame size " + std::to_string(width) + "x" +
                 std::to_string(height));
  }
  if (!(fps > 0 && fps <= 1000)) {
    return Error("cannot write " + Quoted(path) + ": bad frame rate " + std::to_string(fps) + " (want 0 < fps <= 1000)");
  }
  SPEAKUP_RETURN_IF_ERROR(EnsureGstInitialized());

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->width = width;
  impl->height = height;
  gst_util_double_to_fraction(fps, &impl->fps_numerator, &impl->fps_denominator);
  CapsPtr input_caps = RgbCaps(width, height, fps);
  if (!gst_video_info_from_caps(&impl->info, input_caps.get())) return Error("bad video format (internal error)");

  impl->pipeline.reset(gst_pipeline_new("speakup-video-writer"));
  auto chain = BuildChain(impl->pipeline.get(), {"appsrc", "videoconvert", "videoscale", "capsfilter",
                                                 format->encoder, format->muxer, "filesink"});
  if (!chain) return Error("cannot write " + Quoted(path) + ": " + chain.error());
  auto& elements = *chain;
  impl->appsrc = elements[0];
  ConfigureAppsrc(impl->appsrc, input_caps.get());
  g_object_set(elements[2], "add-borders", FALSE, nullptr);
  int coded_width = format->even_size ? (width + 1) / 2 * 2 : width;
  int coded_height = format->even_size ? (height + 1) / 2 * 2 : height;
  CapsPtr coded(gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT, coded_width,
                                    "height", G_TYPE_INT, coded_height, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1,
                                    1, nullptr));
  g_object_set(elements[3], "caps", coded.get(), nullptr);
  GstElement* encoder = elements[4];
  if (g_str_equal(format->encoder, "x264enc")) {
    // Constant quality (CRF 20), x264's default speed preset: a good file, not a live stream.
    gst_util_set_object_arg(G_OBJECT(encoder), "pass", "qual");
    g_object_set(encoder, "quantizer", 20u, nullptr);
  } else {
    // VP8: about 0.15 bit per pixel, "good" deadline at a speed that keeps up on small machines.
    double bits = 0.15 * width * height * fps;
    int bitrate = static_cast<int>(std::min(50e6, std::max(200e3, bits)));
    g_object_set(encoder, "target-bitrate", bitrate, "deadline", static_cast<gint64>(1), "cpu-used", 4, nullptr);
  }
  g_object_set(elements[6], "location", path.c_str(), nullptr);
  impl->bus.reset(gst_element_get_bus(impl->pipeline.get()));
  SPEAKUP_RETURN_IF_ERROR(StartPipeline(impl->pipeline.get(), Quoted(path)));
  return std::unique_ptr<VideoWriter>(new VideoWriter(std::move(impl)));
}

Status VideoWriter::Write(const Frame& frame) { return impl_->Write(frame); }
Status VideoWriter::Finish() { return impl_->Finish(); }
int64_t VideoWriter::frames_written() const { return impl_->frames; }

// ---- WriteImage ----

Status WriteImage(const std::string& path, const Frame& frame) {
  const std::string extension = ExtensionOf(path);
  const char* encoder_name = nullptr;
  if (extension == ".png") encoder_name = "pngenc";
  if (extension == ".jpg" || extension == ".jpeg") encoder_name = "jpegenc";
  if (!encoder_name) {
    return Status::Error("cannot write " + Quoted(path) + ": unknown image extension '" + extension +
                         "' (use .png, .jpg or .jpeg)");
  }
  if (Status shape = CheckFrameShape(frame); !shape.ok()) {
    return Status::Error("cannot write " + Quoted(path) + ": " + shape.message());
  }
  SPEAKUP_RETURN_IF_ERROR(EnsureGstInitialized());
  CapsPtr caps = RgbCaps(frame.width, frame.height, 0);
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps.get())) return Status::Error("bad image format (internal error)");
  auto buffer = BufferFromFrame(frame, info);
  if (!buffer) return Status::Error("cannot write " + Quoted(path) + ": " + buffer.error());
  GST_BUFFER_PTS(buffer->get()) = 0;

  PipelinePtr pipeline(gst_pipeline_new("speakup-image-writer"));
  auto chain = BuildChain(pipeline.get(), {"appsrc", "videoconvert", encoder_name, "filesink"});
  if (!chain) return Status::Error("cannot write " + Quoted(path) + ": " + chain.error());
  GstElement* appsrc = (*chain)[0];
  ConfigureAppsrc(appsrc, caps.get());
  if (g_str_equal(encoder_name, "jpegenc")) g_object_set((*chain)[2], "quality", 90, nullptr);
  g_object_set((*chain)[3], "location", path.c_str(), nullptr);
  SPEAKUP_RETURN_IF_ERROR(StartPipeline(pipeline.get(), Quoted(path)));
  gst_app_src_push_buffer(GST_APP_SRC(appsrc), buffer->release());
  gst_app_src_end_of_stream(GST_APP_SRC(appsrc));
  Status status = WaitForEos(pipeline.get(), kImageTimeout, Quoted(path));
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  return status;
}

}  // namespace speakup::media
