#include "connection_filter.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace speakup::server {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool ContainsNoCase(std::string_view text, std::string_view word) {
  if (word.size() > text.size()) return false;
  for (size_t i = 0; i + word.size() <= text.size(); ++i) {
    if (EqualsNoCase(text.substr(i, word.size()), word)) return true;
  }
  return false;
}

// The end of the header block (just after its empty line) in `text`, searching from `from`; npos
// while it has not come. Bare LF line ends are taken too, as libsoup takes them.
size_t HeadersEnd(std::string_view text, size_t from) {
  for (size_t i = from; i < text.size(); ++i) {
    if (text[i] != '\n') continue;
    if (i >= 1 && text[i - 1] == '\n') return i + 1;
    if (i >= 3 && text[i - 1] == '\r' && text[i - 2] == '\n' && text[i - 3] == '\r') return i + 1;
  }
  return std::string_view::npos;
}

}  // namespace

size_t ConnectionFilter::Feed(std::span<const uint8_t> bytes) {
  switch (phase_) {
    case Phase::kRequest:
      return FeedRequest(bytes);
    case Phase::kWebSocket:
      return FeedFrames(bytes);
    case Phase::kResponse:
    case Phase::kRefused:
      return 0;
  }
  return 0;
}

void ConnectionFilter::Refuse(int http_status, std::string reason) {
  phase_ = Phase::kRefused;
  refusal_ = {http_status, std::move(reason)};
  headers_.clear();
  headers_.shrink_to_fit();
}

size_t ConnectionFilter::FeedRequest(std::span<const uint8_t> bytes) {
  const size_t before = headers_.size();
  const size_t room = limits_.max_header_bytes - before;
  const size_t taken = std::min(bytes.size(), room);
  headers_.append(reinterpret_cast<const char*>(bytes.data()), taken);
  const size_t end = HeadersEnd(headers_, before >= 3 ? before - 3 : 0);
  if (end == std::string::npos) {
    if (taken < bytes.size() || headers_.size() >= limits_.max_header_bytes) {
      Refuse(431, "the request headers are larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
      return 0;
    }
    return taken;
  }
  headers_.resize(end);
  CheckHeaders();
  if (phase_ == Phase::kRefused) return 0;
  const size_t used = end - before;  // bytes of this chunk that belong to the request
  headers_.clear();
  headers_.shrink_to_fit();
  if (phase_ == Phase::kWebSocket) return used + FeedFrames(bytes.subspan(used));
  return used;
}

void ConnectionFilter::CheckHeaders() {
  std::string_view rest = headers_;
  rest.remove_prefix(std::min(rest.size(), rest.find('\n') + 1));  // the request line
  bool upgrade = false;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // the empty line, or one libsoup refuses itself
    const std::string_view name = Trim(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsNoCase(name, "Content-Length")) {
      if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        Refuse(400, "the Content-Length header is not a number");
        return;
      }
      if (value.find_first_not_of('0') != std::string_view::npos) {
        Refuse(413, "this server takes no request bodies");
        return;
      }
    } else if (EqualsNoCase(name, "Transfer-Encoding")) {
      Refuse(413, "this server takes no request bodies");
      return;
    } else if (EqualsNoCase(name, "Upgrade") && ContainsNoCase(value, "websocket")) {
      upgrade = true;
    }
  }
  phase_ = upgrade ? Phase::kWebSocket : Phase::kResponse;
}

size_t ConnectionFilter::FeedFrames(std::span<const uint8_t> bytes) {
  size_t at = 0;
  size_t frame_start = 0;  // where the frame being read began in `bytes` (0 if in an earlier call)
  while (at < bytes.size()) {
    if (payload_left_ > 0) {
      const size_t skip = static_cast<size_t>(std::min<uint64_t>(payload_left_, bytes.size() - at));
      payload_left_ -= skip;
      at += skip;
      continue;
    }
    if (frame_header_size_ == 0) frame_start = at;
    frame_header_[frame_header_size_++] = bytes[at++];
    if (frame_header_size_ < 2) continue;
    const uint8_t length7 = frame_header_[1] & 0x7f;
    const size_t extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    const size_t mask = (frame_header_[1] & 0x80) ? 4 : 0;
    if (frame_header_size_ < 2 + extended + mask) continue;
    uint64_t payload = length7;
    if (extended) {
      payload = 0;
      for (size_t i = 0; i < extended; ++i) payload = (payload << 8) | frame_header_[2 + i];
    }
    frame_header_size_ = 0;
    const uint8_t opcode = frame_header_[0] & 0x0f;
    const bool control = (opcode & 0x08) != 0;
    // Control frames (ping, pong, close) carry at most 125 bytes and may come between the
    // fragments of a message; a new message starts the count, continuation frames add to it.
    const uint64_t limit = control ? 125 : limits_.max_message_bytes;
    const uint64_t before = control || opcode != 0 ? 0 : message_bytes_;
    if (payload > limit || before + payload > limit) {
      Refuse(0, "a WebSocket message of more than " + std::to_string(limit) + " bytes");
      return frame_start;  // libsoup never sees the offending frame (at most a part of its header)
    }
    if (!control) message_bytes_ = before + payload;
    payload_left_ = payload;
  }
  return at;
}

}  // namespace speakup::server
