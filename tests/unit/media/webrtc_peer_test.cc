// WebRtcPeer against a second webrtcbin playing the browser, all in this process and on loopback:
// the client offers a live test video (VP8 or H.264) and a data channel (unordered, no
// retransmits) as a browser does; signaling is a pair of function calls. Every frame the client
// sends carries its number as 16 black/white stripes, so each decoded frame can be matched to the
// RTP timestamp the client's payloader gave it.
#define GST_USE_UNSTABLE_API 1

#include <gst/app/gstappsink.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>
#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "speakup/media/gst_handles.h"
#include "speakup/webrtc.h"
#include "speakup/media/webrtc_sdp.h"

namespace speakup::media {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kStripes = 16;

// ---- the main context ----

// Runs `work` on the default main context (this thread runs it). From any thread.
void PostToMain(std::function<void()> work) {
  auto* heap = new std::function<void()>(std::move(work));
  g_main_context_invoke_full(
      nullptr, G_PRIORITY_DEFAULT,
      [](gpointer data) -> gboolean {
        (*static_cast<std::function<void()>*>(data))();
        return G_SOURCE_REMOVE;
      },
      heap, [](gpointer data) { delete static_cast<std::function<void()>*>(data); });
}

// Runs a GMainLoop on the default context until `done()` holds (checked every 10 ms) or
// `timeout` passes. Returns done().
bool RunLoopUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  MainLoopPtr loop(g_main_loop_new(nullptr, FALSE));
  struct Check {
    GMainLoop* loop;
    const std::function<bool()>* done;
    Clock::time_point deadline;
  } check{loop.get(), &done, Clock::now() + timeout};
  if (done()) return true;
  g_timeout_add(
      10,
      [](gpointer data) -> gboolean {
        auto* check = static_cast<Check*>(data);
        if ((*check->done)() || Clock::now() > check->deadline) {
          g_main_loop_quit(check->loop);
          return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
      },
      &check);
  g_main_loop_run(loop.get());  // the check source quits the loop and removes itself
  return done();
}

// Dispatches whatever is pending on the default context.
void Drain() {
  for (int i = 0; i < 1000 && g_main_context_iteration(nullptr, FALSE); ++i) {
  }
}

// ---- frame numbers drawn into the video ----

// Writes `number` as kStripes vertical stripes (bit 0 leftmost) into the bottom third of an I420
// frame: white for 1, black for 0.
void StampNumber(GstVideoFrame* frame, unsigned number) {
  const int width = GST_VIDEO_FRAME_WIDTH(frame), height = GST_VIDEO_FRAME_HEIGHT(frame);
  auto* luma = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, 0));
  const int luma_stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
  for (int y = height * 2 / 3; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int bit = x * kStripes / width;
      luma[y * luma_stride + x] = ((number >> bit) & 1) ? 235 : 16;
    }
  }
  for (int plane = 1; plane <= 2; ++plane) {
    auto* chroma = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, plane));
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, plane);
    for (int y = height / 3; y < (height + 1) / 2; ++y) {
      for (int x = 0; x < (width + 1) / 2; ++x) chroma[y * stride + x] = 128;
    }
  }
}

// Reads the stripes back from an RGB frame; -1 when a stripe is neither clearly black nor white.
int ReadNumber(const Frame& frame) {
  int number = 0;
  const int y = frame.height * 5 / 6;
  for (int bit = 0; bit < kStripes; ++bit) {
    const int x = (2 * bit + 1) * frame.width / (2 * kStripes);
    const uint8_t* pixel = frame.pixel(x, y);
    const int level = (pixel[0] + pixel[1] + pixel[2]) / 3;
    if (level > 170) {
      number |= 1 << bit;
    } else if (level > 85) {
      return -1;
    }
  }
  return number;
}

// ---- sockets of this process ----

// Local addresses of this process's sockets that are not loopback ("udp 0A000002:1900", ...):
// the kernel's socket tables joined with the inodes of our file descriptors.
std::vector<std::string> NonLoopbackSockets() {
  std::set<std::string> inodes;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* entry = readdir(dir)) {
      char target[256] = {};
      const std::string link = std::string("/proc/self/fd/") + entry->d_name;
      ssize_t length = readlink(link.c_str(), target, sizeof(target) - 1);
      if (length <= 0) continue;
      std::string text(target, static_cast<size_t>(length));
      if (text.rfind("socket:[", 0) == 0) inodes.insert(text.substr(8, text.size() - 9));
    }
    closedir(dir);
  }
  std::vector<std::string> found;
  for (const char* table : {"udp", "tcp", "udp6", "tcp6"}) {
    std::ifstream file(std::string("/proc/self/net/") + table);
    std::string line;
    std::getline(file, line);  // header
    while (std::getline(file, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode)) {
        continue;
      }
      if (!inodes.count(inode)) continue;
      const std::string address = local.substr(0, local.find(':'));
      const bool loopback = address == "0100007F" || address == "00000000000000000000000001000000";
      if (!loopback) found.push_back(std::string(table) + " " + local);
    }
  }
  return found;
}

// ---- the client: a webrtcbin that behaves like the browser page ----

struct ClientOptions {
  std::string codec = "VP8";  // or "H264"
  int width = 320, height = 240;
  bool receive_video = false;  // offer a second, receive-only video m-line (annotated video)
  bool send_only = true;       // false: the camera's m-line is sendrecv (a browser's addTrack)
};

class TestClient {
 public:
  explicit TestClient(const ClientOptions& options) : options_(options) {}
  ~TestClient() { Stop(); }

  bool Start() {
    Status initialized = EnsureGstInitialized();
    if (!initialized.ok()) {
      ADD_FAILURE() << initialized.message();
      return false;
    }
    const std::string raw = "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=" +
                            std::to_string(options_.width) + ",height=" + std::to_string(options_.height) +
                            ",framerate=30/1 ! identity name=stamp ! ";
    std::string encode;
    if (options_.codec == "H264") {
      encode = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 name=encoder ! "
               "video/x-h264,profile=constrained-baseline ! rtph264pay name=payloader config-interval=-1 "
               "aggregate-mode=zero-latency ! application/x-rtp,media=video,encoding-name=H264,payload=102,"
               "clock-rate=90000,rtcp-fb-nack-pli=true,rtcp-fb-nack=true ! ";
    } else {
      encode = "vp8enc deadline=1 name=encoder ! rtpvp8pay name=payloader ! "
               "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000,"
               "rtcp-fb-nack-pli=true,rtcp-fb-nack=true ! ";
    }
    const std::string description = raw + encode + "webrtcbin name=client bundle-policy=max-bundle latency=20";
    GError* raw_error = nullptr;
    pipeline_.reset(gst_parse_launch(description.c_str(), &raw_error));
    GErrorPtr error(raw_error);
    if (!pipeline_ || error) {
      ADD_FAILURE() << "client pipeline: " << (error ? error->message : "?");
      return false;
    }
    webrtc_ = gst_bin_get_by_name(GST_BIN(pipeline_.get()), "client");
    {
      // Keep the client on loopback too, and the browser's camera transceiver send-only.
      GObject* ice = nullptr;
      g_object_get(webrtc_, "ice-agent", &ice, nullptr);
      GObjectPtr<GObject> owned_ice(ice);
      gboolean added = FALSE;
      g_signal_emit_by_name(ice, "add-local-ip-address", "127.0.0.1", &added);
      g_object_set(ice, "ice-tcp", FALSE, nullptr);
      GObject* agent = nullptr;
      g_object_get(ice, "agent", &agent, nullptr);
      g_object_set(agent, "upnp", FALSE, nullptr);
      g_object_unref(agent);
      GArray* transceivers = nullptr;
      g_signal_emit_by_name(webrtc_, "get-transceivers", &transceivers);
      for (guint i = 0; options_.send_only && transceivers && i < transceivers->len; ++i) {
        g_object_set(g_array_index(transceivers, GstWebRTCRTPTransceiver*, i), "direction",
                     GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, nullptr);
      }
      if (transceivers) g_array_unref(transceivers);
    }
    if (options_.receive_video) {
      CapsPtr caps(gst_caps_from_string(
          "application/x-rtp,media=video,encoding-name=VP8,payload=97,clock-rate=90000,rtcp-fb-nack-pli=true"));
      GstWebRTCRTPTransceiver* transceiver = nullptr;
      g_signal_emit_by_name(webrtc_, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps.get(),
                            &transceiver);
      if (transceiver) gst_object_unref(transceiver);
    }
    g_signal_connect(webrtc_, "on-ice-candidate", G_CALLBACK(+[](GstElement*, guint mline, gchar* candidate,
                                                                   gpointer data) {
                       auto* self = static_cast<TestClient*>(data);
                       std::string line = candidate;
                       PostToMain([self, mline, line] {
                         if (self->on_candidate) self->on_candidate(mline, line);
                       });
                     }),
                     this);
    g_signal_connect(webrtc_, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, gpointer data) {
                       static_cast<TestClient*>(data)->OnIncomingVideo(pad);
                     }),
                     this);
    // Stamp frame numbers; note each frame's PTS.
    GstElement* stamp = gst_bin_get_by_name(GST_BIN(pipeline_.get()), "stamp");
    PadPtr stamp_src(gst_element_get_static_pad(stamp, "src"));
    gst_object_unref(stamp);
    gst_pad_add_probe(stamp_src.get(), GST_PAD_PROBE_TYPE_BUFFER, &TestClient::OnRawFrame, this, nullptr);
    // The RTP timestamp the payloader gives each frame (its packets keep the frame's PTS).
    GstElement* payloader = gst_bin_get_by_name(GST_BIN(pipeline_.get()), "payloader");
    PadPtr payloader_src(gst_element_get_static_pad(payloader, "src"));
    gst_object_unref(payloader);
    gst_pad_add_probe(payloader_src.get(),
                      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                      &TestClient::OnPacket, this, nullptr);
    // Key-frame requests that reach the encoder.
    GstElement* encoder = gst_bin_get_by_name(GST_BIN(pipeline_.get()), "encoder");
    PadPtr encoder_src(gst_element_get_static_pad(encoder, "src"));
    gst_object_unref(encoder);
    gst_pad_add_probe(encoder_src.get(), GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
                      +[](GstPad*, GstPadProbeInfo* info, gpointer data) {
                        if (gst_video_event_is_force_key_unit(GST_PAD_PROBE_INFO_EVENT(info))) {
                          ++static_cast<TestClient*>(data)->key_unit_requests;
                        }
                        return GST_PAD_PROBE_OK;
                      },
                      this, nullptr);

    if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      ADD_FAILURE() << "client pipeline does not start";
      return false;
    }
    // The page creates its results channel before the offer, unordered and without retransmits.
    GstStructure* channel_options =
        gst_structure_new("options", "ordered", G_TYPE_BOOLEAN, FALSE, "max-retransmits", G_TYPE_INT, 0, nullptr);
    GstWebRTCDataChannel* channel = nullptr;
    g_signal_emit_by_name(webrtc_, "create-data-channel", "results", channel_options, &channel);
    gst_structure_free(channel_options);
    if (!channel) {
      ADD_FAILURE() << "client cannot create its data channel";
      return false;
    }
    channel_.reset(channel);
    g_signal_connect(channel, "on-open", G_CALLBACK(+[](GstWebRTCDataChannel*, gpointer data) {
                       static_cast<TestClient*>(data)->channel_open = true;
                     }),
                     this);
    g_signal_connect(channel, "on-message-data", G_CALLBACK(+[](GstWebRTCDataChannel*, GBytes* bytes, gpointer data) {
                       auto* self = static_cast<TestClient*>(data);
                       gsize size = 0;
                       const auto* begin = static_cast<const uint8_t*>(g_bytes_get_data(bytes, &size));
                       std::lock_guard lock(self->mutex_);
                       self->binary_messages.emplace_back(begin, begin + size);
                     }),
                     this);
    return true;
  }

  // create-offer -> set-local-description -> `ready(offer)` on the main context.
  void Offer(std::function<void(std::string)> ready) {
    offer_ready_ = std::move(ready);
    GstPromise* promise = gst_promise_new_with_change_func(
        [](GstPromise* promise, gpointer data) {
          auto* self = static_cast<TestClient*>(data);
          GstWebRTCSessionDescription* offer = nullptr;
          const GstStructure* reply = gst_promise_get_reply(promise);
          if (reply) gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
          PostToMain([self, offer] {
            if (!offer) {
              ADD_FAILURE() << "client could not create an offer";
              return;
            }
            g_signal_emit_by_name(self->webrtc_, "set-local-description", offer, nullptr);
            gchar* text = gst_sdp_message_as_text(offer->sdp);
            std::string sdp = text;
            g_free(text);
            gst_webrtc_session_description_free(offer);
            self->offer_ready_(sdp);
          });
        },
        this, nullptr);
    g_signal_emit_by_name(webrtc_, "create-offer", nullptr, promise);
    gst_promise_unref(promise);
  }

  void Answer(const std::string& sdp) {
    GstSDPMessage* message = nullptr;
    ASSERT_EQ(gst_sdp_message_new_from_text(sdp.c_str(), &message), GST_SDP_OK);
    GstWebRTCSessionDescription* answer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, message);
    g_signal_emit_by_name(webrtc_, "set-remote-description", answer, nullptr);
    gst_webrtc_session_description_free(answer);
  }

  void AddCandidate(unsigned mline, const std::string& candidate) {
    g_signal_emit_by_name(webrtc_, "add-ice-candidate", mline, candidate.c_str());
  }

  bool SendText(const std::string& text) {
    if (!channel_open) return false;
    g_signal_emit_by_name(channel_.get(), "send-string", text.c_str());
    return true;
  }

  // The client vanishes: its pipeline goes to NULL without any goodbye.
  void Stop() {
    if (!pipeline_) return;
    gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
    if (channel_) g_signal_handlers_disconnect_by_data(channel_.get(), this);
    g_signal_handlers_disconnect_by_data(webrtc_, this);
    Drain();  // closures posted by the client's threads
    channel_.reset();
    gst_object_unref(webrtc_);
    webrtc_ = nullptr;
    pipeline_.reset();
  }

  // Frame number -> RTP timestamp the client sent it with. The encoders here drop no frame and
  // keep their order, so the n-th frame stamped is the n-th RTP timestamp the payloader used.
  // (Matching by PTS would not do: x264enc restamps its output from 1000 hours on.)
  std::map<int, uint32_t> SentRtpTimes() {
    std::lock_guard lock(mutex_);
    std::map<int, uint32_t> result;
    for (size_t n = 0; n < sent_rtp_times_.size() && n < static_cast<size_t>(next_number_.load()); ++n) {
      result[static_cast<int>(n)] = sent_rtp_times_[n];
    }
    return result;
  }
  // When the first packet of the frame with this RTP timestamp left the payloader (steady ms).
  std::optional<double> SendMs(uint32_t rtp_timestamp) {
    std::lock_guard lock(mutex_);
    auto found = send_ms_.find(rtp_timestamp);
    if (found == send_ms_.end()) return std::nullopt;
    return found->second;
  }
  void CloseChannel() { gst_webrtc_data_channel_close(channel_.get()); }
  std::vector<std::vector<uint8_t>> BinaryMessages() {
    std::lock_guard lock(mutex_);
    return binary_messages;
  }
  int received_frames() const { return received_frames_; }
  int received_width() const { return received_width_; }

  std::function<void(unsigned, std::string)> on_candidate;
  std::atomic<bool> channel_open{false};
  std::atomic<int> key_unit_requests{0};

 private:
  static GstPadProbeReturn OnRawFrame(GstPad*, GstPadProbeInfo* info, gpointer data) {
    auto* self = static_cast<TestClient*>(data);
    GstBuffer* buffer = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
    GST_PAD_PROBE_INFO_DATA(info) = buffer;
    GstVideoInfo video;
    gst_video_info_set_format(&video, GST_VIDEO_FORMAT_I420, self->options_.width, self->options_.height);
    GstVideoFrame frame;
    if (gst_video_frame_map(&frame, &video, buffer, GST_MAP_WRITE)) {
      const int number = self->next_number_++;
      StampNumber(&frame, static_cast<unsigned>(number));
      gst_video_frame_unmap(&frame);
    }
    return GST_PAD_PROBE_OK;
  }

  static void NotePacket(TestClient* self, GstBuffer* buffer) {
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) return;
    const uint32_t timestamp = gst_rtp_buffer_get_timestamp(&rtp);
    gst_rtp_buffer_unmap(&rtp);
    std::lock_guard lock(self->mutex_);
    if (self->sent_rtp_times_.empty() || self->sent_rtp_times_.back() != timestamp) {
      self->sent_rtp_times_.push_back(timestamp);
      self->send_ms_[timestamp] = std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
    }
  }

  static GstPadProbeReturn OnPacket(GstPad*, GstPadProbeInfo* info, gpointer data) {
    auto* self = static_cast<TestClient*>(data);
    if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
      NotePacket(self, GST_PAD_PROBE_INFO_BUFFER(info));
    } else {
      GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
      for (guint i = 0; i < gst_buffer_list_length(list); ++i) NotePacket(self, gst_buffer_list_get(list, i));
    }
    return GST_PAD_PROBE_OK;
  }

  // The annotated video from the server: depayload, decode, count.
  void OnIncomingVideo(GstPad* pad) {
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
    GstElement* bin = gst_parse_bin_from_description(
        "rtpvp8depay ! vp8dec ! appsink name=annotated sync=false max-buffers=1 drop=true emit-signals=true", TRUE,
        nullptr);
    if (!bin) return;
    gst_bin_add(GST_BIN(pipeline_.get()), bin);
    GstElement* sink = gst_bin_get_by_name(GST_BIN(bin), "annotated");
    g_signal_connect(sink, "new-sample", G_CALLBACK(+[](GstAppSink* appsink, gpointer data) {
                       auto* self = static_cast<TestClient*>(data);
                       GstSample* sample = gst_app_sink_pull_sample(appsink);
                       if (!sample) return GST_FLOW_OK;
                       GstVideoInfo info;
                       if (gst_video_info_from_caps(&info, gst_sample_get_caps(sample))) {
                         self->received_width_ = GST_VIDEO_INFO_WIDTH(&info);
                       }
                       gst_sample_unref(sample);
                       ++self->received_frames_;
                       return GST_FLOW_OK;
                     }),
                     this);
    gst_object_unref(sink);
    gst_element_sync_state_with_parent(bin);
    PadPtr sink_pad(gst_element_get_static_pad(bin, "sink"));
    gst_pad_link(pad, sink_pad.get());
  }

  ClientOptions options_;
  PipelinePtr pipeline_;
  GstElement* webrtc_ = nullptr;  // our reference
  GObjectPtr<GstWebRTCDataChannel> channel_;
  std::function<void(std::string)> offer_ready_;
  std::atomic<int> next_number_{0};
  std::atomic<int> received_frames_{0};
  std::atomic<int> received_width_{0};
  std::mutex mutex_;
  std::vector<uint32_t> sent_rtp_times_;  // in the order the payloader first used them
  std::map<uint32_t, double> send_ms_;     // RTP timestamp -> when its first packet left the payloader
  std::vector<std::vector<uint8_t>> binary_messages;
};

// ---- what the server side saw ----

struct ReceivedFrame {
  int width = 0, height = 0;
  uint32_t rtp_timestamp = 0;
  int number = -1;  // stamped frame number
  double timestamp_ms = 0;
  int64_t index = 0;
  bool arrived_as_yuv = false;  // held in the decoder's picture (Frame::yuv), not yet converted
};

struct Observed {
  std::mutex mutex;
  std::vector<ReceivedFrame> frames;
  std::vector<std::string> candidates;
  std::vector<std::string> texts;
  std::vector<PeerState> states;
  std::vector<std::string> errors;
  bool data_open = false;
  Clock::time_point terminal_time{};

  size_t frame_count() {
    std::lock_guard lock(mutex);
    return frames.size();
  }
  bool has_state(PeerState state) {
    std::lock_guard lock(mutex);
    return std::find(states.begin(), states.end(), state) != states.end();
  }
};

PeerCallbacks ObservingCallbacks(Observed* seen) {
  PeerCallbacks callbacks;
  callbacks.on_frame = [seen](Frame frame, uint32_t rtp_timestamp) {
    const bool as_yuv = frame.yuv != nullptr && frame.rgb.empty();
    if (!EnsureRgb(frame).ok()) frame.rgb.clear();
    ReceivedFrame received{frame.width, frame.height, rtp_timestamp,
                           frame.rgb.empty() ? -2 : ReadNumber(frame), frame.timestamp_ms, frame.index, as_yuv};
    std::lock_guard lock(seen->mutex);
    seen->frames.push_back(received);
  };
  callbacks.on_data_text = [seen](std::string text) {
    std::lock_guard lock(seen->mutex);
    seen->texts.push_back(std::move(text));
  };
  callbacks.on_data_open = [seen] {
    std::lock_guard lock(seen->mutex);
    seen->data_open = true;
  };
  callbacks.on_state = [seen](PeerState state) {
    std::lock_guard lock(seen->mutex);
    seen->states.push_back(state);
    if (state == PeerState::kFailed || state == PeerState::kClosed) seen->terminal_time = Clock::now();
  };
  callbacks.on_error = [seen](std::string message) {
    std::lock_guard lock(seen->mutex);
    seen->errors.push_back(std::move(message));
  };
  return callbacks;
}

// Peer + client wired together: candidates both ways, offer -> answer.
struct Session {
  Observed seen;
  std::unique_ptr<WebRtcPeer> peer;
  std::unique_ptr<TestClient> client;
  std::string answer_error;
  bool answered = false;
  std::string offer_sdp, answer_sdp;
  std::function<std::string(std::string)> edit_offer;  // what the "browser" sends, if set

  bool Start(WebRtcOptions options, const ClientOptions& client_options) {
    PeerCallbacks callbacks = ObservingCallbacks(&seen);
    callbacks.on_local_candidate = [this](unsigned mline, std::string candidate) {
      {
        std::lock_guard lock(seen.mutex);
        seen.candidates.push_back(candidate);
      }
      if (client) client->AddCandidate(mline, candidate);
    };
    auto created = WebRtcPeer::Create(std::move(options), std::move(callbacks));
    if (!created) {
      ADD_FAILURE() << created.error();
      return false;
    }
    peer = std::move(*created);
    client = std::make_unique<TestClient>(client_options);
    client->on_candidate = [this](unsigned mline, std::string candidate) {
      Status added = peer ? peer->AddRemoteCandidate(mline, candidate) : Status::Ok();
      EXPECT_TRUE(added.ok()) << added.message() << " for " << candidate;
    };
    if (!client->Start()) return false;
    client->Offer([this](std::string offer) {
      if (edit_offer) offer = edit_offer(offer);
      offer_sdp = offer;
      peer->SetRemoteOffer(offer, [this](Expected<std::string> answer) {
        answered = true;
        if (!answer) {
          answer_error = answer.error();
          return;
        }
        answer_sdp = *answer;
        client->Answer(*answer);
      });
    });
    return RunLoopUntil([this] { return answered; }, 5s) && answer_error.empty();
  }

  ~Session() {
    if (client) client->Stop();
    peer.reset();
    Drain();
  }
};

WebRtcOptions LoopbackOptions() {
  WebRtcOptions options;
  options.local_addresses = {"127.0.0.1"};
  return options;
}

// RTP timestamps increase (modulo 2^32).
bool Increasing(uint32_t before, uint32_t after) { return static_cast<int32_t>(after - before) > 0; }

// Frames, RTP timestamps, key frames and the data channel both ways, for one codec.
void ExchangeMediaAndData(const std::string& codec) {
  Session session;
  ASSERT_TRUE(session.Start(LoopbackOptions(), {.codec = codec})) << session.answer_error;
  EXPECT_NE(session.answer_sdp.find("m=video"), std::string::npos);
  EXPECT_NE(session.answer_sdp.find("recvonly"), std::string::npos) << session.answer_sdp;

  const auto start = Clock::now();
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= 90; }, 10s))
      << "frames: " << session.seen.frame_count() << ", state " << ToString(session.peer->state());
  const double first_frames_s = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(session.peer->state(), PeerState::kConnected);
  EXPECT_EQ(session.peer->stats().codec, codec);
  // Nothing of ours listens or sends anywhere but loopback (no UPnP, no TCP candidates).
  std::vector<std::string> outside = NonLoopbackSockets();
  EXPECT_TRUE(outside.empty()) << outside.size() << " sockets off loopback, e.g. " << outside.front();

  // Data: client -> server text; server -> client binary, once the channel is open.
  ASSERT_TRUE(RunLoopUntil([&] { return session.client->channel_open.load(); }, 5s));
  ASSERT_TRUE(session.client->SendText("{\"max_faces\": 2}"));
  const std::vector<uint8_t> result = {1, 0, 2, 0, 0x78, 0x56, 0x34, 0x12, 255, 254};
  ASSERT_TRUE(RunLoopUntil(
      [&] {
        if (session.client->BinaryMessages().empty()) session.peer->SendData(result);
        std::lock_guard lock(session.seen.mutex);
        return !session.seen.texts.empty() && !session.client->BinaryMessages().empty();
      },
      5s));
  EXPECT_EQ(session.seen.texts.front(), "{\"max_faces\": 2}");
  EXPECT_EQ(session.client->BinaryMessages().front(), result);
  EXPECT_TRUE(session.peer->SendText("text too"));

  // A key-frame request reaches the client's encoder (as RTCP PLI, then GstForceKeyUnit).
  const int requests_before = session.client->key_unit_requests.load();
  session.peer->RequestKeyFrame();
  EXPECT_TRUE(RunLoopUntil([&] { return session.client->key_unit_requests.load() > requests_before; }, 3s))
      << "no key-frame request reached the client's encoder";

  // Every frame: the right size, a readable number, and exactly the RTP timestamp it was sent with.
  std::vector<ReceivedFrame> frames;
  {
    std::lock_guard lock(session.seen.mutex);
    frames = session.seen.frames;
  }
  const std::map<int, uint32_t> sent = session.client->SentRtpTimes();
  int matched = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    EXPECT_EQ(frames[i].width, 320);
    EXPECT_EQ(frames[i].height, 240);
    EXPECT_EQ(frames[i].index, static_cast<int64_t>(i));
    if (i > 0) {
      EXPECT_TRUE(Increasing(frames[i - 1].rtp_timestamp, frames[i].rtp_timestamp))
          << frames[i - 1].rtp_timestamp << " then " << frames[i].rtp_timestamp;
      EXPECT_GE(frames[i].timestamp_ms, frames[i - 1].timestamp_ms);
    }
    ASSERT_GE(frames[i].number, 0) << "unreadable frame number";
    EXPECT_TRUE(frames[i].arrived_as_yuv) << "a camera frame is handed on in its decoder's buffer, unconverted";
    auto expected = sent.find(frames[i].number);
    ASSERT_NE(expected, sent.end()) << "frame " << frames[i].number << " was never sent?";
    EXPECT_EQ(frames[i].rtp_timestamp, expected->second) << "frame number " << frames[i].number;
    ++matched;
  }
  EXPECT_EQ(matched, static_cast<int>(frames.size()));
  // Latency: the frame's first packet leaving the client's payloader -> the decoded frame at the
  // server's sink (before RGB conversion). Past the first second (start-up, key frame).
  std::vector<double> latencies;
  for (const ReceivedFrame& frame : frames) {
    auto sent_ms = session.client->SendMs(frame.rtp_timestamp);
    if (sent_ms && frame.index >= 30) latencies.push_back(frame.timestamp_ms - *sent_ms);
  }
  std::sort(latencies.begin(), latencies.end());
  if (!latencies.empty()) {
    std::printf("[ %s ] packet sent -> frame decoded: median %.1f ms, max %.1f ms over %zu frames\n", codec.c_str(),
                latencies[latencies.size() / 2], latencies.back(), latencies.size());
  }
  const PeerStats stats = session.peer->stats();
  EXPECT_EQ(stats.frames_unmatched, 0u);
  EXPECT_GE(stats.key_frame_requests, 2u);  // at start, and ours
  EXPECT_GT(stats.rtp_packets, 0u);
  EXPECT_GE(stats.data_sent, 2u);

  // Loopback only: every candidate the server offered is on 127.0.0.1, UDP.
  {
    std::lock_guard lock(session.seen.mutex);
    EXPECT_FALSE(session.seen.candidates.empty());
    for (const std::string& candidate : session.seen.candidates) {
      CandidateFields fields = ParseCandidate(candidate);
      EXPECT_EQ(fields.address, "127.0.0.1") << candidate;
      EXPECT_EQ(fields.transport == "UDP" || fields.transport == "udp", true) << candidate;
    }
    EXPECT_TRUE(session.seen.errors.empty()) << session.seen.errors.front();
  }
  std::printf("[ %s ] %zu frames (90 in %.2f s after the answer), %llu RTP packets\n", codec.c_str(),
              frames.size(), first_frames_s, static_cast<unsigned long long>(stats.rtp_packets));
}

// ---- tests ----

TEST(WebRtcOffer, InvalidOffersAreRefusedWithClearMessages) {
  struct Case {
    std::string sdp;
    std::string message;
  };
  const std::string session_head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
  const std::string data = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n";
  const std::string av1 = "m=video 9 UDP/TLS/RTP/SAVPF 45\r\na=rtpmap:45 AV1/90000\r\na=sendonly\r\n";
  const std::string vp8 = "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n";
  const Case cases[] = {
      {"", "not valid SDP"},
      {"hello world", "not valid SDP"},
      {"v=0\r\nthis is not sdp\r\n", "not valid SDP"},
      {std::string(70000, 'a'), "not valid SDP"},
      {session_head, "has no video"},
      {session_head + data, "has no video"},
      {session_head + vp8 + "a=recvonly\r\n" + data, "has no video"},
      {session_head + av1 + data, "no codec the server decodes (it offers AV1"},
      {session_head + vp8 + "a=sendonly\r\n", "no data channel"},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.sdp.substr(0, 200));
    auto info = InspectOffer(test.sdp, true);
    ASSERT_FALSE(info.ok());
    EXPECT_NE(info.error().find(test.message), std::string::npos) << info.error();
  }
  auto good = InspectOffer(session_head + vp8 + "a=sendonly\r\n" + data + av1.substr(0, av1.size() - 12) +
                               "a=recvonly\r\n",
                           true);
  ASSERT_TRUE(good.ok()) << good.error();
  EXPECT_EQ(good->camera_mline, 0);
  EXPECT_EQ(good->camera_codecs, std::vector<std::string>{"VP8"});
  EXPECT_TRUE(good->has_data_channel);
  EXPECT_EQ(good->return_mline, 2);
  EXPECT_EQ(good->return_vp8_payload, -1);
  EXPECT_EQ(good->mline_count, 3u);
}

TEST(WebRtcOffer, UndecodableCodecsAreRemovedFromTheCameraLine) {
  const std::string sdp =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 45 46 96 97 102 103 127\r\n"
      "a=sendonly\r\na=rtpmap:45 AV1/90000\r\na=rtcp-fb:45 nack\r\n"
      "a=rtpmap:46 rtx/90000\r\na=fmtp:46 apt=45\r\n"
      "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\n"
      "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
      "a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;"
      "profile-level-id=42e01f\r\n"
      "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=rtpmap:127 red/90000\r\na=rtcp-fb:* transport-cc\r\n"
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
  auto info = InspectOffer(sdp, true);
  ASSERT_TRUE(info.ok()) << info.error();
  EXPECT_EQ(info->camera_codecs, (std::vector<std::string>{"AV1", "VP8", "H264"}));
  KeepDecodableCodecs(info->message.get(), 0);
  GCharPtr text(gst_sdp_message_as_text(info->message.get()));
  const std::string result = text.get();
  EXPECT_NE(result.find("m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 127\r\n"), std::string::npos) << result;
  EXPECT_EQ(result.find("AV1"), std::string::npos) << result;
  EXPECT_EQ(result.find("apt=45"), std::string::npos) << result;
  EXPECT_EQ(result.find(":45 "), std::string::npos) << result;
  EXPECT_NE(result.find("a=rtcp-fb:96 nack pli"), std::string::npos) << result;
  EXPECT_NE(result.find("a=fmtp:103 apt=102"), std::string::npos) << result;
  EXPECT_NE(result.find("a=rtcp-fb:* transport-cc"), std::string::npos) << result;
}

TEST(WebRtcOffer, CandidatesAreChecked) {
  auto plain = NormalizeCandidate("a=candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host\r\n");
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_EQ(*plain, "candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host");
  CandidateFields fields = ParseCandidate(*plain);
  EXPECT_EQ(fields.transport, "UDP");
  EXPECT_EQ(fields.address, "127.0.0.1");
  EXPECT_EQ(fields.type, "host");
  EXPECT_FALSE(NormalizeCandidate("candidate:1 1 UDP").ok());
  EXPECT_FALSE(NormalizeCandidate("hello").ok());
  EXPECT_FALSE(NormalizeCandidate("candidate:1 1 UDP 1 127.0.0.1 1 typ host\nm=video").ok());
  EXPECT_FALSE(NormalizeCandidate("candidate:" + std::string(2000, '1')).ok());
}

TEST(WebRtcPeer, Vp8FramesCarryTheirRtpTimestampsAndDataFlowsBothWays) { ExchangeMediaAndData("VP8"); }

TEST(WebRtcPeer, H264FramesCarryTheirRtpTimestampsAndDataFlowsBothWays) { ExchangeMediaAndData("H264"); }

TEST(WebRtcPeer, AnswerOnlyHasCodecsTheServerDecodes) {
  // A browser that prefers a codec we do not decode (AV1 first), with a sendrecv camera line.
  Session session;
  session.edit_offer = [](std::string offer) {
    const std::string line = "m=video 9 UDP/TLS/RTP/SAVPF 96";
    size_t at = offer.find(line);
    EXPECT_NE(at, std::string::npos) << offer;
    if (at == std::string::npos) return offer;
    offer.replace(at, line.size(), "m=video 9 UDP/TLS/RTP/SAVPF 45 96");
    size_t rtpmap = offer.find("a=rtpmap:96");
    offer.insert(rtpmap, "a=rtpmap:45 AV1/90000\r\na=rtcp-fb:45 nack pli\r\n");
    return offer;
  };
  ASSERT_TRUE(session.Start(LoopbackOptions(), {.send_only = false})) << session.answer_error;
  EXPECT_NE(session.offer_sdp.find("AV1"), std::string::npos);
  EXPECT_EQ(session.answer_sdp.find("AV1"), std::string::npos) << session.answer_sdp;
  EXPECT_NE(session.answer_sdp.find("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"), std::string::npos) << session.answer_sdp;
  std::printf("[ answer ] camera line direction in the answer to a sendrecv offer: %s\n",
              session.answer_sdp.find("a=recvonly") != std::string::npos   ? "recvonly"
              : session.answer_sdp.find("a=sendrecv") != std::string::npos ? "sendrecv"
                                                                             : "?");
  EXPECT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= 5; }, 10s));
}

TEST(WebRtcPeer, LargeFramesAreDownscaled) {
  Session session;
  WebRtcOptions options = LoopbackOptions();
  options.max_width = 320;
  options.max_height = 320;
  ASSERT_TRUE(session.Start(options, {.codec = "VP8", .width = 640, .height = 480})) << session.answer_error;
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= 5; }, 10s));
  std::lock_guard lock(session.seen.mutex);
  for (const ReceivedFrame& frame : session.seen.frames) {
    EXPECT_EQ(frame.width, 320);
    EXPECT_EQ(frame.height, 240);
    EXPECT_GE(frame.number, 0);
  }
}

TEST(WebRtcPeer, InvalidOffersGiveErrorsAndThePeerStaysUsable) {
  Observed seen;
  auto peer = WebRtcPeer::Create(LoopbackOptions(), ObservingCallbacks(&seen));
  ASSERT_TRUE(peer.ok()) << peer.error();
  auto offer = [&](const std::string& sdp) {
    std::optional<Expected<std::string>> result;
    (*peer)->SetRemoteOffer(sdp, [&](Expected<std::string> answer) { result = std::move(answer); });
    EXPECT_FALSE(result.has_value()) << "done must not run inside SetRemoteOffer";
    EXPECT_TRUE(RunLoopUntil([&] { return result.has_value(); }, 5s));
    return result ? *result : Expected<std::string>(Error("no answer"));
  };
  auto garbage = offer("not an offer");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().find("the offer is not valid SDP"), std::string::npos) << garbage.error();

  auto no_video = offer("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n");
  ASSERT_FALSE(no_video.ok());
  EXPECT_NE(no_video.error().find("the offer has no video"), std::string::npos) << no_video.error();

  // Well-formed as far as we check, but without ICE credentials or DTLS fingerprints: webrtcbin's
  // refusal is passed on.
  auto refused = offer("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
                       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
                       "a=rtpmap:96 VP8/90000\r\n"
                       "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("the offer was refused"), std::string::npos) << refused.error();
  std::printf("[ refused ] %s\n", refused.error().c_str());

  EXPECT_FALSE((*peer)->AddRemoteCandidate(0, "nonsense").ok());
  EXPECT_TRUE((*peer)->AddRemoteCandidate(0, "").ok());  // end of candidates
  EXPECT_FALSE((*peer)->SendData(std::vector<uint8_t>{1, 2, 3}));
  EXPECT_FALSE((*peer)->SendAnnotatedFrame(Frame(16, 16)).ok());
  EXPECT_EQ((*peer)->state(), PeerState::kNew);

  // After all that, a real client still connects to the same peer.
  auto client = std::make_unique<TestClient>(ClientOptions{});
  client->on_candidate = [&](unsigned mline, std::string candidate) { (*peer)->AddRemoteCandidate(mline, candidate); };
  ASSERT_TRUE(client->Start());
  bool answered = false;
  client->Offer([&](std::string sdp) {
    (*peer)->SetRemoteOffer(sdp, [&](Expected<std::string> answer) {
      answered = true;
      ASSERT_TRUE(answer.ok()) << answer.error();
      client->Answer(*answer);
    });
  });
  ASSERT_TRUE(RunLoopUntil([&] { return answered; }, 5s));
  EXPECT_TRUE(RunLoopUntil([&] { return seen.frame_count() > 0; }, 10s));
  // A later offer that is not SDP is refused (the running connection stays).
  auto second = offer("v=0\r\n");
  EXPECT_FALSE(second.ok());
  client->Stop();
  peer->reset();
  Drain();
}

TEST(WebRtcPeer, VanishedClientEndsTheSession) {
  Session session;
  ASSERT_TRUE(session.Start(LoopbackOptions(), {})) << session.answer_error;
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= 10 && session.client->channel_open; }, 10s));
  const auto vanished = Clock::now();
  session.client->Stop();
  const bool ended = RunLoopUntil(
      [&] { return session.seen.has_state(PeerState::kFailed) || session.seen.has_state(PeerState::kClosed); }, 15s);
  ASSERT_TRUE(ended) << "state still " << ToString(session.peer->state());
  std::lock_guard lock(session.seen.mutex);
  const double seconds = std::chrono::duration<double>(session.seen.terminal_time - vanished).count();
  std::printf("[ vanish ] the peer went %s %.2f s after the client vanished%s%s\n",
              ToString(session.seen.states.back()), seconds, session.seen.errors.empty() ? "" : ": ",
              session.seen.errors.empty() ? "" : session.seen.errors.back().c_str());
  EXPECT_LT(seconds, 8.0);
}

// The client's ICE restart is a later offer on the running connection: answered by the same
// webrtcbin, the video going on; one with other media sections is refused and changes nothing.
TEST(WebRtcPeer, ALaterOfferRenegotiatesTheRunningConnection) {
  Session session;
  ASSERT_TRUE(session.Start(LoopbackOptions(), {})) << session.answer_error;
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= 5; }, 10s));
  auto offer = [&](const std::string& sdp) {
    std::optional<Expected<std::string>> result;
    session.peer->SetRemoteOffer(sdp, [&](Expected<std::string> answer) { result = std::move(answer); });
    EXPECT_TRUE(RunLoopUntil([&] { return result.has_value(); }, 5s));
    return result ? *result : Expected<std::string>(Error("no answer"));
  };
  auto again = offer(session.offer_sdp);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_NE(again->find("a=ice-ufrag:"), std::string::npos);
  // One more (receive-only) video section: other media sections than the first offer.
  const std::string& first = session.offer_sdp;
  const size_t video = first.find("m=video"), channel = first.find("m=application");
  ASSERT_TRUE(video != std::string::npos && channel != std::string::npos && video < channel);
  std::string extra = first.substr(video, channel - video);
  for (const char* direction : {"a=sendonly", "a=sendrecv"}) {
    if (size_t at = extra.find(direction); at != std::string::npos) extra.replace(at, 10, "a=recvonly");
  }
  if (size_t at = extra.find("a=mid:"); at != std::string::npos) {
    extra.replace(at, extra.find_first_of("\r\n", at) - at, "a=mid:extra");
  }
  auto other = offer(first.substr(0, channel) + extra + first.substr(channel));
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().find("same media sections"), std::string::npos) << other.error();
  const size_t frames = session.seen.frame_count();
  EXPECT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= frames + 10; }, 10s))
      << "the video stopped after the renegotiation";
  EXPECT_EQ(session.peer->state(), PeerState::kConnected);
}

// With a restart grace, a connected client that vanishes leaves the peer kInterrupted (the client
// may restart ICE) for the grace, and only then kFailed.
TEST(WebRtcPeer, AVanishedClientGetsTheRestartGraceFirst) {
  Session session;
  WebRtcOptions options = LoopbackOptions();
  options.media_timeout_ms = 1000;
  options.restart_grace_ms = 2000;
  ASSERT_TRUE(session.Start(options, {})) << session.answer_error;
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= 5; }, 10s));
  session.client->Stop();
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.has_state(PeerState::kInterrupted); }, 10s));
  const auto interrupted = Clock::now();
  EXPECT_FALSE(session.seen.has_state(PeerState::kFailed));
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.has_state(PeerState::kFailed); }, 10s));
  const double grace = std::chrono::duration<double>(Clock::now() - interrupted).count();
  std::printf("[ grace ] kInterrupted -> kFailed after %.2f s\n", grace);
  EXPECT_GE(grace, 1.7);  // the 2 s grace, less the timer's 0.2 s tick
  std::lock_guard lock(session.seen.mutex);
  EXPECT_NE(session.seen.errors.back().find("did not restore the connection within 2000 ms"), std::string::npos)
      << session.seen.errors.back();
}

TEST(WebRtcPeer, ClientClosingItsChannelClosesThePeer) {
  Session session;
  ASSERT_TRUE(session.Start(LoopbackOptions(), {})) << session.answer_error;
  ASSERT_TRUE(RunLoopUntil([&] { return session.client->channel_open && session.seen.data_open; }, 10s));
  const auto closing = Clock::now();
  session.client->CloseChannel();
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.has_state(PeerState::kClosed); }, 5s));
  std::printf("[ channel ] closed %.1f ms after the client closed its channel\n",
              std::chrono::duration<double, std::milli>(session.seen.terminal_time - closing).count());
  EXPECT_FALSE(session.peer->SendData(std::vector<uint8_t>{1}));
}

TEST(WebRtcPeer, SendsAreDroppedNotQueuedWhenTheChannelIsCongested) {
  Session session;
  WebRtcOptions options = LoopbackOptions();
  options.max_buffered_bytes = 32 * 1024;
  ASSERT_TRUE(session.Start(options, {})) << session.answer_error;
  ASSERT_TRUE(RunLoopUntil([&] { return session.client->channel_open && session.seen.data_open; }, 10s));
  const std::vector<uint8_t> message(16 * 1024, 7);
  int accepted = 0, dropped = 0;
  for (int i = 0; i < 200; ++i) (session.peer->SendData(message) ? accepted : dropped)++;
  std::printf("[ congestion ] a burst of 200 x 16 KiB: %d sent, %d dropped\n", accepted, dropped);
  EXPECT_GT(dropped, 0);
  EXPECT_GE(accepted, 2);
  EXPECT_EQ(session.peer->stats().data_dropped, static_cast<uint64_t>(dropped));
  // Once the buffer has drained, sending works again.
  EXPECT_TRUE(RunLoopUntil([&] { return session.peer->SendData(message); }, 5s));
}

int CountOpenFiles() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir)) ++count;
    closedir(dir);
  }
  return count;
}

TEST(WebRtcPeer, CloseStopsCallbacksAndReleasesSockets) {
  {
    // Warm up: GStreamer's and GLib's process-wide threads and files.
    Session warm;
    ASSERT_TRUE(warm.Start(LoopbackOptions(), {})) << warm.answer_error;
    RunLoopUntil([&] { return warm.seen.frame_count() >= 3; }, 10s);
  }
  Drain();
  const int files_before = CountOpenFiles();
  {
    Session session;
    ASSERT_TRUE(session.Start(LoopbackOptions(), {})) << session.answer_error;
    ASSERT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= 5; }, 10s));
    EXPECT_GT(CountOpenFiles(), files_before);
    const auto closing = Clock::now();
    session.peer->Close();
    const double close_ms = std::chrono::duration<double, std::milli>(Clock::now() - closing).count();
    std::printf("[ close ] Close() took %.1f ms\n", close_ms);
    const size_t frames = session.seen.frame_count();
    const size_t states = [&] {
      std::lock_guard lock(session.seen.mutex);
      return session.seen.states.size();
    }();
    session.peer->Close();  // idempotent
    EXPECT_FALSE(session.peer->SendData(std::vector<uint8_t>{1}));
    EXPECT_FALSE(session.peer->AddRemoteCandidate(0, "candidate:1 1 UDP 1 127.0.0.1 9 typ host").ok());
    RunLoopUntil([] { return false; }, 300ms);
    EXPECT_EQ(session.seen.frame_count(), frames) << "on_frame after Close()";
    std::lock_guard lock(session.seen.mutex);
    EXPECT_EQ(session.seen.states.size(), states) << "on_state after Close()";
  }
  Drain();
  EXPECT_EQ(CountOpenFiles(), files_before);
}

TEST(WebRtcPeer, ACallbackMayDestroyItsPeer) {
  // A real offer (the client is only needed for it: it never hears the answer, so ICE never
  // completes and the connect timeout fails the peer, whose on_state then deletes it).
  TestClient client(ClientOptions{});
  ASSERT_TRUE(client.Start());
  std::string offer_sdp;
  client.Offer([&](std::string sdp) { offer_sdp = std::move(sdp); });
  ASSERT_TRUE(RunLoopUntil([&] { return !offer_sdp.empty(); }, 5s));

  std::unique_ptr<WebRtcPeer> peer;
  bool deleted = false;
  std::vector<std::string> errors;
  PeerCallbacks callbacks;
  callbacks.on_error = [&](std::string message) { errors.push_back(std::move(message)); };
  callbacks.on_state = [&](PeerState state) {
    if (state == PeerState::kFailed || state == PeerState::kClosed) {
      peer.reset();
      deleted = true;
    }
  };
  WebRtcOptions options = LoopbackOptions();
  options.connect_timeout_ms = 1500;
  auto created = WebRtcPeer::Create(options, std::move(callbacks));
  ASSERT_TRUE(created.ok()) << created.error();
  peer = std::move(*created);
  bool answered = false;
  peer->SetRemoteOffer(offer_sdp, [&](Expected<std::string> answer) {
    answered = true;
    EXPECT_TRUE(answer.ok()) << answer.error();
  });
  ASSERT_TRUE(RunLoopUntil([&] { return deleted; }, 10s));
  EXPECT_TRUE(answered);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.back().find("did not come up within 1500 ms"), std::string::npos) << errors.back();
  client.Stop();
  Drain();
}

TEST(WebRtcPeer, AnnotatedVideoReachesTheClient) {
  Session session;
  WebRtcOptions options = LoopbackOptions();
  options.annotated_video = true;
  ASSERT_TRUE(session.Start(options, {.codec = "VP8", .receive_video = true})) << session.answer_error;
  EXPECT_NE(session.answer_sdp.find("sendonly"), std::string::npos) << session.answer_sdp;
  {
    std::lock_guard lock(session.seen.mutex);
    ASSERT_TRUE(session.seen.errors.empty()) << session.seen.errors.front();
  }
  ASSERT_TRUE(RunLoopUntil([&] { return session.seen.frame_count() >= 3; }, 10s));
  Frame drawn(320, 240);
  int sent = 0;
  ASSERT_TRUE(RunLoopUntil(
      [&] {
        for (size_t i = 0; i < drawn.rgb.size(); ++i) drawn.rgb[i] = static_cast<uint8_t>(i + sent);
        Status status = session.peer->SendAnnotatedFrame(drawn);
        EXPECT_TRUE(status.ok()) << status.message();
        ++sent;
        std::this_thread::sleep_for(5ms);
        return session.client->received_frames() >= 10;
      },
      10s))
      << "the client decoded " << session.client->received_frames() << " of " << sent << " frames";
  EXPECT_EQ(session.client->received_width(), 320);
  // A new size restarts the encoder; the client sees the new size.
  Frame smaller(160, 120);
  EXPECT_TRUE(RunLoopUntil(
      [&] {
        EXPECT_TRUE(session.peer->SendAnnotatedFrame(smaller).ok());
        std::this_thread::sleep_for(5ms);
        return session.client->received_width() == 160;
      },
      5s));
  EXPECT_GT(session.peer->stats().annotated_frames, 10u);
  std::lock_guard lock(session.seen.mutex);
  EXPECT_TRUE(session.seen.errors.empty()) << session.seen.errors.front();
}

}  // namespace
}  // namespace speakup::media
