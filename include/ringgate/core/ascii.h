#pragma once
// ASCII case folding for protocol text (header and host names, directives): locale-free, and
// only A-Z change.

#include <string>
#include <string_view>

namespace ringgate {

inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// ASCII case-insensitive equality with `lower`, which is lower-case (a header name literal).
inline bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != lower[i]) {
      return false;
    }
  }
  return true;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = ascii_lower(c);
  }
  return out;
}

}  // namespace ringgate
