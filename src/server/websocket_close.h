// Closing a signaling WebSocket without losing what was just sent to it.
#pragma once

#include <libsoup/soup.h>

namespace speakup::server {

// Starts the closing handshake and keeps a reference to `connection` until libsoup has finished it
// (the client's close frame, or libsoup's own timeout). Dropping the last reference at once would
// close the socket at once: frames libsoup had not written yet would be lost, and with client
// messages still unread the kernel would reset the connection, so the client could lose the
// `error`/`bye` it was just sent (seen with a signaling flood). Takes a reference of its own.
inline void CloseWhenSent(SoupWebsocketConnection* connection, gushort code, const char* reason) {
  const SoupWebsocketState state = soup_websocket_connection_get_state(connection);
  if (state == SOUP_WEBSOCKET_STATE_CLOSED) return;
  g_object_ref(connection);
  g_signal_connect(connection, "closed", G_CALLBACK(+[](SoupWebsocketConnection* closed, gpointer) {
                     g_object_unref(closed);  // libsoup holds its own reference while emitting
                   }),
                   nullptr);
  if (state == SOUP_WEBSOCKET_STATE_OPEN) soup_websocket_connection_close(connection, code, reason);
}

}  // namespace speakup::server
