#include "http_policy.h"

#include <dirent.h>
#include <sys/resource.h>

#include <cstdio>

#include "speakup/media/gst_handles.h"

namespace speakup::server {

long OpenDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  long count = -1;  // the directory's own descriptor is listed too
  while (readdir(dir)) ++count;
  closedir(dir);
  return count - 2;  // "." and ".."
}

long DescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return -1;
  return static_cast<long>(limit.rlim_cur);
}

// Every session and connection costs descriptors; the common soft limit (1,024) is far below
// what the kernel allows, so take all the hard limit gives (as nginx's worker_rlimit_nofile does).
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    std::fprintf(stderr, "speakup serve: warning: cannot raise the open-file limit to %llu\n",
                 static_cast<unsigned long long>(limit.rlim_max));
  }
}

std::string ContentSecurityPolicy(const std::string& index_html) {
  std::string hashes;
  for (size_t at = 0; (at = index_html.find("<script", at)) != std::string::npos;) {
    const size_t open_end = index_html.find('>', at);
    const size_t close = index_html.find("</script>", at);
    if (open_end == std::string::npos || close == std::string::npos || close < open_end) break;
    if (index_html.substr(at, open_end - at).find("src=") == std::string::npos) {
      const std::string body = index_html.substr(open_end + 1, close - open_end - 1);
      GChecksum* checksum = g_checksum_new(G_CHECKSUM_SHA256);
      g_checksum_update(checksum, reinterpret_cast<const guchar*>(body.data()), static_cast<gssize>(body.size()));
      guint8 digest[32];
      gsize length = sizeof(digest);
      g_checksum_get_digest(checksum, digest, &length);
      g_checksum_free(checksum);
      media::GCharPtr base64(g_base64_encode(digest, length));
      hashes += std::string(" 'sha256-") + base64.get() + "'";
    }
    at = close + 1;
  }
  return "default-src 'self'; script-src 'self'" + hashes +
         "; connect-src 'self' ws: wss:; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
         "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
}

// Headers every plain HTTP answer carries: the page is not to be framed (clickjacking) or
// sniffed as another type, and it runs only its own scripts.
void AddSecurityHeaders(SoupMessageHeaders* headers, const std::string& policy) {
  soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace(headers, "X-Frame-Options", "DENY");
  soup_message_headers_replace(headers, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace(headers, "Content-Security-Policy", policy.c_str());
  // One request per connection: libsoup 3.2 leaks keep-alive connections that the client closes
  // while idle (CLOSE-WAIT, fixed in libsoup 3.3), and a server out of descriptors stops serving.
  soup_message_headers_replace(headers, "Connection", "close");
}

bool ConstantTimeEquals(const std::string& given, const std::string& expected) {
  unsigned char differ = given.size() != expected.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    differ |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : 0));
  }
  return differ == 0;
}

}  // namespace speakup::server
