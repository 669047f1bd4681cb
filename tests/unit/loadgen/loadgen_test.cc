// The load generator's pure parts and its input checks; running it against a server is
// tests/e2e/server_faults.mjs (and `speakup bench capacity`).
#include <gtest/gtest.h>

#include "latency.h"
#include "speakup/loadgen.h"

namespace speakup::loadgen {
namespace {

const std::string kVideoDir = std::string(SPEAKUP_TEST_DATA_DIR) + "/video/";

TEST(Latency, NearestRankPercentiles) {
  std::vector<double> samples;
  for (int i = 100; i >= 1; --i) samples.push_back(i);  // unsorted on purpose
  const LatencySummary summary = Summarize(samples);
  EXPECT_EQ(summary.p50_ms, 50);
  EXPECT_EQ(summary.p95_ms, 95);
  EXPECT_EQ(summary.p99_ms, 99);
  EXPECT_EQ(summary.max_ms, 100);
}

TEST(Latency, FewSamples) {
  const LatencySummary one = Summarize({7.5});
  EXPECT_EQ(one.p50_ms, 7.5);
  EXPECT_EQ(one.p99_ms, 7.5);
  const LatencySummary three = Summarize({3, 1, 2});
  EXPECT_EQ(three.p50_ms, 2);  // rank ceil(1.5) = 2
  EXPECT_EQ(three.p95_ms, 3);
  const LatencySummary none = Summarize({});
  EXPECT_EQ(none.p50_ms, 0);
  EXPECT_EQ(none.max_ms, 0);
}

TEST(EncodedVideo, LoadsTheVp8TestVideo) {
  auto video = LoadEncodedVideo(kVideoDir + "face_motion_vp8.webm");
  ASSERT_TRUE(video.ok()) << video.error();
  EXPECT_EQ(video->codec, "VP8");
  EXPECT_EQ(video->width, 640);
  EXPECT_EQ(video->height, 480);
  EXPECT_NEAR(video->fps, 30, 0.01);
  ASSERT_EQ(video->units.size(), 120u);
  EXPECT_TRUE(video->units[0].key);
  EXPECT_TRUE(video->units[60].key);  // a key frame every 60 frames (make_video.sh)
  EXPECT_FALSE(video->units[1].key);
  for (const auto& unit : video->units) EXPECT_FALSE(unit.bytes.empty());
}

TEST(EncodedVideo, RefusesBFramesWithAReason) {
  auto video = LoadEncodedVideo(kVideoDir + "face_motion.mp4");  // libx264 defaults: B-frames
  ASSERT_FALSE(video.ok());
  EXPECT_NE(video.error().find("B-frames"), std::string::npos) << video.error();
  EXPECT_NE(video.error().find("re-encode"), std::string::npos) << video.error();
}

TEST(EncodedVideo, MissingAndNonVideoFiles) {
  auto missing = LoadEncodedVideo(kVideoDir + "no_such_file.webm");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("no_such_file.webm"), std::string::npos) << missing.error();
  auto image = LoadEncodedVideo(std::string(SPEAKUP_TEST_DATA_DIR) + "/faces/astronaut.png");
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.error().find("astronaut.png"), std::string::npos) << image.error();
}

TEST(Faults, NamesRoundTrip) {
  for (Fault fault : {Fault::kNone, Fault::kNoMedia, Fault::kNoIce, Fault::kCorrupt, Fault::kFreeze}) {
    auto parsed = ParseFault(ToString(fault));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, fault);
  }
  auto unknown = ParseFault("explode");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("no-media"), std::string::npos);  // lists the choices
}

TEST(RunLoad, RefusesBadOptionsBeforeConnecting) {
  EncodedVideo video;
  video.codec = "VP8";
  video.units.push_back({{1, 2, 3}, true});
  LoadOptions options;
  options.quiet = true;
  options.clients = 0;
  EXPECT_FALSE(RunLoad(video, options).ok());
  options.clients = 1;
  options.server_url = "http://192.0.2.10:8080/";  // not this machine
  auto remote = RunLoad(video, options);
  ASSERT_FALSE(remote.ok());
  EXPECT_NE(remote.error().find("this machine"), std::string::npos) << remote.error();
  options.server_url = "ftp://127.0.0.1/";
  EXPECT_FALSE(RunLoad(video, options).ok());
  options.server_url = "http://127.0.0.1:1/";
  options.duration_s = 0;
  EXPECT_FALSE(RunLoad(video, options).ok());
}

}  // namespace
}  // namespace speakup::loadgen
