// RunLoad: the clients, the pacer that sends their frames, and the measured window.
//
//   connect   clients start `connect_stagger_ms` apart and stream as soon as their data channel opens
//   measure   once every client is settled (streaming, or as far as its fault lets it get, or
//             failed): `duration_s` of streaming whose frames are counted
//   drain     a short wait for the results of the window's last frames
//   stop      every client says bye and closes
#include <libsoup/soup.h>

#include <algorithm>
#include <mutex>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "client.h"
#include "speakup/media/gst_handles.h"
#include "latency.h"

namespace speakup::loadgen {
namespace {

constexpr int kMaxClients = 500;
constexpr double kMaxDurationS = 3600;
constexpr auto kDrain = std::chrono::milliseconds(700);
constexpr auto kTick = std::chrono::milliseconds(20);
constexpr size_t kMaxReconnects = 100;  // per client and run: a server that keeps sending it away ends it

struct ContextPusher {
  explicit ContextPusher(GMainContext* context) : context(context) { g_main_context_push_thread_default(context); }
  ~ContextPusher() { g_main_context_pop_thread_default(context); }
  GMainContext* context;
};

// http(s)://host:port/... -> ws(s)://host:port/ws?token=...; ws(s):// URLs are taken as they are.
Expected<std::string> SignalingUrl(const std::string& server_url, const std::string& token) {
  GError* error = nullptr;
  GUri* uri = g_uri_parse(server_url.c_str(), G_URI_FLAGS_NONE, &error);
  media::GErrorPtr owned(error);
  if (!uri) return Error("--server '" + server_url + "' is not a URL (e.g. http://127.0.0.1:8080/)");
  const std::string scheme = g_uri_get_scheme(uri);
  const std::string host = g_uri_get_host(uri) ? g_uri_get_host(uri) : "";
  const int port = g_uri_get_port(uri);
  const std::string path = g_uri_get_path(uri);
  g_uri_unref(uri);
  if (host != "127.0.0.1" && host != "localhost" && host != "::1" && host != "[::1]") {
    return Error("the load generator only targets a server on this machine (127.0.0.1 / localhost), not '" + host + "'");
  }
  std::string ws_scheme;
  if (scheme == "http" || scheme == "ws") ws_scheme = "ws";
  if (scheme == "https" || scheme == "wss") ws_scheme = "wss";
  if (ws_scheme.empty()) return Error("--server must be an http(s):// or ws(s):// URL, not '" + server_url + "'");
  std::string url = ws_scheme + "://" + host + (port > 0 ? ":" + std::to_string(port) : "") +
                    (scheme.rfind("ws", 0) == 0 && !path.empty() ? path : "/ws");
  if (!token.empty()) {
    media::GCharPtr escaped(g_uri_escape_string(token.c_str(), nullptr, FALSE));
    url += std::string("?token=") + escaped.get();
  }
  return url;
}

// The client now connected in each slot; a slot's client is replaced when it reconnects (run thread)
// while the pacer reads them (its own thread).
class Slots {
 public:
  explicit Slots(std::vector<std::shared_ptr<LoadClient>> clients) : clients_(std::move(clients)) {}
  std::vector<std::shared_ptr<LoadClient>> Snapshot() const {
    std::lock_guard lock(mutex_);
    return clients_;
  }
  void Replace(size_t slot, std::shared_ptr<LoadClient> client) {
    std::lock_guard lock(mutex_);
    clients_[slot] = std::move(client);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<LoadClient>> clients_;
};

// The index of the first key frame at or after `from`, looping (the file starts with one).
size_t NextKeyFrame(const EncodedVideo& video, size_t from) {
  for (size_t step = 0; step < video.units.size(); ++step) {
    const size_t index = (from + step) % video.units.size();
    if (video.units[index].key) return index;
  }
  return from;
}

// Sends every streaming client's frames at the pace, each client at its own phase in the frame
// interval (cameras are not in step), looping the file.
class Pacer {
 public:
  Pacer(const EncodedVideo& video, const Slots& slots, size_t count, double fps, double freeze_after_s)
      : video_(video), slots_(slots), interval_(std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(1.0 / fps))),
        freeze_after_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(freeze_after_s))),
        state_(count), thread_([this] { Loop(); }) {}
  ~Pacer() {
    stop_ = true;
    thread_.join();
  }

 private:
  struct ClientState {
    const LoadClient* client = nullptr;  // the connection this state is for (a reconnect starts anew)
    bool started = false;
    size_t next_unit = 0;
    uint64_t sent = 0;
    Clock::time_point next_due, started_at;
  };

  void Loop() {
    while (!stop_) {
      const auto now = Clock::now();
      auto wake = now + std::chrono::milliseconds(5);
      const std::vector<std::shared_ptr<LoadClient>> clients = slots_.Snapshot();
      for (size_t i = 0; i < clients.size() && i < state_.size(); ++i) {
        LoadClient& client = *clients[i];
        ClientState& state = state_[i];
        if (state.client != &client) {
          state.client = &client;
          state.started = false;  // the video goes on where it was
        }
        if (!client.streaming()) continue;
        if (!state.started) {
          state.started = true;
          state.started_at = now;
          state.next_due = now + interval_ * static_cast<int>(i % 7) / 7;  // spread the phases
        }
        if (client.fault() == Fault::kFreeze && now - state.started_at >= freeze_after_) {
          client.Freeze();
          continue;
        }
        if (now >= state.next_due) {
          if (client.TakeKeyFrameRequest()) {
            // Asked for a key frame: the file's next one goes out now (looping), as a camera's
            // encoder would make one at once.
            state.next_unit = NextKeyFrame(video_, state.next_unit);
            client.KeyFrameSentOnRequest();
          }
          const EncodedVideo::Unit& unit = video_.units[state.next_unit];
          // kCorrupt: every third frame broken (key frames too), so errors keep coming.
          const bool corrupt = client.fault() == Fault::kCorrupt && state.sent % 3 == 1;
          client.PushFrame(unit, corrupt);
          state.sent++;
          state.next_unit = (state.next_unit + 1) % video_.units.size();
          state.next_due += interval_;
          if (state.next_due < now) state.next_due = now + interval_;  // fell behind: do not burst
        }
        wake = std::min(wake, state.next_due);
      }
      std::this_thread::sleep_until(wake);
    }
  }

  const EncodedVideo& video_;
  const Slots& slots_;
  const Clock::duration interval_, freeze_after_;
  std::vector<ClientState> state_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void Progress(const LoadOptions& options, const std::string& line) {
  if (!options.quiet) std::fprintf(stderr, "speakup loadgen: %s\n", line.c_str());
}

std::string Ms(double ms) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", ms);
  return text;
}

nlohmann::json LatencyJson(const LatencySummary& latency) {
  return {{"p50_ms", latency.p50_ms}, {"p95_ms", latency.p95_ms}, {"p99_ms", latency.p99_ms}, {"max_ms", latency.max_ms}};
}

}  // namespace

const char* ToString(Fault fault) {
  switch (fault) {
    case Fault::kNone: return "none";
    case Fault::kNoMedia: return "no-media";
    case Fault::kNoIce: return "no-ice";
    case Fault::kCorrupt: return "corrupt";
    case Fault::kFreeze: return "freeze";
  }
  return "?";
}

Expected<Fault> ParseFault(const std::string& name) {
  for (Fault fault : {Fault::kNone, Fault::kNoMedia, Fault::kNoIce, Fault::kCorrupt, Fault::kFreeze}) {
    if (name == ToString(fault)) return fault;
  }
  return Error("unknown fault '" + name + "' (none, no-media, no-ice, corrupt, freeze)");
}

namespace {

// Adds one client's counts to a slot's (ClientReport) or the run's (LoadReport) totals.
template <typename Totals>
void AddCounts(Totals& totals, const ClientReport& one) {
  totals.frames_sent += one.frames_sent;
  totals.bytes_sent += one.bytes_sent;
  totals.results += one.results;
  totals.bad_results += one.bad_results;
  totals.faces += one.faces;
  totals.faces_with_blendshapes += one.faces_with_blendshapes;
  totals.path_packets += one.path_packets;
  totals.path_dropped += one.path_dropped;
  totals.keyframes_on_request += one.keyframes_on_request;
}

// One slot's report over all its connections: counts added up, the last connection's bye, and the
// longest stretch of the window without a result (before the first, between two, after the last).
ClientReport SlotReport(const std::vector<std::shared_ptr<LoadClient>>& earlier, const std::shared_ptr<LoadClient>& last,
                        Clock::time_point window_start, Clock::time_point window_end, std::vector<double>& all_latencies) {
  std::vector<double> latencies;
  std::vector<Clock::time_point> answered;
  ClientReport report;
  std::vector<std::shared_ptr<LoadClient>> connections = earlier;
  connections.push_back(last);
  for (const auto& connection : connections) {
    ClientReport one = connection->Report(window_start, window_end, latencies, &answered);
    report.id = one.id;
    report.fault = one.fault;
    report.streamed = report.streamed || one.streamed;
    AddCounts(report, one);
    report.errors.insert(report.errors.end(), one.errors.begin(), one.errors.end());
    report.bye = one.bye;
    report.bye_reconnect = one.bye_reconnect;
  }
  report.reconnects = static_cast<int>(earlier.size());
  std::sort(answered.begin(), answered.end());
  Clock::time_point previous = window_start;
  Clock::duration gap{};
  for (const Clock::time_point at : answered) {
    gap = std::max(gap, at - previous);
    previous = at;
  }
  gap = std::max(gap, window_end - previous);
  report.max_gap_ms = std::chrono::duration<double, std::milli>(gap).count();
  all_latencies.insert(all_latencies.end(), latencies.begin(), latencies.end());
  report.latency = Summarize(std::move(latencies));
  return report;
}

}  // namespace

Expected<LoadReport> RunLoad(const EncodedVideo& video, const LoadOptions& options) {
  if (options.clients < 1 || options.clients > kMaxClients) {
    return Error("--clients must be from 1 to " + std::to_string(kMaxClients));
  }
  if (!(options.duration_s > 0) || options.duration_s > kMaxDurationS) {
    return Error("--duration must be more than 0 and at most " + std::to_string(static_cast<int>(kMaxDurationS)) + " s");
  }
  if (video.units.empty()) return Error("the video has no frames");
  const double fps = options.fps > 0 ? options.fps : video.fps;
  if (!(fps > 0) || fps > 240) return Error("the frame rate must be above 0 and at most 240");
  // Its own STUN/TURN servers, checked before any client starts.
  ClientIce ice;
  ice.relay = options.relay;
  protocol::IceServer stun, turn;
  for (const std::string& text : options.ice_servers) {
    auto parsed = protocol::ParseIceUrl(text);
    if (!parsed) return Error("--ice-server: " + parsed.error());
    (parsed->is_turn() ? turn : stun).urls.push_back(text);
  }
  turn.username = options.turn_user;
  turn.credential = options.turn_password;
  if (!stun.urls.empty()) ice.own.push_back(stun);
  if (!turn.urls.empty()) ice.own.push_back(turn);
  if (Status checked = protocol::CheckIceServers(ice.own); !checked.ok()) {
    return Error(checked.message() + (turn.urls.empty() ? "" : " (--turn-user and --turn-password)"));
  }
  const NetworkPath path{.loss_pct = options.loss_pct, .delay_ms = options.delay_ms, .jitter_ms = options.jitter_ms,
                         .seed = options.seed, .rtx_loss_pct = options.rtx_loss_pct};
  SPEAKUP_RETURN_IF_ERROR(CheckNetworkPath(path));
  auto url = SignalingUrl(options.server_url, options.token);
  if (!url) return Error(url.error());
  SPEAKUP_RETURN_IF_ERROR(media::EnsureGstInitialized());
  for (const char* factory : {"webrtcbin", "appsrc", "rtph264pay", "rtpvp8pay", "rtpvp9pay", "nicesrc", "dtlssrtpenc"}) {
    auto element = media::MakeElement(factory);
    if (!element) return Error(element.error());
  }
  if (path.impaired()) {
    auto netsim = media::MakeElement("netsim");
    if (!netsim) return Error("--loss/--delay/--jitter need GStreamer's netsim: " + netsim.error());
  }

  media::MainContextPtr context(g_main_context_new());
  ContextPusher pushed(context.get());
  media::GObjectPtr<SoupSession> session(soup_session_new_with_options("max-conns", kMaxClients + 10,
                                                                       "max-conns-per-host", kMaxClients + 10, nullptr));
  auto make_client = [&](int i) {
    const Fault fault = i < options.faulty_clients ? options.fault : Fault::kNone;
    return std::make_shared<LoadClient>(i, video, fault, context.get(), options.model, ice, path);
  };
  std::vector<std::shared_ptr<LoadClient>> first;
  for (int i = 0; i < options.clients; ++i) first.push_back(make_client(i));
  Slots slots(first);
  // Each slot's earlier connections (LoadOptions::reconnect), and when its next one is due.
  std::vector<std::vector<std::shared_ptr<LoadClient>>> earlier(options.clients);
  std::vector<Clock::time_point> reconnect_due(options.clients);
  std::mt19937 rng(static_cast<uint32_t>(Clock::now().time_since_epoch().count()));
  std::uniform_int_distribution<int> reconnect_delay_ms(100, 500);  // clients of one node do not all come at once
  Pacer pacer(video, slots, first.size(), fps, options.freeze_after_s);

  const auto begin = Clock::now();
  const auto stagger = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(std::max(0.0, options.connect_stagger_ms)));
  const auto connect_deadline = begin + stagger * options.clients +
                                std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.connect_timeout_s));
  const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.duration_s));
  enum class Phase { kConnect, kMeasure, kDrain } phase = Phase::kConnect;
  int started = 0;
  Clock::time_point window_start, window_end;
  Progress(options, "starting " + std::to_string(options.clients) + " clients against " + *url);
  while (true) {
    const auto now = Clock::now();
    std::vector<std::shared_ptr<LoadClient>> clients = slots.Snapshot();
    while (started < options.clients && now >= begin + stagger * started) clients[started++]->Start(session.get(), *url);
    if (options.reconnect && phase != Phase::kDrain) {
      for (int i = 0; i < started; ++i) {
        if (!clients[i]->may_reconnect() || earlier[i].size() >= kMaxReconnects) continue;
        if (reconnect_due[i] == Clock::time_point{}) {
          reconnect_due[i] = now + std::chrono::milliseconds(reconnect_delay_ms(rng));
        } else if (now >= reconnect_due[i]) {
          reconnect_due[i] = {};
          clients[i]->Stop();
          earlier[i].push_back(clients[i]);
          clients[i] = make_client(i);
          clients[i]->set_is_reconnect();
          slots.Replace(static_cast<size_t>(i), clients[i]);
          clients[i]->Start(session.get(), *url);
        }
      }
    }
    // Finished for good: not about to connect again.
    auto done = [&](const std::shared_ptr<LoadClient>& c) {
      return c->finished() && !(options.reconnect && c->may_reconnect() && earlier[c->id()].size() < kMaxReconnects);
    };
    if (phase == Phase::kConnect) {
      const bool settled = started == options.clients &&
                           std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->settled(); });
      if (settled || now >= connect_deadline) {
        const auto streaming = std::count_if(clients.begin(), clients.end(), [](auto& c) { return c->streaming(); });
        Progress(options, std::to_string(streaming) + " of " + std::to_string(options.clients) + " clients streaming after " +
                              Ms(std::chrono::duration<double>(now - begin).count()) + " s" +
                              (settled ? "" : " (connect timeout)") + "; measuring for " + Ms(options.duration_s) + " s");
        phase = Phase::kMeasure;
        window_start = now;
        if (options.on_window) options.on_window(true);
      }
    } else if (phase == Phase::kMeasure && (now >= window_start + duration || std::all_of(clients.begin(), clients.end(), done))) {
      // The time is up, or the server has ended every client (bye, refusal, shutdown).
      phase = Phase::kDrain;
      window_end = now;
      if (options.on_window) options.on_window(false);
    } else if (phase == Phase::kDrain && now >= window_end + kDrain) {
      break;
    }
    // Run the main context for one tick: signaling, webrtcbin's posted tasks.
    const auto tick_end = now + kTick;
    while (Clock::now() < tick_end) {
      if (!g_main_context_iteration(context.get(), FALSE)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  LoadReport report;
  report.clients = options.clients;
  report.duration_s = std::chrono::duration<double>(window_end - window_start).count();
  const std::vector<std::shared_ptr<LoadClient>> clients = slots.Snapshot();
  for (auto& client : clients) client->Stop();
  // Let the bye and close frames go out.
  const auto flush_end = Clock::now() + std::chrono::milliseconds(300);
  while (Clock::now() < flush_end) {
    if (!g_main_context_iteration(context.get(), FALSE)) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::vector<double> all_latencies;
  for (size_t i = 0; i < clients.size(); ++i) {
    ClientReport one = SlotReport(earlier[i], clients[i], window_start, window_end, all_latencies);
    AddCounts(report, one);
    if (one.streamed) {
      report.clients_streamed++;
      report.max_gap_ms = std::max(report.max_gap_ms, one.max_gap_ms);
    }
    report.per_client.push_back(std::move(one));
  }
  report.latency = Summarize(std::move(all_latencies));
  return report;
}

std::string ReportText(const LoadReport& report) {
  std::ostringstream out;
  out << "client  fault     frames  results  answered  p50 ms  p95 ms  p99 ms  errors\n";
  char line[512];
  for (const ClientReport& client : report.per_client) {
    const double answered = client.frames_sent ? 100.0 * client.results / client.frames_sent : 0;
    std::snprintf(line, sizeof(line), "%6d  %-8s  %6llu  %7llu  %7.1f%%  %6.1f  %6.1f  %6.1f  %zu\n", client.id,
                  ToString(client.fault), static_cast<unsigned long long>(client.frames_sent),
                  static_cast<unsigned long long>(client.results), answered, client.latency.p50_ms, client.latency.p95_ms,
                  client.latency.p99_ms, client.errors.size() + (client.bye.empty() ? 0 : 1));
    out << line;
    for (const std::string& error : client.errors) out << "        error: " << error << "\n";
    if (!client.bye.empty()) out << "        bye: " << client.bye << "\n";
    if (client.reconnects > 0) {
      out << "        reconnected " << client.reconnects << " time(s); longest gap without results "
          << Ms(client.max_gap_ms) << " ms\n";
    }
  }
  std::snprintf(line, sizeof(line),
                "overall: %d clients (%d streamed), %.1f s: %llu frames sent, %llu results (%.1f%%), latency p50 %.1f "
                "ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms; %.0f kbit/s sent per client; %llu bad results; %llu faces, %llu "
                "with blendshapes\n",
                report.clients, report.clients_streamed, report.duration_s,
                static_cast<unsigned long long>(report.frames_sent), static_cast<unsigned long long>(report.results),
                100.0 * report.answered_fraction(), report.latency.p50_ms, report.latency.p95_ms, report.latency.p99_ms,
                report.latency.max_ms, report.sent_kbps_per_client(), static_cast<unsigned long long>(report.bad_results),
                static_cast<unsigned long long>(report.faces),
                static_cast<unsigned long long>(report.faces_with_blendshapes));
  out << line;
  std::snprintf(line, sizeof(line), "longest gap without results: %.1f ms; %llu key frames sent on request",
                report.max_gap_ms, static_cast<unsigned long long>(report.keyframes_on_request));
  out << line;
  if (report.path_packets > 0) {
    std::snprintf(line, sizeof(line), "; lossy path: %llu of %llu packets dropped (%.2f%%)",
                  static_cast<unsigned long long>(report.path_dropped),
                  static_cast<unsigned long long>(report.path_packets), 100.0 * report.path_dropped / report.path_packets);
    out << line;
  }
  out << "\n";
  return out.str();
}

std::string ReportJson(const LoadReport& report) {
  nlohmann::json clients = nlohmann::json::array();
  for (const ClientReport& client : report.per_client) {
    clients.push_back({{"id", client.id},
                       {"fault", ToString(client.fault)},
                       {"streamed", client.streamed},
                       {"frames_sent", client.frames_sent},
                       {"bytes_sent", client.bytes_sent},
                       {"results", client.results},
                       {"bad_results", client.bad_results},
                       {"faces", client.faces},
                       {"faces_with_blendshapes", client.faces_with_blendshapes},
                       {"latency", LatencyJson(client.latency)},
                       {"errors", client.errors},
                       {"bye", client.bye},
                       {"bye_reconnect", client.bye_reconnect},
                       {"reconnects", client.reconnects},
                       {"max_gap_ms", client.max_gap_ms},
                       {"keyframes_on_request", client.keyframes_on_request},
                       {"path_packets", client.path_packets},
                       {"path_dropped", client.path_dropped}});
  }
  nlohmann::json out = {{"clients", report.clients},
                        {"clients_streamed", report.clients_streamed},
                        {"duration_s", report.duration_s},
                        {"frames_sent", report.frames_sent},
                        {"bytes_sent", report.bytes_sent},
                        {"sent_kbps_per_client", report.sent_kbps_per_client()},
                        {"results", report.results},
                        {"answered", report.answered_fraction()},
                        {"bad_results", report.bad_results},
                        {"faces", report.faces},
                        {"faces_with_blendshapes", report.faces_with_blendshapes},
                        {"latency", LatencyJson(report.latency)},
                        {"max_gap_ms", report.max_gap_ms},
                        {"keyframes_on_request", report.keyframes_on_request},
                        {"path_packets", report.path_packets},
                        {"path_dropped", report.path_dropped},
                        {"per_client", clients}};
  return out.dump();
}

}  // namespace speakup::loadgen
