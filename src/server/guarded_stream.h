// The stream libsoup reads a client connection through: a GPollableInputStream over the
// connection's (plain or TLS) input that passes on only what the connection's ConnectionFilter
// allows and, once the connection is refused, stops reading (or reads and drops), so a client can
// never make libsoup buffer more than the limits.
#pragma once

#include <gio/gio.h>

#include <functional>
#include <memory>

#include "connection_filter.h"

namespace speakup::server {

// What the stream does with the client's bytes.
enum class GuardedInputMode {
  kFilter,  // pass on what the filter allows
  kDrop,    // read and drop (a refused HTTP request: its answer must reach the client before the
            // close, which unread data would turn into a reset)
  kPause,   // read nothing more (a refused WebSocket, an oversized message, after a request)
  kEnd,     // libsoup reads the end of the stream at once: the connection is being closed
};

// Shared by the stream and the front door that watches the connection. Main loop only.
struct GuardedInputState {
  explicit GuardedInputState(ConnectionLimits limits) : filter(limits) {}
  ConnectionFilter filter;
  // Set by the front door; the filter's own verdicts (a refusal, the end of a plain request) are
  // applied by the stream. Modes only go down the list.
  GuardedInputMode mode = GuardedInputMode::kFilter;
  GuardedInputMode Effective() const;
  // The filter's phase changed during a read (called from inside libsoup's read: do not re-enter
  // libsoup from here; post work to the main loop instead).
  std::function<void(ConnectionFilter::Phase)> on_phase;
  // The stream was closed (by libsoup, when it is done with the connection). Called at most once.
  std::function<void()> on_closed;
};

// A new input stream reading from `base_input`; closing it closes `socket_connection` (the plain
// TCP connection under any TLS: a TLS close_notify could block on a client that does not read).
// Returns a full reference.
GInputStream* NewGuardedInput(GInputStream* base_input, GIOStream* socket_connection,
                              std::shared_ptr<GuardedInputState> state);

}  // namespace speakup::server
