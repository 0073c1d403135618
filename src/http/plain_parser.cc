// The fast paths: a request or response head of the common shape (a whole head, a common
// method or a final status, HTTP/1.1, plain field lines) read in one pass of 16-byte scans
// without llhttp (its body, if it has a length, is counted off by feed_fast_body). Anything
// else declines, and llhttp reads the message from its first byte as before (request_parser.cc).

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ringgate/core/ascii.h"
#include "ringgate/http/fields.h"
#include "ringgate/http/request_parser.h"

namespace ringgate {

namespace {

// RFC 9110 tchar: what a field name is made of, by byte.
struct TokenChars {
  bool table[256] = {};
  constexpr TokenChars() {
    for (int c = '0'; c <= '9'; ++c) {
      table[c] = true;
    }
    for (int c = 'a'; c <= 'z'; ++c) {
      table[c] = true;
      table[c - 'a' + 'A'] = true;
    }
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
      table[static_cast<unsigned char>(c)] = true;
    }
  }
};
constexpr TokenChars kTokenChars;

// The fast paths read 16 bytes at a time: each scan returns the first position at or after
// `pos` (before `n`) whose byte it stops at, or the position where fewer than 16 bytes were left
// (the caller's byte loop goes on from there), and never reads at or past `n`.
#if defined(__SSE2__)
// `stops(v, at)`: a mask with bit i set when byte i of v (the 16 bytes at b + at) is one to stop
// at.
template <typename Stops>
size_t scan16(const unsigned char* b, size_t pos, size_t n, Stops stops) {
  while (pos + 16 <= n) {
    const unsigned mask = stops(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + pos)), pos);
    if (mask != 0) {
      return pos + static_cast<size_t>(__builtin_ctz(mask));
    }
    pos += 16;
  }
  return pos;
}

unsigned movemask(__m128i v) {
  return static_cast<unsigned>(_mm_movemask_epi8(v));
}
#endif

// Stops at a byte other than A-Z, a-z, 0-9 and '-' (the bytes of nearly every field name).
size_t name_scan(const unsigned char* b, size_t pos, size_t n) {
#if defined(__SSE2__)
  const __m128i case_bit = _mm_set1_epi8(0x20);
  const __m128i a = _mm_set1_epi8('a');
  const __m128i letters = _mm_set1_epi8(25);
  const __m128i zero = _mm_set1_epi8('0');
  const __m128i digits = _mm_set1_epi8(9);
  const __m128i dash = _mm_set1_epi8('-');
  return scan16(b, pos, n, [&](__m128i v, size_t) {
    const __m128i l = _mm_sub_epi8(_mm_or_si128(v, case_bit), a);  // 0..25 for a letter
    const __m128i d = _mm_sub_epi8(v, zero);                       // 0..9 for a digit
    const __m128i ok = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, letters), l),
                                                 _mm_cmpeq_epi8(_mm_min_epu8(d, digits), d)),
                                    _mm_cmpeq_epi8(v, dash));
    return ~movemask(ok) & 0xffffu;
  });
#else
  return pos;
#endif
}

// Stops at a control byte other than HTAB (CR among them) or DEL: what ends or spoils a field
// value.
size_t value_scan(const unsigned char* b, size_t pos, size_t n) {
#if defined(__SSE2__)
  const __m128i max_control = _mm_set1_epi8(0x1f);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7f);
  return scan16(b, pos, n, [&](__m128i v, size_t) {
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, max_control), v);  // v <= 0x1f
    return movemask(
        _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), control), _mm_cmpeq_epi8(v, del)));
  });
#else
  return pos;
#endif
}

bool value_stop_byte(unsigned char c) {
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

// '#' too ends it: a fragment is refused (RequestParser::normalize_path), off the fast path.
bool target_byte(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != '#';
}

// A Host value of the common shape, checked 16 bytes at a time: letters, digits, '.' and '-',
// then at most a ':' and digits. `readable`: the bytes readable from `p` (the head goes on past
// the value). False for anything else, valid or not (valid_host() then judges it byte by byte),
// or where a 16-byte block would read past what is readable.
bool common_host(const unsigned char* p, size_t len, size_t readable) {
#if defined(__SSE2__)
  if (len == 0 || len > 32 || readable < ((len + 15) & ~size_t{15})) {
    return false;
  }
  uint32_t name = 0;   // letters, digits, '.', '-'
  uint32_t digit = 0;  // digits
  uint32_t colon = 0;  // ':'
  for (size_t at = 0; at < len; at += 16) {
    // (a byte from 0x80 is negative as a signed byte: in none of the ranges)
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    const __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));  // only A-Z land in a-z
    const __m128i letters = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                          _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    const __m128i digits = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                         _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i dot_dash =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')), _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    name |= movemask(_mm_or_si128(_mm_or_si128(letters, digits), dot_dash)) << at;
    digit |= movemask(digits) << at;
    colon |= movemask(_mm_cmpeq_epi8(v, _mm_set1_epi8(':'))) << at;
  }
  const uint32_t in = len == 32 ? ~0u : (1u << len) - 1;
  colon &= in;
  const uint32_t first = colon & (0u - colon);  // the first ':', or 0
  const uint32_t before = first == 0 ? in : first - 1;
  const uint32_t after = in & ~(before | first);
  return (name & before) == before && (digit & after) == after;
#else
  (void)p;
  (void)len;
  (void)readable;
  return false;
#endif
}

// A byte of a path normalize_path acts on: '%', '\\', or '/' or '.' after '/' (an empty segment,
// or one that may be "." or "..": "/.well-known" is looked at there too).
bool path_special(unsigned char c, unsigned char before) {
  return c == '%' || c == '\\' || ((c == '/' || c == '.') && before == '/');
}

// A request target from `pos` (b[pos - 1] is readable: the SP after the method): it ends at the
// first byte that is not visible ASCII or is '#' (`end`, or where `n` cut it short), its path
// at the first '?' (`query`, else `end`); `plain_path`: the path holds no byte path_special()
// stops at, so normalize_path has nothing to do.
struct TargetSpan {
  size_t end;
  size_t query;
  bool plain_path;
};

TargetSpan scan_target(const unsigned char* b, size_t pos, size_t n) {
  size_t query = SIZE_MAX;
  bool special = false;
#if defined(__SSE2__)
  const __m128i first_visible = _mm_set1_epi8(0x21);
  const __m128i del = _mm_set1_epi8(0x7f);
  const __m128i hash = _mm_set1_epi8('#');
  const __m128i question = _mm_set1_epi8('?');
  const __m128i percent = _mm_set1_epi8('%');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i slash = _mm_set1_epi8('/');
  const __m128i dot = _mm_set1_epi8('.');
  pos = scan16(b, pos, n, [&](__m128i v, size_t at) {
    // (a byte from 0x80 is negative: below 0x21 as a signed byte, so it ends the target)
    const unsigned stops = movemask(
        _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, first_visible), _mm_cmpeq_epi8(v, del)),
                     _mm_cmpeq_epi8(v, hash)));
    if (query == SIZE_MAX) {
      unsigned path = stops != 0 ? (1u << __builtin_ctz(stops)) - 1 : 0xffffu;
      if (const unsigned q = movemask(_mm_cmpeq_epi8(v, question)) & path; q != 0) {
        query = at + static_cast<size_t>(__builtin_ctz(q));
        path = (1u << __builtin_ctz(q)) - 1;
      }
      const __m128i before = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + at - 1));
      const __m128i after_slash =
          _mm_and_si128(_mm_or_si128(_mm_cmpeq_epi8(v, slash), _mm_cmpeq_epi8(v, dot)),
                        _mm_cmpeq_epi8(before, slash));
      const __m128i specials = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(v, percent), _mm_cmpeq_epi8(v, backslash)), after_slash);
      special = special || (movemask(specials) & path) != 0;
    }
    return stops;
  });
#endif
  // The bytes scan16 left (fewer than 16); at a stop it ends at once.
  for (; pos < n && target_byte(b[pos]); ++pos) {
    if (query == SIZE_MAX) {
      if (b[pos] == '?') {
        query = pos;
      } else {
        special = special || path_special(b[pos], b[pos - 1]);
      }
    }
  }
  return {pos, query == SIZE_MAX ? pos : query, !special};
}

// A request line's method when it is one of the common ones, with its SP: llhttp's number, and
// `len` its length; -1 for anything else (llhttp's to read).
int plain_method(const unsigned char* b, size_t n, size_t& len) {
  static constexpr std::pair<std::string_view, int> kMethods[] = {
      {"GET ", HTTP_GET},        {"POST ", HTTP_POST},     {"HEAD ", HTTP_HEAD},
      {"PUT ", HTTP_PUT},        {"DELETE ", HTTP_DELETE}, {"PATCH ", HTTP_PATCH},
      {"OPTIONS ", HTTP_OPTIONS}};
  for (const auto& [name, number] : kMethods) {
    if (n > name.size() && std::memcmp(b, name.data(), name.size()) == 0) {
      len = name.size() - 1;
      return number;
    }
  }
  return -1;
}

}  // namespace

bool MessageParser::read_plain_fields(const unsigned char* b, size_t& pos, size_t n,
                                      PlainFields& fields) {
  // Everything in locals until the end: `b` may alias anything (unsigned char), so state kept
  // behind a reference or a member would be stored and loaded again around every byte read.
  const auto* data = reinterpret_cast<const char*>(b);
  const uint32_t max_fields = context_->limits->headers;
  const bool request = kind_ == Kind::kRequest;
  HeaderSpan* const spans = spans_;
  PlainFields f;
  size_t at = pos;
  uint32_t count = 0;
  for (;;) {
    if (at + 1 >= n) {
      return false;  // not whole here (or over the limit): llhttp's
    }
    if (b[at] == '\r') {
      if (b[at + 1] != '\n') {
        return false;
      }
      at += 2;
      break;  // the blank line
    }
    if (count >= max_fields) {
      return false;
    }
    const size_t name_at = at;
    at = name_scan(b, at, n);
    if (at >= n || b[at] != ':') {
      while (at < n && kTokenChars.table[b[at]]) {  // a rarer token byte, or the scan's tail
        ++at;
      }
      if (at >= n || b[at] != ':') {
        return false;
      }
    }
    if (at == name_at) {
      return false;
    }
    const std::string_view name(data + name_at, at - name_at);
    ++at;
    if (at < n && b[at] == ' ') {
      ++at;
    }
    const size_t value_at = at;
    at = value_scan(b, at, n);
    if (at >= n || b[at] != '\r') {
      while (at < n && !value_stop_byte(b[at])) {  // the scan's tail
        ++at;
      }
    }
    if (at + 1 >= n || std::memcmp(b + at, "\r\n", 2) != 0) {
      return false;  // a control byte (a bare LF too), or not whole here
    }
    // A value byte up to 0x20 is SP or HTAB (the scan stopped at any other): whitespace at
    // either end is what llhttp would trim.
    if (at > value_at && (b[value_at] <= 0x20 || b[at - 1] <= 0x20)) {
      return false;
    }
    const std::string_view value(data + value_at, at - value_at);
    at += 2;
    const FieldRule rule = field_rule(name);
    if (rule == FieldRule::kDate) {
      // Only noted (may_have): it is written as received, so the head writers' runs of fields
      // without a rule go on through it.
      f.rules |= uint32_t{1} << static_cast<unsigned>(rule);
    } else if (rule != FieldRule::kOther) {
      if (count < 64) {
        f.ruled |= uint64_t{1} << count;
        rules_[count] = rule;
      }
      f.rules |= uint32_t{1} << static_cast<unsigned>(rule);
      switch (rule) {  // what llhttp or the callbacks act on
        case FieldRule::kHost:
          if (request) {
            if (f.host >= 0) {
              return false;  // the callbacks' error
            }
            if (!common_host(b + value_at, value.size(), n - value_at) && !valid_host(value)) {
              return false;  // the callbacks' error
            }
            f.host = static_cast<int>(count);
          }
          break;
        case FieldRule::kExpect:
          if (request) {
            return false;
          }
          break;
        case FieldRule::kUpgrade:
        case FieldRule::kProxyConnection:
        case FieldRule::kTransferEncoding:
          return false;
        case FieldRule::kConnection:
          if (iequals(value, "close")) {
            f.close = true;
          } else if (!iequals(value, "keep-alive")) {
            return false;
          }
          break;
        case FieldRule::kContentLength:
          if (f.has_length || !plain_content_length(value, f.length)) {
            return false;
          }
          f.has_length = true;
          break;
        default:
          break;
      }
    }
    spans[count++] =
        HeaderSpan{static_cast<uint32_t>(name_at), static_cast<uint32_t>(name.size()),
                   static_cast<uint32_t>(value_at), static_cast<uint32_t>(value.size())};
  }
  f.count = static_cast<int>(count);
  fields = f;
  pos = at;
  return true;
}

void MessageParser::finish_plain_head(const PlainFields& fields, size_t head_bytes, bool bodiless) {
  parser_.http_major = 1;
  parser_.http_minor = 1;
  parser_.flags = fields.has_length ? F_CONTENT_LENGTH : 0;
  parser_.content_length = fields.has_length ? fields.length : 0;
  parser_.upgrade = 0;
  fast_flags_ = true;
  header_count_ = static_cast<uint16_t>(fields.count);
  ruled_ = fields.ruled;
  rules_seen_ = fields.rules;
  head_bytes_ = static_cast<uint32_t>(head_bytes);
  keep_alive_ = !fields.close;
  plain_next_ = keep_alive_;
  in_head_ = false;
  if (bodiless || fields.length == 0) {
    flags_ |= kCompleteEvent;  // the next feed() reports the end
    in_message_ = false;
  } else {
    fast_body_ = true;
    in_message_ = true;
  }
}

bool MessageParser::feed_plain_request(const char* data, size_t len, size_t& consumed) {
  const Limits& limits = *context_->limits;
  const size_t n = std::min<size_t>(len, limits.header_bytes);
  const auto* b = reinterpret_cast<const unsigned char*>(data);
  // The request line: METHOD SP origin-form target SP HTTP/1.1.
  size_t method_len = 0;
  const int method = plain_method(b, n, method_len);
  if (method < 0) {
    return false;
  }
  const size_t target_at = method_len + 1;
  if (b[target_at] != '/') {
    return false;
  }
  const TargetSpan target = scan_target(b, target_at, n);
  size_t pos = target.end;
  const size_t target_len = pos - target_at;
  if (target_len > limits.request_line || n - pos < 11 ||
      std::memcmp(b + pos, " HTTP/1.1\r\n", 11) != 0) {
    return false;
  }
  pos += 11;
  PlainFields fields;
  if (!read_plain_fields(b, pos, n, fields) || fields.host < 0 || (fields.close && !own_input_) ||
      (fields.has_length && fields.length > body_limit())) {
    return false;  // no Host, a close, or a body over the limit: llhttp's (and the error)
  }
  parser_.method = static_cast<uint8_t>(method);
  url_off_ = static_cast<uint32_t>(target_at);
  url_len_ = static_cast<uint32_t>(target_len);
  path_len_ = static_cast<uint32_t>(target.query - target_at);
  path_plain_ = target.plain_path;
  host_index_ = static_cast<int16_t>(fields.host);
  flags_ = kHasHost;
  finish_plain_head(fields, pos, false);
  consumed = pos;
  return true;
}

bool MessageParser::feed_plain_response(const char* data, size_t len, size_t& consumed) {
  const Limits& limits = *context_->limits;
  const size_t n = std::min<size_t>(len, limits.header_bytes);
  const auto* b = reinterpret_cast<const unsigned char*>(data);
  // The status line: HTTP/1.1 SP 3DIGIT SP reason, a final status (1xx and 101 are llhttp's).
  if (n < 15 || std::memcmp(data, "HTTP/1.1 ", 9) != 0 || b[12] != ' ') {
    return false;
  }
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (b[i] < '0' || b[i] > '9') {
      return false;
    }
    status = status * 10 + (b[i] - '0');
  }
  if (status < 200) {
    return false;
  }
  size_t pos = 13;
  while (pos < n && b[pos] != '\r') {
    if ((b[pos] < 0x20 && b[pos] != '\t') || b[pos] >= 0x7f) {
      return false;
    }
    ++pos;
  }
  if (pos + 1 >= n || b[pos + 1] != '\n') {
    return false;
  }
  pos += 2;
  PlainFields fields;
  if (!read_plain_fields(b, pos, n, fields) || fields.close) {
    return false;  // a close is llhttp's: it must know that nothing may follow
  }
  const bool bodiless = skip_body_ || status == 204 || status == 304;
  if (!bodiless && (!fields.has_length || fields.length > body_limit())) {
    return false;  // read until close, or too large: llhttp's (and its error)
  }
  parser_.status_code = static_cast<uint16_t>(status);
  flags_ = 0;
  finish_plain_head(fields, pos, bodiless);
  consumed = pos;
  return true;
}

}  // namespace ringgate
