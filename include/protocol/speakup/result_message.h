// The binary result message of docs/protocol.md: one per processed frame, sent on the data channel.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "speakup/face_types.h"
#include "speakup/status.h"

namespace speakup::protocol {

// Version 2 added the blendshape scores to each face record (the Face Landmarker model); the
// decoders take version 2 only.
inline constexpr uint8_t kProtocolVersion = 2;

struct ResultTimings {
  float queue_ms = 0, detect_ms = 0, landmarks_ms = 0, geometry_ms = 0, total_ms = 0;
};

struct ResultHeader {
  bool detected = false;
  uint32_t rtp_timestamp = 0;
  uint32_t sequence = 0;
  ResultTimings timings;
};

std::vector<uint8_t> EncodeResult(const face::FaceResult& result, const ResultHeader& header);

// The inverse, for tests and native clients: every length is checked against the message size.
struct DecodedResult {
  ResultHeader header;
  int width = 0, height = 0;
  std::vector<face::Face> faces;
};
Expected<DecodedResult> DecodeResult(std::span<const uint8_t> message);

}  // namespace speakup::protocol
