#pragma once
// Request path normalisation, before routing and authorisation: the path a route matches, a
// rule checks and the upstream receives is one and the same, so `/api/../admin`, `%2e%2e` or
// `//admin` cannot slip past a rule written for `/admin`.

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

struct NormalizedPath {
  std::string_view path;  // `in` itself when it was already normal, else bytes in `out`
  uint8_t flags = 0;      // PathFlag bits, of the input: a segment ".." removed counts too
};

// Normalises an origin-form path (starts with '/', no query):
//   - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded, the hex of the
//     others upper-cased (RFC 3986 6.2.2);
//   - repeated slashes are merged;
//   - "." and ".." segments are removed, decoded dots included (RFC 3986 5.2.4); ".." never
//     climbs above the root.
// `out` must have room for in.size() bytes: the result is never longer, and it is written no
// faster than `in` is read, so `out` may be in.data() (in place). False (nothing usable in
// `result`) on a malformed escape: '%' not followed by two hex digits. A path that does not
// start with '/' is returned as is.
bool normalize_path(std::string_view in, char* out, NormalizedPath* result);

// The config names of the PathFlag bits, for routes' `path_allow:`; 0 for an unknown name.
inline uint8_t path_flag_by_name(std::string_view name) {
  return name == "encoded_slash"   ? kPathEncodedSlash
         : name == "backslash"     ? kPathBackslash
         : name == "nul"           ? kPathNul
         : name == "overlong_utf8" ? kPathOverlongUtf8
                                   : 0;
}

}  // namespace ringgate
