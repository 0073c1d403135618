#include "aggregate/text.h"

#include <simdjson.h>

#include <cstring>

#include "ringgate/aggregate/json.h"
#include "ringgate/core/hex.h"

namespace ringgate::json {
namespace detail {

namespace {

bool hex4(const char* p, const char* end, uint32_t* out) {
  if (end - p < 4) {
    return false;
  }
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hex_digit(p[i]);
    if (h < 0) {
      return false;
    }
    v = v << 4 | static_cast<uint32_t>(h);
  }
  *out = v;
  return true;
}

void append_utf8(std::string* out, uint32_t cp) {
  char buf[4];
  size_t n;
  if (cp < 0x80) {
    buf[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    buf[0] = static_cast<char>(0xC0 | cp >> 6);
    buf[1] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    buf[0] = static_cast<char>(0xE0 | cp >> 12);
    buf[1] = static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    buf[2] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    buf[0] = static_cast<char>(0xF0 | cp >> 18);
    buf[1] = static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    buf[2] = static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    buf[3] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 4;
  }
  out->append(buf, n);
}

// One pass over string content, appending the unescaped text to `out`.
bool decode(const char* p, const char* end, std::string* out) {
  while (p < end) {
    const char* bs = static_cast<const char*>(std::memchr(p, '\\', static_cast<size_t>(end - p)));
    if (bs == nullptr) {
      out->append(p, end);
      return true;
    }
    out->append(p, bs);
    p = bs + 1;
    if (p >= end) {
      return false;
    }
    char c = *p++;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        break;
      case 'b':
        c = '\b';
        break;
      case 'f':
        c = '\f';
        break;
      case 'n':
        c = '\n';
        break;
      case 'r':
        c = '\r';
        break;
      case 't':
        c = '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (!hex4(p, end, &cp)) {
          return false;
        }
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A high surrogate must be followed by an escaped low one; alone it has no UTF-8 form.
          uint32_t low;
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, &low) ||
              low < 0xDC00 || low > 0xDFFF) {
            return false;
          }
          p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return false;
        }
        append_utf8(out, cp);
        continue;
      }
      default:
        return false;
    }
    out->push_back(c);
  }
  return true;
}

// Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF), or 0 when the byte at p does not start one.
size_t utf8_sequence(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = p[0];
  if (c < 0x80) {
    return 1;
  }
  auto cont = [&](size_t i, unsigned char lo, unsigned char hi) {
    return p + i < end && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) {
    return cont(1, 0x80, 0xBF) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

// Escapes valid UTF-8 text (control characters, quote and backslash only).
void append_escaped_utf8(std::string* out, const char* p, const char* end) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* run = p;
  for (; p < end; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out->append(run, p);
    run = p + 1;
    switch (c) {
      case '"':
        out->append("\\\"", 2);
        break;
      case '\\':
        out->append("\\\\", 2);
        break;
      case '\b':
        out->append("\\b", 2);
        break;
      case '\f':
        out->append("\\f", 2);
        break;
      case '\n':
        out->append("\\n", 2);
        break;
      case '\r':
        out->append("\\r", 2);
        break;
      case '\t':
        out->append("\\t", 2);
        break;
      default: {
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(u, 6);
      }
    }
  }
  out->append(run, end);
}

}  // namespace

bool unescape(const char* p, const char* end, std::string* out) {
  return decode(p, end, out);
}

void append_escaped(std::string* out, std::string_view text) {
  const char* p = text.data();
  const char* end = p + text.size();
  if (simdjson::validate_utf8(p, text.size())) {
    append_escaped_utf8(out, p, end);
    return;
  }
  // Rare: text from outside JSON (a header, a path parameter) that is not UTF-8.
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  const auto* uend = reinterpret_cast<const unsigned char*>(end);
  const char* run = p;
  while (u < uend) {
    const size_t n = utf8_sequence(u, uend);
    if (n != 0) {
      u += n;
      continue;
    }
    const char* bad = reinterpret_cast<const char*>(u);
    append_escaped_utf8(out, run, bad);
    out->append("\xEF\xBF\xBD", 3);  // U+FFFD
    ++u;
    run = reinterpret_cast<const char*>(u);
  }
  append_escaped_utf8(out, run, end);
}

}  // namespace detail

const char* status_name(Status status) {
  switch (status) {
    case Status::kOk:
      return "ok";
    case Status::kAbsent:
      return "absent";
    case Status::kNotObject:
      return "not an object";
    case Status::kInvalid:
      return "invalid";
  }
  return "?";
}

ScalarKind scalar_text(std::string_view raw, std::string* scratch, std::string_view* text) {
  *text = {};
  if (raw.empty()) {
    return ScalarKind::kNotScalar;
  }
  const char* p = raw.data();
  const char* end = p + raw.size();
  switch (*p) {
    case '"': {
      if (raw.size() < 2 || end[-1] != '"') {
        return ScalarKind::kNotScalar;
      }
      const char* begin = p + 1;
      const char* stop = end - 1;
      // `raw` may come from anywhere: check what simdjson's index checks for bodies too.
      bool escapes = false;
      for (const char* q = begin; q < stop; ++q) {
        const unsigned char c = static_cast<unsigned char>(*q);
        if (c < 0x20) {
          return ScalarKind::kNotScalar;
        }
        if (c == '\\') {
          escapes = true;
          ++q;  // the escaped character, even `"` or `\`; check_escapes validates the rest
          if (q == stop) {
            return ScalarKind::kNotScalar;
          }
        } else if (c == '"') {
          return ScalarKind::kNotScalar;
        }
      }
      if (!simdjson::validate_utf8(begin, static_cast<size_t>(stop - begin))) {
        return ScalarKind::kNotScalar;
      }
      if (!escapes) {
        *text = std::string_view(begin, static_cast<size_t>(stop - begin));
        return ScalarKind::kString;
      }
      scratch->clear();
      if (!detail::unescape(begin, stop, scratch)) {
        return ScalarKind::kNotScalar;
      }
      *text = *scratch;
      return ScalarKind::kString;
    }
    case 't':
      if (raw == "true") {
        *text = raw;
        return ScalarKind::kTrue;
      }
      return ScalarKind::kNotScalar;
    case 'f':
      if (raw == "false") {
        *text = raw;
        return ScalarKind::kFalse;
      }
      return ScalarKind::kNotScalar;
    case 'n':
      if (raw == "null") {
        *text = raw;
        return ScalarKind::kNull;
      }
      return ScalarKind::kNotScalar;
    default:
      if (detail::is_number(p, end)) {
        *text = raw;
        return ScalarKind::kNumber;
      }
      return ScalarKind::kNotScalar;
  }
}

}  // namespace ringgate::json
