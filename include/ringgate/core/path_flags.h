#pragma once
// The path flags a route may allow (`path_allow:`): what the path normaliser (ringgate/http/path.h)
// keeps in a request path that a route must accept explicitly. Shared by config and http.

#include <cstdint>
#include <string_view>

namespace ringgate {

// What normalize_path kept that a route must allow explicitly (bits of NormalizedPath::flags);
// without the route's allow the request is a 400.
enum PathFlag : uint8_t {
  kPathEncodedSlash = 1 << 0,  // %2F: kept encoded, so it never separates segments
  kPathBackslash = 1 << 1,     // '\' or %5C: kept as received (some servers read it as '/')
  kPathNul = 1 << 2,           // %00: kept encoded
  kPathOverlongUtf8 = 1 << 3,  // an overlong UTF-8 sequence (e.g. %C0%AE, a disguised '.'),
                               // percent-encoded or raw: kept as received
};

// The config names of the PathFlag bits, for routes' `path_allow:`; 0 for an unknown name.
inline uint8_t path_flag_by_name(std::string_view name) {
  return name == "encoded_slash"   ? kPathEncodedSlash
         : name == "backslash"     ? kPathBackslash
         : name == "nul"           ? kPathNul
         : name == "overlong_utf8" ? kPathOverlongUtf8
                                   : 0;
}

}  // namespace ringgate
