// Helpers shared by the GStreamer paths: bus messages, frames <-> buffers, waiting for EOS.
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gst_handles.h"
#include "speakup/media.h"
#include "speakup/status.h"
#include "speakup/webrtc.h"

namespace speakup::media {

// An ERROR (or WARNING) message from a bus, unpacked.
struct BusError {
  GQuark domain = 0;
  int code = 0;
  std::string message;  // GStreamer's (translated) text, e.g. "Could not determine type of stream."
  std::string debug;    // developer details, may be empty
  std::string source;   // name of the element that posted it, e.g. "qtdemux0"

  bool Is(GQuark error_domain, int error_code) const {
    return domain == error_domain && code == error_code;
  }
};
BusError ParseBusError(GstMessage* message);

// Waits up to `timeout` for an ERROR message; GST_CLOCK_TIME_NONE waits forever, 0 only looks.
std::optional<BusError> PopBusError(GstBus* bus, GstClockTime timeout);

// Converts a sample (any of convert.h's kSinkFormats, any row stride) into a tightly packed RGB
// Frame. The timestamp is the buffer's stream time (its position in the file); without one,
// index / fps.
// keep_yuv: a 4:2:0 picture is held in `Frame::yuv` (no copy, `rgb` left empty) instead of converted.
Expected<Frame> FrameFromSample(GstSample* sample, int64_t index, double fps, bool keep_yuv = false);

// A new buffer holding `frame` laid out as `info` (an RGB format of the frame's size) describes,
// rows padded to GStreamer's stride.
Expected<BufferPtr> BufferFromFrame(const Frame& frame, const GstVideoInfo& info);

// Caps for `width` x `height` RGB at `fps` (0 = a still image, framerate 0/1).
CapsPtr RgbCaps(int width, int height, double fps);

// What a frame appsink accepts: the formats convert.h turns into RGB, square pixels, at most
// max_width x max_height (0: no limit; a scaler before the sink downscales to fit).
CapsPtr SinkCaps(int max_width, int max_height);

// Sets the pipeline to PLAYING, or fails with the first error on its bus.
Status StartPipeline(GstElement* pipeline, const std::string& what);

// Waits for EOS (or an ERROR) on the pipeline's bus: what writers need before a file is complete.
Status WaitForEos(GstElement* pipeline, GstClockTime timeout, const std::string& what);

// Milliseconds as a GstClockTime; values <= 0 mean "no timeout".
GstClockTime TimeoutFromMs(int ms);

// Sets up a webrtcbin's ICE agent the way SpeakUp uses it: UDP only, no UPnP port mapping, and
// host candidates only on `local_addresses` (all interfaces when empty).
Status RestrictIce(GstElement* webrtcbin, const std::vector<std::string>& local_addresses);

// Gives a webrtcbin (before its first offer or answer) its STUN and TURN servers, the relay-only
// policy, and the UDP port range of its ICE sockets (0, 0: any). Fails on a range webrtcbin refuses.
Status ConfigureIce(GstElement* webrtcbin, const IceServers& servers, int min_port, int max_port);

std::string Lowercase(std::string text);
// The extension of `path` in lower case, with its dot (".mp4"), or "".
std::string ExtensionOf(const std::string& path);

}  // namespace speakup::media
