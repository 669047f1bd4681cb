// The page's Content-Security-Policy names its inline scripts by hash; tokens compare exactly.
#include <gtest/gtest.h>

#include "http_policy.h"

namespace speakup::server {
namespace {

TEST(HttpPolicy, InlineScriptsAreAllowedByTheirHashOnly) {
  // SHA-256("abc"), base64: FIPS 180-2's test vector.
  const std::string policy =
      ContentSecurityPolicy("<head><script type=\"importmap\">abc</script><script type=\"module\" src=\"./app.js\"></script>");
  EXPECT_NE(policy.find("script-src 'self' 'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='"), std::string::npos)
      << policy;
  EXPECT_EQ(policy.find("sha256-", policy.find("sha256-") + 1), std::string::npos) << "the external script has no hash";
  EXPECT_NE(policy.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(policy.find("unsafe-eval"), std::string::npos);
  EXPECT_EQ(ContentSecurityPolicy("").find("sha256-"), std::string::npos);
  EXPECT_EQ(ContentSecurityPolicy("<script>unterminated").find("sha256-"), std::string::npos);
}

TEST(HttpPolicy, TokensCompareExactly) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secreT", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret2", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secre", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("", "secret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(HttpPolicy, DescriptorsAreCounted) {
  const long before = OpenDescriptors();
  ASSERT_GT(before, 2);  // stdin, stdout, stderr at least
  FILE* file = std::fopen("/proc/self/status", "r");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(OpenDescriptors(), before + 1);
  std::fclose(file);
  EXPECT_EQ(OpenDescriptors(), before);
  EXPECT_GT(DescriptorLimit(), before);
}

}  // namespace
}  // namespace speakup::server
