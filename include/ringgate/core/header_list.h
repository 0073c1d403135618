#pragma once
// Comma-separated header values whose elements may hold quoted strings (Cache-Control's
// directives, RFC 9110 §5.6.1): split where a comma stands outside quotes, each element trimmed of
// spaces and tabs. Used where a value is checked (config) and where one is read (aggregation).

#include <cstddef>
#include <string_view>

namespace ringgate {

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Calls f(element, open_quote) for each element, trimmed, empty ones included; `open_quote` is
// true only for a last element whose quoted string never closes. Inside a quoted string a
// backslash quotes the next byte (a quoted-pair: `\"` does not end it). f returns false to stop.
template <typename F>
void for_each_list_element(std::string_view value, F&& f) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (quoted && i + 1 < value.size() && value[i] == '\\') {
      ++i;  // the quoted byte cannot end the string or the element
      continue;
    }
    if (i < value.size() && value[i] == '"') {
      quoted = !quoted;
    }
    if (i < value.size() && (quoted || value[i] != ',')) {
      continue;
    }
    if (!f(trim_ows(value.substr(start, i - start)), quoted)) {
      return;
    }
    start = i + 1;
  }
}

}  // namespace ringgate
