#include "ringgate/http/path.h"

#include <cstring>

#include "ringgate/core/hex.h"

namespace ringgate {

namespace {

// The byte at in[i], decoded when it is an escape; -1 when there is none or it is malformed.
int byte_at(std::string_view in, size_t i) {
  if (i >= in.size()) {
    return -1;
  }
  if (in[i] != '%') {
    return static_cast<unsigned char>(in[i]);
  }
  if (i + 2 >= in.size()) {
    return -1;
  }
  const int hi = hex_digit(in[i + 1]);
  const int lo = hex_digit(in[i + 2]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// An overlong UTF-8 lead: C0 and C1 always; E0 before A0..BF; F0 before 90..BF. `next` is the
// following byte (decoded), -1 if none.
bool overlong(int lead, int next) {
  if (lead == 0xC0 || lead == 0xC1) {
    return true;
  }
  if (lead == 0xE0) {
    return next >= 0x80 && next < 0xA0;
  }
  if (lead == 0xF0) {
    return next >= 0x80 && next < 0x90;
  }
  return false;
}

// True when the path needs no work: no escape, backslash, non-ASCII byte, empty segment, or
// "." / ".." segment.
bool already_normal(std::string_view in) {
  const size_t n = in.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '%' || c == '\\' || c >= 0x80) {
      return false;
    }
    if (c != '/') {
      continue;
    }
    if (i + 1 < n && in[i + 1] == '/') {
      return false;
    }
    if (i + 1 < n && in[i + 1] == '.') {
      const size_t after = i + 2 < n && in[i + 2] == '.' ? i + 3 : i + 2;
      if (after >= n || in[after] == '/') {
        return false;
      }
    }
  }
  return true;
}

void put_escape(char* out, size_t& o, int v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out[o++] = '%';
  out[o++] = kHex[v >> 4];
  out[o++] = kHex[v & 15];
}

}  // namespace

bool normalize_path(std::string_view in, char* out, NormalizedPath* result) {
  result->flags = 0;
  if (in.empty() || in[0] != '/' || already_normal(in)) {
    result->path = in;
    return true;
  }
  uint8_t flags = 0;
  size_t o = 0;
  out[o++] = '/';
  size_t i = 1;
  const size_t n = in.size();
  while (i <= n) {
    // One segment, up to the next literal '/' (an encoded one stays inside it).
    const size_t start = o;
    while (i < n && in[i] != '/') {
      const char c = in[i];
      if (c == '%') {
        const int v = byte_at(in, i);
        if (v < 0) {
          return false;
        }
        if (overlong(v, byte_at(in, i + 3))) {
          flags |= kPathOverlongUtf8;
        }
        if (url_unreserved(static_cast<unsigned char>(v))) {
          out[o++] = static_cast<char>(v);
        } else {
          flags |= v == '/'    ? kPathEncodedSlash
                   : v == '\\' ? kPathBackslash
                   : v == 0    ? kPathNul
                               : 0;
          put_escape(out, o, v);
        }
        i += 3;
        continue;
      }
      const unsigned char u = static_cast<unsigned char>(c);
      if (c == '\\') {
        flags |= kPathBackslash;
      } else if (u >= 0x80 && overlong(u, byte_at(in, i + 1))) {
        flags |= kPathOverlongUtf8;
      }
      out[o++] = c;
      ++i;
    }
    const std::string_view segment(out + start, o - start);
    const bool last = i >= n;
    if (segment == ".") {
      o = start;
    } else if (segment == "..") {
      o = start;
      if (start > 1) {
        // Back over the previous segment: out[start - 1] is its closing '/'.
        o = start - 1;
        while (o > 0 && out[o - 1] != '/') {
          --o;
        }
      }
    } else if (!segment.empty() && !last) {
      out[o++] = '/';
    }
    ++i;  // over the '/' (or past the end)
  }
  result->path = std::string_view(out, o);
  result->flags = flags;
  return true;
}

}  // namespace ringgate
