#include "webrtc_rtcp_feedback.h"

#include <gst/rtp/gstrtcpbuffer.h>

#include <string_view>

#include "speakup/media/gst_handles.h"

namespace speakup::media {
namespace {

constexpr std::string_view kRtcpSourcePrefix = "send_rtcp_src_";

bool IsRtpBin(GstElement* element) {
  GstElementFactory* factory = gst_element_get_factory(element);
  const gchar* name = factory ? gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory)) : nullptr;
  return name && std::string_view(name) == "rtpbin";
}

// webrtcbin's rtpbin: its direct child made by the "rtpbin" factory. A new reference, or null.
GstElement* FindRtpBin(GstElement* webrtcbin) {
  GstIterator* children = gst_bin_iterate_elements(GST_BIN(webrtcbin));
  GValue item = G_VALUE_INIT;
  GstElement* found = nullptr;
  for (bool done = false; !done && !found;) {
    switch (gst_iterator_next(children, &item)) {
      case GST_ITERATOR_OK: {
        auto* element = GST_ELEMENT(g_value_get_object(&item));
        if (IsRtpBin(element)) found = GST_ELEMENT(gst_object_ref(element));
        g_value_reset(&item);
        break;
      }
      case GST_ITERATOR_RESYNC:
        gst_iterator_resync(children);
        break;
      default:
        done = true;
        break;
    }
  }
  g_value_unset(&item);
  gst_iterator_free(children);
  return found;
}

}  // namespace

uint64_t CountTransportFeedback(GstBuffer* rtcp) {
  if (!rtcp || !gst_rtcp_buffer_validate_reduced(rtcp)) return 0;
  GstRTCPBuffer mapped = GST_RTCP_BUFFER_INIT;
  if (!gst_rtcp_buffer_map(rtcp, GST_MAP_READ, &mapped)) return 0;
  uint64_t count = 0;
  GstRTCPPacket packet;
  for (bool more = gst_rtcp_buffer_get_first_packet(&mapped, &packet); more;
       more = gst_rtcp_packet_move_to_next(&packet)) {
    if (gst_rtcp_packet_get_type(&packet) == GST_RTCP_TYPE_RTPFB &&
        gst_rtcp_packet_fb_get_type(&packet) == GST_RTCP_RTPFB_TYPE_TWCC) {
      ++count;
    }
  }
  gst_rtcp_buffer_unmap(&mapped);
  return count;
}

RtcpFeedbackCounter::RtcpFeedbackCounter(HandlerGate& gate, std::shared_ptr<std::atomic<uint64_t>> shared_total)
    : gate_(gate), counts_(std::make_shared<Counts>()) {
  counts_->shared_total = std::move(shared_total);
}

bool RtcpFeedbackCounter::Attach(GstElement* webrtcbin) {
  ElementPtr rtpbin(FindRtpBin(webrtcbin));
  if (!rtpbin) return false;
  pad_added_ = ConnectSignal<void(GstElement*, GstPad*)>(rtpbin.get(), "pad-added",
                                                         gate_.Guard([this](GstElement*, GstPad* pad) { Watch(pad); }));
  // Pads rtpbin made before the handler was connected.
  GstIterator* pads = gst_element_iterate_src_pads(rtpbin.get());
  GValue item = G_VALUE_INIT;
  for (bool done = false; !done;) {
    switch (gst_iterator_next(pads, &item)) {
      case GST_ITERATOR_OK:
        Watch(GST_PAD(g_value_get_object(&item)));
        g_value_reset(&item);
        break;
      case GST_ITERATOR_RESYNC:
        gst_iterator_resync(pads);
        break;
      default:
        done = true;
        break;
    }
  }
  g_value_unset(&item);
  gst_iterator_free(pads);
  return true;
}

void RtcpFeedbackCounter::Watch(GstPad* pad) {
  GCharPtr name(gst_pad_get_name(pad));
  if (!name || std::string_view(name.get()).rfind(kRtcpSourcePrefix, 0) != 0) return;
  auto probe = [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
    const auto& counts = *static_cast<std::shared_ptr<Counts>*>(data);
    uint64_t found = 0;
    if (GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info)) found = CountTransportFeedback(buffer);
    if (found) {
      counts->sent += found;
      if (counts->shared_total) *counts->shared_total += found;
    }
    return GST_PAD_PROBE_OK;
  };
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, probe, new std::shared_ptr<Counts>(counts_),
                    [](gpointer data) { delete static_cast<std::shared_ptr<Counts>*>(data); });
}

}  // namespace speakup::media
