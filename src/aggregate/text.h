#pragma once
// JSON text helpers shared by the aggregate module: whitespace, number grammar, string escapes
// (unescaping, escaping with UTF-8 repair).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringgate::json::detail {

// RFC 8259 whitespace only (no form feed, no vertical tab).
inline bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// [begin, end) with JSON whitespace removed from both ends.
inline std::string_view trim(const char* begin, const char* end) {
  while (begin < end && is_ws(*begin)) {
    ++begin;
  }
  while (end > begin && is_ws(end[-1])) {
    --end;
  }
  return std::string_view(begin, static_cast<size_t>(end - begin));
}

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, the whole of [p, end). Inline: the
// validation walk calls it for every number.
inline bool is_number(const char* p, const char* end) {
  if (p < end && *p == '-') {
    ++p;
  }
  if (p >= end) {
    return false;
  }
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && is_digit(*p)) {
      ++p;
    }
  } else {
    return false;
  }
  if (p < end && *p == '.') {
    const char* digits = ++p;
    while (p < end && is_digit(*p)) {
      ++p;
    }
    if (p == digits) {
      return false;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) {
      ++p;
    }
    const char* digits = p;
    while (p < end && is_digit(*p)) {
      ++p;
    }
    if (p == digits) {
      return false;
    }
  }
  return p == end;
}

// Appends the unescaped content to `out`; false on a bad escape (out then holds a prefix).
bool unescape(const char* p, const char* end, std::string* out);

// Appends `text` as JSON string content (no quotes): `"`, `\` and control characters escaped,
// invalid UTF-8 replaced by U+FFFD.
void append_escaped(std::string* out, std::string_view text);

}  // namespace ringgate::json::detail
