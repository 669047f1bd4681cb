// How a peer's incoming video recovered from the path: read from the elements webrtcbin made for
// it (the jitter buffer's stats, the RTX receiver's counters). Cheap enough for every /metrics
// scrape: one walk over the bin, no promises, no allocations but the stats structure.
#pragma once

#include <gst/gst.h>

#include <cstdint>

namespace speakup::media {

struct RtpRecovery {
  uint64_t packets_lost = 0;             // given up by the jitter buffer (never arrived, nor retransmitted in time)
  uint64_t retransmission_requests = 0;  // packets asked for again by NACK
  uint64_t retransmitted_received = 0;   // RTX packets that arrived
};

// Main context of the peer (webrtcbin alive, not yet in NULL).
RtpRecovery ReadRtpRecovery(GstElement* webrtcbin);

}  // namespace speakup::media
