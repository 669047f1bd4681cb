// The offer/answer exchange and ICE of one peer: the client's offer is checked (webrtc_sdp.h) and
// applied, the answer created and applied (set-remote-description, create-answer,
// set-local-description, each a promise webrtcbin replies to on its own thread), remote candidates
// are added (kept until the offer is applied), local ones are filtered and reported, and
// webrtcbin's connection and ICE states become the peer's.
//
// Main context only, so it needs no lock; its GStreamer-thread handlers only post tasks.
#pragma once

#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API 1  // webrtcbin's library is still marked unstable in 1.22
#endif

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gsignal.h"
#include "speakup/status.h"
#include "speakup/webrtc.h"
#include "speakup/media/webrtc_sdp.h"
#include "webrtc_threads.h"

namespace speakup::media {

class WebRtcNegotiation {
 public:
  // What the exchange reports to the peer; each runs on the main context.
  struct Events {
    std::function<void(unsigned mline, std::string candidate)> on_local_candidate;
    std::function<void(PeerState state)> set_state;
    std::function<void(const std::string& message)> fail;
    // ICE (or the connection over it) failed: the network path is gone, which an ICE restart may mend.
    std::function<void(const std::string& message)> path_failed;
    // The offer is applied and the answer is about to be created: the last moment to add
    // transceivers (the annotated video's) that the answer is to have.
    std::function<void(const OfferInfo& offer)> before_answer;
  };

  WebRtcNegotiation(GstElement* webrtcbin, const WebRtcOptions& options, HandlerGate& gate, PostTask post,
                    Events events)
      : webrtc_(webrtcbin), options_(options), gate_(gate), post_(std::move(post)), events_(std::move(events)) {}
  ~WebRtcNegotiation() { Close(); }
  WebRtcNegotiation(const WebRtcNegotiation&) = delete;
  WebRtcNegotiation& operator=(const WebRtcNegotiation&) = delete;

  // Listens for webrtcbin's local candidates and state changes.
  void Attach();

  // The first offer, or a later one once the last is answered (a renegotiation: the client's ICE
  // restart). A later offer must keep the first one's m-lines; a refused later offer leaves the
  // connection as it was.
  void SetRemoteOffer(const std::string& sdp, std::function<void(Expected<std::string>)> done);
  Status AddRemoteCandidate(unsigned mline, const std::string& candidate);

  // Once the gate is shut and idle: disconnects the handlers and forgets the offer; a pending
  // answer callback is never called.
  void Close();

  bool remote_applied() const { return remote_applied_; }
  // An offer is being applied and answered.
  bool answering() const { return static_cast<bool>(answer_done_) || applying_; }
  // When the offer was applied (or, until then, handed to webrtcbin).
  std::chrono::steady_clock::time_point offer_time() const { return offer_time_; }

 private:
  enum class OfferStep { kRemoteSet, kAnswerCreated, kLocalSet };
  struct PromiseContext;
  static void OnPromiseReplied(GstPromise* promise, gpointer data);
  GstPromise* NewPromise(OfferStep step);

  void OnRemoteDescriptionSet(const std::string& error);
  void OnAnswerCreated(const std::string& error, std::shared_ptr<GstWebRTCSessionDescription> answer);
  void OnLocalDescriptionSet(const std::string& error);
  void FailOffer(const std::string& message, bool fatal);
  void AddCandidateNow(unsigned mline, const std::string& candidate);

  // ---- GStreamer threads ----
  void OnLocalCandidate(guint mline, const gchar* candidate);
  void OnConnectionStateChanged();
  void OnIceStateChanged();

  GstElement* const webrtc_;  // owned by the peer's pipeline
  const WebRtcOptions& options_;
  HandlerGate& gate_;
  const PostTask post_;
  const Events events_;
  std::vector<SignalConnection> signals_;

  bool closed_ = false;
  bool offer_started_ = false;   // an offer is being applied or was applied
  bool remote_applied_ = false;  // set-remote-description succeeded (for the first offer)
  bool answered_ = false;        // an answer was applied: another offer is a renegotiation
  bool applying_ = false;        // set-remote-description of an offer is under way
  bool renegotiating_ = false;   // the offer being answered is a later one
  OfferInfo offer_;
  OfferInfo previous_offer_;  // during a renegotiation: the offer webrtcbin has until the new one is set
  std::function<void(Expected<std::string>)> answer_done_;
  std::string answer_text_;
  std::vector<std::pair<unsigned, std::string>> pending_candidates_;
  std::chrono::steady_clock::time_point offer_time_;
};

}  // namespace speakup::media
