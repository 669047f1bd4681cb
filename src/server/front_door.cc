#include "front_door.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace speakup::server {
namespace {

// Which connection a request came on: libsoup gives back the very remote-address object the
// connection was handed over with, so the connection's id rides on it.
GQuark ConnectionQuark() {
  static const GQuark quark = g_quark_from_static_string("speakup-connection-id");
  return quark;
}

std::string AddressText(GSocketAddress* address) {
  if (!G_IS_INET_SOCKET_ADDRESS(address)) return "";
  media::GCharPtr text(g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address))));
  return text.get();
}

const char* StatusText(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

Expected<std::unique_ptr<FrontDoor>> FrontDoor::Listen(SoupServer* soup, GSocketAddress* address,
                                                       GTlsCertificate* certificate, FrontDoorOptions options,
                                                       Metrics* metrics) {
  std::unique_ptr<FrontDoor> door(new FrontDoor());
  door->soup_ = soup;
  door->options_ = std::move(options);
  door->metrics_ = metrics;
  if (certificate) door->certificate_.reset(G_TLS_CERTIFICATE(g_object_ref(certificate)));
  GError* error = nullptr;
  door->listener_.reset(g_socket_new(g_socket_address_get_family(address), G_SOCKET_TYPE_STREAM,
                                     G_SOCKET_PROTOCOL_TCP, &error));
  if (door->listener_) {
    g_socket_set_blocking(door->listener_.get(), FALSE);
    // GLib's default backlog is 10: a burst of clients beyond it waits for SYN retransmits
    // (seconds). 511 as nginx (the kernel caps it at net.core.somaxconn).
    g_socket_set_listen_backlog(door->listener_.get(), 511);
    if (g_socket_address_get_family(address) == G_SOCKET_FAMILY_IPV6) {
      g_socket_set_option(door->listener_.get(), IPPROTO_IPV6, IPV6_V6ONLY, TRUE, nullptr);
    }
  }
  if (!door->listener_ || !g_socket_bind(door->listener_.get(), address, TRUE, &error) ||
      !g_socket_listen(door->listener_.get(), &error)) {
    media::GErrorPtr owned(error);
    return Error(owned ? owned->message : "cannot create a socket");
  }
  media::GObjectPtr<GSocketAddress> bound(g_socket_get_local_address(door->listener_.get(), nullptr));
  if (bound && G_IS_INET_SOCKET_ADDRESS(bound.get())) {
    door->port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound.get()));
  }
  FrontDoor* raw = door.get();
  door->finished_handler_ = g_signal_connect(
      soup, "request-finished", G_CALLBACK(+[](SoupServer*, SoupServerMessage* message, gpointer data) {
        static_cast<FrontDoor*>(data)->OnRequestFinished(message);
      }),
      raw);
  door->sweep_timer_.reset(g_timeout_add(250, +[](gpointer data) -> gboolean {
    static_cast<FrontDoor*>(data)->Sweep();
    return G_SOURCE_CONTINUE;
  }, raw));
  door->StartAccepting();
  return door;
}

FrontDoor::~FrontDoor() {
  *alive_ = false;
  if (finished_handler_) g_signal_handler_disconnect(soup_, finished_handler_);
  for (auto& [id, connection] : connections_) {
    connection.state->on_closed = nullptr;
    connection.state->on_phase = nullptr;
  }
}

void FrontDoor::StartAccepting() {
  if (listener_closed_) return;
  GSource* source = g_socket_create_source(listener_.get(), G_IO_IN, nullptr);
  GSocketSourceFunc on_acceptable = [](GSocket*, GIOCondition, gpointer data) -> gboolean {
    static_cast<FrontDoor*>(data)->OnAcceptable();
    return G_SOURCE_CONTINUE;
  };
  // GLib's way for socket sources: the callback is cast to GSourceFunc and called with its real type.
  g_source_set_callback(source, G_SOURCE_FUNC(on_acceptable), this, nullptr);
  accept_source_.reset(g_source_attach(source, nullptr));
  g_source_unref(source);
}

void FrontDoor::OnAcceptable() {
  for (int i = 0; i < 64; ++i) {  // a batch, then the other sources get their turn
    GError* error = nullptr;
    GSocket* socket = g_socket_accept(listener_.get(), nullptr, &error);
    if (socket) {
      Admit(socket);
      g_object_unref(socket);
      continue;
    }
    media::GErrorPtr owned(error);
    if (g_error_matches(owned.get(), G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) return;
    // Out of descriptors (EMFILE/ENFILE) or memory: the connection waits in the kernel's queue.
    // Pause accepting (not stop: libsoup's own listener never came back) and try again shortly;
    // closing sessions and connections free descriptors meanwhile.
    const auto now = Clock::now();
    if (now - last_accept_error_log_ > std::chrono::seconds(1)) {
      last_accept_error_log_ = now;
      std::fprintf(stderr, "speakup serve: cannot accept a connection: %s; trying again in 100 ms "
                   "(raise the open-file limit, ulimit -n, if this goes on)\n", owned->message);
    }
    if (metrics_) metrics_->accept_errors++;
    accept_source_.reset();
    resume_timer_.reset(g_timeout_add(100, +[](gpointer data) -> gboolean {
      auto* self = static_cast<FrontDoor*>(data);
      self->resume_timer_.forget();
      self->StartAccepting();
      return G_SOURCE_REMOVE;
    }, this));
    return;
  }
}

void FrontDoor::WriteStatus(GSocket* socket, int status, const std::string& reason) {
  const std::string body = reason + "\n";
  const std::string response = "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) +
                               "\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               "X-Content-Type-Options: nosniff\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
  // A fresh socket's send buffer takes this small answer whole; if not, the client loses only it.
  g_socket_send_with_blocking(socket, response.data(), response.size(), FALSE, nullptr, nullptr);
}

void FrontDoor::Admit(GSocket* socket) {
  media::GObjectPtr<GSocketAddress> remote(g_socket_get_remote_address(socket, nullptr));
  media::GObjectPtr<GSocketAddress> local(g_socket_get_local_address(socket, nullptr));
  if (!remote || !local) return;  // already gone
  const std::string address = AddressText(remote.get());
  const size_t from_address = per_address_[address];
  std::string refusal;
  if (connections_.size() >= options_.max_connections) {
    refusal = "the server has its maximum of " + std::to_string(options_.max_connections) + " open connections; try again later";
  } else if (options_.max_connections_per_address && from_address >= options_.max_connections_per_address) {
    refusal = "this address has " + std::to_string(from_address) + " open connections, the most the server allows one address";
  }
  if (!refusal.empty()) {
    if (per_address_[address] == 0) per_address_.erase(address);
    if (metrics_) metrics_->connections_refused++;
    WriteStatus(socket, 503, refusal);
    g_socket_close(socket, nullptr);
    return;
  }
  g_socket_set_blocking(socket, FALSE);
  g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, TRUE, nullptr);
  media::GObjectPtr<GSocketConnection> tcp(g_socket_connection_factory_create_connection(socket));
  GIOStream* readable = G_IO_STREAM(tcp.get());
  media::GObjectPtr<GIOStream> tls;
  if (certificate_) {
    GError* error = nullptr;
    tls.reset(g_tls_server_connection_new(G_IO_STREAM(tcp.get()), certificate_.get(), &error));
    if (!tls) {
      media::GErrorPtr owned(error);
      std::fprintf(stderr, "speakup serve: cannot start TLS on a connection: %s\n", owned->message);
      g_socket_close(socket, nullptr);
      return;
    }
    g_object_set(tls.get(), "require-close-notify", FALSE, nullptr);
    readable = tls.get();
  }
  const uint64_t id = next_id_++;
  auto state = std::make_shared<GuardedInputState>(options_.limits);
  std::weak_ptr<bool> alive = alive_;
  state->on_phase = [this, alive, id](ConnectionFilter::Phase phase) {
    if (!alive.expired() && *alive.lock()) OnPhase(id, phase);
  };
  state->on_closed = [this, alive, id] {
    if (!alive.expired() && *alive.lock()) Forget(id);
  };
  media::GObjectPtr<GInputStream> input(NewGuardedInput(g_io_stream_get_input_stream(readable), G_IO_STREAM(tcp.get()), state));
  media::GObjectPtr<GIOStream> stream(g_simple_io_stream_new(input.get(), g_io_stream_get_output_stream(readable)));
  // A TLS connection's own streams hold it only weakly (glib-networking's GTlsInputStream and
  // GTlsOutputStream keep a GWeakRef): the stream libsoup keeps must own it, or it goes mid-request.
  if (tls) g_object_set_data_full(G_OBJECT(stream.get()), "speakup-tls-connection", g_object_ref(tls.get()), g_object_unref);
  g_object_set_qdata(G_OBJECT(remote.get()), ConnectionQuark(), GSIZE_TO_POINTER(static_cast<gsize>(id)));

  Connection& connection = connections_[id];
  connection.id = id;
  connection.address = address;
  connection.socket.reset(G_SOCKET(g_object_ref(socket)));
  connection.remote.reset(G_SOCKET_ADDRESS(g_object_ref(remote.get())));
  connection.state = state;
  connection.deadline = Clock::now() + options_.request_timeout;
  per_address_[address]++;
  GError* error = nullptr;
  if (!soup_server_accept_iostream(soup_, stream.get(), local.get(), remote.get(), &error)) {
    media::GErrorPtr owned(error);
    std::fprintf(stderr, "speakup serve: cannot serve a connection: %s\n", owned ? owned->message : "?");
    Kill(connection);
  }
}

void FrontDoor::OnPhase(uint64_t id, ConnectionFilter::Phase phase) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& connection = it->second;
  const auto now = Clock::now();
  switch (phase) {
    case ConnectionFilter::Phase::kResponse:
    case ConnectionFilter::Phase::kWebSocket:  // until the handshake is answered (WebSocketOpened)
      connection.deadline = now + options_.response_timeout;
      break;
    case ConnectionFilter::Phase::kRefused: {
      const ConnectionFilter::Refusal& refusal = connection.state->filter.refusal();
      connection.deadline = now + options_.linger;  // the stream drops or pauses by itself
      if (refusal.http_status) {
        if (metrics_) metrics_->requests_refused++;
        WriteStatus(connection.socket.get(), refusal.http_status, refusal.reason);
        g_socket_shutdown(connection.socket.get(), FALSE, TRUE, nullptr);  // the answer, then FIN
      } else if (connection.on_too_large) {
        // Not from inside libsoup's read: the session answers on the main loop.
        auto* call = new std::function<void()>(connection.on_too_large);
        g_idle_add_full(G_PRIORITY_DEFAULT, +[](gpointer data) -> gboolean {
          (*static_cast<std::function<void()>*>(data))();
          return G_SOURCE_REMOVE;
        }, call, +[](gpointer data) { delete static_cast<std::function<void()>*>(data); });
      }
      break;
    }
    case ConnectionFilter::Phase::kRequest:
      break;
  }
}

uint64_t FrontDoor::ConnectionOf(SoupServerMessage* message) const {
  GSocketAddress* remote = soup_server_message_get_remote_address(message);
  if (!remote) return 0;
  const auto id = static_cast<uint64_t>(GPOINTER_TO_SIZE(g_object_get_qdata(G_OBJECT(remote), ConnectionQuark())));
  return connections_.count(id) ? id : 0;
}

void FrontDoor::WebSocketOpened(uint64_t id, std::function<void()> on_too_large) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  it->second.session = true;
  it->second.deadline = Clock::time_point::max();
  it->second.on_too_large = std::move(on_too_large);
}

void FrontDoor::Refused(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  it->second.session = false;
  it->second.state->mode = std::max(it->second.state->mode, GuardedInputMode::kPause);
  it->second.deadline = Clock::now() + options_.linger;
}

void FrontDoor::SessionClosed(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  it->second.session = false;
  it->second.on_too_large = nullptr;
  it->second.deadline = std::min(it->second.deadline, Clock::now() + options_.closing_timeout);
}

void FrontDoor::StopAccepting() {
  accept_source_.reset();
  resume_timer_.reset();
  listener_closed_ = true;
}

void FrontDoor::CloseAll() {
  StopAccepting();
  for (auto& [id, connection] : connections_) {
    if (!connection.killed) Kill(connection);
  }
}

void FrontDoor::OnRequestFinished(SoupServerMessage* message) {
  // One request per connection (answers say Connection: close); a WebSocket lives on.
  const uint64_t id = ConnectionOf(message);
  auto it = id ? connections_.find(id) : connections_.end();
  if (it == connections_.end() || it->second.session) return;
  // A WebSocket handshake that succeeded lives on (its handler decides); one libsoup refused does not.
  if (soup_server_message_get_status(message) == SOUP_STATUS_SWITCHING_PROTOCOLS) return;
  it->second.deadline = std::min(it->second.deadline, Clock::now() + options_.linger);
}

void FrontDoor::Sweep() {
  const auto now = Clock::now();
  std::vector<uint64_t> abandoned;
  for (auto& [id, connection] : connections_) {
    if (now < connection.deadline) continue;
    if (!connection.killed) {
      Kill(connection);
    } else {
      abandoned.push_back(id);
    }
  }
  // Shut down long ago and libsoup has still not closed it (it stopped watching the connection):
  // close the descriptor ourselves rather than keep it for good.
  for (uint64_t id : abandoned) {
    std::fprintf(stderr, "speakup serve: closing a connection libsoup left open\n");
    g_socket_close(connections_.at(id).socket.get(), nullptr);
    Forget(id);
  }
}

void FrontDoor::Kill(Connection& connection) {
  // libsoup sees the end of the stream (or a failed write) and closes the connection itself,
  // which Forget()s it; the descriptor goes with libsoup's last reference.
  connection.killed = true;
  connection.state->mode = GuardedInputMode::kEnd;
  g_socket_shutdown(connection.socket.get(), TRUE, TRUE, nullptr);
  // If libsoup is not watching this connection at all any more, nothing would ever close it.
  connection.deadline = Clock::now() + options_.closing_timeout;
}

void FrontDoor::Forget(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto count = per_address_.find(it->second.address);
  if (count != per_address_.end() && --count->second == 0) per_address_.erase(count);
  connections_.erase(it);
}

}  // namespace speakup::server
