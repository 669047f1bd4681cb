// libFuzzer target: the offer path of `speakup serve`, from the SDP text (or the signaling message
// quoting it) to the JSON the server answers with. Every step runs as in a session: CheckOffer, then
// a real WebRtcPeer (webrtcbin) that applies the offer and answers; whatever comes back (answer or
// refusal) must become JSON that parses back. An offer once crashed the server here: GStreamer cut
// a long m-line inside a UTF-8 sequence, webrtcbin copied it into its answer and json::dump() threw.
//
// Inputs may write @server-fingerprint@ where the server's DTLS fingerprint goes. webrtcbin applies
// its own answer only when all its fingerprints agree, and an m-line it rejects is copied from the
// offer, fingerprint and all: so such answers, which carry the client's text back, exist only for a
// client that offers with the server's fingerprint. A real client can: every peer of the process has
// the same certificate, shown in any answer. (seeds/offer/long_media_name_utf8.sdp is the crash.)
#include <glib.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "speakup/signaling.h"
#include "speakup/webrtc.h"

namespace {

using nlohmann::json;
namespace media = speakup::media;
namespace protocol = speakup::protocol;

// How long one offer may take to be answered or refused. webrtcbin answers a browser offer in a
// few ms (tens under ASan); an input that takes longer is given up, not failed.
constexpr guint kAnswerWaitMs = 200;

// Offers that reached a peer, by how they ended (printed at exit: the peer path must be exercised).
struct {
  unsigned answered = 0, refused = 0, unanswered = 0;
} peer_counts;

constexpr std::string_view kFingerprintPlaceholder = "@server-fingerprint@";
std::string server_fingerprint;  // from the warm-up's answer: "sha-256 AB:CD:..."

// The target's own main context, thread-default for the whole run (libFuzzer calls everything on
// one thread), so each peer belongs to it and nothing else dispatches its sources.
GMainContext* context = nullptr;

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

// Strict UTF-8 (RFC 3629: no overlongs, surrogates or code points past U+10FFFF), written here
// rather than taken from nlohmann so the round-trip check below does not trust what it checks.
bool IsUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t extra;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if ((extra == 2 && code < 0x800) || (extra == 3 && code < 0x10000) || code > 0x10FFFF ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// A message the server sends must be one JSON object of its type; a string it quotes must come back
// unchanged when it was UTF-8 (otherwise its bad bytes become U+FFFD, which is only checked to parse).
void RequireMessage(const std::string& text, const char* type, const char* field, const std::string& quoted) {
  const json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  Require(!message.is_discarded() && message.is_object());
  Require(message.value("type", "") == type);
  Require(message.contains(field) && message[field].is_string());
  if (IsUtf8(quoted)) Require(message[field].get<std::string>() == quoted);
}

void RequireRefusalJson(const protocol::SignalingError& error) {
  Require(!error.code.empty() && !error.message.empty());
  RequireMessage(protocol::ErrorJson(error.code, error.message), "error", "message", error.message);
}

media::WebRtcOptions PeerOptions() {
  media::WebRtcOptions options;
  options.local_addresses = {"127.0.0.1"};  // no socket beyond loopback
  options.annotated_video = true;           // as `speakup serve` makes its peers
  options.connect_timeout_ms = 500;         // nobody will connect: fail soon if a peer outlives its wait
  options.media_timeout_ms = 500;
  return options;
}

// Dispatches what is pending (tasks of closed peers, which then do nothing but free themselves).
void Drain() {
  for (int i = 0; i < 10000 && g_main_context_iteration(context, FALSE); ++i) {
  }
}

// What Session does with an offer CheckOffer let through: a peer, SetRemoteOffer, and the answer or
// the refusal sent as JSON. Returns the answer (true) or refusal (false) that came within `wait_ms`;
// `reply` gets the answer's or the refusal's text.
std::optional<bool> RunPeer(const std::string& sdp, guint wait_ms, std::string* reply = nullptr) {
  auto peer = media::WebRtcPeer::Create(PeerOptions(), {});
  if (!peer) {
    fprintf(stderr, "fuzz_offer: cannot create a WebRTC peer: %s\n", peer.error().c_str());
    abort();
  }
  std::optional<bool> answered;
  (*peer)->SetRemoteOffer(sdp, [&answered, reply](speakup::Expected<std::string> answer) {
    answered = answer.ok();
    if (reply) *reply = answer ? *answer : answer.error();
    if (answer) {
      RequireMessage(protocol::AnswerJson(*answer), "answer", "sdp", *answer);
    } else {
      Require(!answer.error().empty());
      RequireMessage(protocol::ErrorJson("bad_sdp", answer.error()), "error", "message", answer.error());
    }
  });
  bool timed_out = false;
  GSource* timer = g_timeout_source_new(wait_ms);
  g_source_set_callback(
      timer,
      [](gpointer flag) -> gboolean {
        *static_cast<bool*>(flag) = true;
        return G_SOURCE_REMOVE;
      },
      &timed_out, nullptr);
  g_source_attach(timer, context);
  while (!answered && !timed_out) g_main_context_iteration(context, TRUE);
  g_source_destroy(timer);
  g_source_unref(timer);
  ++(!answered ? peer_counts.unanswered : *answered ? peer_counts.answered : peer_counts.refused);
  (*peer)->Close();
  peer->reset();
  Drain();
  return answered;
}

// One offer's SDP through the whole path.
void RunOffer(std::string sdp) {
  for (size_t at; (at = sdp.find(kFingerprintPlaceholder)) != std::string::npos;) {
    sdp.replace(at, kFingerprintPlaceholder.size(), server_fingerprint);
  }
  // The refusal and the answer quote the client's text, which may be anything.
  RequireMessage(protocol::ErrorJson("bad_sdp", "quoting: " + sdp), "error", "message", "quoting: " + sdp);
  RequireMessage(protocol::AnswerJson(sdp), "answer", "sdp", sdp);
  if (auto refused = protocol::CheckOffer(sdp)) {
    Require(refused->code == "bad_sdp");
    RequireRefusalJson(*refused);
    return;
  }
  // As the session does: what WebRTC gets is the sanitized offer, which must still pass the check.
  const std::string sanitized = protocol::SanitizeOffer(sdp);
  Require(!protocol::CheckOffer(sanitized));
  RunPeer(sanitized, kAnswerWaitMs);
}

}  // namespace

// LeakSanitizer, for this target only. GLib abandons blocks by design: its first quark table
// (allocated in libglib's constructor) and every quark table it outgrows (an offer's fmtp parameter
// names and rtcp-fb types become caps field names, i.e. quarks). tests/lsan.supp names them; its
// patterns need the slow unwinder (GLib has no frame pointers), which at the default 30 frames makes
// this target 5x slower: 8 frames reach them. For full allocation stacks when reproducing an
// artifact: ASAN_OPTIONS=malloc_context_size=30.
extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0:malloc_context_size=8"; }
extern "C" const char* __lsan_default_options() {
  return "suppressions=" SPEAKUP_LSAN_SUPPRESSIONS ":print_suppressions=0";
}

extern "C" int LLVMFuzzerInitialize(int*, char*** argv) {
  // GSlice, GLib's small-block allocator, keeps freed blocks in per-thread caches: ASan cannot see a
  // use after free of them, and LeakSanitizer sometimes reports a thread's cache (its ThreadMemory,
  // held only in thread-local storage; seen once in 30,000 inputs). G_SLICE=always-malloc makes
  // every block a malloc, but GLib reads it before main, so the target starts again with it set.
  const char* slice = getenv("G_SLICE");
  if (!slice || !strstr(slice, "always-malloc")) {
    setenv("G_SLICE", "always-malloc", 1);
    execv("/proc/self/exe", *argv);
    fprintf(stderr, "fuzz_offer: cannot restart with G_SLICE=always-malloc: %s\n", strerror(errno));
    abort();
  }
  context = g_main_context_new();
  g_main_context_push_thread_default(context);
  // One browser-like offer first: it shows the peer path works (a target whose offers all failed
  // would fuzz nothing), gives the server's fingerprint, and pays GStreamer's one-time costs (the
  // registry, plugin types, the DTLS certificate) before the first input.
  const std::string warm_up =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n"
      "a=fingerprint:sha-256 4F:1C:9A:E2:07:5B:D3:88:6E:21:C4:F0:3A:97:B5:0D:62:E8:19:7C:AB:54:F3:2E:0B:D6:71:"
      "8A:C9:45:3F:E0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Xq7v\r\n"
      "a=ice-pwd:m3Rk9pZ2aLwT0sYhBn4cVd8e\r\na=setup:actpass\r\na=mid:0\r\na=sendonly\r\n"
      "a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Xq7v\r\n"
      "a=ice-pwd:m3Rk9pZ2aLwT0sYhBn4cVd8e\r\na=setup:actpass\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\n"
      "a=rtpmap:96 VP8/90000\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
      "a=ice-ufrag:Xq7v\r\na=ice-pwd:m3Rk9pZ2aLwT0sYhBn4cVd8e\r\na=setup:actpass\r\na=mid:2\r\n"
      "a=sctp-port:5000\r\n";
  std::string reply = "no reply";
  if (RunPeer(warm_up, 20000, &reply) != true) {
    fprintf(stderr, "fuzz_offer: the warm-up offer was not answered: %s\n", reply.c_str());
    abort();
  }
  const size_t at = reply.find("a=fingerprint:");
  if (at == std::string::npos) {
    fprintf(stderr, "fuzz_offer: the warm-up answer has no fingerprint:\n%s\n", reply.c_str());
    abort();
  }
  server_fingerprint = reply.substr(at + 14, reply.find_first_of("\r\n", at) - at - 14);
  atexit([] {
    fprintf(stderr, "fuzz_offer: offers given to a peer: %u answered, %u refused, %u not answered within %u ms\n",
            peer_counts.answered, peer_counts.refused, peer_counts.unanswered, kAnswerWaitMs);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  RunOffer(text);
  // The same text as a signaling message: an offer's (JSON-unescaped) SDP takes the same path, any
  // refusal must be sendable.
  auto parsed = protocol::ParseClientMessage(text);
  if (auto* error = std::get_if<protocol::SignalingError>(&parsed)) {
    RequireRefusalJson(*error);
  } else if (auto* offer = std::get_if<protocol::OfferMessage>(&std::get<protocol::ClientMessage>(parsed))) {
    RunOffer(offer->sdp);
  }
  return 0;
}
