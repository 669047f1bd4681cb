#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22

#include "client.h"

#include <gst/app/gstappsrc.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "speakup/media/gst_util.h"
#include "speakup/media/webrtc_sdp.h"
#include "latency.h"
#include "speakup/result_message.h"
#include "speakup/signaling.h"

namespace speakup::loadgen {
namespace {

using nlohmann::json;

constexpr int kPayloadType = 96;
constexpr guint kMtu = 1200;
// Frames remembered per client for the report (an hour at 55 fps); later ones are not counted.
constexpr size_t kMaxFramesKept = 200000;

struct PostedTask {
  std::weak_ptr<LoadClient> client;
  std::function<void(LoadClient&)> task;
};

// A string field of a server message, or "" when it is missing or not a string (never throws).
std::string StringField(const nlohmann::json& message, const char* key) {
  auto field = message.find(key);
  return field != message.end() && field->is_string() ? field->get<std::string>() : std::string();
}

const char* PayloaderFor(const std::string& codec) {
  if (codec == "H264") return "rtph264pay";
  if (codec == "VP8") return "rtpvp8pay";
  return "rtpvp9pay";
}

std::string EncodedCaps(const EncodedVideo& video) {
  if (video.codec == "H264") return "video/x-h264,stream-format=byte-stream,alignment=au";
  return video.codec == "VP8" ? "video/x-vp8" : "video/x-vp9";
}

std::string RtpCaps(const EncodedVideo& video) {
  std::string caps = "application/x-rtp,media=video,clock-rate=90000,payload=" + std::to_string(kPayloadType) +
                     ",encoding-name=" + video.codec + ",rtcp-fb-nack-pli=(boolean)true";
  if (video.codec == "H264") {
    caps += ",packetization-mode=(string)1,profile-level-id=(string)" + video.h264_profile_level_id;
  }
  return caps;
}

void CorruptPacket(GstBuffer* buffer, const std::string& codec);

}  // namespace

LoadClient::LoadClient(int id, const EncodedVideo& video, Fault fault, GMainContext* context, std::string model,
                       ClientIce ice, NetworkPath path)
    : id_(id),
      video_(video),
      fault_(fault),
      context_(context),
      model_(std::move(model)),
      ice_(std::move(ice)),
      path_(path) {}

Expected<media::IceServers> PeerIceServers(const std::vector<protocol::IceServer>& servers, bool relay) {
  media::IceServers peer;
  peer.relay_only = relay;
  for (const protocol::IceServer& server : servers) {
    for (const std::string& text : server.urls) {
      auto url = protocol::ParseIceUrl(text);
      if (!url) return Error(url.error());
      auto address = media::ResolveHost(url->host);
      if (!address) return Error(address.error());
      if (!url->is_turn()) {
        if (peer.stun.empty()) peer.stun = media::StunServerUri(*address, url->port);  // webrtcbin takes one
        continue;
      }
      const char* transport = url->transport == protocol::IceUrl::Transport::kUdp   ? "udp"
                              : url->transport == protocol::IceUrl::Transport::kTcp ? "tcp"
                                                                                    : "";
      peer.turn.push_back(media::TurnServerUri(url->scheme == protocol::IceUrl::Scheme::kTurns, *address, url->port,
                                               transport, server.username, server.credential));
    }
  }
  if (relay && peer.turn.empty()) {
    return Error("--relay needs a TURN server, and neither --ice-server nor the server's welcome named one");
  }
  return peer;
}

LoadClient::~LoadClient() { Stop(); }

// Always through an idle source, never inline (g_main_context_invoke would run the task at once
// when called while the context is being dispatched on this thread).
void LoadClient::Post(std::function<void(LoadClient&)> task) {
  GSource* source = g_idle_source_new();
  g_source_set_priority(source, G_PRIORITY_DEFAULT);
  g_source_set_callback(
      source,
      +[](gpointer data) -> gboolean {
        auto* posted = static_cast<PostedTask*>(data);
        if (auto client = posted->client.lock()) posted->task(*client);
        return G_SOURCE_REMOVE;
      },
      new PostedTask{weak_from_this(), std::move(task)}, +[](gpointer data) { delete static_cast<PostedTask*>(data); });
  g_source_attach(source, context_);
  g_source_unref(source);
}

void LoadClient::AddError(std::string message) {
  std::lock_guard lock(stats_mutex_);
  if (errors_.size() < 20) errors_.push_back(std::move(message));
}

void LoadClient::Start(SoupSession* session, const std::string& ws_url) {
  cancel_.reset(g_cancellable_new());
  media::GObjectPtr<SoupMessage> message(soup_message_new("GET", ws_url.c_str()));
  if (!message) {
    AddError("not a valid WebSocket URL: " + ws_url);
    finished_ = true;
    return;
  }
  soup_session_websocket_connect_async(
      session, message.get(), nullptr, nullptr, G_PRIORITY_DEFAULT, cancel_.get(),
      +[](GObject* source, GAsyncResult* result, gpointer data) {
        std::unique_ptr<std::weak_ptr<LoadClient>> weak(static_cast<std::weak_ptr<LoadClient>*>(data));
        GError* error = nullptr;
        SoupWebsocketConnection* socket = soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &error);
        media::GErrorPtr owned_error(error);
        auto client = weak->lock();
        if (!client) {
          if (socket) g_object_unref(socket);
          return;
        }
        if (!socket) {
          if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            client->AddError(std::string("cannot open the signaling WebSocket: ") + (error ? error->message : "?"));
          }
          client->finished_ = true;
          return;
        }
        client->OnSocketConnected(socket);
      },
      new std::weak_ptr<LoadClient>(weak_from_this()));
}

void LoadClient::OnSocketConnected(SoupWebsocketConnection* socket) {
  socket_.reset(socket);  // the connect call gave us its reference
  if (stopped_) return;
  soup_websocket_connection_set_max_incoming_payload_size(socket, 256 * 1024);
  message_handler_ = g_signal_connect(
      socket, "message", G_CALLBACK(+[](SoupWebsocketConnection*, gint type, GBytes* message, gpointer data) {
        auto* client = static_cast<LoadClient*>(data);
        if (type != SOUP_WEBSOCKET_DATA_TEXT) return client->AddError("the server sent binary signaling");
        gsize size = 0;
        const char* text = static_cast<const char*>(g_bytes_get_data(message, &size));
        client->OnSignalingText(std::string(text ? text : "", size));
      }),
      this);
  closed_handler_ = g_signal_connect(socket, "closed", G_CALLBACK(+[](SoupWebsocketConnection*, gpointer data) {
                                       static_cast<LoadClient*>(data)->OnSocketClosed();
                                     }),
                                     this);
}

void LoadClient::OnSocketClosed() {
  if (!stopped_ && bye_.empty()) {
    const gushort code = socket_ ? soup_websocket_connection_get_close_code(socket_.get()) : 0;
    const char* data = socket_ ? soup_websocket_connection_get_close_data(socket_.get()) : nullptr;
    AddError("the server closed the signaling connection (code " + std::to_string(code) +
             (data && *data ? std::string(", ") + data : std::string()) + ")");
    std::lock_guard lock(stats_mutex_);
    vanished_ = streamed_;
  }
  finished_ = true;
  streaming_ = false;
}

void LoadClient::Send(const std::string& text) {
  if (socket_ && soup_websocket_connection_get_state(socket_.get()) == SOUP_WEBSOCKET_STATE_OPEN) {
    soup_websocket_connection_send_text(socket_.get(), text.c_str());
  }
}

void LoadClient::OnSignalingText(const std::string& text) {
  if (stopped_ || frozen_) return;  // a frozen client has gone silent: it reads nothing either
  json message = json::parse(text, nullptr, false);
  if (!message.is_object() || !message.contains("type") || !message["type"].is_string()) {
    return AddError("the server sent a malformed signaling message: " + text.substr(0, 200));
  }
  const std::string type = message["type"];
  if (type == "welcome") {
    // The server's STUN/TURN servers (with this session's credentials), then our own.
    auto welcome = protocol::ParseWelcome(text);
    Expected<media::IceServers> ice = welcome ? Expected<media::IceServers>(media::IceServers{}) : welcome.status();
    if (welcome) {
      std::vector<protocol::IceServer> servers = welcome->ice_servers;
      servers.insert(servers.end(), ice_.own.begin(), ice_.own.end());
      ice = PeerIceServers(servers, ice_.relay);
    }
    if (!ice) {
      AddError(ice.error());
      finished_ = true;
      return Stop();
    }
    if (model_ != "mesh") Send(json{{"type", "options"}, {"options", {{"model", model_}}}}.dump());
    Status built = BuildPipeline(*ice);
    if (!built.ok()) {
      AddError(built.message());
      finished_ = true;
      Stop();
    }
  } else if (type == "answer" && message.value("sdp", json()).is_string()) {
    ApplyAnswer(message["sdp"]);
  } else if (type == "candidate") {
    if (fault_ == Fault::kNoIce || !webrtc_) return;
    const std::string candidate = StringField(message, "candidate");
    const json& mline = message.value("sdpMLineIndex", json());
    if (!candidate.empty() && mline.is_number_unsigned()) {
      g_signal_emit_by_name(webrtc_, "add-ice-candidate", mline.get<unsigned>(), candidate.c_str());
    }
  } else if (type == "error") {
    AddError(StringField(message, "code") + ": " + StringField(message, "message"));
  } else if (type == "bye") {
    {
      std::lock_guard lock(stats_mutex_);
      bye_ = StringField(message, "reason");
      if (bye_.empty()) bye_ = "(no reason)";
      const auto reconnect = message.find("reconnect");
      bye_reconnect_ = reconnect != message.end() && reconnect->is_boolean() && reconnect->get<bool>();
    }
    finished_ = true;
    streaming_ = false;
  }
}

Status LoadClient::BuildPipeline(const media::IceServers& ice) {
  pipeline_.reset(gst_pipeline_new(("loadgen-client-" + std::to_string(id_)).c_str()));
  auto webrtc = media::MakeElement("webrtcbin");
  auto source = media::MakeElement("appsrc");
  auto payloader = media::MakeElement(PayloaderFor(video_.codec));
  if (!webrtc) return webrtc.status();
  if (!source) return source.status();
  if (!payloader) return payloader.status();
  webrtc_ = webrtc->get();
  gst_util_set_object_arg(G_OBJECT(webrtc_), "bundle-policy", "max-bundle");
  if (path_.impaired()) {
    // The lossy path goes where webrtcbin asks for an element between its RTP session and the
    // transport (once per transport: one, bundled).
    g_signal_connect(webrtc_, "request-aux-sender", G_CALLBACK(+[](GstElement*, GObject*, gpointer data) -> GstElement* {
                       auto* client = static_cast<LoadClient*>(data);
                       try {
                         auto bin = MakeNetworkPathBin(client->path_, ClientSeed(client->path_.seed, client->id_),
                                                       kPayloadType, client->path_counters_);
                         if (bin) return *bin;
                         client->AddError(bin.error());
                       } catch (...) {  // nothing may unwind into webrtcbin
                       }
                       return nullptr;
                     }),
                     this);
  }

  // ICE on loopback only: the generator talks to a server on this machine.
  SPEAKUP_RETURN_IF_ERROR(media::RestrictIce(webrtc_, {"127.0.0.1"}));
  SPEAKUP_RETURN_IF_ERROR(media::ConfigureIce(webrtc_, ice, 0, 0));

  media::CapsPtr encoded(gst_caps_from_string(EncodedCaps(video_).c_str()));
  g_object_set(source->get(), "is-live", TRUE, "do-timestamp", TRUE, "format", GST_FORMAT_TIME, "caps", encoded.get(),
               "max-bytes", static_cast<guint64>(4 * 1024 * 1024), nullptr);
  g_object_set(payloader->get(), "pt", static_cast<guint>(kPayloadType), "mtu", kMtu, nullptr);
  if (video_.codec == "H264") {
    // SPS/PPS before every key frame, each NAL unit sent as soon as it is payloaded.
    g_object_set(payloader->get(), "config-interval", -1, nullptr);
    gst_util_set_object_arg(G_OBJECT(payloader->get()), "aggregate-mode", "zero-latency");
  }
  gst_bin_add_many(GST_BIN(pipeline_.get()), source->get(), payloader->get(), webrtc_, nullptr);
  if (!gst_element_link(source->get(), payloader->get())) return Status::Error("cannot link appsrc to the payloader");

  media::CapsPtr rtp_caps(gst_caps_from_string(RtpCaps(video_).c_str()));
  GstPadTemplate* templ = gst_element_get_pad_template(webrtc_, "sink_%u");
  media::PadPtr sink(gst_element_request_pad(webrtc_, templ, "sink_0", rtp_caps.get()));
  media::PadPtr payloaded(gst_element_get_static_pad(payloader->get(), "src"));
  if (!sink || gst_pad_link(payloaded.get(), sink.get()) != GST_PAD_LINK_OK) {
    return Status::Error("cannot link the payloader to webrtcbin");
  }
  GstWebRTCRTPTransceiver* transceiver = nullptr;
  g_object_get(sink.get(), "transceiver", &transceiver, nullptr);
  if (transceiver) {
    // do-nack: the offer carries nack and an RTX payload type, and webrtcbin keeps what it sent to
    // answer the server's NACKs with retransmissions, as a browser does.
    g_object_set(transceiver, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, "do-nack", TRUE, nullptr);
    g_object_unref(transceiver);
  }
  // The server's key-frame requests (RTCP PLI/FIR) arrive from webrtcbin's RTP session as
  // force-key-unit events going upstream: the pacer sends the file's next key frame.
  gst_pad_add_probe(payloaded.get(), GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
                    +[](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
                      GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
                      if (event && gst_event_has_name(event, "GstForceKeyUnit")) {
                        static_cast<LoadClient*>(data)->key_frame_requested_ = true;
                      }
                      return GST_PAD_PROBE_OK;
                    },
                    this, nullptr);
  // Each frame's RTP timestamp and the moment its first packet left: the key for latency.
  gst_pad_add_probe(
      payloaded.get(), static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
      +[](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
        auto* client = static_cast<LoadClient*>(data);
        if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
          GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
          if (client->OnRtpPacket(buffer)) {
            buffer = gst_buffer_make_writable(buffer);
            GST_PAD_PROBE_INFO_DATA(info) = buffer;
            CorruptPacket(buffer, client->video_.codec);
          }
        } else if (GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info)) {
          for (guint i = 0; i < gst_buffer_list_length(list); ++i) {
            if (!client->OnRtpPacket(gst_buffer_list_get(list, i))) continue;
            list = gst_buffer_list_make_writable(list);
            GST_PAD_PROBE_INFO_DATA(info) = list;
            CorruptPacket(gst_buffer_list_get_writable(list, i), client->video_.codec);
          }
        }
        return GST_PAD_PROBE_OK;
      },
      this, nullptr);

  g_signal_connect(webrtc_, "on-negotiation-needed", G_CALLBACK(+[](GstElement*, gpointer data) {
                     static_cast<LoadClient*>(data)->Post([](LoadClient& client) { client.CreateOffer(); });
                   }),
                   this);
  g_signal_connect(webrtc_, "on-ice-candidate", G_CALLBACK(+[](GstElement*, guint mline, gchar* candidate, gpointer data) {
                     auto* client = static_cast<LoadClient*>(data);
                     if (client->fault_ == Fault::kNoIce) return;
                     std::string text = candidate ? candidate : "";
                     if (text.find(" typ relay") != std::string::npos) client->relay_candidates_++;
                     client->Post([mline, text](LoadClient& c) {
                       c.Send(json{{"type", "candidate"}, {"candidate", text}, {"sdpMLineIndex", mline}}.dump());
                     });
                   }),
                   this);
  // Relay only and gathering over without a relay candidate: the TURN server refused the credentials
  // or cannot be reached, and the connection can never come up. Said now, not after a timeout.
  g_signal_connect(webrtc_, "notify::ice-gathering-state", G_CALLBACK(+[](GstElement*, GParamSpec*, gpointer data) {
                     static_cast<LoadClient*>(data)->Post([](LoadClient& c) {
                       if (c.stopped_ || !c.webrtc_ || !c.ice_.relay) return;
                       GstWebRTCICEGatheringState state = GST_WEBRTC_ICE_GATHERING_STATE_NEW;
                       g_object_get(c.webrtc_, "ice-gathering-state", &state, nullptr);
                       if (state != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE || c.relay_candidates_ > 0) return;
                       c.AddError("--relay: no relay candidate was gathered: the TURN server refused the TURN "
                                  "credentials (wrong or expired) or cannot be reached");
                       c.finished_ = true;
                       c.Stop();
                     });
                   }),
                   this);
  g_signal_connect(webrtc_, "notify::connection-state", G_CALLBACK(+[](GstElement* element, GParamSpec*, gpointer data) {
                     GstWebRTCPeerConnectionState state;
                     g_object_get(element, "connection-state", &state, nullptr);
                     if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
                       auto* client = static_cast<LoadClient*>(data);
                       client->AddError("the WebRTC connection failed");
                       client->streaming_ = false;
                     }
                   }),
                   this);
  // The client's own pipeline errors (a payloader refusing a frame, ...) go into its report.
  media::BusPtr bus(gst_element_get_bus(pipeline_.get()));
  gst_bus_set_sync_handler(
      bus.get(),
      +[](GstBus*, GstMessage* message, gpointer data) -> GstBusSyncReply {
        if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
          static_cast<LoadClient*>(data)->AddError("client pipeline: " + media::ParseBusError(message).message);
        }
        return GST_BUS_DROP;
      },
      this, nullptr);
  if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    return Status::Error("cannot start the client's pipeline");
  }
  GstStructure* channel_options = gst_structure_new("data-channel-options", "ordered", G_TYPE_BOOLEAN, FALSE,
                                                    "max-retransmits", G_TYPE_INT, 0, nullptr);
  GstWebRTCDataChannel* channel = nullptr;
  g_signal_emit_by_name(webrtc_, "create-data-channel", "results", channel_options, &channel);
  gst_structure_free(channel_options);
  if (!channel) return Status::Error("webrtcbin could not create a data channel");
  channel_.reset(G_OBJECT(channel));
  g_signal_connect(channel, "on-open", G_CALLBACK(+[](GObject*, gpointer data) {
                     static_cast<LoadClient*>(data)->OnDataChannelOpen();
                   }),
                   this);
  g_signal_connect(channel, "on-message-data", G_CALLBACK(+[](GObject*, GBytes* bytes, gpointer data) {
                     static_cast<LoadClient*>(data)->OnResultMessage(bytes);
                   }),
                   this);
  std::lock_guard lock(push_mutex_);
  appsrc_ = std::move(*source);
  // webrtcbin makes no offer before caps have reached every sink pad, and caps come with the first
  // buffer: one key frame goes out now (dropped by webrtcbin, nothing is connected yet).
  PushLocked(video_.units.front(), false);
  return Status::Ok();
}

void LoadClient::CreateOffer() {
  if (offered_ || stopped_ || !webrtc_) return;
  offered_ = true;
  GstPromise* promise = gst_promise_new_with_change_func(
      +[](GstPromise* promise, gpointer data) { static_cast<LoadClient*>(data)->OnOfferCreated(promise); }, this,
      nullptr);
  g_signal_emit_by_name(webrtc_, "create-offer", nullptr, promise);
}

void LoadClient::OnOfferCreated(GstPromise* promise) {
  // webrtcbin's thread: take the offer, apply and send it on the main context.
  GstWebRTCSessionDescription* offer = nullptr;
  if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED) {
    const GstStructure* reply = gst_promise_get_reply(promise);
    if (reply) gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
  }
  gst_promise_unref(promise);
  if (!offer) return AddError("webrtcbin could not create an offer");
  std::shared_ptr<GstWebRTCSessionDescription> owned(offer, media::SessionDescriptionFree());
  Post([owned](LoadClient& client) {
    if (client.stopped_) return;
    g_signal_emit_by_name(client.webrtc_, "set-local-description", owned.get(), nullptr);
    media::GCharPtr text(gst_sdp_message_as_text(owned->sdp));
    client.Send(json{{"type", "offer"}, {"sdp", std::string(text.get())}}.dump());
  });
}

void LoadClient::ApplyAnswer(const std::string& sdp) {
  if (!webrtc_) return;
  GstSDPMessage* message = nullptr;
  if (gst_sdp_message_new_from_text(sdp.c_str(), &message) != GST_SDP_OK) {
    if (message) gst_sdp_message_free(message);
    return AddError("the server's answer is not valid SDP");
  }
  media::SessionDescriptionPtr answer(gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, message));
  g_signal_emit_by_name(webrtc_, "set-remote-description", answer.get(), nullptr);
}

void LoadClient::OnDataChannelOpen() {
  channel_open_ = true;
  if (fault_ != Fault::kNoMedia) streaming_ = true;
}

bool LoadClient::may_reconnect() const {
  std::lock_guard lock(stats_mutex_);
  const bool failed_to_connect = is_reconnect_ && !streamed_ && bye_.empty();
  return finished_ && (bye_reconnect_ || vanished_ || failed_to_connect);
}

bool LoadClient::settled() const {
  if (finished_) return true;
  switch (fault_) {
    case Fault::kNoIce: return offered_;
    case Fault::kNoMedia: return channel_open_;
    default: return streaming_ || frozen_;
  }
}

void LoadClient::Freeze() {
  frozen_ = true;
  streaming_ = false;
}

void LoadClient::PushFrame(const EncodedVideo::Unit& unit, bool corrupt) {
  std::lock_guard lock(push_mutex_);
  if (!appsrc_ || !streaming_) return;
  streamed_ = true;
  PushLocked(unit, corrupt);
}

void LoadClient::PushLocked(const EncodedVideo::Unit& unit, bool corrupt) {
  // The video outlives every client: wrap its bytes instead of copying them.
  GstBuffer* buffer = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, const_cast<uint8_t*>(unit.bytes.data()),
                                                  unit.bytes.size(), 0, unit.bytes.size(), nullptr, nullptr);
  if (!unit.key) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  {
    // Frames are corrupted after payloading (a payloader refuses a broken frame): the RTP probe
    // takes one flag per frame, in push order.
    std::lock_guard lock(stats_mutex_);
    corrupt_flags_.push_back(corrupt);
  }
  gst_app_src_push_buffer(GST_APP_SRC(appsrc_.get()), buffer);  // takes the buffer
}

// Breaks one RTP packet of a frame being corrupted. VP8: the frame's first packet gets a frame tag
// claiming a first partition longer than the frame, which libvpx refuses ("truncated packet");
// other codecs: scrambled payload bytes.
namespace {
void CorruptPacket(GstBuffer* buffer, const std::string& codec) {
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READWRITE, &rtp)) return;
  auto* payload = static_cast<uint8_t*>(gst_rtp_buffer_get_payload(&rtp));
  const size_t size = gst_rtp_buffer_get_payload_len(&rtp);
  if (codec == "VP8" && size > 8) {
    // RFC 7741 payload descriptor: X|R|N|S|R|PID, then the optional I/L/T/K extension bytes.
    size_t header = 1;
    if (payload[0] & 0x80) {
      const uint8_t extension = payload[1];
      header = 2;
      if (extension & 0x80) header += (payload[header] & 0x80) ? 2 : 1;
      if (extension & 0x40) header += 1;
      if (extension & 0x30) header += 1;
    }
    const bool frame_start = (payload[0] & 0x10) && (payload[0] & 0x07) == 0;
    if (frame_start && header + 3 <= size) {
      uint8_t* tag = payload + header;
      const uint32_t lying = (tag[0] & 0x1f) | 0x7ffffu << 5;
      tag[0] = lying & 0xff;
      tag[1] = (lying >> 8) & 0xff;
      tag[2] = (lying >> 16) & 0xff;
    }
  } else {
    for (size_t i = 2; i < size; i += 3) payload[i] ^= 0x5a;
  }
  gst_rtp_buffer_unmap(&rtp);
}
}  // namespace

bool LoadClient::OnRtpPacket(GstBuffer* buffer) {
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) return false;
  const uint32_t timestamp = gst_rtp_buffer_get_timestamp(&rtp);
  gst_rtp_buffer_unmap(&rtp);
  const size_t bytes = gst_buffer_get_size(buffer);
  std::lock_guard lock(stats_mutex_);
  if (have_last_rtp_ && timestamp == last_rtp_) {  // another packet of the same frame
    if (auto found = frame_by_rtp_.find(timestamp); found != frame_by_rtp_.end()) frames_[found->second].bytes += bytes;
    return corrupting_;
  }
  have_last_rtp_ = true;
  last_rtp_ = timestamp;
  corrupting_ = false;
  if (!corrupt_flags_.empty()) {
    corrupting_ = corrupt_flags_.front();
    corrupt_flags_.pop_front();
  }
  // (The caps primer of BuildPipeline is recorded too: it may reach the server and be answered,
  // and it was sent before any measured window.)
  if (frames_.size() < kMaxFramesKept) {
    frame_by_rtp_[timestamp] = frames_.size();
    frames_.push_back({Clock::now(), {}, bytes});
  }
  return corrupting_;
}

void LoadClient::OnResultMessage(GBytes* bytes) {
  const auto now = Clock::now();
  gsize size = 0;
  const auto* data = static_cast<const uint8_t*>(g_bytes_get_data(bytes, &size));
  auto decoded = protocol::DecodeResult(std::span<const uint8_t>(data, size));
  std::lock_guard lock(stats_mutex_);
  if (!decoded) {
    bad_results_++;
    if (errors_.size() < 20) errors_.push_back("a result message did not decode: " + decoded.error());
    return;
  }
  auto found = frame_by_rtp_.find(decoded->header.rtp_timestamp);
  if (found == frame_by_rtp_.end() || frames_[found->second].answered != Clock::time_point{}) {
    bad_results_++;  // a timestamp never sent, or a second result for one frame
    return;
  }
  frames_[found->second].answered = now;
  for (const face::Face& f : decoded->faces) {
    faces_++;
    if (f.blendshapes.size() == static_cast<size_t>(face::kBlendshapeCount)) faces_with_blendshapes_++;
  }
}

void LoadClient::TearDownPipeline() {
  {
    std::lock_guard lock(push_mutex_);
    streaming_ = false;
    appsrc_.reset();
  }
  // NULL joins every streaming thread and webrtcbin's own, so no handler runs after this.
  if (pipeline_) gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
  if (channel_) g_signal_handlers_disconnect_matched(channel_.get(), G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, this);
  channel_.reset();
  pipeline_.reset();
  webrtc_ = nullptr;
}

void LoadClient::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (cancel_) g_cancellable_cancel(cancel_.get());
  if (!frozen_ && !finished_) Send(json{{"type", "bye"}}.dump());
  if (socket_) {
    if (message_handler_) g_signal_handler_disconnect(socket_.get(), message_handler_);
    if (closed_handler_) g_signal_handler_disconnect(socket_.get(), closed_handler_);
    message_handler_ = closed_handler_ = 0;
    if (soup_websocket_connection_get_state(socket_.get()) == SOUP_WEBSOCKET_STATE_OPEN) {
      soup_websocket_connection_close(socket_.get(), SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
    }
  }
  TearDownPipeline();
  finished_ = true;
}

ClientReport LoadClient::Report(Clock::time_point window_start, Clock::time_point window_end,
                                std::vector<double>& latencies_ms, std::vector<Clock::time_point>* answered_at) const {
  ClientReport report;
  report.id = id_;
  report.fault = fault_;
  std::vector<double> latencies;
  std::lock_guard lock(stats_mutex_);
  report.streamed = streamed_;
  for (const SentFrame& frame : frames_) {
    if (frame.sent < window_start || frame.sent > window_end) continue;
    report.frames_sent++;
    report.bytes_sent += frame.bytes;
    if (frame.answered == Clock::time_point{}) continue;
    report.results++;
    latencies.push_back(std::chrono::duration<double, std::milli>(frame.answered - frame.sent).count());
    if (answered_at) answered_at->push_back(frame.answered);
  }
  report.bad_results = bad_results_;
  report.faces = faces_;
  report.faces_with_blendshapes = faces_with_blendshapes_;
  report.errors = errors_;
  report.bye = bye_;
  report.bye_reconnect = bye_reconnect_;
  report.keyframes_on_request = keyframes_on_request_;
  report.path_packets = path_counters_->packets;
  report.path_dropped = path_counters_->dropped;
  latencies_ms.insert(latencies_ms.end(), latencies.begin(), latencies.end());
  report.latency = Summarize(std::move(latencies));
  return report;
}

}  // namespace speakup::loadgen
