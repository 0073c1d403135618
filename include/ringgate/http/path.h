#pragma once
// Request path normalisation, before routing and authorisation: the path a route matches, a
// rule checks and the upstream receives is one and the same, so `/api/../admin`, `%2e%2e` or
// `//admin` cannot slip past a rule written for `/admin`.

#include <cstdint>
#include <string_view>

#include "ringgate/core/path_flags.h"

namespace ringgate {

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

}  // namespace ringgate
