#include "webrtc_rtp_recovery.h"

#include <string_view>

namespace speakup::media {
namespace {

std::string_view FactoryName(GstElement* element) {
  GstElementFactory* factory = gst_element_get_factory(element);
  const char* name = factory ? gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory)) : nullptr;
  return name ? name : "";
}

void AddElement(GstElement* element, RtpRecovery& recovery) {
  const std::string_view factory = FactoryName(element);
  if (factory == "rtpjitterbuffer") {
    GstStructure* stats = nullptr;
    g_object_get(element, "stats", &stats, nullptr);
    if (!stats) return;
    guint64 lost = 0, requests = 0;
    if (gst_structure_get_uint64(stats, "num-lost", &lost)) recovery.packets_lost += lost;
    if (gst_structure_get_uint64(stats, "rtx-count", &requests)) recovery.retransmission_requests += requests;
    gst_structure_free(stats);
  } else if (factory == "rtprtxreceive") {
    guint packets = 0;
    g_object_get(element, "num-rtx-packets", &packets, nullptr);
    recovery.retransmitted_received += packets;
  }
}

}  // namespace

RtpRecovery ReadRtpRecovery(GstElement* webrtcbin) {
  RtpRecovery recovery;
  if (!webrtcbin) return recovery;
  GstIterator* elements = gst_bin_iterate_recurse(GST_BIN(webrtcbin));
  GValue item = G_VALUE_INIT;
  bool done = false;
  while (!done) {
    switch (gst_iterator_next(elements, &item)) {
      case GST_ITERATOR_OK:
        AddElement(GST_ELEMENT(g_value_get_object(&item)), recovery);
        g_value_reset(&item);
        break;
      case GST_ITERATOR_RESYNC:  // webrtcbin added or removed an element meanwhile: count again
        recovery = {};
        gst_iterator_resync(elements);
        break;
      default:  // done, or an error
        done = true;
        break;
    }
  }
  g_value_unset(&item);
  gst_iterator_free(elements);
  return recovery;
}

}  // namespace speakup::media
