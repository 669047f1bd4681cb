// What a client may send on one TCP connection before libsoup sees it: one request's headers
// (bounded), no request body (no endpoint takes one), and, after a WebSocket upgrade, frames whose
// messages stay under the signaling limit. libsoup 3.2 reads request bodies whole and reassembles
// fragmented WebSocket messages without a bound, so the bytes are checked on their way in.
// Pure: bytes in, a verdict out; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace speakup::server {

struct ConnectionLimits {
  size_t max_header_bytes = 16 * 1024;     // the request line and headers together
  size_t max_message_bytes = 64 * 1024;    // one WebSocket message, all its fragments together
};

class ConnectionFilter {
 public:
  enum class Phase {
    kRequest,    // reading the request line and headers
    kResponse,   // a plain HTTP request was read: nothing more is taken from this connection
    kWebSocket,  // an upgrade request was read: WebSocket frames follow
    kRefused,    // the input broke a limit (see refusal()): nothing more is taken
  };
  // Why the input was refused, with the HTTP status a plain request gets (0: a WebSocket message
  // was too large; the session answers that itself).
  struct Refusal {
    int http_status = 0;
    std::string reason;
  };

  explicit ConnectionFilter(ConnectionLimits limits = {}) : limits_(limits) {}

  // Takes the next bytes read from the client; returns how many of them (a prefix) may go on to
  // libsoup. Fewer than given means the connection broke a limit or left the request phase:
  // phase() says which. Bytes after the end of a plain request are never passed on (one request
  // per connection: the server answers with Connection: close).
  size_t Feed(std::span<const uint8_t> bytes);

  Phase phase() const { return phase_; }
  const Refusal& refusal() const { return refusal_; }

 private:
  size_t FeedRequest(std::span<const uint8_t> bytes);
  size_t FeedFrames(std::span<const uint8_t> bytes);
  void CheckHeaders();
  void Refuse(int http_status, std::string reason);

  ConnectionLimits limits_;
  Phase phase_ = Phase::kRequest;
  Refusal refusal_;
  std::string headers_;  // the request so far (at most max_header_bytes)

  // WebSocket frame parsing: the header being read, the payload left to skip, the message so far.
  uint8_t frame_header_[14] = {};
  size_t frame_header_size_ = 0;
  uint64_t payload_left_ = 0;
  uint64_t message_bytes_ = 0;
};

}  // namespace speakup::server
