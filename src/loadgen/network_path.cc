#include "network_path.h"

#include <gst/rtp/gstrtpbuffer.h>

#include <array>
#include <mutex>
#include <string>

#include "speakup/media/gst_handles.h"
#include "speakup/media/gst_util.h"

namespace speakup::loadgen {
namespace {

constexpr double kMaxLossPct = 100;
constexpr int kMaxDelayMs = 10000;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// One path's loss: the draws and each stream's sequence numbers counted from its first packet.
// The probe runs on the video's streaming thread and the RTX sender's, hence the lock.
class LossProbe {
 public:
  LossProbe(const NetworkPath& path, uint64_t seed, int video_payload_type, std::shared_ptr<PathCounters> counters)
      : video_loss_(path.loss_pct, seed),
        rtx_loss_(path.RtxLossPct(), seed),
        video_payload_type_(video_payload_type),
        counters_(std::move(counters)) {}

  // True when the packet is lost on the path.
  bool Drop(GstBuffer* buffer) {
    counters_->packets++;
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) return false;  // not RTP: let it pass
    const uint8_t payload_type = gst_rtp_buffer_get_payload_type(&rtp);
    const uint16_t sequence = gst_rtp_buffer_get_seq(&rtp);
    gst_rtp_buffer_unmap(&rtp);
    uint64_t index = 0;
    {
      std::lock_guard lock(mutex_);
      Stream& stream = streams_[payload_type & 0x7f];
      if (stream.seen) {
        // Extended sequence number: steps (and wraps) by the signed 16-bit difference.
        const int64_t step = static_cast<int16_t>(static_cast<uint16_t>(sequence - stream.last_sequence));
        stream.index = static_cast<uint64_t>(static_cast<int64_t>(stream.index) + step);
      }
      stream.seen = true;
      stream.last_sequence = sequence;
      index = stream.index;
    }
    const SeededLoss& loss = (payload_type & 0x7f) == video_payload_type_ ? video_loss_ : rtx_loss_;
    const bool drop = loss.Drop(payload_type, index);
    if (drop) counters_->dropped++;
    return drop;
  }

 private:
  struct Stream {
    bool seen = false;
    uint16_t last_sequence = 0;
    uint64_t index = 0;  // from 0 at the stream's first packet
  };
  const SeededLoss video_loss_, rtx_loss_;
  const int video_payload_type_;
  std::shared_ptr<PathCounters> counters_;
  std::mutex mutex_;
  std::array<Stream, 128> streams_{};
};

GstPadProbeReturn OnPathPacket(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* probe = static_cast<LossProbe*>(data);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
    return probe->Drop(GST_PAD_PROBE_INFO_BUFFER(info)) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
  }
  GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
  if (!list) return GST_PAD_PROBE_OK;
  bool writable = false;
  for (guint i = 0; i < gst_buffer_list_length(list);) {
    if (!probe->Drop(gst_buffer_list_get(list, i))) {
      ++i;
      continue;
    }
    if (!writable) {
      list = gst_buffer_list_make_writable(list);
      GST_PAD_PROBE_INFO_DATA(info) = list;
      writable = true;
    }
    gst_buffer_list_remove(list, i, 1);
  }
  return gst_buffer_list_length(list) == 0 ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

}  // namespace

bool SeededLoss::Drop(uint32_t stream, uint64_t index) const {
  if (threshold_ <= 0) return false;
  const uint64_t draw = SplitMix64(seed_ ^ SplitMix64((static_cast<uint64_t>(stream) << 48) ^ index));
  return static_cast<double>(draw >> 11) * 0x1.0p-53 < threshold_;  // 53 random bits -> [0, 1)
}

uint64_t ClientSeed(uint64_t seed, int client_id) {
  return SplitMix64(seed) ^ SplitMix64(0x5eedull << 32 | static_cast<uint32_t>(client_id));
}

Status CheckNetworkPath(const NetworkPath& path) {
  if (!(path.loss_pct >= 0) || !(path.loss_pct < kMaxLossPct)) {
    return Status::Error("--loss must be a percentage from 0 up to (not including) 100, not " +
                         std::to_string(path.loss_pct));
  }
  if (path.rtx_loss_pct > kMaxLossPct) {  // negative: the same as --loss
    return Status::Error("--rtx-loss must be a percentage from 0 to 100, not " + std::to_string(path.rtx_loss_pct));
  }
  if (path.delay_ms < 0 || path.delay_ms > kMaxDelayMs) {
    return Status::Error("--delay must be from 0 to " + std::to_string(kMaxDelayMs) + " ms, not " +
                         std::to_string(path.delay_ms));
  }
  if (path.jitter_ms < 0 || path.jitter_ms > path.delay_ms) {
    return Status::Error("--jitter " + std::to_string(path.jitter_ms) + " must be from 0 to --delay (" +
                         std::to_string(path.delay_ms) + " ms): each packet's delay varies in [delay - jitter, " +
                         "delay + jitter]; e.g. --delay 50 --jitter 30");
  }
  return Status::Ok();
}

Expected<GstElement*> MakeNetworkPathBin(const NetworkPath& path, uint64_t stream_seed, int video_payload_type,
                                         std::shared_ptr<PathCounters> counters) {
  auto netsim = media::MakeElement("netsim");
  if (!netsim) return Error("--loss/--delay/--jitter need GStreamer's netsim: " + netsim.error());
  GstElement* netsim_element = netsim->get();
  const bool delayed = path.delay_ms > 0;
  // Loss is ours (seeded); netsim only delays, every packet when there is a delay at all.
  g_object_set(netsim_element, "drop-probability", 0.0f, "delay-probability", delayed ? 1.0f : 0.0f, "min-delay",
               path.delay_ms - path.jitter_ms, "max-delay", path.delay_ms + path.jitter_ms, "allow-reordering",
               FALSE, nullptr);
  gst_util_set_object_arg(G_OBJECT(netsim_element), "delay-distribution", "uniform");

  GstElement* bin = gst_bin_new(nullptr);  // floating: webrtcbin sinks it
  gst_bin_add(GST_BIN(bin), netsim_element);  // the bin takes its own reference
  media::PadPtr sink(gst_element_get_static_pad(netsim_element, "sink"));
  media::PadPtr source(gst_element_get_static_pad(netsim_element, "src"));
  gst_element_add_pad(bin, gst_ghost_pad_new("sink", sink.get()));
  gst_element_add_pad(bin, gst_ghost_pad_new("src", source.get()));
  if (path.loss_pct > 0 || path.RtxLossPct() > 0) {
    gst_pad_add_probe(sink.get(),
                      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                      OnPathPacket, new LossProbe(path, stream_seed, video_payload_type, std::move(counters)),
                      +[](gpointer data) { delete static_cast<LossProbe*>(data); });
  }
  return bin;
}

}  // namespace speakup::loadgen
