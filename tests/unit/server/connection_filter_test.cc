// What a client may send before libsoup sees it: one request's headers, no body, WebSocket
// messages under the limit however they are fragmented, whatever the read sizes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "connection_filter.h"

namespace speakup::server {
namespace {

using Phase = ConnectionFilter::Phase;

std::vector<uint8_t> Bytes(const std::string& text) { return {text.begin(), text.end()}; }

// A masked client frame: FIN, opcode, payload of `size` bytes.
std::vector<uint8_t> Frame(bool fin, uint8_t opcode, uint64_t size) {
  std::vector<uint8_t> frame = {static_cast<uint8_t>((fin ? 0x80 : 0) | opcode)};
  if (size < 126) {
    frame.push_back(static_cast<uint8_t>(0x80 | size));
  } else if (size <= 0xffff) {
    frame.push_back(0x80 | 126);
    frame.push_back(static_cast<uint8_t>(size >> 8));
    frame.push_back(static_cast<uint8_t>(size));
  } else {
    frame.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<uint8_t>(size >> shift));
  }
  for (uint8_t m : {0x11, 0x22, 0x33, 0x44}) frame.push_back(m);
  frame.resize(frame.size() + size, 'x');
  return frame;
}

void Append(std::vector<uint8_t>& to, const std::vector<uint8_t>& more) { to.insert(to.end(), more.begin(), more.end()); }

const std::string kUpgrade =
    "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// Feeds `bytes` in pieces of random sizes (seeded); returns how many were passed in all.
size_t FeedInPieces(ConnectionFilter& filter, const std::vector<uint8_t>& bytes, unsigned seed, size_t max_piece) {
  std::mt19937 random(seed);
  size_t at = 0, passed = 0;
  while (at < bytes.size()) {
    const size_t piece = std::min(bytes.size() - at, 1 + random() % max_piece);
    const size_t took = filter.Feed(std::span(bytes.data() + at, piece));
    passed += took;
    if (took < piece) break;
    at += piece;
  }
  return passed;
}

TEST(ConnectionFilter, PlainRequestPassesThenNothingMore) {
  ConnectionFilter filter;
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto bytes = Bytes(request + "GET /again HTTP/1.1\r\n\r\n");
  EXPECT_EQ(filter.Feed(bytes), request.size()) << "a pipelined second request is not passed on";
  EXPECT_EQ(filter.phase(), Phase::kResponse);
  EXPECT_EQ(filter.Feed(Bytes("more")), 0u);
}

TEST(ConnectionFilter, HeadersSplitAnywhere) {
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  for (size_t max_piece : {1, 2, 3, 7}) {
    ConnectionFilter filter;
    EXPECT_EQ(FeedInPieces(filter, Bytes(request), 1, max_piece), request.size());
    EXPECT_EQ(filter.phase(), Phase::kResponse) << "Content-Length: 0 is no body";
  }
}

TEST(ConnectionFilter, BareLineFeedsEndTheHeadersToo) {
  ConnectionFilter filter;
  const std::string request = "GET / HTTP/1.0\nHost: x\n\n";
  EXPECT_EQ(filter.Feed(Bytes(request)), request.size());
  EXPECT_EQ(filter.phase(), Phase::kResponse);
}

TEST(ConnectionFilter, BodiesAreRefusedBeforeTheyArePassed) {
  struct Case {
    std::string header;
    int status;
  };
  for (const Case& c : {Case{"Content-Length: 104857600", 413}, Case{"content-length:  12 ", 413},
                        Case{"Transfer-Encoding: chunked", 413}, Case{"TRANSFER-ENCODING: identity", 413},
                        Case{"Content-Length: -5", 400}, Case{"Content-Length: 1e3", 400}, Case{"Content-Length:", 400}}) {
    ConnectionFilter filter;
    const auto bytes = Bytes("POST /healthz HTTP/1.1\r\nHost: x\r\n" + c.header + "\r\n\r\nbody");
    EXPECT_EQ(filter.Feed(bytes), 0u) << c.header;
    EXPECT_EQ(filter.phase(), Phase::kRefused) << c.header;
    EXPECT_EQ(filter.refusal().http_status, c.status) << c.header;
    EXPECT_FALSE(filter.refusal().reason.empty());
  }
}

TEST(ConnectionFilter, OversizedHeadersAreRefused) {
  ConnectionFilter filter({.max_header_bytes = 1024});
  std::string request = "GET / HTTP/1.1\r\n";
  while (request.size() < 2000) request += "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  const size_t passed = FeedInPieces(filter, Bytes(request), 2, 100);
  EXPECT_LE(passed, 1024u);
  EXPECT_EQ(filter.phase(), Phase::kRefused);
  EXPECT_EQ(filter.refusal().http_status, 431);
}

TEST(ConnectionFilter, HeadersJustUnderTheLimitPass) {
  ConnectionFilter filter({.max_header_bytes = 64});
  const std::string request = "GET / HTTP/1.1\r\nHost: 0123456789012345678901234567890123\r\n\r\n";
  ASSERT_LT(request.size(), 64u);
  EXPECT_EQ(filter.Feed(Bytes(request)), request.size());
  EXPECT_EQ(filter.phase(), Phase::kResponse);
}

TEST(ConnectionFilter, WebSocketMessagesUnderTheLimitPass) {
  ConnectionFilter filter({.max_message_bytes = 1000});
  auto bytes = Bytes(kUpgrade);
  Append(bytes, Frame(true, 1, 1000));   // exactly the limit
  Append(bytes, Frame(false, 1, 400));   // a fragmented one of 1000
  Append(bytes, Frame(true, 9, 125));    // a ping between fragments
  Append(bytes, Frame(false, 0, 300));
  Append(bytes, Frame(true, 0, 300));
  Append(bytes, Frame(true, 2, 70000 % 999));  // the count starts again
  for (unsigned seed = 0; seed < 20; ++seed) {
    ConnectionFilter each({.max_message_bytes = 1000});
    EXPECT_EQ(FeedInPieces(each, bytes, seed, 1 + seed * 37), bytes.size()) << seed;
    EXPECT_EQ(each.phase(), Phase::kWebSocket);
  }
}

TEST(ConnectionFilter, OneOversizedFrameIsStoppedBeforeLibsoupSeesIt) {
  ConnectionFilter filter({.max_message_bytes = 65536});
  auto bytes = Bytes(kUpgrade);
  const size_t before = bytes.size() + 20 + 6;
  Append(bytes, Frame(true, 1, 20));
  Append(bytes, Frame(true, 1, 70000));
  EXPECT_EQ(filter.Feed(bytes), before) << "everything up to the oversized frame, not its header";
  EXPECT_EQ(filter.phase(), Phase::kRefused);
  EXPECT_EQ(filter.refusal().http_status, 0) << "the session answers a WebSocket itself";
}

TEST(ConnectionFilter, FragmentsAddUpToTheLimit) {
  // 64 MiB in 4 KiB fragments used to be reassembled whole by libsoup.
  for (unsigned seed = 0; seed < 10; ++seed) {
    ConnectionFilter filter({.max_message_bytes = 65536});
    auto bytes = Bytes(kUpgrade);
    Append(bytes, Frame(false, 1, 4096));
    for (int i = 0; i < 40; ++i) Append(bytes, Frame(false, 0, 4096));
    const size_t passed = FeedInPieces(filter, bytes, seed, 1 + seed * 1000);
    EXPECT_EQ(filter.phase(), Phase::kRefused) << seed;
    // 16 whole frames (8-byte headers) make 64 KiB; of the 17th at most a part of its header.
    EXPECT_LE(passed, kUpgrade.size() + 16 * (4096 + 8) + 7) << "at most 64 KiB of payload went on";
    EXPECT_GE(passed, kUpgrade.size() + 16 * (4096 + 8)) << "the first 64 KiB went on";
    EXPECT_EQ(filter.Feed(bytes), 0u) << "nothing after the refusal";
  }
}

TEST(ConnectionFilter, HugeLengthsDoNotOverflow) {
  ConnectionFilter filter;
  auto bytes = Bytes(kUpgrade);
  Append(bytes, Frame(false, 1, 10));
  std::vector<uint8_t> huge = {0x00, 0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3, 4};
  Append(bytes, huge);
  filter.Feed(bytes);
  EXPECT_EQ(filter.phase(), Phase::kRefused);
}

TEST(ConnectionFilter, LongControlFramesAreRefused) {
  ConnectionFilter filter;
  auto bytes = Bytes(kUpgrade);
  Append(bytes, Frame(true, 9, 200));
  filter.Feed(bytes);
  EXPECT_EQ(filter.phase(), Phase::kRefused);
}

}  // namespace
}  // namespace speakup::server
