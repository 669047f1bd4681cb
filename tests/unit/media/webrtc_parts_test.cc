// The pieces of WebRtcPeer that can be checked without a connection: the PTS -> RTP timestamp map
// and the GLib signal trampoline.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

#include "gsignal.h"
#include "speakup/media/gst_handles.h"
#include "webrtc_camera_stream.h"

namespace speakup::media {
namespace {

TEST(RtpTimestampMap, AFrameFindsThePacketsItWasMadeOfAndOlderEntriesGo) {
  RtpTimestampMap map;
  map.Add(100, 9000);
  map.Add(110, 9000);  // a second packet of the same frame
  map.Add(200, 12000);
  RtpTimestampMap::Match match = map.Take(110);
  EXPECT_TRUE(match.exact);
  EXPECT_EQ(match.rtp_time, 9000u);
  EXPECT_EQ(match.skipped, 0u);
  EXPECT_EQ(map.size(), 1u);
  match = map.Take(200);
  EXPECT_TRUE(match.exact);
  EXPECT_EQ(match.rtp_time, 12000u);
  EXPECT_EQ(map.size(), 0u);
}

TEST(RtpTimestampMap, FramesThatNeverLeftTheDecoderAreCountedOnceEach) {
  RtpTimestampMap map;
  map.Add(100, 3000);
  map.Add(105, 3000);
  map.Add(200, 6000);
  map.Add(205, 6000);
  map.Add(300, 9000);
  RtpTimestampMap::Match match = map.Take(300);
  EXPECT_TRUE(match.exact);
  EXPECT_EQ(match.rtp_time, 9000u);
  EXPECT_EQ(match.skipped, 2u);  // 3000 and 6000, two packets each
  EXPECT_EQ(map.size(), 0u);
}

TEST(RtpTimestampMap, ALaterPacketOfTheLastFrameIsNoFrameOfItsOwn) {
  // With jitter (or a retransmission) one frame's packets carry different PTS, and the frame leaves
  // the decoder with its first packet's: the later ones are still the frame already taken.
  RtpTimestampMap map;
  map.Add(100, 3000);
  map.Add(140, 3000);  // the same frame, late
  map.Add(133, 6000);
  map.Add(170, 6000);
  map.Add(233, 9000);
  RtpTimestampMap::Match match = map.Take(100);
  EXPECT_EQ(match.rtp_time, 3000u);
  EXPECT_EQ(match.skipped, 0u);
  match = map.Take(133);
  EXPECT_EQ(match.rtp_time, 6000u);
  EXPECT_EQ(match.skipped, 0u);
  match = map.Take(233);  // 140 (3000) and 170 (6000): both frames were decoded
  EXPECT_EQ(match.rtp_time, 9000u);
  EXPECT_EQ(match.skipped, 0u);
  EXPECT_EQ(map.size(), 0u);
}

TEST(RtpTimestampMap, AnUnknownPtsTakesTheNearestOlderEntryElseTheNextNewer) {
  RtpTimestampMap map;
  map.Add(100, 3000);
  map.Add(200, 6000);
  RtpTimestampMap::Match match = map.Take(150);
  EXPECT_FALSE(match.exact);
  EXPECT_EQ(match.rtp_time, 3000u);
  EXPECT_EQ(match.skipped, 0u);
  EXPECT_EQ(map.size(), 1u);
  match = map.Take(50);
  EXPECT_FALSE(match.exact);
  EXPECT_EQ(match.rtp_time, 6000u);
  EXPECT_EQ(map.size(), 1u);  // newer entries stay
  RtpTimestampMap empty;
  match = empty.Take(50);
  EXPECT_FALSE(match.exact);
  EXPECT_EQ(match.rtp_time, 0u);
}

TEST(RtpTimestampMap, KeepsOnlyTheNewestEntries) {
  RtpTimestampMap map;
  for (size_t i = 0; i < RtpTimestampMap::kMaxEntries + 10; ++i) {
    map.Add(static_cast<GstClockTime>(i), static_cast<uint32_t>(i * 10));
  }
  EXPECT_EQ(map.size(), RtpTimestampMap::kMaxEntries);
  RtpTimestampMap::Match match = map.Take(5);  // dropped
  EXPECT_FALSE(match.exact);
  EXPECT_EQ(match.rtp_time, 100u);  // the oldest kept: PTS 10
}

TEST(ConnectSignal, RunsTheCallableUntilDisconnectedAndFreesIt) {
  ASSERT_TRUE(EnsureGstInitialized().ok());
  GstElement* bin = gst_bin_new(nullptr);
  gst_object_ref_sink(bin);
  auto alive = std::make_shared<int>(0);
  int added = 0;
  GstElement* last = nullptr;
  {
    SignalConnection connection = ConnectSignal<void(GstBin*, GstElement*)>(
        bin, "element-added", [&added, &last, alive](GstBin*, GstElement* element) {
          ++added;
          last = element;
        });
    EXPECT_TRUE(connection);
    EXPECT_EQ(alive.use_count(), 2);
    GstElement* first = gst_element_factory_make("identity", nullptr);
    gst_bin_add(GST_BIN(bin), first);
    EXPECT_EQ(added, 1);
    EXPECT_EQ(last, first);
  }
  EXPECT_EQ(alive.use_count(), 1);  // the closure went with the connection
  gst_bin_add(GST_BIN(bin), gst_element_factory_make("identity", nullptr));
  EXPECT_EQ(added, 1);
  gst_object_unref(bin);
}

TEST(ConnectSignal, AnExceptionNeverReachesGLib) {
  ASSERT_TRUE(EnsureGstInitialized().ok());
  GstElement* bin = gst_bin_new(nullptr);
  gst_object_ref_sink(bin);
  int calls = 0;
  SignalConnection connection =
      ConnectSignal<void(GstBin*, GstElement*)>(bin, "element-added", [&calls](GstBin*, GstElement*) {
        ++calls;
        throw std::runtime_error("thrown on purpose by the test");
      });
  gst_bin_add(GST_BIN(bin), gst_element_factory_make("identity", nullptr));
  gst_bin_add(GST_BIN(bin), gst_element_factory_make("identity", nullptr));
  EXPECT_EQ(calls, 2);
  connection.Disconnect();
  EXPECT_FALSE(connection);
  gst_object_unref(bin);
}

}  // namespace
}  // namespace speakup::media
