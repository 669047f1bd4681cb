// SpeakUp's media layer: frames in (image files, video files, cameras), frames out (video files,
// image files) and simple drawing. Built on GStreamer; knows nothing about faces: it moves frames
// and bytes, and draws generic points and lines.
//
//   auto source = media::FrameSource::OpenFile("clip.mp4");
//   if (!source) { std::cerr << source.error() << "\n"; return 1; }
//   while (true) {
//     auto frame = (*source)->Next();
//     if (!frame) { std::cerr << frame.error() << "\n"; return 1; }  // decoding failed
//     if (!*frame) break;                                            // end of stream
//     media::DrawPoint(**frame, 100, 80, 3, {255, 0, 0});
//   }
//
// Pixel coordinates (drawing): continuous, in pixels, with (0, 0) the top-left corner of the
// top-left pixel; pixel (i, j) covers [i, i+1) x [j, j+1), so its centre is (i + 0.5, j + 0.5).
// This is MediaPipe's convention once normalised coordinates are multiplied by width and height.
//
// Threads: one FrameSource or VideoWriter is used from one thread at a time; different objects
// may be used from different threads. GStreamer is initialised on first use.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "speakup/status.h"

namespace speakup::media {

// What a received frame cost before it reached its consumer: CPU milliseconds of its thread.
struct FrameCost {
  double decode_ms = 0;   // the video decoder (WebRTC cameras; 0 elsewhere)
  double convert_ms = 0;  // the decoder's output to RGB (and any downscale)
};

// A decoded picture still in its decoder's YUV (4:2:0 planar) buffer, held rather than copied, from
// which any rectangle converts to RGB on demand: a consumer that reads only part of a frame (the face
// crop while tracking) pays only for that part. Immutable; any thread.
class YuvPicture {
 public:
  virtual ~YuvPicture() = default;
  virtual int width() const = 0;
  virtual int height() const = 0;
  // Writes RGB for the pixels [x, x + w) x [y, y + h) (clipped to the picture) into `rgb`, which is
  // addressed in the picture's coordinates (pixel (i, j) at rgb + j * stride + 3 * i) and must hold the
  // whole picture. The values are exactly those a conversion of the whole picture gives; pixels
  // outside the rectangle are left alone.
  virtual Status ConvertRegion(int x, int y, int w, int h, uint8_t* rgb, int stride) const = 0;
};

// An 8-bit RGB frame: rows are tightly packed (stride 3 * width), top row first.
struct Frame {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;     // 3 * width * height bytes: R, G, B, R, G, B, ...
  double timestamp_ms = 0;      // position in the stream (files), or capture time (cameras)
  int64_t index = 0;            // 0, 1, 2, ... in the order Next() returned the frames
  FrameCost cost;
  // WebRTC cameras: the decoded picture, with `rgb` left empty until someone needs all of it (see
  // EnsureRgb); elsewhere null.
  std::shared_ptr<const YuvPicture> yuv;

  Frame() = default;
  Frame(int w, int h) : width(w), height(h), rgb(static_cast<size_t>(w) * h * 3, 0) {}
  uint8_t* pixel(int x, int y) { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* pixel(int x, int y) const {
    return rgb.data() + (static_cast<size_t>(y) * width + x) * 3;
  }
};

struct SourceOptions {
  // Largest frame size delivered; 0 = no limit. Larger frames are downscaled to fit, keeping the
  // aspect ratio. Frames are never upscaled.
  int max_width = 0;
  int max_height = 0;

  // Cameras: the capture format to ask for; 0 = the camera's default. A camera that cannot
  // deliver the request fails at OpenCamera with a message saying so.
  int camera_width = 0;
  int camera_height = 0;
  double camera_fps = 0;

  // Still JPEG images are decoded by libjpeg-turbo directly (ISLOW IDCT, fancy upsampling, EXIF
  // orientation applied): the same pixels as browsers and PIL produce, so results match those
  // made there. GStreamer's jpegdec differs by a few levels (chroma upsampling). false = always
  // GStreamer. Images that must be downscaled (max_width/max_height) always go through GStreamer.
  bool exact_jpeg = true;

  // Files: video decoders skip frames they cannot decode, as players do; past this many in one
  // file, Next() fails ("the file may be truncated or damaged"). -1 = skip them all silently.
  // Cameras always skip.
  int max_decode_errors = 25;

  // How long opening (until the first frame is ready) and each Next() may take before they fail.
  int timeout_ms = 10000;
};

// Frames from an image file, a video file or a camera, as RGB.
//
// Files: images (JPEG, PNG and whatever else GStreamer decodes) give one frame; videos give every
// frame, none dropped, as fast as Next() is called. Rotation tags (EXIF orientation, MP4 rotation
// matrices) are applied. Cameras: only the newest frame is kept; frames not taken in time are
// dropped, never queued.
class FrameSource {
 public:
  // Opens and pre-rolls the file, so a missing file, an unknown format or a missing decoder fails
  // here rather than on the first Next().
  static Expected<std::unique_ptr<FrameSource>> OpenFile(const std::string& path,
                                                         const SourceOptions& options = {});
  // Opens a V4L2 camera (e.g. "/dev/video0") and waits for its first frame.
  static Expected<std::unique_ptr<FrameSource>> OpenCamera(const std::string& device,
                                                           const SourceOptions& options = {});

  ~FrameSource();
  FrameSource(FrameSource&&) noexcept;
  FrameSource& operator=(FrameSource&&) noexcept;
  FrameSource(const FrameSource&) = delete;
  FrameSource& operator=(const FrameSource&) = delete;

  // The next frame; std::nullopt at the end of the stream. Decoding errors (also those in the
  // middle of a file) and timeouts are errors; after one, Next() keeps returning it.
  Expected<std::optional<Frame>> Next();

  bool is_still_image() const;
  bool is_camera() const;
  // Size of the frames Next() returns (after any downscaling), as negotiated at open.
  int width() const;
  int height() const;
  std::optional<double> duration_ms() const;  // files whose container says so
  std::optional<double> frame_rate() const;   // frames per second, when constant and known
  const std::string& name() const;            // the path or device given at open

  class Impl;

 private:
  explicit FrameSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Encodes RGB frames into a video file. The container and codec come from the extension:
//   .mp4, .m4v, .mov, .mkv  H.264 (x264, constant quality), .webm  VP8.
// Frames are timed at a constant `fps` (frame n at n / fps seconds). Odd sizes are scaled to the
// next even size for H.264, whose 4:2:0 chroma needs even sizes.
class VideoWriter {
 public:
  static Expected<std::unique_ptr<VideoWriter>> Open(const std::string& path, int width, int height,
                                                     double fps);
  ~VideoWriter();  // Finish()es if that was not done; errors are then lost: call Finish() yourself
  VideoWriter(VideoWriter&&) noexcept;
  VideoWriter& operator=(VideoWriter&&) noexcept;
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // Queues one frame for encoding; blocks when the encoder is behind. The frame must have the size
  // given to Open().
  Status Write(const Frame& frame);
  // Ends the stream and waits until the file is complete. Idempotent: later calls return the same
  // result.
  Status Finish();
  int64_t frames_written() const;

  class Impl;

 private:
  explicit VideoWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes one frame as an image: .png (lossless) or .jpg/.jpeg (quality 90).
Status WriteImage(const std::string& path, const Frame& frame);

// Fills `frame.rgb` from `frame.yuv` when it is still empty (drawing on or sending the whole frame).
Status EnsureRgb(Frame& frame);

// Drawing: plain C++ on Frame (no GStreamer). Shapes are anti-aliased and clipped to the frame;
// coordinates outside it, and NaN or infinite ones, are safe. See the coordinate convention above.
struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// A line of the given thickness (in pixels) with round ends.
void DrawLine(Frame& frame, float x0, float y0, float x1, float y1, Rgb colour, float thickness = 1);
// A filled disc.
void DrawPoint(Frame& frame, float x, float y, float radius, Rgb colour);
// Many lines: each segment is {x0, y0, x1, y1}.
void DrawLines(Frame& frame, const std::vector<std::array<float, 4>>& segments, Rgb colour,
               float thickness = 1);
// Many discs of one radius: each point is {x, y}.
void DrawPoints(Frame& frame, const std::vector<std::array<float, 2>>& points, float radius, Rgb colour);

}  // namespace speakup::media
