// Counts the congestion feedback a peer sends the client: RTCP transport-wide congestion control
// feedback (RTPFB, PT 205 FMT 15) that webrtcbin's RTP session writes once the offer negotiated
// transport-cc and the answer the transport-wide-cc header extension (RemoveCongestionFeedback,
// AnswerTransportWideCc).
//
// The count comes from a buffer probe on the RTCP that rtpbin (inside webrtcbin) sends, before
// SRTP, so it shows what really goes out, not what the SDP promised. The probe holds its own
// reference to the counters, so a probe still running while the pipeline stops reads no freed
// memory.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "gsignal.h"
#include "webrtc_threads.h"

namespace speakup::media {

// The number of transport-wide feedback packets in one RTCP buffer (a compound packet). 0 for a
// buffer that is not valid RTCP.
uint64_t CountTransportFeedback(GstBuffer* rtcp);

class RtcpFeedbackCounter {
 public:
  // `shared_total` (may be null) is also incremented: a server-wide counter shared by peers.
  RtcpFeedbackCounter(HandlerGate& gate, std::shared_ptr<std::atomic<uint64_t>> shared_total);
  RtcpFeedbackCounter(const RtcpFeedbackCounter&) = delete;
  RtcpFeedbackCounter& operator=(const RtcpFeedbackCounter&) = delete;

  // Watches the RTCP that webrtcbin's rtpbin sends (its send_rtcp_src pads, present and future).
  // Call once, before negotiation. False when webrtcbin holds no rtpbin (then nothing is counted).
  bool Attach(GstElement* webrtcbin);
  void Detach() { pad_added_.Disconnect(); }

  uint64_t sent() const { return counts_->sent.load(); }

 private:
  struct Counts {
    std::atomic<uint64_t> sent{0};
    std::shared_ptr<std::atomic<uint64_t>> shared_total;
  };
  void Watch(GstPad* pad);

  HandlerGate& gate_;
  std::shared_ptr<Counts> counts_;
  SignalConnection pad_added_;
};

}  // namespace speakup::media
