#pragma once
// Hex digits and the bytes percent-encoding keeps (RFC 3986).

namespace ringgate {

// The value of a hex digit (either case), or -1.
inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

namespace detail {
struct UnreservedTable {
  bool table[256] = {};
  constexpr UnreservedTable() {
    for (int c = 0; c < 256; ++c) {
      table[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~';
    }
  }
};
inline constexpr UnreservedTable kUnreserved;
}  // namespace detail

// RFC 3986 unreserved (ALPHA, DIGIT, '-', '.', '_', '~'): what percent-encoding leaves as it is,
// by table (one load, where the comparisons cost a handful of branches per byte).
constexpr bool url_unreserved(unsigned char c) {
  return detail::kUnreserved.table[c];
}

}  // namespace ringgate
