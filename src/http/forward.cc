#include "ringgate/http/forward.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ringgate/core/method.h"
#include "ringgate/http/fields.h"
#include "ringgate/http/response.h"

namespace ringgate {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Whether the head has a Date: a fast path noted it (may_have is exact for a head it read);
// llhttp's heads are looked through.
bool has_date(const MessageParser& m) {
  if (!m.may_have(FieldRule::kDate)) {
    return false;
  }
  if (m.read_plain()) {
    return true;
  }
  for (int i = 0; i < m.header_count(); ++i) {
    if (field_rule(m.header_name(i)) == FieldRule::kDate) {
      return true;
    }
  }
  return false;
}

bool dropped_from_response(const ForwardResponse& forward, std::string_view name) {
  for (size_t i = 0; i < forward.drop_count; ++i) {
    if (iequals(name, forward.drop[i])) {
      return true;
    }
  }
  return false;
}

}  // namespace

namespace {

bool dropped(const ForwardRequest& forward, std::string_view name);

}  // namespace

namespace {

// Case-insensitive on both sides: Connection tokens against header names.
bool iequals_both(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

// Calls `fn` with each non-empty element of a comma-separated list, OWS trimmed; returns true as
// soon as `fn` does.
template <typename Fn>
bool any_list_element(std::string_view list, Fn fn) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) {
      comma = list.size();
    }
    const std::string_view item = trim_ows(list.substr(pos, comma - pos));
    if (!item.empty() && fn(item)) {
      return true;
    }
    pos = comma + 1;
  }
  return false;
}

using Field = FieldRule;

// True when a Connection header at or after `first_connection` lists `name`.
bool named_by_connection(const MessageParser& m, int first_connection, std::string_view name) {
  if (first_connection < 0) {
    return false;
  }
  for (int i = first_connection; i < m.header_count(); ++i) {
    if (!iequals(m.header_name(i), "connection")) {
      continue;
    }
    if (any_list_element(m.header_value(i),
                         [name](std::string_view token) { return iequals_both(token, name); })) {
      return true;
    }
  }
  return false;
}

// The tokens of every Connection header of a message, gathered once: each other header is then
// checked against them instead of re-reading the Connection headers (past kMax tokens, it is).
class ConnectionTokens {
 public:
  ConnectionTokens(const MessageParser& m, int first_connection)
      : message_(m), first_(first_connection) {
    for (int i = first_connection < 0 ? m.header_count() : first_connection; i < m.header_count();
         ++i) {
      if (m.field_rule_of(i) != FieldRule::kConnection) {
        continue;
      }
      any_list_element(m.header_value(i), [this](std::string_view token) {
        if (count_ == kMax) {
          overflow_ = true;
          return true;
        }
        tokens_[count_++] = Token{token.data(), token.size()};
        return false;
      });
    }
  }

  // True when a Connection header lists `name`.
  bool names(std::string_view name) const {
    if (overflow_) {
      return named_by_connection(message_, first_, name);
    }
    for (size_t i = 0; i < count_; ++i) {
      if (iequals_both(std::string_view(tokens_[i].data, tokens_[i].size), name)) {
        return true;
      }
    }
    return false;
  }

 private:
  static constexpr size_t kMax = 16;
  // Plain pointer and size, so that the array is not cleared on every head: [0, count_) is set.
  struct Token {
    const char* data;
    size_t size;
  };
  const MessageParser& message_;
  int first_;
  Token tokens_[kMax];
  size_t count_ = 0;
  bool overflow_ = false;
};

bool lists_trailers(std::string_view te) {
  return any_list_element(te, [](std::string_view item) {
    // "trailers" takes no parameters, but a client may still write "trailers;q=1".
    return iequals(trim_ows(item.substr(0, item.find(';'))), "trailers");
  });
}

// What the gateway accepts as a client's X-Request-Id: short and printable, so that it can be
// logged and echoed without escaping.
bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 200) {
    return false;
  }
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

// Appends to out[0, cap). Once one piece does not fit nothing more is written and finish()
// returns 0, so a caller never sees a truncated head.
class HeadWriter {
 public:
  HeadWriter(char* out, size_t cap) : begin_(out), pos_(out), end_(out + cap) {}

  void put(std::string_view s) {
    if (run_begin_ != nullptr) {
      flush_run();
    }
    copy(s);
  }

  // "name: value" and CRLF, with one check of the room left.
  void put_header(std::string_view name, std::string_view value) {
    if (run_begin_ != nullptr) {
      flush_run();
    }
    if (full_) {
      return;
    }
    if (static_cast<size_t>(end_ - pos_) < name.size() + value.size() + 4) {
      full_ = true;
      return;
    }
    std::memcpy(pos_, name.data(), name.size());
    pos_ += name.size();
    *pos_++ = ':';
    *pos_++ = ' ';
    if (!value.empty()) {
      std::memcpy(pos_, value.data(), value.size());
      pos_ += value.size();
    }
    *pos_++ = '\r';
    *pos_++ = '\n';
  }

  // A header passed through unchanged: its received line (name, colon, OWS, value) is copied
  // when name and value are views into one head, as the parser's always are. Lines that follow
  // one another there (only CRLF between one's value and the next one's name) are gathered into
  // one run and copied at once.
  void put_received(std::string_view name, std::string_view value) {
    const char* end = value.data() + value.size();
    if (value.empty() || value.data() <= name.data() || end - name.data() >= 65536) {
      put_header(name, value);
      return;
    }
    put_lines(name.data(), end);
  }

  // Received lines [begin, end), the CRLF after the last one left out, added to the run.
  void put_lines(const char* begin, const char* end) {
    if (run_begin_ != nullptr && begin == run_end_ + 2 && run_end_[0] == '\r' &&
        run_end_[1] == '\n') {
      run_end_ = end;
      return;
    }
    if (run_begin_ != nullptr) {
      flush_run();
    }
    run_begin_ = begin;
    run_end_ = end;
  }

  size_t finish() {
    if (run_begin_ != nullptr) {
      flush_run();
    }
    return full_ ? 0 : static_cast<size_t>(pos_ - begin_);
  }

 private:
  void copy(std::string_view s) {
    if (full_) {
      return;
    }
    if (static_cast<size_t>(end_ - pos_) < s.size()) {
      full_ = true;
      return;
    }
    if (!s.empty()) {
      std::memcpy(pos_, s.data(), s.size());
      pos_ += s.size();
    }
  }

  // The gathered lines, with the CRLF that ends the last of them.
  void flush_run() {
    copy(std::string_view(run_begin_, static_cast<size_t>(run_end_ - run_begin_)));
    copy("\r\n");
    run_begin_ = nullptr;
  }

  char* begin_;
  char* pos_;
  char* end_;
  const char* run_begin_ = nullptr;  // received lines not yet copied: [run_begin_, run_end_)
  const char* run_end_ = nullptr;
  bool full_ = false;
};

// Fields `from` up to the next one with a rule of a plain keep-alive head (plain_keep_alive):
// they pass as received, and their lines follow one another there, so they go as one run.
// Returns the index of that next field.
int put_unruled_fields(HeadWriter& w, const MessageParser& m, int from) {
  const int to = m.next_ruled_field(from + 1);
  const std::string_view last = m.header_value(to - 1);  // where a fast path found it, if empty
  w.put_lines(m.header_name(from).data(), last.data() + last.size());
  return to;
}

// What the request writer must know before the first header goes out.
struct RequestScan {
  int first_connection = -1;
  int host = -1;         // the first Host
  int te_trailers = -1;  // the first TE that lists "trailers": `TE: trailers` goes in its place
  int request_id = -1;   // the first X-Request-Id, when valid
  bool has_xff = false;
  bool has_xfp = false;
  bool has_xfh = false;
};

RequestScan scan_request(const MessageParser& m) {
  RequestScan s;
  bool seen_request_id = false;
  for (int i = m.next_ruled_field(0); i < m.header_count(); i = m.next_ruled_field(i + 1)) {
    switch (m.field_rule_of(i)) {
      case Field::kConnection:
        if (s.first_connection < 0) {
          s.first_connection = i;
        }
        break;
      case Field::kHost:
        if (s.host < 0) {
          s.host = i;
        }
        break;
      case Field::kTe:
        if (s.te_trailers < 0 && lists_trailers(m.header_value(i))) {
          s.te_trailers = i;
        }
        break;
      case Field::kXRequestId:
        if (!seen_request_id) {
          seen_request_id = true;
          if (valid_request_id(m.header_value(i))) {
            s.request_id = i;
          }
        }
        break;
      case Field::kXForwardedFor:
        s.has_xff = true;
        break;
      case Field::kXForwardedProto:
        s.has_xfp = true;
        break;
      case Field::kXForwardedHost:
        s.has_xfh = true;
        break;
      default:
        break;
    }
  }
  return s;
}

// The first Connection header's index, or -1.
int first_connection(const MessageParser& m) {
  for (int i = m.next_ruled_field(0); i < m.header_count(); i = m.next_ruled_field(i + 1)) {
    if (iequals(m.header_name(i), "connection")) {
      return i;
    }
  }
  return -1;
}

// splitmix64's finalizer: a bijection on 64-bit values that spreads every input bit.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;  // odd: multiplying by it is a bijection

// A header the gateway sets itself for this request.
bool dropped(const ForwardRequest& forward, std::string_view name) {
  if (!forward.drop) {
    return false;
  }
  for (const std::string& d : *forward.drop) {
    if (iequals(name, d)) {
      return true;
    }
  }
  return false;
}

}  // namespace

namespace {

// The request lines the gateway sets after the client's that pass: X-Forwarded-For (the trusted
// chain and the peer), -Proto, -Host, a generated X-Request-Id, what the filters add, and the
// framing and upgrade the proxy owns.
void put_gateway_lines(HeadWriter& w, const MessageParser& request, const ForwardRequest& forward,
                       const RequestScan& s) {
  const bool trusted = forward.trusted_hops > 0;
  if (trusted) {
    // The chain so far, then the peer: one line, so that no upstream has to join repeated ones.
    if (s.has_xff || !forward.client_ip.empty()) {
      w.put("X-Forwarded-For: ");
      bool first = true;
      auto append = [&](std::string_view item) {
        if (!first) {
          w.put(", ");
        }
        first = false;
        w.put(item);
        return false;
      };
      for (int i = 0; s.has_xff && i < request.header_count(); ++i) {
        if (iequals(request.header_name(i), "x-forwarded-for")) {
          any_list_element(request.header_value(i), append);
        }
      }
      if (!forward.client_ip.empty()) {
        append(forward.client_ip);
      }
      w.put("\r\n");
    }
  } else if (!forward.client_ip.empty()) {
    w.put_header("X-Forwarded-For", forward.client_ip);
  }
  if (!trusted || !s.has_xfp) {
    w.put_header("X-Forwarded-Proto", forward.tls ? "https" : "http");
  }
  if ((!trusted || !s.has_xfh) && s.host >= 0 && !request.header_value(s.host).empty()) {
    w.put_header("X-Forwarded-Host", request.header_value(s.host));
  }
  if (s.request_id < 0 && !forward.request_id.empty()) {
    w.put_header("X-Request-Id", forward.request_id);
  }
  if (!forward.traceparent.empty()) {
    w.put_header("traceparent", forward.traceparent);
  }
  w.put(forward.extra);
  if (forward.upgrade) {
    w.put("Connection: upgrade\r\n");
  }
  if (forward.framing == BodyFraming::kChunked) {
    w.put("Transfer-Encoding: chunked\r\n");
  }
}

}  // namespace

size_t write_forward_request_head(const MessageParser& request, const ForwardRequest& forward,
                                  char* out, size_t cap, std::string_view* request_id_used) {
  const RequestScan s = scan_request(request);
  // A plain keep-alive head's Connection names keep-alive at most, which has its own rule.
  const bool plain = request.plain_keep_alive();
  const ConnectionTokens tokens(request, plain ? -1 : s.first_connection);
  std::string_view id_used;
  if (s.request_id >= 0) {
    id_used = request.header_value(s.request_id);
  } else {
    id_used = forward.request_id;
  }
  if (request_id_used != nullptr) {
    *request_id_used = id_used;
  }
  const std::string_view method = method_name(request.method());
  if (method.empty()) {
    return 0;
  }
  const bool trusted = forward.trusted_hops > 0;

  HeadWriter w(out, cap);
  w.put(method);
  w.put(" ");
  w.put(forward.target.empty() ? request.target() : forward.target);
  w.put(" HTTP/1.1\r\n");
  if (s.host < 0) {
    w.put_header("Host", forward.host);
  }
  const bool blocks = plain && forward.drop == nullptr;
  for (int i = 0; i < request.header_count(); ++i) {
    if (blocks && !request.field_ruled(i)) {
      i = put_unruled_fields(w, request, i) - 1;
      continue;
    }
    const std::string_view name = request.header_name(i);
    const std::string_view value = request.header_value(i);
    switch (request.field_rule_of(i)) {
      case Field::kConnection:
      case Field::kKeepAlive:
      case Field::kProxyConnection:
      case Field::kTrailer:
      case Field::kTransferEncoding:
      case Field::kProxyAuthorization:
      case Field::kXForwardedFor:  // written after the loop, as one line
        break;
      case Field::kTe:
        if (i == s.te_trailers) {
          w.put("TE: trailers\r\n");
        }
        break;
      case Field::kUpgrade:
        if (forward.upgrade) {
          w.put_header(name, value);
        }
        break;
      case Field::kHost:
        if (i == s.host) {
          if (forward.host.empty()) {
            w.put_received(name, value);
          } else {
            w.put_header("Host", forward.host);
          }
        }
        break;
      case Field::kContentLength:
        if (forward.framing != BodyFraming::kChunked) {
          w.put_received(name, value);
        }
        break;
      case Field::kXForwardedProto:
      case Field::kXForwardedHost:
        if (trusted) {
          w.put_header(name, value);
        }
        break;
      case Field::kXRequestId:
        if (i == s.request_id) {
          w.put_header(name, value);
        }
        break;
      case Field::kTraceparent:
        // Replaced by the gateway's own, unless trace_context is off.
        if (forward.traceparent.empty() && !tokens.names(name) && !dropped(forward, name)) {
          w.put_received(name, value);
        }
        break;
      case Field::kTracestate:
        if ((forward.traceparent.empty() || forward.keep_tracestate) && !tokens.names(name) &&
            !dropped(forward, name)) {
          w.put_received(name, value);
        }
        break;
      case Field::kExpect:
      case Field::kDate:
      case Field::kOther:
        if (!tokens.names(name) && !dropped(forward, name)) {
          w.put_received(name, value);
        }
        break;
    }
  }

  put_gateway_lines(w, request, forward, s);
  w.put("\r\n");
  return w.finish();
}

size_t write_forward_response_head(const MessageParser& response, const ForwardResponse& forward,
                                   char* out, size_t cap) {
  const int status = response.parser_status();
  if (status < 100 || status > 999) {
    return 0;
  }
  const bool plain = response.plain_keep_alive();
  const ConnectionTokens tokens(response, plain ? -1 : first_connection(response));
  const bool drop_length =
      forward.framing == BodyFraming::kChunked || forward.framing == BodyFraming::kUntilClose;

  HeadWriter w(out, cap);
  const char code[4] = {static_cast<char>('0' + status / 100),
                        static_cast<char>('0' + status / 10 % 10),
                        static_cast<char>('0' + status % 10), ' '};
  w.put("HTTP/1.1 ");
  w.put(std::string_view(code, sizeof code));
  w.put(reason_phrase(status));
  w.put("\r\n");
  const bool blocks = plain && forward.drop_count == 0;
  for (int i = 0; i < response.header_count(); ++i) {
    if (blocks && !response.field_ruled(i)) {
      i = put_unruled_fields(w, response, i) - 1;
      continue;
    }
    const std::string_view name = response.header_name(i);
    const std::string_view value = response.header_value(i);
    switch (response.field_rule_of(i)) {
      case Field::kConnection:
      case Field::kKeepAlive:
      case Field::kProxyConnection:
      case Field::kTe:
      case Field::kTrailer:
      case Field::kTransferEncoding:
        break;
      case Field::kUpgrade:
        if (forward.upgrade) {
          w.put_header(name, value);
        }
        break;
      case Field::kContentLength:
        if (!drop_length) {
          w.put_received(name, value);
        }
        break;
      default:
        // Request-only names (Host, X-Forwarded-*, ...) have no rule on responses.
        if (!tokens.names(name) &&
            (forward.drop_count == 0 || !dropped_from_response(forward, name))) {
          w.put_received(name, value);
        }
        break;
    }
  }
  if (forward.framing == BodyFraming::kChunked) {
    w.put("Transfer-Encoding: chunked\r\n");
  }
  if (!forward.date.empty() && !has_date(response)) {
    w.put(forward.date);
  }
  w.put(forward.extra);
  if (forward.upgrade) {
    w.put("Connection: upgrade\r\n");
  } else if (!forward.keep_alive) {
    w.put("Connection: close\r\n");
  } else if (forward.client_minor == 0) {
    w.put("Connection: keep-alive\r\n");
  }
  w.put("\r\n");
  return w.finish();
}

std::string_view client_address(const MessageParser& request, std::string_view peer,
                                uint32_t trusted_hops) {
  if (trusted_hops == 0) {
    return peer;
  }
  // The entries of every X-Forwarded-For line, in order; the Nth from the right is the one the
  // outermost trusted proxy saw. A ring: only the rightmost 32 can matter.
  constexpr size_t kRing = 32;
  std::string_view entries[kRing];
  size_t seen = 0;
  for (int i = 0; i < request.header_count(); ++i) {
    if (!iequals(request.header_name(i), "x-forwarded-for")) {
      continue;
    }
    std::string_view v = request.header_value(i);
    while (!v.empty()) {
      const size_t comma = v.find(',');
      const std::string_view item = trim_ows(v.substr(0, comma));
      v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
      if (!item.empty()) {
        entries[seen % kRing] = item;
        ++seen;
      }
    }
  }
  if (seen == 0) {
    return peer;
  }
  const size_t from_right = std::min<size_t>({trusted_hops, seen, kRing});
  return entries[(seen - from_right) % kRing];
}

size_t write_chunk_size_line(char* out, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  char tmp[16];
  size_t k = 0;
  do {
    tmp[k++] = kHex[n & 15];
    n >>= 4;
  } while (n);
  for (size_t i = 0; i < k; ++i) {
    out[i] = tmp[k - 1 - i];
  }
  out[k] = '\r';
  out[k + 1] = '\n';
  return k + 2;
}

void write_hex64(uint64_t v, char* out) {
#if defined(__SSE2__)
  // Bytes most significant first, each split into its two nibbles (high one first), then each
  // nibble to its digit: '0' + n, and 'a' - '0' - 10 more where n is 10 or above.
  const __m128i bytes = _mm_cvtsi64_si128(static_cast<long long>(__builtin_bswap64(v)));
  const __m128i low_nibble = _mm_set1_epi8(0x0f);
  const __m128i high = _mm_and_si128(_mm_srli_epi16(bytes, 4), low_nibble);
  const __m128i low = _mm_and_si128(bytes, low_nibble);
  const __m128i nibbles = _mm_unpacklo_epi8(high, low);
  const __m128i letters = _mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9));
  const __m128i digits = _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8('0')),
                                      _mm_and_si128(letters, _mm_set1_epi8('a' - '0' - 10)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), digits);
#else
  static const char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[v & 15];
    v >>= 4;
  }
#endif
}

RequestIdGenerator::RequestIdGenerator(uint64_t seed, uint64_t stream)
    // Distinct streams give distinct seed_: adding an odd multiple of the stream and mixing are
    // both bijections.
    : seed_(mix64(mix64(seed) + kGolden * (stream + 1))) {}

uint64_t RequestIdGenerator::new_stream() {
  static std::atomic<uint64_t> streams{0};
  return streams.fetch_add(1, std::memory_order_relaxed);
}

void RequestIdGenerator::next(char* out) {
  const uint64_t n = counter_++;
  // lo is a bijection of the counter (for one shard), hi a bijection of seed_ for a given lo:
  // two ids are equal only if both the counter and the shard are.
  const uint64_t lo = mix64(seed_ + kGolden * n);
  const uint64_t hi = mix64(lo ^ seed_);
  write_hex64(hi, out);
  write_hex64(lo, out + 16);
}

void RequestIdGenerator::next_half(char* out) {
  write_hex64(mix64(seed_ + kGolden * counter_++), out);
}

}  // namespace ringgate
