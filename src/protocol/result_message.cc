#include "speakup/result_message.h"

#include <bit>
#include <cstring>

namespace speakup::protocol {
namespace {

constexpr size_t kHeaderBytes = 36;
constexpr size_t kFaceFixedBytes = 104;  // everything in a face record but the landmarks and blendshapes

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
  template <typename T>
  void Put(T value) {
    const size_t at = out_.size();
    out_.resize(at + sizeof(T));
    std::memcpy(out_.data() + at, &value, sizeof(T));  // the machines we run on are little-endian
  }

 private:
  std::vector<uint8_t>& out_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  template <typename T>
  bool Get(T& value) {
    if (in_.size() - at_ < sizeof(T)) return false;
    std::memcpy(&value, in_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return true;
  }
  size_t remaining() const { return in_.size() - at_; }

 private:
  std::span<const uint8_t> in_;
  size_t at_ = 0;
};

}  // namespace

std::vector<uint8_t> EncodeResult(const face::FaceResult& result, const ResultHeader& header) {
  static_assert(std::endian::native == std::endian::little, "the wire format is little-endian");
  size_t size = kHeaderBytes;
  for (const face::Face& f : result.faces) size += kFaceFixedBytes + 12 * f.landmarks.size() + 4 * f.blendshapes.size();
  std::vector<uint8_t> out;
  out.reserve(size);
  Writer w(out);
  w.Put<uint8_t>(kProtocolVersion);
  w.Put<uint8_t>(header.detected ? 1 : 0);
  w.Put<uint16_t>(static_cast<uint16_t>(result.faces.size()));
  w.Put<uint32_t>(header.rtp_timestamp);
  w.Put<uint32_t>(header.sequence);
  w.Put<uint16_t>(static_cast<uint16_t>(result.width));
  w.Put<uint16_t>(static_cast<uint16_t>(result.height));
  for (float t : {header.timings.queue_ms, header.timings.detect_ms, header.timings.landmarks_ms,
                  header.timings.geometry_ms, header.timings.total_ms}) {
    w.Put<float>(t);
  }
  for (const face::Face& f : result.faces) {
    w.Put<uint32_t>(static_cast<uint32_t>(f.id));
    w.Put<float>(f.score);
    for (float v : {f.box.x, f.box.y, f.box.width, f.box.height}) w.Put<float>(v);
    w.Put<uint16_t>(static_cast<uint16_t>(f.landmarks.size()));
    w.Put<uint16_t>(static_cast<uint16_t>(f.blendshapes.size()));
    for (const face::Landmark& p : f.landmarks) {
      w.Put<float>(p.x);
      w.Put<float>(p.y);
      w.Put<float>(p.z);
    }
    for (float v : f.pose) w.Put<float>(v);
    for (float v : {f.yaw, f.pitch, f.roll}) w.Put<float>(v);
    for (float v : f.blendshapes) w.Put<float>(v);
  }
  return out;
}

Expected<DecodedResult> DecodeResult(std::span<const uint8_t> message) {
  Reader r(message);
  DecodedResult decoded;
  uint8_t version = 0, flags = 0;
  uint16_t faces = 0, width = 0, height = 0;
  if (!r.Get(version) || !r.Get(flags) || !r.Get(faces) || !r.Get(decoded.header.rtp_timestamp) ||
      !r.Get(decoded.header.sequence) || !r.Get(width) || !r.Get(height)) {
    return Error("result message too short for its header (" + std::to_string(message.size()) + " bytes)");
  }
  if (version != kProtocolVersion) {
    return Error("result message has protocol version " + std::to_string(version) + ", expected " +
                 std::to_string(kProtocolVersion));
  }
  ResultTimings& t = decoded.header.timings;
  if (!r.Get(t.queue_ms) || !r.Get(t.detect_ms) || !r.Get(t.landmarks_ms) || !r.Get(t.geometry_ms) || !r.Get(t.total_ms)) {
    return Error("result message too short for its timings");
  }
  decoded.header.detected = flags & 1;
  decoded.width = width;
  decoded.height = height;
  for (uint16_t i = 0; i < faces; ++i) {
    face::Face f;
    uint32_t id = 0;
    uint16_t count = 0, blendshapes = 0;
    if (!r.Get(id) || !r.Get(f.score) || !r.Get(f.box.x) || !r.Get(f.box.y) || !r.Get(f.box.width) ||
        !r.Get(f.box.height) || !r.Get(count) || !r.Get(blendshapes)) {
      return Error("result message truncated in face " + std::to_string(i));
    }
    if (r.remaining() < 12u * count + 76u + 4u * blendshapes) {
      return Error("result message truncated in face " + std::to_string(i) + " (" + std::to_string(count) +
                   " landmarks, " + std::to_string(blendshapes) + " blendshapes need " +
                   std::to_string(12u * count + 76u + 4u * blendshapes) + " more bytes, " +
                   std::to_string(r.remaining()) + " left)");
    }
    f.id = static_cast<int>(id);
    f.landmarks.resize(count);
    for (face::Landmark& p : f.landmarks) r.Get(p.x), r.Get(p.y), r.Get(p.z);
    for (float& v : f.pose) r.Get(v);
    r.Get(f.yaw), r.Get(f.pitch), r.Get(f.roll);
    f.blendshapes.resize(blendshapes);
    for (float& v : f.blendshapes) r.Get(v);
    decoded.faces.push_back(std::move(f));
  }
  if (r.remaining() != 0) return Error("result message has " + std::to_string(r.remaining()) + " bytes after its last face");
  return decoded;
}

}  // namespace speakup::protocol
