// libFuzzer target: any text a client sends over the signaling WebSocket (or the data channel)
// must parse into a message or a documented error, never crash or hang; so must a welcome (and its
// ICE server URLs) that a client reads from a server.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "speakup/signaling.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = speakup::protocol::ParseClientMessage(text);
  if (auto* error = std::get_if<speakup::protocol::SignalingError>(&parsed)) {
    if (error->code.empty() || error->message.empty()) __builtin_trap();  // every refusal says why
  }
  (void)speakup::protocol::ParseOptionsMessage(text);
  auto welcome = speakup::protocol::ParseWelcome(text);
  if (welcome && !speakup::protocol::CheckIceServers(welcome->ice_servers).ok()) __builtin_trap();
  auto url = speakup::protocol::ParseIceUrl(text);
  // A parsed URL prints in a canonical form that parses back to the same URL.
  if (url) {
    auto again = speakup::protocol::ParseIceUrl(speakup::protocol::ToString(*url));
    if (!again || !(*again == *url)) __builtin_trap();
  }
  return 0;
}
