// FrameSource: image files, video files and V4L2 cameras as RGB frames.
//
// Files:   filesrc ! decodebin ! videoflip(auto) ! videoscale ! videoconvert ! appsink
// Cameras: v4l2src ! capsfilter(requested size/rate) ! decodebin ! videoscale ! videoconvert ! appsink
// Still JPEGs (exact_jpeg): libjpeg-turbo directly (jpeg_decoder.h), no pipeline at all.
//
// The appsink takes RGB, grey or 4:2:0 YUV with square pixels, no larger than the options allow;
// videoconvert only steps in for other formats, and convert.h turns the samples into RGB. For
// files the appsink holds a few frames and blocks the decoder when full (no frame is dropped); for
// cameras it holds only the newest frame. Opening pre-rolls the pipeline, so most errors surface in
// Open*(), not in Next().
#include <gst/app/gstappsink.h>
#include <gst/pbutils/missing-plugins.h>
#include <gst/video/gstvideodecoder.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

#include "convert.h"
#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"
#include "jpeg_decoder.h"
#include "speakup/media.h"

namespace speakup::media {
namespace {

constexpr GstClockTime kPollInterval = 50 * GST_MSECOND;
constexpr guint kFileQueueFrames = 4;
// Files starting like a JPEG up to this size are read whole for libjpeg; larger ones (an MJPEG
// stream, say) go to GStreamer.
constexpr off_t kMaxStillJpegBytes = off_t{256} << 20;
// How long an error decodebin swallowed may stand before it is taken as the answer (see ShadowBus).
constexpr auto kShadowErrorGrace = std::chrono::milliseconds(250);

using Clock = std::chrono::steady_clock;

std::string Quoted(const std::string& path) { return "'" + path + "'"; }

// Reads a whole file; the error says why it cannot be read.
Expected<std::vector<uint8_t>> ReadFileBytes(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return Error("cannot read " + Quoted(path) + ": " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof(chunk), file)) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
  bool failed = std::ferror(file);
  int error = errno;
  std::fclose(file);
  if (failed) return Error("cannot read " + Quoted(path) + ": " + std::strerror(error));
  return bytes;
}

// The first bytes of a file (for format sniffing), after checking it is a readable regular file.
Expected<std::vector<uint8_t>> ReadFileHead(const std::string& path, size_t count, off_t* size) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return Error("cannot read " + Quoted(path) + ": " + std::strerror(errno));
  *size = info.st_size;
  if (S_ISDIR(info.st_mode)) return Error("cannot read " + Quoted(path) + ": it is a directory");
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return Error("cannot read " + Quoted(path) + ": " + std::strerror(errno));
  std::vector<uint8_t> head(count);
  head.resize(std::fread(head.data(), 1, count, file));
  bool failed = std::ferror(file);
  int error = errno;
  std::fclose(file);
  if (failed) return Error("cannot read " + Quoted(path) + ": " + std::strerror(error));
  if (head.empty()) return Error(Quoted(path) + " is empty: it is not an image or video");
  return head;
}

bool FitsLimits(int width, int height, const SourceOptions& options) {
  return (options.max_width <= 0 || width <= options.max_width) &&
         (options.max_height <= 0 || height <= options.max_height);
}

}  // namespace

class FrameSource::Impl {
 public:
  std::string name;
  SourceOptions options;
  bool camera = false;
  bool still = false;
  int width = 0, height = 0;
  std::optional<double> duration_ms, frame_rate;
  int64_t next_index = 0;
  bool ended = false;
  std::optional<std::string> failure;        // sticky: every Next() after an error returns it
  std::optional<std::string> pending_error;  // seen on the bus; returned once queued frames are out
  std::optional<Frame> pending_frame;        // a still decoded at open, or a camera's first frame
  int orientation = 0;                       // EXIF orientation of a JPEG (1..8); 0 = from tags

  // GStreamer path. Elements are owned by the pipeline.
  GstElement* appsink = nullptr;
  GstElement* video_entry = nullptr;  // where decodebin's video pad is linked
  BusPtr bus;
  std::atomic<bool> video_linked{false};
  std::atomic<bool> no_video{false};
  std::mutex mutex;                // guards the strings below, written from streaming threads
  std::string container_type;      // the file format decodebin found, e.g. "video/quicktime", "image/png"
  std::string missing_plugin;      // description of a decoder decodebin could not find
  // An error seen on a shadow bus (see WatchElementErrors) and the element that posted it.
  std::optional<BusError> shadow_error;
  GstElement* shadow_source = nullptr;  // identity only, never dereferenced
  Clock::time_point shadow_time;
  PipelinePtr pipeline;            // last: stopped first on destruction, before what callbacks use

  Status BuildFilePipeline();
  Status BuildCameraPipeline();
  Status Preroll();
  Status WaitForFirstCameraFrame();
  void ReadNegotiatedFormat();
  Expected<std::optional<Frame>> Next();
  std::string DescribeFileError(const BusError& error);
  std::string DescribeCameraError(const BusError& error);
  std::string DescribeError(const BusError& error) {
    return camera ? DescribeCameraError(error) : DescribeFileError(error);
  }
  void NoteElementMessage(GstMessage* message);
  void CheckBus();
  Status AttachDecodebin(GstElement* decodebin);
};

// ---- decodebin callbacks (streaming threads) ----

namespace {

void OnPadAdded(GstElement* /*decodebin*/, GstPad* pad, gpointer data) {
  auto* impl = static_cast<FrameSource::Impl*>(data);
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const char* media = "";
  if (caps && gst_caps_get_size(caps.get()) > 0) media = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
  if (g_str_has_prefix(media, "video/x-raw") && !impl->video_linked.exchange(true)) {
    PadPtr sink_pad(gst_element_get_static_pad(impl->video_entry, "sink"));
    if (gst_pad_link(pad, sink_pad.get()) == GST_PAD_LINK_OK) return;
    impl->video_linked = false;
  }
  // Audio, subtitles, a second video stream: drained into a fakesink so they never block the video.
  GstElement* fakesink = gst_element_factory_make("fakesink", nullptr);
  if (!fakesink) return;
  g_object_set(fakesink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(impl->pipeline.get()), fakesink);
  gst_element_sync_state_with_parent(fakesink);
  PadPtr sink_pad(gst_element_get_static_pad(fakesink, "sink"));
  gst_pad_link(pad, sink_pad.get());
}

void OnNoMorePads(GstElement* decodebin, gpointer data) {
  auto* impl = static_cast<FrameSource::Impl*>(data);
  if (impl->video_linked) return;
  impl->no_video = true;
  GErrorPtr error(g_error_new_literal(GST_STREAM_ERROR, GST_STREAM_ERROR_WRONG_TYPE, "no video stream"));
  gst_element_post_message(decodebin, gst_message_new_error(GST_OBJECT(decodebin), error.get(), nullptr));
}

// decodebin asks before plugging anything after a pad; the first pad it asks about is its
// typefinder's, whose caps name the file's format (e.g. "video/quicktime", "image/png").
gboolean OnAutoplugContinue(GstElement* /*decodebin*/, GstPad* /*pad*/, GstCaps* caps, gpointer data) {
  auto* impl = static_cast<FrameSource::Impl*>(data);
  if (!caps || gst_caps_get_size(caps) == 0) return TRUE;
  std::lock_guard lock(impl->mutex);
  if (impl->container_type.empty()) impl->container_type = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  return TRUE;
}

// decodebin (decodebin2) drops the ERROR messages an element it is plugging posts while it brings
// that element to PAUSED, expecting the state change to fail. A demuxer that fails in its own
// streaming thread within that window (qtdemux on an MP4 whose index is missing: about one time in
// five here) changes state successfully all the same: its error is lost and the pipeline never
// prerolls. So every element inside decodebin posts to a shadow bus of ours that notes errors and
// forwards every message, unchanged, to the bus decodebin gave it. Preroll() reports a noted error
// when the element is still there a moment later (decodebin removes elements it gave up on).
struct ShadowBus {
  FrameSource::Impl* impl;
  GstBus* target;  // owned reference: decodebin's child bus
  GstElement* element;
};

GstBusSyncReply OnShadowMessage(GstBus* /*bus*/, GstMessage* message, gpointer data) {
  auto* shadow = static_cast<ShadowBus*>(data);
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    BusError error = ParseBusError(message);
    std::lock_guard lock(shadow->impl->mutex);
    if (!shadow->impl->shadow_error) {
      shadow->impl->shadow_error = std::move(error);
      shadow->impl->shadow_source = shadow->element;
      shadow->impl->shadow_time = Clock::now();
    }
  }
  gst_bus_post(shadow->target, gst_message_ref(message));
  return GST_BUS_DROP;
}

void FreeShadowBus(gpointer data) {
  auto* shadow = static_cast<ShadowBus*>(data);
  gst_object_unref(shadow->target);
  delete shadow;
}

void WatchElementErrors(FrameSource::Impl* impl, GstElement* element) {
  GstBus* target = gst_element_get_bus(element);
  if (!target) return;
  auto* shadow = new ShadowBus{impl, target, element};
  BusPtr bus(gst_bus_new());
  gst_bus_set_sync_handler(bus.get(), OnShadowMessage, shadow, FreeShadowBus);
  gst_element_set_bus(element, bus.get());
}

void OnDeepElementRemoved(GstBin* /*bin*/, GstBin* /*sub_bin*/, GstElement* element, gpointer data) {
  auto* impl = static_cast<FrameSource::Impl*>(data);
  std::lock_guard lock(impl->mutex);
  if (impl->shadow_source == element) {
    impl->shadow_error.reset();
    impl->shadow_source = nullptr;
  }
}

// Settings for elements decodebin creates: jpegdec's accurate IDCT (its default is the fast one),
// and, in files, the decoders' error budget (GStreamer's default is to skip bad frames forever).
void OnDeepElementAdded(GstBin* /*bin*/, GstBin* sub_bin, GstElement* element, gpointer data) {
  auto* impl = static_cast<FrameSource::Impl*>(data);
  if (sub_bin != GST_BIN(impl->pipeline.get())) WatchElementErrors(impl, element);
  if (!impl->camera && GST_IS_VIDEO_DECODER(element)) {
    gst_video_decoder_set_max_errors(GST_VIDEO_DECODER(element), impl->options.max_decode_errors);
  }
  GstElementFactory* factory = gst_element_get_factory(element);
  if (!factory) return;
  const char* name = gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory));
  if (g_strcmp0(name, "jpegdec") == 0) gst_util_set_object_arg(G_OBJECT(element), "idct-method", "islow");
}

}  // namespace

Status FrameSource::Impl::AttachDecodebin(GstElement* decodebin) {
  g_signal_connect(decodebin, "pad-added", G_CALLBACK(OnPadAdded), this);
  g_signal_connect(decodebin, "no-more-pads", G_CALLBACK(OnNoMorePads), this);
  g_signal_connect(decodebin, "autoplug-continue", G_CALLBACK(OnAutoplugContinue), this);
  g_signal_connect(pipeline.get(), "deep-element-added", G_CALLBACK(OnDeepElementAdded), this);
  g_signal_connect(pipeline.get(), "deep-element-removed", G_CALLBACK(OnDeepElementRemoved), this);
  return Status::Ok();
}

// ---- building ----

namespace {

// Makes the named elements, adds them to `bin` and links them in order. Returns them in order.
Expected<std::vector<GstElement*>> AddChain(GstElement* bin, std::initializer_list<const char*> factories) {
  std::vector<GstElement*> elements;
  for (const char* factory : factories) {
    auto element = MakeElement(factory);
    if (!element) return Error(element.error());
    gst_bin_add(GST_BIN(bin), element->get());
    elements.push_back(element->get());
  }
  for (size_t i = 1; i < elements.size(); ++i) {
    if (!gst_element_link(elements[i - 1], elements[i])) {
      return Error(std::string("cannot link GStreamer elements ") + GST_ELEMENT_NAME(elements[i - 1]) +
                   " and " + GST_ELEMENT_NAME(elements[i]) + " (internal error)");
    }
  }
  return elements;
}

void ConfigureAppsink(GstElement* appsink, const SourceOptions& options, bool camera) {
  CapsPtr caps = SinkCaps(options.max_width, options.max_height);
  g_object_set(appsink, "caps", caps.get(), "sync", FALSE, "emit-signals", FALSE, "enable-last-sample", FALSE,
               "max-buffers", camera ? 1u : kFileQueueFrames, "drop", camera ? TRUE : FALSE, nullptr);
}

}  // namespace

Status FrameSource::Impl::BuildFilePipeline() {
  pipeline.reset(gst_pipeline_new("speakup-file-source"));
  if (!pipeline) return Status::Error("cannot create a GStreamer pipeline");
  auto head = AddChain(pipeline.get(), {"filesrc", "decodebin"});
  if (!head) return Status::Error(head.error());
  auto tail = AddChain(pipeline.get(), {"videoflip", "videoscale", "videoconvert", "appsink"});
  if (!tail) return Status::Error(tail.error());
  g_object_set((*head)[0], "location", name.c_str(), nullptr);
  // EXIF orientation 1..8 as videoflip's methods; other files carry rotation tags (MP4 matrices).
  static const char* const kDirections[] = {"auto", "identity", "horiz", "180", "vert", "ul-lr", "90r", "ur-ll", "90l"};
  gst_util_set_object_arg(G_OBJECT((*tail)[0]), "video-direction",
                          kDirections[orientation >= 1 && orientation <= 8 ? orientation : 0]);
  g_object_set((*tail)[1], "add-borders", FALSE, nullptr);
  video_entry = (*tail)[0];
  appsink = (*tail)[3];
  ConfigureAppsink(appsink, options, false);
  bus.reset(gst_element_get_bus(pipeline.get()));
  return AttachDecodebin((*head)[1]);
}

Status FrameSource::Impl::BuildCameraPipeline() {
  pipeline.reset(gst_pipeline_new("speakup-camera-source"));
  if (!pipeline) return Status::Error("cannot create a GStreamer pipeline");
  auto head = AddChain(pipeline.get(), {"v4l2src", "capsfilter", "decodebin"});
  if (!head) return Status::Error(head.error());
  auto tail = AddChain(pipeline.get(), {"videoscale", "videoconvert", "appsink"});
  if (!tail) return Status::Error(tail.error());
  g_object_set((*head)[0], "device", name.c_str(), nullptr);
  // The request, for raw and for MJPEG cameras alike.
  CapsPtr request(gst_caps_new_empty());
  for (const char* media : {"video/x-raw", "image/jpeg"}) {
    GstStructure* structure = gst_structure_new_empty(media);
    if (options.camera_width > 0) gst_structure_set(structure, "width", G_TYPE_INT, options.camera_width, nullptr);
    if (options.camera_height > 0) gst_structure_set(structure, "height", G_TYPE_INT, options.camera_height, nullptr);
    if (options.camera_fps > 0) {
      int numerator = 0, denominator = 1;
      gst_util_double_to_fraction(options.camera_fps, &numerator, &denominator);
      gst_structure_set(structure, "framerate", GST_TYPE_FRACTION, numerator, denominator, nullptr);
    }
    gst_caps_append_structure(request.get(), structure);
  }
  g_object_set((*head)[1], "caps", request.get(), nullptr);
  g_object_set((*tail)[0], "add-borders", FALSE, nullptr);
  video_entry = (*tail)[0];
  appsink = (*tail)[2];
  ConfigureAppsink(appsink, options, true);
  bus.reset(gst_element_get_bus(pipeline.get()));
  return AttachDecodebin((*head)[2]);
}

void FrameSource::Impl::NoteElementMessage(GstMessage* message) {
  if (!gst_is_missing_plugin_message(message)) return;
  GCharPtr description(gst_missing_plugin_message_get_description(message));
  std::lock_guard lock(mutex);
  if (description && missing_plugin.empty()) missing_plugin = description.get();
}

// PAUSED: every sink has its first buffer (or the stream ended, or failed).
Status FrameSource::Impl::Preroll() {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  if (gst_element_set_state(pipeline.get(), GST_STATE_PAUSED) == GST_STATE_CHANGE_SUCCESS) return Status::Ok();
  const auto mask = static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_EOS |
                                                GST_MESSAGE_ELEMENT);
  while (true) {
    MessagePtr message(gst_bus_timed_pop_filtered(bus.get(), kPollInterval, mask));
    if (!message) {
      std::optional<BusError> swallowed;
      {
        std::lock_guard lock(mutex);
        if (shadow_error && Clock::now() - shadow_time > kShadowErrorGrace) swallowed = shadow_error;
      }
      if (swallowed) return Status::Error(DescribeError(*swallowed));
      if (options.timeout_ms > 0 && Clock::now() > deadline) {
        return Status::Error("timed out after " + std::to_string(options.timeout_ms) + " ms opening " +
                             Quoted(name) + " (SourceOptions::timeout_ms)");
      }
      continue;
    }
    switch (GST_MESSAGE_TYPE(message.get())) {
      case GST_MESSAGE_ELEMENT:
        NoteElementMessage(message.get());
        break;
      case GST_MESSAGE_ERROR:
        return Status::Error(DescribeError(ParseBusError(message.get())));
      case GST_MESSAGE_EOS:
        return Status::Ok();
      case GST_MESSAGE_ASYNC_DONE:
        if (GST_MESSAGE_SRC(message.get()) == GST_OBJECT(pipeline.get())) return Status::Ok();
        break;
      default:
        break;
    }
  }
}

void FrameSource::Impl::ReadNegotiatedFormat() {
  PadPtr pad(gst_element_get_static_pad(appsink, "sink"));
  CapsPtr caps(gst_pad_get_current_caps(pad.get()));
  if (!caps || gst_caps_get_size(caps.get()) == 0) return;
  GstStructure* structure = gst_caps_get_structure(caps.get(), 0);
  gst_structure_get_int(structure, "width", &width);
  gst_structure_get_int(structure, "height", &height);
  int numerator = 0, denominator = 0;
  if (gst_structure_get_fraction(structure, "framerate", &numerator, &denominator) && numerator > 0 &&
      denominator > 0) {
    frame_rate = static_cast<double>(numerator) / denominator;
  }
}

Status FrameSource::Impl::WaitForFirstCameraFrame() {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  while (true) {
    const auto mask = static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    while (MessagePtr message{gst_bus_pop_filtered(bus.get(), mask)}) {
      if (GST_MESSAGE_TYPE(message.get()) == GST_MESSAGE_ERROR) {
        return Status::Error(DescribeCameraError(ParseBusError(message.get())));
      }
      NoteElementMessage(message.get());
    }
    SamplePtr sample(gst_app_sink_try_pull_sample(GST_APP_SINK(appsink), kPollInterval));
    if (sample) {
      auto frame = FrameFromSample(sample.get(), next_index++, 0);
      if (!frame) return frame.status();
      width = frame->width;
      height = frame->height;
      pending_frame = std::move(*frame);
      ReadNegotiatedFormat();
      return Status::Ok();
    }
    if (gst_app_sink_is_eos(GST_APP_SINK(appsink))) return Status::Error("camera " + name + " stopped at once");
    if (options.timeout_ms > 0 && Clock::now() > deadline) {
      return Status::Error("camera " + name + " sent no frame within " + std::to_string(options.timeout_ms) +
                           " ms (is another program using it?)");
    }
  }
}

// ---- errors a user can act on ----

std::string FrameSource::Impl::DescribeFileError(const BusError& error) {
  std::string missing, type;
  {
    std::lock_guard lock(mutex);
    missing = missing_plugin;
    type = container_type;
  }
  const std::string who = Quoted(name);
  if (no_video) return who + " has no video stream" + (type.empty() ? "" : " (it is " + type + ")");
  if (error.Is(GST_STREAM_ERROR, GST_STREAM_ERROR_TYPE_NOT_FOUND)) {
    return who + " is not an image or video GStreamer can decode (unknown file format)";
  }
  if (!missing.empty() || error.Is(GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN) ||
      error.Is(GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND)) {
    return "cannot decode " + who + ": no GStreamer plugin for " + (missing.empty() ? type : missing) +
           " is installed (the Debian packages gstreamer1.0-libav, gstreamer1.0-plugins-bad and "
           "gstreamer1.0-plugins-ugly add most decoders)";
  }
  if (error.domain == GST_RESOURCE_ERROR) return "cannot read " + who + ": " + error.message;
  std::string text = "cannot decode " + who + ": " + error.message;
  if (!error.source.empty()) text += " (" + error.source + ")";
  if (error.domain == GST_STREAM_ERROR) text += "; the file may be truncated or damaged";
  return text;
}

std::string FrameSource::Impl::DescribeCameraError(const BusError& error) {
  const std::string debug = error.message + "\n" + error.debug;
  if (error.Is(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND)) return "no camera at " + name;
  if (debug.find("Permission denied") != std::string::npos) {
    return "cannot open camera " + name + ": permission denied (add the user to the 'video' group)";
  }
  if (error.Is(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY) || debug.find("Device or resource busy") != std::string::npos) {
    return "camera " + name + " is busy: another program is using it";
  }
  if (debug.find("not a capture device") != std::string::npos ||
      debug.find("not a v4l2 device") != std::string::npos ||
      debug.find("not a device") != std::string::npos || debug.find("isn't a v4l2 driver") != std::string::npos) {
    return name + " is not a camera (not a V4L2 capture device)";
  }
  if (debug.find("not-negotiated") != std::string::npos) {
    std::string request;
    if (options.camera_width > 0 || options.camera_height > 0) {
      request += " " + std::to_string(options.camera_width) + "x" + std::to_string(options.camera_height);
    }
    if (options.camera_fps > 0) request += " at " + std::to_string(options.camera_fps) + " fps";
    return "camera " + name + " cannot deliver" + (request.empty() ? " a format we can decode" : request) +
           " (v4l2-ctl --list-formats-ext -d " + name + " lists what it can)";
  }
  std::string text = "camera " + name + ": " + error.message;
  if (!error.source.empty()) text += " (" + error.source + ")";
  return text;
}

// ---- reading ----

// Moves the first error on the bus into pending_error; notes missing-plugin messages.
void FrameSource::Impl::CheckBus() {
  const auto mask = static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
  while (!pending_error) {
    MessagePtr message(gst_bus_pop_filtered(bus.get(), mask));
    if (!message) return;
    switch (GST_MESSAGE_TYPE(message.get())) {
      case GST_MESSAGE_ERROR:
        pending_error = DescribeError(ParseBusError(message.get()));
        break;
      default:
        NoteElementMessage(message.get());
        break;
    }
  }
}

Expected<std::optional<Frame>> FrameSource::Impl::Next() {
  if (failure) return Error(*failure);
  if (pending_frame) {
    std::optional<Frame> frame = std::move(pending_frame);
    pending_frame.reset();
    return frame;
  }
  if (!pipeline || ended) return std::optional<Frame>();
  GstAppSink* sink = GST_APP_SINK(appsink);
  const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  while (true) {
    CheckBus();
    // After an error, frames already decoded are still handed out, then the error.
    SamplePtr sample(gst_app_sink_try_pull_sample(sink, pending_error ? 0 : kPollInterval));
    if (sample) {
      auto frame = FrameFromSample(sample.get(), next_index, frame_rate.value_or(0));
      if (!frame) {
        failure = frame.error();
        return Error(*failure);
      }
      ++next_index;
      return std::optional<Frame>(std::move(*frame));
    }
    if (pending_error) {
      failure = pending_error;
      return Error(*failure);
    }
    if (gst_app_sink_is_eos(sink)) {
      CheckBus();
      if (pending_error) {
        failure = pending_error;
        return Error(*failure);
      }
      ended = true;
      gst_element_set_state(pipeline.get(), GST_STATE_NULL);  // stop threads, close the file
      return std::optional<Frame>();
    }
    if (options.timeout_ms > 0 && Clock::now() > deadline) {
      failure = "no frame from " + (camera ? name : Quoted(name)) + " for " + std::to_string(options.timeout_ms) +
                " ms (SourceOptions::timeout_ms)";
      return Error(*failure);
    }
  }
}

// ---- public API ----

FrameSource::FrameSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FrameSource::~FrameSource() = default;
FrameSource::FrameSource(FrameSource&&) noexcept = default;
FrameSource& FrameSource::operator=(FrameSource&&) noexcept = default;

Expected<std::unique_ptr<FrameSource>> FrameSource::OpenFile(const std::string& path, const SourceOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->name = path;
  impl->options = options;
  off_t size = 0;
  auto head = ReadFileHead(path, 16, &size);
  if (!head) return Error(head.error());

  if (LooksLikeJpeg(*head) && size <= kMaxStillJpegBytes) {
    auto bytes = ReadFileBytes(path);
    if (!bytes) return Error(bytes.error());
    JpegHeader header;
    JpegResult result = ReadJpegHeader(*bytes, &header);
    if (result.failure == JpegFailure::kNone) {
      // GStreamer's jpegdec ignores EXIF, so its path gets the orientation from here too.
      impl->orientation = header.orientation;
      if (options.exact_jpeg && FitsLimits(header.display_width(), header.display_height(), options)) {
        Frame frame;
        result = DecodeJpeg(*bytes, &frame);
        if (result.failure == JpegFailure::kTruncated) {
          return Error(Quoted(path) + " is a truncated or damaged JPEG (" + result.message + ")");
        }
        if (result.failure == JpegFailure::kNone) {
          impl->still = true;
          impl->width = frame.width;
          impl->height = frame.height;
          impl->pending_frame = std::move(frame);
          return std::unique_ptr<FrameSource>(new FrameSource(std::move(impl)));
        }
      }
    }
    // Not something libjpeg decodes as RGB (CMYK, 12-bit...) or to be downscaled: GStreamer decodes.
  }

  SPEAKUP_RETURN_IF_ERROR(EnsureGstInitialized());
  SPEAKUP_RETURN_IF_ERROR(impl->BuildFilePipeline());
  SPEAKUP_RETURN_IF_ERROR(impl->Preroll());
  impl->ReadNegotiatedFormat();
  {
    std::lock_guard lock(impl->mutex);
    impl->still = g_str_has_prefix(impl->container_type.c_str(), "image/");
  }
  gint64 duration = -1;
  if (!impl->still && gst_element_query_duration(impl->pipeline.get(), GST_FORMAT_TIME, &duration) && duration > 0) {
    impl->duration_ms = static_cast<double>(duration) / GST_MSECOND;
  }
  if (impl->still) impl->frame_rate.reset();
  if (gst_element_set_state(impl->pipeline.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    if (auto error = PopBusError(impl->bus.get(), 0)) return Error(impl->DescribeFileError(*error));
    return Error("cannot start decoding " + Quoted(path));
  }
  return std::unique_ptr<FrameSource>(new FrameSource(std::move(impl)));
}

Expected<std::unique_ptr<FrameSource>> FrameSource::OpenCamera(const std::string& device, const SourceOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->name = device;
  impl->options = options;
  impl->camera = true;
  struct stat info;
  if (::stat(device.c_str(), &info) != 0) {
    if (errno == ENOENT) return Error("no camera at " + device + " (ls /dev/video* lists the cameras)");
    return Error("cannot open camera " + device + ": " + std::strerror(errno));
  }
  if (!S_ISCHR(info.st_mode)) return Error(device + " is not a camera (not a V4L2 device)");
  SPEAKUP_RETURN_IF_ERROR(EnsureGstInitialized());
  SPEAKUP_RETURN_IF_ERROR(impl->BuildCameraPipeline());
  SPEAKUP_RETURN_IF_ERROR(impl->WaitForFirstCameraFrame());
  return std::unique_ptr<FrameSource>(new FrameSource(std::move(impl)));
}

Expected<std::optional<Frame>> FrameSource::Next() { return impl_->Next(); }
bool FrameSource::is_still_image() const { return impl_->still; }
bool FrameSource::is_camera() const { return impl_->camera; }
int FrameSource::width() const { return impl_->width; }
int FrameSource::height() const { return impl_->height; }
std::optional<double> FrameSource::duration_ms() const { return impl_->duration_ms; }
std::optional<double> FrameSource::frame_rate() const { return impl_->frame_rate; }
const std::string& FrameSource::name() const { return impl_->name; }

}  // namespace speakup::media
