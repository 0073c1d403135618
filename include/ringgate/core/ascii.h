#pragma once
// ASCII case folding for protocol text (header and host names, directives): locale-free, and
// only A-Z change.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ringgate {

inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Eight bytes at once: each of A-Z becomes its lower case, every other byte stays as it is.
inline uint64_t ascii_lower_word(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t low7 = w & ~kHigh;
  // In each byte's high bit: its low seven bits are >= 'A', and > 'Z' (no carry crosses bytes).
  const uint64_t at_least_a = low7 + kOnes * (0x80 - 'A');
  const uint64_t above_z = low7 + kOnes * (0x80 - 'Z' - 1);
  const uint64_t upper = at_least_a & ~above_z & ~w & kHigh;
  return w | (upper >> 2);  // 0x80 >> 2 is the case bit
}

inline uint64_t load_word(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

inline uint64_t load_word4(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;  // zero-extended: the upper bytes are no letters
}

// ASCII case-insensitive equality with `lower`, which is lower-case (a header name literal).
// Eight bytes at a time (the last eight overlapping), four and four (overlapping) from four to
// seven, byte by byte under four.
inline bool iequals(std::string_view a, std::string_view lower) {
  const size_t n = a.size();
  if (n != lower.size()) {
    return false;
  }
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (ascii_lower_word(load_word(a.data() + i)) != load_word(lower.data() + i)) {
        return false;
      }
    }
    return ascii_lower_word(load_word(a.data() + n - 8)) == load_word(lower.data() + n - 8);
  }
  if (n >= 4) {
    return ascii_lower_word(load_word4(a.data())) == load_word4(lower.data()) &&
           ascii_lower_word(load_word4(a.data() + n - 4)) == load_word4(lower.data() + n - 4);
  }
  for (size_t i = 0; i < n; ++i) {
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
