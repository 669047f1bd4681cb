// A lossy, delaying network path on a client's send side (LoadOptions loss_pct, delay_ms, jitter_ms,
// seed), placed where a real network is: between webrtcbin's RTP session (and its RTX sender) and
// the DTLS/SRTP transport, through webrtcbin's `request-aux-sender` signal. So the RTX sender keeps
// every packet in its history, and retransmissions cross the same lossy path as the originals.
//
//   rtprtxsend -> [ seeded loss (pad probe) -> netsim (delay, jitter) ] -> dtlssrtpenc -> ICE
//
// GStreamer 1.22's netsim draws from an unseeded GRand, so the loss pattern is drawn here with our
// own seeded generator (SeededLoss) and netsim only delays. The delay of each packet is uniform in
// [delay - jitter, delay + jitter] (netsim's draws, not seeded); packets keep their order like in a
// queue (netsim allow-reordering=false: a packet drawn earlier than the one before it leaves just
// after it), as on a real path where the jitter is queueing, not route flapping. RTCP (NACKs and
// PLIs coming back, receiver reports going out) is not impaired.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "speakup/status.h"

namespace speakup::loadgen {

struct NetworkPath {
  double loss_pct = 0;  // [0, 100): each RTP packet (retransmissions too) is dropped with this chance
  int delay_ms = 0;     // [0, 10000]: mean one-way delay added
  int jitter_ms = 0;    // [0, delay_ms]: the delay varies uniformly in [delay - jitter, delay + jitter]
  uint64_t seed = 1;    // the loss pattern repeats for the same seed (each client mixes in its id)
  // [0, 100]: the chance a retransmission (RTX: a payload type other than the video's) is dropped;
  // < 0: loss_pct. 100 makes every loss permanent, as on a path whose retransmissions come too late.
  double rtx_loss_pct = -1;

  double RtxLossPct() const { return rtx_loss_pct < 0 ? loss_pct : rtx_loss_pct; }
  bool impaired() const { return loss_pct > 0 || RtxLossPct() > 0 || delay_ms > 0; }
};

// An error naming the flag at fault (--loss, --rtx-loss, --delay, --jitter) and its allowed range.
Status CheckNetworkPath(const NetworkPath& path);

// The loss draws. A packet's fate is a hash (SplitMix64, the same on every platform and standard
// library, unlike std::uniform_real_distribution) of the seed, its stream (RTP payload type: the
// video or its RTX) and its place in that stream (sequence number counted from the stream's first
// packet): so the same packets are lost on every run, even though the RTX sender's thread and the
// video's interleave differently, and the random SSRCs and first sequence numbers do not matter.
class SeededLoss {
 public:
  SeededLoss(double loss_pct, uint64_t seed) : threshold_(loss_pct / 100.0), seed_(seed) {}
  bool Drop(uint32_t stream, uint64_t index) const;

 private:
  double threshold_;
  uint64_t seed_;
};

// What a client's path did, read at the report (any thread).
struct PathCounters {
  std::atomic<uint64_t> packets{0};  // RTP packets that entered the path
  std::atomic<uint64_t> dropped{0};  // of those, dropped
};

// The element for `request-aux-sender` (a floating bin with "sink" and "src" pads), or an error when
// netsim (gstreamer1.0-plugins-bad) is missing. `stream_seed` is the path's seed mixed with the
// client's id; packets of `video_payload_type` are the video, others its retransmissions; `counters`
// must outlive the bin's pipeline.
Expected<GstElement*> MakeNetworkPathBin(const NetworkPath& path, uint64_t stream_seed, int video_payload_type,
                                         std::shared_ptr<PathCounters> counters);

// Mixes a client's id into the run's seed, so clients lose different packets but every run repeats.
uint64_t ClientSeed(uint64_t seed, int client_id);

}  // namespace speakup::loadgen
