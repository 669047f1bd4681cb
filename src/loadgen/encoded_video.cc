// LoadEncodedVideo: filesrc -> parsebin -> appsink, keeping the encoded frames.
//
// The appsink's caps ask for H.264 as byte-stream access units, so parsebin's h264parse converts
// MP4's length-prefixed NAL units into what rtph264pay takes, with SPS/PPS in-band.
#include <gst/app/gstappsink.h>

#include <atomic>
#include <filesystem>

#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"
#include "speakup/loadgen.h"

namespace speakup::loadgen {
namespace {

constexpr size_t kMaxUnits = 120 * 60;            // two minutes at 60 fps
constexpr size_t kMaxBytes = 256ull * 1024 * 1024;  // kept in memory for the whole run

// The H.264 profile-level-id (RFC 6184: profile_idc, constraint flags, level_idc, in hex) from the
// first SPS NAL unit of a byte-stream access unit; empty if there is none.
std::string ProfileLevelId(const std::vector<uint8_t>& unit) {
  for (size_t i = 0; i + 7 < unit.size(); ++i) {
    const bool start_code = unit[i] == 0 && unit[i + 1] == 0 && unit[i + 2] == 1;
    if (!start_code || (unit[i + 3] & 0x1f) != 7) continue;
    char hex[7];
    std::snprintf(hex, sizeof(hex), "%02x%02x%02x", unit[i + 4], unit[i + 5], unit[i + 6]);
    return hex;
  }
  return "";
}

}  // namespace

Expected<EncodedVideo> LoadEncodedVideo(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return Error("no video file at '" + path + "'");
  SPEAKUP_RETURN_IF_ERROR(media::EnsureGstInitialized());
  for (const char* factory : {"filesrc", "parsebin", "h264parse", "appsink"}) {
    auto element = media::MakeElement(factory);
    if (!element) return Error(element.error());
  }
  std::atomic<bool> all_pads_known{false};  // declared first: outlives the pipeline's threads
  media::PipelinePtr pipeline(gst_pipeline_new("speakup-loadgen-demux"));
  auto source = media::MakeElement("filesrc");
  auto parse = media::MakeElement("parsebin");
  auto sink = media::MakeElement("appsink");
  if (!source || !parse || !sink) return Error("cannot create the demuxing pipeline");
  g_object_set(source->get(), "location", path.c_str(), nullptr);
  media::CapsPtr caps(gst_caps_from_string(
      "video/x-h264,stream-format=byte-stream,alignment=au; video/x-vp8; video/x-vp9"));
  g_object_set(sink->get(), "caps", caps.get(), "sync", FALSE, "max-buffers", 64u, nullptr);
  GstElement* sink_element = sink->get();
  gst_bin_add_many(GST_BIN(pipeline.get()), source->get(), parse->get(), sink->get(), nullptr);
  if (!gst_element_link(source->get(), parse->get())) return Error("cannot link filesrc to parsebin");
  // parsebin makes a pad per stream once it knows the streams: link the first video one. H.264
  // goes through another h264parse, which turns MP4's length-prefixed form into a byte stream.
  g_signal_connect(parse->get(), "pad-added", G_CALLBACK(+[](GstElement* parsebin, GstPad* pad, gpointer data) {
                     auto* appsink = static_cast<GstElement*>(data);
                     media::PadPtr sink_pad(gst_element_get_static_pad(appsink, "sink"));
                     if (gst_pad_is_linked(sink_pad.get())) return;
                     media::CapsPtr pad_caps(gst_pad_query_caps(pad, nullptr));
                     if (!pad_caps || gst_caps_is_empty(pad_caps.get())) return;
                     const std::string name = gst_structure_get_name(gst_caps_get_structure(pad_caps.get(), 0));
                     if (name != "video/x-h264") {
                       gst_pad_link(pad, sink_pad.get());  // VP8/VP9 as they are; anything else stays unlinked
                       return;
                     }
                     GstElement* h264parse = gst_element_factory_make("h264parse", nullptr);
                     if (!h264parse) return;
                     GstBin* bin = GST_BIN(gst_element_get_parent(parsebin));
                     gst_bin_add(bin, h264parse);
                     gst_object_unref(bin);
                     media::PadPtr parse_sink(gst_element_get_static_pad(h264parse, "sink"));
                     gst_element_link(h264parse, appsink);
                     gst_element_sync_state_with_parent(h264parse);
                     gst_pad_link(pad, parse_sink.get());
                   }),
                   sink_element);
  g_signal_connect(parse->get(), "no-more-pads", G_CALLBACK(+[](GstElement*, gpointer data) {
                     static_cast<std::atomic<bool>*>(data)->store(true);
                   }),
                   &all_pads_known);
  SPEAKUP_RETURN_IF_ERROR(media::StartPipeline(pipeline.get(), "reading '" + path + "'"));

  EncodedVideo video;
  size_t total_bytes = 0;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;
  GstAppSink* appsink = GST_APP_SINK(sink_element);
  media::BusPtr bus(gst_element_get_bus(pipeline.get()));
  media::PadPtr sink_pad(gst_element_get_static_pad(sink_element, "sink"));
  int waited_ms = 0;
  while (true) {
    media::SamplePtr sample(gst_app_sink_try_pull_sample(appsink, 100 * GST_MSECOND));
    if (!sample) {
      waited_ms += 100;
      if (auto failure = media::PopBusError(bus.get(), 0)) {
        return Error("cannot read '" + path + "': " + failure->message +
                     " (loadgen sends H.264, VP8 or VP9 video as it is in the file; re-encode other codecs, e.g. "
                     "to VP8 in WebM)");
      }
      if (gst_app_sink_is_eos(appsink)) break;
      if (all_pads_known && !gst_pad_is_linked(sink_pad.get())) break;  // no video stream: said below
      if (waited_ms >= 10000) return Error("reading '" + path + "' stalled (no frame within 10 s)");
      continue;
    }
    waited_ms = 0;
    if (video.codec.empty()) {
      const GstStructure* structure = gst_caps_get_structure(gst_sample_get_caps(sample.get()), 0);
      const std::string name = gst_structure_get_name(structure);
      video.codec = name == "video/x-h264" ? "H264" : name == "video/x-vp8" ? "VP8" : "VP9";
      gst_structure_get_int(structure, "width", &video.width);
      gst_structure_get_int(structure, "height", &video.height);
      int num = 0, den = 1;
      if (gst_structure_get_fraction(structure, "framerate", &num, &den) && num > 0 && den > 0) {
        video.fps = static_cast<double>(num) / den;
      }
    }
    GstBuffer* buffer = gst_sample_get_buffer(sample.get());
    const bool key = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    if (video.units.empty() && !key) continue;  // start at a key frame
    // Frames stored out of display order (B-frames) would be held back by the server's decoder and
    // muddle the latency: WebRTC cameras never send them.
    const GstClockTime pts = GST_BUFFER_PTS(buffer);
    if (GST_CLOCK_TIME_IS_VALID(pts) && GST_CLOCK_TIME_IS_VALID(last_pts) && pts < last_pts) {
      return Error("'" + path + "' has B-frames (frames stored out of display order), which WebRTC cameras never "
                   "send; re-encode it without them (e.g. VP8, or x264 with bframes=0), as tests/data/make_video.sh does");
    }
    if (GST_CLOCK_TIME_IS_VALID(pts)) last_pts = pts;
    EncodedVideo::Unit unit;
    unit.key = key;
    unit.bytes.resize(gst_buffer_get_size(buffer));
    gst_buffer_extract(buffer, 0, unit.bytes.data(), unit.bytes.size());
    total_bytes += unit.bytes.size();
    video.units.push_back(std::move(unit));
    if (video.units.size() > kMaxUnits || total_bytes > kMaxBytes) {
      return Error("'" + path + "' is too long for the load generator (at most 2 minutes or 256 MB); it loops "
                   "the file, so a short clip is enough");
    }
  }
  if (video.units.empty()) {
    return Error("'" + path + "' has no H.264, VP8 or VP9 video (loadgen sends the file's video as it is; "
                 "re-encode other codecs, e.g. to VP8 in WebM)");
  }
  if (video.codec == "H264") {
    video.h264_profile_level_id = ProfileLevelId(video.units.front().bytes);
    if (video.h264_profile_level_id.empty()) return Error("'" + path + "': the H.264 stream has no SPS before its first key frame");
  }
  return video;
}

}  // namespace speakup::loadgen
