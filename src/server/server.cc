#include "speakup/server.h"

#include <glib-unix.h>
#include <libsoup/soup.h>
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string_view>
#include <thread>

#include "front_door.h"
#include "http_policy.h"
#include "ice_config.h"
#include "session.h"
#include "speakup/cpu_time.h"
#include "speakup/annotate.h"
#include "speakup/media/gst_handles.h"
#include "speakup/signaling.h"
#include "websocket_close.h"

namespace speakup::server {
namespace {

const char* ContentType(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  return "application/octet-stream";
}

constexpr size_t kSessionsPerThread = 5;
// Descriptors kept free for what running sessions and the listener still need: a new session is
// refused before the process gets this close to its open-file limit.
constexpr long kDescriptorReserve = 64;
constexpr size_t kExtraPendingSessions = 16;
constexpr const char* kDrainingMessage =
    "this server is restarting and takes no new sessions; connect again to reach another one";

std::string RandomId() {
  static std::mt19937_64 random(std::random_device{}());
  char id[17];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(random()));
  return id;
}

struct GUriUnref {
  void operator()(GUri* uri) const { g_uri_unref(uri); }
};

struct HostAndPort {
  std::string host;  // lower case; an IPv6 address without brackets
  int port = 0;
  bool operator==(const HostAndPort&) const = default;
};

// The host and port of an http(s) origin such as "https://app.example.com" (a missing port is the
// scheme's default); nullopt for anything else ("null", other schemes, paths, user names).
std::optional<HostAndPort> ParseOrigin(const std::string& origin) {
  std::unique_ptr<GUri, GUriUnref> uri(g_uri_parse(origin.c_str(), G_URI_FLAGS_NONE, nullptr));
  if (!uri || !g_uri_get_host(uri.get()) || !*g_uri_get_host(uri.get()) || g_uri_get_userinfo(uri.get()) ||
      g_uri_get_query(uri.get()) || g_uri_get_fragment(uri.get()) || *g_uri_get_path(uri.get()) != '\0') {
    return std::nullopt;
  }
  const std::string scheme = g_uri_get_scheme(uri.get());  // always lower case
  if (scheme != "http" && scheme != "https") return std::nullopt;
  const int port = g_uri_get_port(uri.get());
  media::GCharPtr host(g_ascii_strdown(g_uri_get_host(uri.get()), -1));
  return HostAndPort{host.get(), port > 0 ? port : (scheme == "https" ? 443 : 80)};
}

// Loopback, defined once: the names and addresses that reach this machine only. --host takes an
// address; of the names only localhost, which means IPv4's 127.0.0.1 (what browsers try first).
bool IsLoopbackName(const std::string& host) { return host == "localhost" || host == "127.0.0.1" || host == "::1"; }
std::string ListenAddress(const std::string& host) { return host == "localhost" ? "127.0.0.1" : host; }

// Whether a page from `origin` (a browser's Origin header) may open a session: it is the server's
// own origin (same host and port as the Host header the browser sent; http or https), or listed.
// A server on loopback takes only loopback names as its own: a page whose name an attacker re-points
// at 127.0.0.1 (DNS rebinding) is same-origin with itself but names another host.
bool OriginAllowed(const std::string& origin, const char* host_header, bool tls, bool loopback_server,
                   const std::vector<std::string>& allowed_origins) {
  for (const std::string& allowed : allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  if (!host_header || std::string_view(host_header).find_first_of("/@?#\\") != std::string_view::npos) return false;
  const auto page = ParseOrigin(origin);
  const auto server = ParseOrigin(std::string(tls ? "https://" : "http://") + host_header);
  if (loopback_server && server && !IsLoopbackName(server->host)) return false;
  return page && server && *page == *server;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  face::Models models;
  std::unique_ptr<WorkerPool> pool;
  SessionContext context;
  IceConfig ice;
  Metrics metrics;
  RecoveryTotals closed_recovery;  // main loop: the recovery counters of sessions that ended
  media::GObjectPtr<SoupServer> soup;
  std::unique_ptr<FrontDoor> front_door;
  media::MainLoopPtr loop;
  std::map<std::string, std::shared_ptr<Session>> sessions;
  int port = 0;
  bool tls = false;
  int max_sessions = 0;
  size_t max_connections = 0;
  std::string content_security_policy;

  media::SourceId trim_timer;
  media::SourceId sigint, sigterm;
  bool draining = false;  // SIGTERM: no new sessions; the running ones end when the drain does
  media::SourceId drain_timer;

  // Why this node takes no new session now ("draining", "full"), or nothing: /readyz.
  std::optional<std::string> NotReady() const {
    if (draining) return "draining";
    if (static_cast<int>(OfferedSessions()) >= max_sessions) return "full";
    const long open_fds = OpenDescriptors(), max_fds = DescriptorLimit();
    if (open_fds >= 0 && max_fds > 0 && open_fds > max_fds - kDescriptorReserve) return "full";
    return std::nullopt;
  }
  void StartDrain() {
    if (draining) {  // a second SIGTERM: now
      EndDrain();
      return;
    }
    draining = true;
    std::fprintf(stderr, "speakup serve: draining: no new sessions; %zu running go on for %d s, then are told to "
                 "reconnect (SIGTERM again to stop now)\n", OfferedSessions(), options.drain_seconds);
    if (sessions.empty()) {
      EndDrain();
      return;
    }
    drain_timer.reset(g_timeout_add_seconds(static_cast<guint>(options.drain_seconds), +[](gpointer data) -> gboolean {
      auto* self = static_cast<Impl*>(data);
      self->drain_timer.forget();
      self->EndDrain();
      return G_SOURCE_REMOVE;
    }, this));
  }
  void EndDrain() {
    drain_timer.reset();
    auto all = sessions;  // Close() erases from `sessions`
    for (auto& [id, session] : all) {
      session->Close("the server is restarting: connect again to reach another one", SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                     /*reconnect=*/true);
    }
    g_main_loop_quit(loop.get());
  }

  // A session's WebRTC pipeline frees memory on many threads, which glibc keeps in per-thread
  // arenas: without giving it back, the resident size ratchets up with every wave of clients.
  // Trimmed a second after sessions close (at most once a second), on the main loop.
  void ScheduleTrim() {
    if (trim_timer) return;
    trim_timer.reset(g_timeout_add_seconds(1, +[](gpointer data) -> gboolean {
      auto* self = static_cast<Impl*>(data);
      self->trim_timer.forget();
      malloc_trim(0);
      return G_SOURCE_REMOVE;
    }, this));
  }

  void ServeFile(SoupServerMessage* message, const char* path);
  void OnWebSocket(SoupServerMessage* message, SoupWebsocketConnection* connection);
  void Refuse(uint64_t tcp, SoupWebsocketConnection* connection, const std::string& code, const std::string& why);
  size_t OfferedSessions() const {
    return static_cast<size_t>(std::count_if(sessions.begin(), sessions.end(), [](const auto& e) { return e.second->offered(); }));
  }
  MetricsGauges Gauges() const {
    MetricsGauges gauges;
    gauges.active_sessions = OfferedSessions();
    gauges.pending_sessions = sessions.size() - gauges.active_sessions;
    gauges.open_connections = front_door ? front_door->open_connections() : 0;
    gauges.max_connections = max_connections;
    gauges.open_fds = OpenDescriptors();
    gauges.max_fds = DescriptorLimit();
    gauges.capacity = static_cast<size_t>(std::max(0, max_sessions));
    gauges.draining = draining;
    gauges.ready = !NotReady();
    gauges.recovery = closed_recovery;
    for (const auto& [id, session] : sessions) gauges.recovery += session->Recovery();
    return gauges;
  }
  // Sessions that have not offered do not hold capacity, but each holds a socket: past the
  // capacity and kExtraPendingSessions more (clients that arrive together and offer a moment
  // later), the one waiting longest makes room (a browser offers within a second or two).
  void MakeRoomForPending() {
    std::shared_ptr<Session> oldest;
    size_t pending = 0;
    for (const auto& [id, session] : sessions) {
      if (session->offered()) continue;
      ++pending;
      if (!oldest || session->started() < oldest->started()) oldest = session;
    }
    if (oldest && pending >= static_cast<size_t>(max_sessions) + kExtraPendingSessions) {
      oldest->Close("no offer yet, and the server needed the room for another client: offer right after welcome");
    }
  }
  int SessionsFrom(const std::string& address) const {
    return static_cast<int>(std::count_if(sessions.begin(), sessions.end(),
                                          [&](const auto& entry) { return entry.second->address() == address; }));
  }
  // Runs the main loop until no client connection is open or `limit` passes.
  void RunLoopWhileConnections(std::chrono::milliseconds limit) {
    bool over = false;
    media::SourceId deadline(g_timeout_add(static_cast<guint>(limit.count()), +[](gpointer data) -> gboolean {
      *static_cast<bool*>(data) = true;
      return G_SOURCE_REMOVE;
    }, &over));
    while (!over && front_door->open_connections() > 0) g_main_context_iteration(nullptr, TRUE);
    if (over) deadline.forget();
  }
  // The server is stopping: each client is told it may connect again (this server may be back in a
  // moment, or a balancer sends it to another); nothing the client did ended its session.
  void CloseAll(const std::string& reason) {
    auto all = sessions;  // Close() erases from `sessions`
    for (auto& [id, session] : all) session->Close(reason, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, /*reconnect=*/true);
  }
};

void Server::Impl::ServeFile(SoupServerMessage* message, const char* request_path) {
  AddSecurityHeaders(soup_server_message_get_response_headers(message), content_security_policy);
  const std::string method = soup_server_message_get_method(message);
  if (method != "GET" && method != "HEAD") {
    soup_server_message_set_status(message, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
    return;
  }
  std::string path = request_path ? request_path : "/";
  if (path == "/metrics") {
    // With a token the server is not public, and neither are its figures.
    const std::string& token = options.metrics_token.empty() ? options.token : options.metrics_token;
    if (!token.empty()) {
      const char* authorization = soup_message_headers_get_one(soup_server_message_get_request_headers(message), "Authorization");
      const std::string given = authorization && std::string_view(authorization).starts_with("Bearer ") ? authorization + 7 : "";
      if (!ConstantTimeEquals(given, token)) {
        soup_message_headers_replace(soup_server_message_get_response_headers(message), "WWW-Authenticate", "Bearer");
        const std::string body = "/metrics needs the header Authorization: Bearer <token> (--metrics-token, or --token)\n";
        soup_server_message_set_status(message, SOUP_STATUS_UNAUTHORIZED, nullptr);
        soup_server_message_set_response(message, "text/plain", SOUP_MEMORY_COPY, body.data(), body.size());
        return;
      }
    }
    const std::string body = metrics.Render(Gauges(), ProcessCpuSeconds());
    soup_server_message_set_status(message, SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(message, "text/plain; version=0.0.4", SOUP_MEMORY_COPY, body.data(), body.size());
    return;
  }
  if (path == "/readyz") {
    // For load balancers and Kubernetes: whether this node admits a new session now.
    const auto why_not = NotReady();
    const std::string body = std::string("{\"status\":\"") + (why_not ? *why_not : "ready") +
                             "\",\"sessions\":" + std::to_string(OfferedSessions()) +
                             ",\"capacity\":" + std::to_string(max_sessions) + "}\n";
    soup_server_message_set_status(message, why_not ? SOUP_STATUS_SERVICE_UNAVAILABLE : SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(message, "application/json", SOUP_MEMORY_COPY, body.data(), body.size());
    return;
  }
  if (path == "/healthz") {
    const std::string body = "{\"status\":\"ok\",\"sessions\":" + std::to_string(sessions.size()) + "}\n";
    soup_server_message_set_status(message, SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(message, "application/json", SOUP_MEMORY_COPY, body.data(), body.size());
    return;
  }
  if (path.empty() || path.back() == '/') path += "index.html";
  // Only plain relative paths inside the web root: no "..", no hidden files; of node_modules only
  // the three.js build the page imports.
  const std::filesystem::path relative = std::filesystem::path(path.substr(1)).lexically_normal();
  bool allowed = !relative.empty() && relative.is_relative();
  for (const auto& part : relative) {
    const std::string p = part.string();
    if (p == ".." || p.empty() || p[0] == '.') allowed = false;
  }
  if (relative.begin() != relative.end() && relative.begin()->string() == "test") allowed = false;  // the client's tests
  if (relative.begin() != relative.end() && relative.begin()->string() == "node_modules") {
    allowed = allowed && relative.string().rfind("node_modules/three/build/", 0) == 0;
  }
  const std::filesystem::path file = std::filesystem::path(options.web_root) / relative;
  std::error_code error;
  if (!allowed || !std::filesystem::is_regular_file(file, error)) {
    soup_server_message_set_status(message, SOUP_STATUS_NOT_FOUND, nullptr);
    return;
  }
  std::ifstream in(file, std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  soup_server_message_set_status(message, SOUP_STATUS_OK, nullptr);
  soup_message_headers_replace(soup_server_message_get_response_headers(message), "Cache-Control", "no-cache");
  soup_server_message_set_response(message, ContentType(file), SOUP_MEMORY_COPY, body.data(), body.size());
}

void Server::Impl::Refuse(uint64_t tcp, SoupWebsocketConnection* connection, const std::string& code, const std::string& why) {
  const std::string refusal = protocol::ErrorJson(code, why);
  soup_websocket_connection_send_text(connection, refusal.c_str());
  CloseWhenSent(connection, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, code.c_str());
  // Nothing more is read from a refused client; its connection goes shortly.
  front_door->Refused(tcp);
}

void Server::Impl::OnWebSocket(SoupServerMessage* message, SoupWebsocketConnection* connection) {
  // Cross-site WebSocket hijacking: any page a user visits could otherwise open sessions on their
  // server. Browsers always send Origin; native clients (curl, the load generator) send none.
  SoupMessageHeaders* headers = soup_server_message_get_request_headers(message);
  const uint64_t tcp = front_door->ConnectionOf(message);
  if (const char* origin = soup_message_headers_get_one(headers, "Origin")) {
    if (!OriginAllowed(origin, soup_message_headers_get_one(headers, "Host"), tls, IsLoopbackName(options.host),
                       options.allowed_origins)) {
      metrics.sessions_refused++;
      Refuse(tcp, connection, "forbidden_origin", std::string("pages from ") + origin +
                                                 " may not use this server; start it with --allow-origin " + origin +
                                                 " to allow them");
      return;
    }
  }
  if (!options.token.empty()) {
    // The token comes in the WebSocket URL: /ws?token=... (the page forwards its own ?token=).
    std::string given;
    if (const char* query = g_uri_get_query(soup_server_message_get_uri(message))) {
      GHashTable* fields = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, nullptr);
      if (fields) {
        if (auto* value = static_cast<const char*>(g_hash_table_lookup(fields, "token"))) given = value;
        g_hash_table_unref(fields);
      }
    }
    // Compared in constant time, so response timing does not reveal the token.
    if (!ConstantTimeEquals(given, options.token)) {
      metrics.sessions_refused++;
      Refuse(tcp, connection, "unauthorized", "this server needs an access token: add ?token=... to the page address");
      return;
    }
  }
  if (draining) {
    metrics.sessions_refused++;
    Refuse(tcp, connection, "draining", kDrainingMessage);
    return;
  }
  // One address may not take every session (a runaway tab, a script), so others still get in.
  const char* remote_host = soup_server_message_get_remote_host(message);
  const std::string address = remote_host ? remote_host : "";
  const int per_address_limit = options.max_sessions_per_ip;
  if (per_address_limit > 0 && SessionsFrom(address) >= per_address_limit) {
    metrics.sessions_refused++;
    const std::string limit = std::to_string(per_address_limit);
    Refuse(tcp, connection, "too_many_sessions",
           "this address already has " + limit + " open sessions, the most the server allows one address "
           "(--max-sessions-per-ip " + limit + "); close one and try again");
    return;
  }
  if (static_cast<int>(OfferedSessions()) >= max_sessions) {
    metrics.sessions_refused++;
    Refuse(tcp, connection, "server_full", "the server is serving its maximum of " + std::to_string(max_sessions) +
                                               " sessions; try again later");
    return;
  }
  const long open_fds = OpenDescriptors(), max_fds = DescriptorLimit();
  if (open_fds >= 0 && max_fds > 0 && open_fds > max_fds - kDescriptorReserve) {
    metrics.sessions_refused++;
    Refuse(tcp, connection, "server_full", "the server is out of file descriptors (" + std::to_string(open_fds) + " of " +
                                               std::to_string(max_fds) + " open); try again later");
    return;
  }
  MakeRoomForPending();
  metrics.sessions_started++;
  std::string id = RandomId();
  auto session = std::make_shared<Session>(id, address, tcp, context);
  sessions[id] = session;
  front_door->WebSocketOpened(tcp, [weak = std::weak_ptr<Session>(session)] {
    if (auto alive = weak.lock()) alive->TooLarge();
  });
  session->Start(connection);
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  impl_->CloseAll("the server is shutting down");
  impl_->front_door.reset();  // stops accepting
  if (impl_->soup) soup_server_disconnect(impl_->soup.get());
  impl_->pool.reset();  // joins the workers before the models and context go away
  media::JoinIdleStreamingThreads();  // every peer is closed by now
}

Expected<std::unique_ptr<Server>> Server::Create(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.tls_cert.empty() != options.tls_key.empty()) return Error("give both --tls-cert and --tls-key, or neither");
  if (options.max_sessions_per_ip < 0) return Error("--max-sessions-per-ip must be 0 (no limit) or more");
  const bool loopback = IsLoopbackName(options.host);
  if (!loopback && options.tls_cert.empty()) {
    if (!options.insecure) {
      return Error("listening on " + options.host + " (beyond this machine) needs TLS: give --tls-cert and --tls-key "
                   "(browsers also need HTTPS for the camera there), or --insecure to serve plain HTTP anyway");
    }
    std::fprintf(stderr, "speakup serve: warning: serving plain HTTP on %s (--insecure): signaling and "
                         "tokens travel unencrypted\n", options.host.c_str());
  }
  if (!std::filesystem::is_regular_file(std::filesystem::path(options.web_root) / "index.html")) {
    return Error("no web client at '" + options.web_root + "' (index.html missing); run `make build` from the repository");
  }
  {
    std::ifstream index(std::filesystem::path(options.web_root) / "index.html", std::ios::binary);
    impl->content_security_policy = ContentSecurityPolicy(
        std::string((std::istreambuf_iterator<char>(index)), std::istreambuf_iterator<char>()));
  }
  auto ice = IceConfig::Create(options);
  if (!ice) return Error(ice.error());
  impl->ice = std::move(*ice);
  auto models = face::Models::Load(options.models_dir);
  if (!models) return Error(models.error());
  impl->models = std::move(*models);
  const size_t threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  // One 640x480 30 fps stream costs the server about 8.5% of a core with the mesh model and about 25%
  // with the landmarker (decoding, tracking, WebRTC; `speakup bench capacity` and `bench stream-cost`
  // on the README's machine, which held 18-20 mesh streams on 2 threads beside the load generator).
  // 5 per inference thread keeps a node that admits by count safe whichever model its clients pick.
  impl->max_sessions = options.max_sessions > 0 ? options.max_sessions : static_cast<int>(kSessionsPerThread * threads);
  impl->pool = std::make_unique<WorkerPool>(impl->models, threads);
  impl->context.pool = impl->pool.get();
  impl->context.models = &impl->models;
  impl->context.metrics = &impl->metrics;
  impl->context.mesh_edges = annotate::MeshEdges(impl->models);
  impl->context.webrtc.max_width = options.max_width;
  impl->context.webrtc.max_height = options.max_height;
  impl->context.webrtc.annotated_video = true;
  // The jitter buffer's latency only bounds how long a missing packet is waited for (complete
  // frames pass at once); a key frame paced out by the browser over a few hundred ms must not
  // count as lost, or each loss asks for another key frame and the stream stalls.
  impl->context.webrtc.jitter_latency_ms = 200;  // negotiated always; frames flow only when asked for
  // A loopback server gathers ICE candidates on that address only, never on the machine's interfaces.
  if (IsLoopbackName(options.host)) impl->context.webrtc.local_addresses = {ListenAddress(options.host)};
  if (!options.ice_addresses.empty()) {
    for (const std::string& address : options.ice_addresses) {
      if (!media::IsIpAddress(address)) return Error("--ice-address must be an IP address of this machine, not '" + address + "'");
    }
    impl->context.webrtc.local_addresses = options.ice_addresses;
  }
  impl->ice.ApplyTo(impl->context.webrtc);
  impl->context.ice = &impl->ice;
  impl->context.offer_timeout = std::chrono::milliseconds(options.connect_timeout_ms);
  impl->context.webrtc.connect_timeout_ms = options.connect_timeout_ms;
  impl->context.webrtc.media_timeout_ms = options.silence_timeout_ms;
  impl->context.webrtc.congestion_feedback = options.congestion_feedback;
  impl->context.webrtc.congestion_feedback_total = impl->metrics.congestion_feedback_sent;
  if (options.restart_grace_ms < 0) return Error("--restart-grace-ms must be 0 (no grace) or more");
  impl->context.webrtc.restart_grace_ms = options.restart_grace_ms;
  Impl* raw = impl.get();
  impl->context.on_closed = [raw](const std::string& id) {
    auto it = raw->sessions.find(id);
    if (it == raw->sessions.end()) return;
    if (raw->front_door) raw->front_door->SessionClosed(it->second->connection());
    raw->closed_recovery += it->second->Recovery();
    raw->sessions.erase(it);
    raw->ScheduleTrim();
    if (raw->draining && raw->sessions.empty()) raw->EndDrain();  // the last client left: nothing to wait for
  };
  impl->context.admit_offer = [raw](const std::string&) -> std::optional<protocol::SignalingError> {
    if (raw->draining) {
      raw->metrics.sessions_refused++;
      return protocol::SignalingError{"draining", kDrainingMessage};
    }
    if (static_cast<int>(raw->OfferedSessions()) < raw->max_sessions) return std::nullopt;
    raw->metrics.sessions_refused++;
    return protocol::SignalingError{"server_full", "the server is serving its maximum of " +
                                                       std::to_string(raw->max_sessions) + " sessions; try again later"};
  };

  GError* error = nullptr;
  media::GObjectPtr<GTlsCertificate> certificate;
  if (!options.tls_cert.empty()) {
    certificate.reset(g_tls_certificate_new_from_files(options.tls_cert.c_str(), options.tls_key.c_str(), &error));
    if (!certificate) {
      media::GErrorPtr owned(error);
      return Error("cannot load the TLS certificate/key: " + std::string(owned->message));
    }
    impl->tls = true;
  }
  // TLS is the front door's (it accepts the connections); libsoup gets the decrypted streams.
  impl->soup.reset(soup_server_new(nullptr, nullptr));
  // Signaling messages are small JSON: compression only helps a client make the server inflate a
  // 51 KB frame into 50 MiB, so the deflate extension is not offered.
  soup_server_remove_websocket_extension(impl->soup.get(), SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  soup_server_add_handler(
      impl->soup.get(), nullptr,
      +[](SoupServer*, SoupServerMessage* message, const char* path, GHashTable*, gpointer data) {
        try {
          static_cast<Impl*>(data)->ServeFile(message, path);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "speakup serve: answering %s: %s\n", path ? path : "?", e.what());
          soup_server_message_set_status(message, SOUP_STATUS_INTERNAL_SERVER_ERROR, nullptr);
        }
      },
      raw, nullptr);
  soup_server_add_websocket_handler(
      impl->soup.get(), "/ws", nullptr, nullptr,
      +[](SoupServer*, SoupServerMessage* message, const char*, SoupWebsocketConnection* connection, gpointer data) {
        try {
          static_cast<Impl*>(data)->OnWebSocket(message, connection);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "speakup serve: opening a session: %s\n", e.what());
          soup_websocket_connection_close(connection, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR, nullptr);
        }
      },
      raw, nullptr);
  media::GObjectPtr<GInetAddress> address(g_inet_address_new_from_string(ListenAddress(options.host).c_str()));
  if (!address) return Error("--host must be an IP address, not '" + options.host + "'");
  media::GObjectPtr<GSocketAddress> socket_address(g_inet_socket_address_new(address.get(), static_cast<guint16>(options.port)));

  RaiseDescriptorLimit();
  FrontDoorOptions door;
  // Each connection is a descriptor, each session about a dozen more (WebRTC sockets, pipes):
  // half the descriptors for connections, the rest for sessions and the process itself.
  const long fd_limit = DescriptorLimit();
  impl->max_connections = options.max_connections > 0 ? static_cast<size_t>(options.max_connections)
                          : fd_limit > 0 ? static_cast<size_t>(std::clamp(fd_limit / 2 - 32, 16L, 65536L))
                                         : 4096;
  door.max_connections = impl->max_connections;
  // A browser opens a few connections for the page beside each session's WebSocket.
  door.max_connections_per_address = options.max_sessions_per_ip > 0 ? static_cast<size_t>(options.max_sessions_per_ip) + 16 : 0;
  door.request_timeout = std::chrono::milliseconds(options.request_timeout_ms);
  door.limits.max_message_bytes = protocol::kMaxSignalingBytes;
  auto front_door = FrontDoor::Listen(impl->soup.get(), socket_address.get(), certificate.get(), door, &impl->metrics);
  if (!front_door) {
    return Error("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + front_door.error() +
                 (options.port ? " (is another server using the port? try --port)" : ""));
  }
  impl->front_door = std::move(*front_door);
  impl->port = impl->front_door->port();
  impl->loop.reset(g_main_loop_new(nullptr, FALSE));
  // Taken from here on, not only once Run() starts: a SIGTERM right after "listening on" must
  // still stop the server cleanly (it is handled when the loop runs).
  auto quit = +[](gpointer data) -> gboolean {
    auto* self = static_cast<Impl*>(data);
    self->CloseAll("the server is shutting down");
    g_main_loop_quit(self->loop.get());
    return G_SOURCE_CONTINUE;
  };
  auto drain = +[](gpointer data) -> gboolean {
    auto* self = static_cast<Impl*>(data);
    if (self->options.drain_seconds <= 0) {
      self->CloseAll("the server is shutting down");
      g_main_loop_quit(self->loop.get());
    } else {
      self->StartDrain();
    }
    return G_SOURCE_CONTINUE;
  };
  impl->sigint.reset(g_unix_signal_add(SIGINT, quit, raw));
  impl->sigterm.reset(g_unix_signal_add(SIGTERM, drain, raw));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

std::string Server::url() const {
  std::string host = impl_->options.host == "127.0.0.1" ? "localhost" : impl_->options.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // an IPv6 address
  return std::string(impl_->tls ? "https://" : "http://") + host + ":" + std::to_string(impl_->port) + "/";
}


void Server::Run() {
  g_main_loop_run(impl_->loop.get());
  impl_->CloseAll("the server is shutting down");
  // libsoup does not close its clients' connections when the server goes (soup_server_disconnect
  // closes only listeners): give the byes a second to go out and the clients to close, then end
  // what is left, so that nothing is left half-open when the process exits.
  if (impl_->front_door) {
    impl_->front_door->StopAccepting();
    impl_->RunLoopWhileConnections(std::chrono::milliseconds(1000));
    impl_->front_door->CloseAll();
    impl_->RunLoopWhileConnections(std::chrono::milliseconds(500));
  }
}

void Server::Drain() {
  if (impl_->options.drain_seconds <= 0) {
    Stop();
  } else {
    impl_->StartDrain();
  }
}

void Server::Stop() {
  impl_->CloseAll("the server is shutting down");
  g_main_loop_quit(impl_->loop.get());
}

}  // namespace speakup::server
