// What the server asks of the operating system and answers on every HTTP response: its file
// descriptors (how many, the limit, raising it), the page's security headers, and a token
// comparison that takes the same time whatever the token.
#pragma once

#include <libsoup/soup.h>

#include <string>

namespace speakup::server {

// Descriptors the process has open now (-1 if /proc cannot tell).
long OpenDescriptors();
// The process's open-file limit (-1 if unlimited or unknown).
long DescriptorLimit();
// Raises the soft open-file limit to the hard one (warns if it cannot).
void RaiseDescriptorLimit();

// The Content-Security-Policy for the page `index_html`: scripts only from the server itself,
// plus its inline scripts by their SHA-256 (the import map, which browsers take only inline).
std::string ContentSecurityPolicy(const std::string& index_html);
// Headers every plain HTTP answer carries (with `policy` as its Content-Security-Policy).
void AddSecurityHeaders(SoupMessageHeaders* headers, const std::string& policy);
// Whether `given` is `expected`, in a time that does not depend on where they differ.
bool ConstantTimeEquals(const std::string& given, const std::string& expected);

}  // namespace speakup::server
