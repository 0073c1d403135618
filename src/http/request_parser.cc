#include "ringgate/http/request_parser.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "ringgate/core/ascii.h"
#include "ringgate/core/header_list.h"
#include "ringgate/core/hex.h"
#include "ringgate/http/path.h"

namespace ringgate {

namespace {

MessageParser* self(llhttp_t* p) {
  return static_cast<MessageParser*>(p->data);
}

}  // namespace

size_t scratch_block_size(const Limits& limits) {
  return limits.header_bytes + sizeof(HeaderSpan) * limits.headers;
}

const llhttp_settings_t MessageParser::kSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &MessageParser::on_message_begin;
  s.on_url = &MessageParser::on_url;
  s.on_status = &MessageParser::on_status;
  s.on_header_field = &MessageParser::on_header_field;
  s.on_header_field_complete = &MessageParser::on_header_field_complete;
  s.on_header_value = &MessageParser::on_header_value;
  s.on_header_value_complete = &MessageParser::on_header_value_complete;
  s.on_headers_complete = &MessageParser::on_headers_complete;
  s.on_body = &MessageParser::on_body;
  s.on_message_complete = &MessageParser::on_message_complete;
  return s;
}();

MessageParser::MessageParser(Kind kind) : kind_(kind) {
  llhttp_init(&parser_, kind == Kind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &kSettings);
  parser_.data = this;
}

MessageParser::~MessageParser() {
  release();
}

void MessageParser::init(ParserContext* context) {
  context_ = context;
  spans_ = context->shared_spans;
}

void MessageParser::reset() {
  release();
  own_input_ = false;
  plain_next_ = true;
  llhttp_completed_ = false;
  fast_body_ = false;
  fast_flags_ = false;
  llhttp_init(&parser_, kind_ == Kind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &kSettings);
  parser_.data = this;
  begin_message(nullptr);
  error_ = ParseError{};
  body_sink_ = nullptr;
  skip_body_ = false;
  dead_ = false;
}

void MessageParser::release() {
  if (scratch_) {
    context_->scratch_pool->release(scratch_);
    scratch_ = nullptr;
    scratch_len_ = 0;
  }
}

namespace {

// The bytes of a reg-name or IPv4 address (RFC 3986 3.2.2): unreserved, sub-delims and '%' of a
// percent-encoding (its hex digits are unreserved).
constexpr std::array<bool, 256> kHostByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = url_unreserved(static_cast<unsigned char>(c));
  }
  for (unsigned char c : std::string_view("!$&'()*+,;=%")) {
    t[c] = true;
  }
  return t;
}();

}  // namespace

bool valid_host(std::string_view host) {
  size_t i = 0;
  if (!host.empty() && host.front() == '[') {
    // An IP literal: hex digits, ':' and '.' (IPv6, IPv4 in its tail), or an IPvFuture's
    // "v" HEXDIG "." and then unreserved, sub-delims or ':'.
    for (i = 1; i < host.size() && host[i] != ']'; ++i) {
      if (!kHostByte[static_cast<unsigned char>(host[i])] && host[i] != ':') {
        return false;
      }
    }
    if (i == host.size() || i == 1) {
      return false;  // no closing bracket, or nothing inside
    }
    ++i;
  } else {
    while (i < host.size() && kHostByte[static_cast<unsigned char>(host[i])]) {
      ++i;
    }
  }
  if (i == host.size()) {
    return true;
  }
  if (host[i] != ':') {
    return false;
  }
  for (++i; i < host.size(); ++i) {
    if (host[i] < '0' || host[i] > '9') {
      return false;
    }
  }
  return true;
}

bool MessageParser::other_transfer_coding() const {
  bool other = false;
  for (int i = 0; i < header_count_ && !other; ++i) {
    if (iequals(header_name(i), "transfer-encoding")) {
      for_each_list_element(header_value(i), [&other](std::string_view coding, bool) {
        other = !coding.empty() && !iequals(coding, "chunked");
        return !other;
      });
    }
  }
  return other;
}

int MessageParser::fail(ErrorKind kind, const char* reason) {
  if (error_.kind == ErrorKind::kNone) {
    // Whatever is wrong with an upstream's response, it is a bad response.
    error_.kind = kind_ == Kind::kResponse ? ErrorKind::kBadResponse : kind;
    error_.reason = reason;
  }
  return -1;
}

// Grows a span by the piece [p, p+n). Pieces of one span arrive in order and, once the head is in
// one place, contiguously, so the span is [off, end of the latest piece).
bool MessageParser::extend(uint32_t& off, uint32_t& len, const char* p, size_t n) {
  const size_t pos = static_cast<size_t>(p - head_base_);
  const size_t end = pos + n;
  if (end > context_->limits->header_bytes) {
    return false;
  }
  if (len == 0) {
    off = static_cast<uint32_t>(pos);
  }
  len = static_cast<uint32_t>(end - off);
  head_bytes_ = static_cast<uint32_t>(end);
  return true;
}

void MessageParser::begin_message(const char* data) {
  release();
  head_base_ = data;
  spans_ = context_->shared_spans;
  url_off_ = url_len_ = 0;
  path_len_ = kPathUnknown;
  path_plain_ = false;
  ruled_ = ~uint64_t{0};
  rules_seen_ = ~uint32_t{0};
  head_bytes_ = 0;
  header_count_ = 0;
  host_index_ = -1;
  flags_ = 0;
  body_bytes_ = 0;
  trailer_bytes_ = 0;
  trailers_.clear();
  trailers_dropped_ = false;
  in_message_ = false;  // set by on_message_begin at the first byte of a request
  in_head_ = false;
  keep_alive_ = false;
}

int MessageParser::on_message_begin(llhttp_t* p) {
  MessageParser* r = self(p);
  // A request starts at its first non-CRLF byte: blank lines between requests (RFC 9112 2.2)
  // are skipped by llhttp and start nothing, so they do not arm a header deadline.
  r->in_message_ = true;
  r->in_head_ = true;
  return 0;
}

int MessageParser::on_url(llhttp_t* p, const char* at, size_t n) {
  MessageParser* r = self(p);
  if (r->url_len_ + n > r->context_->limits->request_line) {
    return r->fail(ErrorKind::kUriTooLong, "request target too long");
  }
  if (!r->extend(r->url_off_, r->url_len_, at, n)) {
    return r->fail(ErrorKind::kHeadTooLarge, "request head too large");
  }
  return 0;
}

// A response's reason phrase: not kept, but the head so far ends with it (a head without fields
// is its status line and the blank line).
int MessageParser::on_status(llhttp_t* p, const char* at, size_t n) {
  MessageParser* r = self(p);
  const size_t end = static_cast<size_t>(at - r->head_base_) + n;
  if (end > r->context_->limits->header_bytes) {
    return r->fail(ErrorKind::kHeadTooLarge, "response head too large");
  }
  r->head_bytes_ = std::max(r->head_bytes_, static_cast<uint32_t>(end));
  return 0;
}

// Chunked trailers arrive through the header callbacks after the head is complete. They are not
// head fields (and may sit in another buffer than the head): count them against the body limit;
// a response keeps them (copied, bounded) for the client, a request drops them.
void MessageParser::add_trailer(const char* data, size_t n) {
  if (kind_ != Kind::kResponse || trailers_dropped_) {
    return;
  }
  if (trailers_.size() + n > kMaxTrailerBytes) {
    trailers_dropped_ = true;
    return;
  }
  trailers_.append(data, n);
}

int MessageParser::on_trailer_bytes(size_t n) {
  trailer_bytes_ += n;
  if (body_bytes_ + trailer_bytes_ > body_limit()) {
    return fail(ErrorKind::kBodyTooLarge, "request body too large");
  }
  return 0;
}

int MessageParser::on_header_field(llhttp_t* p, const char* at, size_t n) {
  MessageParser* r = self(p);
  if (!r->in_head_) {
    r->add_trailer(at, n);
    return r->on_trailer_bytes(n);
  }
  if (!(r->flags_ & kInField)) {
    if (r->header_count_ >= r->context_->limits->headers) {
      return r->fail(ErrorKind::kHeadTooLarge, "too many header fields");
    }
    r->spans_[r->header_count_] = HeaderSpan{0, 0, 0, 0};
    ++r->header_count_;
    r->flags_ |= kInField;
  }
  HeaderSpan& s = r->spans_[r->header_count_ - 1];
  if (!r->extend(s.name_off, s.name_len, at, n)) {
    return r->fail(ErrorKind::kHeadTooLarge, "request head too large");
  }
  return 0;
}

int MessageParser::on_header_field_complete(llhttp_t* p) {
  MessageParser* r = self(p);
  if (!r->in_head_) {
    r->add_trailer(": ", 2);
    return 0;
  }
  if (!(r->flags_ & kInField) || r->spans_[r->header_count_ - 1].name_len == 0) {
    // No name bytes at all (": value"): llhttp 8.1 lets it through; RFC 9112 does not.
    return r->fail(ErrorKind::kMalformed, "empty header name");
  }
  r->flags_ &= static_cast<uint8_t>(~kInField);
  return 0;
}

int MessageParser::on_header_value(llhttp_t* p, const char* at, size_t n) {
  MessageParser* r = self(p);
  if (!r->in_head_) {
    r->add_trailer(at, n);
    return r->on_trailer_bytes(n);
  }
  if (r->header_count_ == 0) {
    return r->fail(ErrorKind::kMalformed, "header value without a name");
  }
  HeaderSpan& s = r->spans_[r->header_count_ - 1];
  if (n == 0) {
    // An empty value is reported at the start of the next line, past the CRLF that ends it: the
    // value (and the head so far) ends before that CRLF.
    const size_t pos = static_cast<size_t>(at - r->head_base_);
    const size_t end = pos >= 2 ? pos - 2 : pos;
    if (s.value_len == 0) {
      s.value_off = static_cast<uint32_t>(end);
    }
    r->head_bytes_ = std::max(r->head_bytes_, static_cast<uint32_t>(end));
    return 0;
  }
  if (s.value_len == 0) {
    // (An empty value arrives as n == 0 at the start of the next line: nothing to check.)
    // llhttp skips a CRLF + SP between the colon and the value as leading whitespace: that is
    // obs-fold with an empty first line, invisible in the value itself.
    const size_t name_end = s.name_off + s.name_len;
    const size_t pos = static_cast<size_t>(at - r->head_base_);
    for (size_t i = name_end; i < pos; ++i) {
      if (r->head_base_[i] == '\r' || r->head_base_[i] == '\n') {
        return r->fail(ErrorKind::kMalformed, "invalid header value (obs-fold, CR, LF or NUL)");
      }
    }
  }
  if (!r->extend(s.value_off, s.value_len, at, n)) {
    return r->fail(ErrorKind::kHeadTooLarge, "request head too large");
  }
  return 0;
}

namespace {

bool is_cr_lf_or_nul(char c) {
  return c == '\r' || c == '\n' || c == '\0';
}

// How many leading bytes of `v` are known to be at least `bound` (below 0x80), eight at a time:
// up to the first word that may hold a smaller byte.
size_t bytes_at_least(std::string_view v, uint8_t bound) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, v.data() + i, 8);
    if (((w - kOnes * bound) & ~w & kHigh) != 0) {
      break;
    }
  }
  return i;
}

// A byte below 0x0e is the only kind that can be CR, LF or NUL, and header values almost never
// hold such bytes (a tab sends the rest through the byte loop).
bool has_cr_lf_or_nul(std::string_view v) {
  for (size_t i = bytes_at_least(v, 0x0e); i < v.size(); ++i) {
    if (is_cr_lf_or_nul(v[i])) {
      return true;
    }
  }
  return false;
}

}  // namespace

int MessageParser::on_header_value_complete(llhttp_t* p) {
  MessageParser* r = self(p);
  if (!r->in_head_) {
    r->add_trailer("\r\n", 2);
    return 0;
  }
  if (r->header_count_ == 0) {
    return 0;
  }
  HeaderSpan& s = r->spans_[r->header_count_ - 1];
  // Trailing OWS is not part of the value.
  while (s.value_len > 0) {
    char c = r->head_base_[s.value_off + s.value_len - 1];
    if (c != ' ' && c != '\t') {
      break;
    }
    --s.value_len;
  }
  std::string_view value = r->view(s.value_off, s.value_len);
  // obs-fold (a CRLF followed by SP/HTAB inside a value) and bare CR/LF are rejected even in
  // llhttp's strict mode, where folding is still accepted.
  if (has_cr_lf_or_nul(value)) {
    return r->fail(ErrorKind::kMalformed, "invalid header value (obs-fold, CR, LF or NUL)");
  }
  if (r->kind_ == Kind::kResponse) {
    return 0;
  }
  std::string_view name = r->view(s.name_off, s.name_len);
  if (iequals(name, "host")) {
    if (r->flags_ & kHasHost) {
      return r->fail(ErrorKind::kMalformed, "more than one Host header");
    }
    if (!valid_host(value)) {
      return r->fail(ErrorKind::kMalformed, "invalid Host header");
    }
    r->flags_ |= kHasHost;
    r->host_index_ = static_cast<int16_t>(r->header_count_ - 1);
  } else if (iequals(name, "expect")) {
    if (iequals(value, "100-continue")) {
      r->flags_ |= kExpectContinue;
    } else {
      return r->fail(ErrorKind::kExpectation, "unsupported expectation");
    }
  }
  return 0;
}

int MessageParser::on_headers_complete(llhttp_t* p) {
  MessageParser* r = self(p);
  r->head_bytes_ += 4;  // the blank line and the last CRLF are in no span
  if (r->head_bytes_ > r->context_->limits->header_bytes) {
    return r->fail(ErrorKind::kHeadTooLarge, "message head too large");
  }
  if (p->http_major != 1) {
    return r->fail(ErrorKind::kVersion, "HTTP version not supported");
  }
  if (r->kind_ == Kind::kResponse && p->status_code < 100) {
    return r->fail(ErrorKind::kBadResponse, "invalid status code");
  }
  if (r->kind_ == Kind::kRequest && p->http_minor >= 1 && !(r->flags_ & kHasHost)) {
    return r->fail(ErrorKind::kMalformed, "missing Host header");
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > r->body_limit()) {
    return r->fail(ErrorKind::kBodyTooLarge, "body too large");
  }
  if (r->kind_ == Kind::kRequest && p->method == HTTP_CONNECT) {
    // A 2xx would open a tunnel for the client (and any proxy before it), whatever follows it.
    return r->fail(ErrorKind::kNotImplemented,
                   "CONNECT is not supported: the gateway is not a forward proxy");
  }
  if ((p->flags & F_TRANSFER_ENCODING) && r->other_transfer_coding()) {
    // llhttp reads the chunked framing under "gzip, chunked", and the message would go on as
    // chunked alone: its body's coding lost (RFC 9112 6.1: 501 for a request).
    return r->fail(ErrorKind::kNotImplemented,
                   "a transfer coding other than chunked, which the gateway does not decode");
  }
  if (r->skip_body_) {
    // A response to HEAD has no body whatever its framing says: llhttp sets this flag once
    // told (the return below), but it also decides keep-alive, which is asked for first.
    p->flags |= F_SKIPBODY;
  }
  r->keep_alive_ = llhttp_should_keep_alive(p);
  r->plain_next_ = r->keep_alive_ && !p->upgrade;
  r->head_in_run_ = true;
  r->in_head_ = false;
  r->flags_ |= kHeadEvent;
  if (r->skip_body_ || (r->kind_ == Kind::kResponse &&
                        (p->status_code < 200 || p->status_code == 204 || p->status_code == 304))) {
    // A response to HEAD, an interim one, a 204 or a 304 (RFC 9110 §6.4.1: no body, whatever
    // Content-Length says): tell llhttp there is none (it would read one by the framing); the
    // message completes at once, its head reported while its bytes are still the ones fed.
    return 1;
  }
  // With a body, stop here so the head is handled before body bytes flow. Without one, llhttp
  // completes the message at once; pausing here would leave that completion waiting for more input,
  // so the head is reported at the message-complete pause instead.
  return r->has_body() ? HPE_PAUSED : 0;
}

int MessageParser::on_body(llhttp_t* p, const char* at, size_t n) {
  MessageParser* r = self(p);
  r->body_bytes_ += n;
  if (r->body_bytes_ + r->trailer_bytes_ > r->body_limit()) {
    return r->fail(ErrorKind::kBodyTooLarge, "request body too large");
  }
  if (r->body_sink_) {
    r->body_sink_->on_body(std::string_view(at, n));
  }
  return 0;
}

int MessageParser::on_message_complete(llhttp_t* p) {
  MessageParser* r = self(p);
  // keep_alive_ was decided at the end of the head, where llhttp's flags describe this message.
  r->in_message_ = false;
  r->flags_ |= kCompleteEvent;
  r->llhttp_completed_ = true;
  // What llhttp will decide of this message's keep-alive when it next runs (chunked trailers
  // may have changed its flags since the head): a fast path reads the next message only then.
  r->plain_next_ = r->plain_next_ && llhttp_should_keep_alive(p);
  return HPE_PAUSED;
}

void MessageParser::pin_head() {
  if (scratch_) {
    return;  // the head is in scratch already, its table too
  }
  // Every view starts at or after the target and ends by the last header value.
  const uint32_t from = url_off_;
  uint32_t to = url_off_ + url_len_;
  for (int i = 0; i < header_count_; ++i) {
    to = std::max(to, spans_[i].value_off + spans_[i].value_len);
    to = std::max(to, spans_[i].name_off + spans_[i].name_len);
  }
  const Limits& limits = *context_->limits;
  char* block = static_cast<char*>(context_->scratch_pool->acquire());
  const uint32_t len = std::min<uint32_t>(to - from, limits.header_bytes);
  std::memcpy(block, head_base_ + from, len);
  auto* table = reinterpret_cast<HeaderSpan*>(block + limits.header_bytes);
  for (int i = 0; i < header_count_; ++i) {
    table[i] = spans_[i];
    table[i].name_off -= from;
    table[i].value_off -= from;
  }
  url_off_ -= from;
  scratch_ = block;
  scratch_len_ = len;
  head_base_ = block;
  spans_ = table;
}

bool MessageParser::move_head_to_scratch(const char* end) {
  const size_t have = static_cast<size_t>(end - head_base_);
  const Limits& limits = *context_->limits;
  if (have > limits.header_bytes) {
    return false;
  }
  char* block = static_cast<char*>(context_->scratch_pool->acquire());
  std::memcpy(block, head_base_, have);
  auto* table = reinterpret_cast<HeaderSpan*>(block + limits.header_bytes);
  std::memcpy(table, spans_, sizeof(HeaderSpan) * header_count_);
  scratch_ = block;
  scratch_len_ = static_cast<uint32_t>(have);
  head_base_ = block;
  spans_ = table;
  return true;
}

MessageParser::Event MessageParser::feed_fast_body(const char* data, size_t len, size_t& consumed) {
  if (len == 0) {
    return Event::kNeedMore;
  }
  const size_t n = static_cast<size_t>(std::min<uint64_t>(len, parser_.content_length));
  body_bytes_ += n;
  if (body_sink_) {
    body_sink_->on_body(std::string_view(data, n));
  }
  parser_.content_length -= n;
  consumed = n;
  if (parser_.content_length > 0) {
    return Event::kNeedMore;
  }
  fast_body_ = false;
  in_message_ = false;
  return Event::kMessageComplete;
}

MessageParser::Event MessageParser::feed(const char* data, size_t len, size_t& consumed) {
  consumed = 0;
  if (dead_) {
    return Event::kError;
  }
  if (flags_ & kCompleteEvent) {
    // A bodiless request whose head was just reported: its message is already complete.
    flags_ &= static_cast<uint8_t>(~kCompleteEvent);
    return Event::kMessageComplete;
  }
  if (len == 0) {
    return Event::kNeedMore;
  }
  if (fast_body_) {
    return feed_fast_body(data, len, consumed);
  }
  if (!in_message_) {
    begin_message(data);
    if (plain_fast_path_ && plain_next_ &&
        (kind_ == Kind::kRequest ? feed_plain_request(data, len, consumed)
                                 : feed_plain_response(data, len, consumed))) {
      return Event::kHead;  // a bodiless message's end is reported by the next feed()
    }
    if (fast_flags_) {
      // The last message was read without llhttp. When llhttp next runs it first finishes the
      // last message it completed itself (llhttp__after_message_complete), judging from these
      // fields whether the connection stayed open, and then clears them; a fresh llhttp starts
      // with them clear. The message it judges is in fact the fast path's last one.
      fast_flags_ = false;
      parser_.content_length = 0;
      parser_.flags = !llhttp_completed_ ? 0 : plain_next_ ? F_CONTENT_LENGTH : F_CONNECTION_CLOSE;
    }
  }
  const char* start = data;
  size_t n = len;
  const bool scratch_mode = scratch_ != nullptr && in_head_;
  if (scratch_mode) {
    // The head began in an earlier piece: continue it in scratch, so views stay contiguous.
    const size_t room = context_->limits->header_bytes - scratch_len_;
    if (room == 0) {
      dead_ = true;
      fail(ErrorKind::kHeadTooLarge, "request head too large");
      return Event::kError;
    }
    n = len < room ? len : room;
    std::memcpy(scratch_ + scratch_len_, data, n);
    start = scratch_ + scratch_len_;
    scratch_len_ += static_cast<uint32_t>(n);
  }
  llhttp_completed_ = false;
  head_in_run_ = false;
  llhttp_errno_t err = llhttp_execute(&parser_, start, n);
  while (err == HPE_PAUSED_UPGRADE) {
    // Upgrade requests are answered as plain HTTP here (direct routes never switch protocols):
    // keep parsing this connection as HTTP/1.1.
    const char* pos = llhttp_get_error_pos(&parser_);
    llhttp_resume_after_upgrade(&parser_);
    if (flags_ & (kHeadEvent | kCompleteEvent)) {
      err = HPE_PAUSED;
      break;
    }
    err = llhttp_execute(&parser_, pos, static_cast<size_t>(start + n - pos));
  }
  if (err == HPE_OK) {
    consumed = n;
    if (in_head_ && in_message_) {
      if (!scratch_mode && !move_head_to_scratch(start + n)) {
        dead_ = true;
        fail(ErrorKind::kHeadTooLarge, "request head too large");
        return Event::kError;
      }
      if (scratch_mode && n < len) {
        // Scratch is full and the head is still not complete.
        dead_ = true;
        fail(ErrorKind::kHeadTooLarge, "request head too large");
        return Event::kError;
      }
    }
    return Event::kNeedMore;
  }
  if (err == HPE_PAUSED) {
    const char* stop = llhttp_get_error_pos(&parser_);
    consumed = static_cast<size_t>(stop - start);
    llhttp_resume(&parser_);
    if (flags_ & kHeadEvent) {
      flags_ &= static_cast<uint8_t>(~kHeadEvent);
      // The head ends where llhttp stopped for it, when that was right after it in this run:
      // exact, where the spans' ends are not (a response without fields and an empty reason).
      // (A head is reported later only when llhttp read a body the head said it has not.)
      if (head_in_run_ && body_bytes_ == 0) {
        head_bytes_ = static_cast<uint32_t>(stop - head_base_);
      }
      return Event::kHead;  // kCompleteEvent may stay pending for the next feed()
    }
    flags_ &= static_cast<uint8_t>(~kCompleteEvent);
    return Event::kMessageComplete;
  }
  dead_ = true;
  if (error_.kind == ErrorKind::kNone) {
    const char* reason = llhttp_get_error_reason(&parser_);
    fail(ErrorKind::kMalformed, reason ? reason : llhttp_errno_name(err));
  }
  return Event::kError;
}

bool RequestParser::absolute_to_origin(Error* refusal) {
  const std::string_view t = target();
  size_t scheme = 0;
  if (t.size() > 7 && iequals(t.substr(0, 7), "http://")) {
    scheme = 7;
  } else if (t.size() > 8 && iequals(t.substr(0, 8), "https://")) {
    scheme = 8;
  } else {
    *refusal = Error::client(ErrorKind::kMalformed,
                             "the request target is neither a path nor an http(s) URL");
    return false;
  }
  size_t end = t.find_first_of("/?#", scheme);
  if (end == std::string_view::npos) {
    end = t.size();
  }
  const size_t authority_len = end - scheme;
  if (authority_len == 0 || !valid_host(t.substr(scheme, authority_len))) {
    *refusal = Error::client(ErrorKind::kMalformed,
                             "the request target's authority is not a host[:port] (RFC 9110 "
                             "4.2.1: no user information)");
    return false;
  }
  // The head's bytes are this parser's: the origin-form is the target's tail, and where the
  // URL has no path, the authority moves one byte left (over the scheme's last '/') to make
  // room for the "/" it needs.
  char* base = const_cast<char*>(t.data());
  uint32_t authority_off = url_off_ + static_cast<uint32_t>(scheme);
  if (end == t.size() || t[end] != '/') {
    std::memmove(base + scheme - 1, base + scheme, authority_len);
    --authority_off;
    --end;
    base[end] = '/';
  }
  url_off_ += static_cast<uint32_t>(end);
  url_len_ -= static_cast<uint32_t>(end);
  path_len_ = kPathUnknown;
  // RFC 9112 3.2.2: the target's authority, not the Host field, names the host. The field's
  // view is pointed at it, so routes, the forwarded Host and everything else that reads Host
  // see one host.
  if (host_index_ >= 0) {
    spans_[host_index_].value_off = authority_off;
    spans_[host_index_].value_len = static_cast<uint32_t>(authority_len);
  }
  return true;
}

bool RequestParser::normalize_unplain_path(uint8_t* flags, Error* refusal) {
  // (The asterisk-form of OPTIONS * goes on as it is: no route has it.)
  if (!target().empty() && target().front() != '/' && target() != "*" &&
      !absolute_to_origin(refusal)) {
    return false;
  }
  if (target().find('#') != std::string_view::npos) {
    *refusal = Error::client(ErrorKind::kMalformed,
                             "the request target holds a fragment ('#'), which a request never "
                             "sends (RFC 9112 3.2)");
    return false;
  }
  const std::string_view p = path();
  // The head's bytes belong to this parser until the next request begins, and the normalised
  // path is never longer: it is written over the path itself, and the query moved up to it.
  char* at = const_cast<char*>(p.data());
  NormalizedPath r;
  if (!ringgate::normalize_path(p, at, &r)) {
    *refusal = Error::client(ErrorKind::kBadEscape);
    return false;
  }
  *flags = r.flags;
  if (r.path.size() != p.size()) {
    const size_t query = url_len_ - p.size();  // "?..." or nothing
    std::memmove(at + r.path.size(), at + p.size(), query);
    url_len_ = static_cast<uint32_t>(r.path.size() + query);
    path_len_ = static_cast<uint32_t>(r.path.size());
  }
  return true;
}

uint32_t MessageParser::find_path_length() const {
  const std::string_view t = target();
  const size_t q = t.find('?');
  path_len_ = static_cast<uint32_t>(q == std::string_view::npos ? t.size() : q);
  return path_len_;
}

std::string_view MessageParser::header(std::string_view name) const {
  for (int i = 0; i < header_count_; ++i) {
    if (iequals(header_name(i), name)) {
      return header_value(i);
    }
  }
  return {};
}

std::string_view MessageParser::host() const {
  if (host_index_ < 0) {
    return {};
  }
  std::string_view h = header_value(host_index_);
  if (!h.empty() && h.front() == '[') {
    size_t close = h.find(']');
    return close == std::string_view::npos ? h : h.substr(0, close + 1);
  }
  size_t colon = h.find(':');
  if (colon != std::string_view::npos) {
    h = h.substr(0, colon);
  }
  // A fully qualified name's root dot: "api.example." is "api.example" (and so matches the
  // routes and cache entries written for it), as a resolver and NGINX's server_name take it.
  if (h.size() > 1 && h.back() == '.') {
    h.remove_suffix(1);
  }
  return h;
}

uint64_t MessageParser::body_limit() const {
  // Responses stream through with backpressure: a download is not bounded by the request limit.
  return kind_ == Kind::kResponse ? UINT64_MAX : context_->limits->body_bytes;
}

bool MessageParser::has_body() const {
  if (kind_ == Kind::kResponse) {
    // Chunked, a non-zero length, or (neither given) everything until the upstream closes.
    return !skip_body_ && !(parser_.flags & F_SKIPBODY) && parser_.status_code >= 200 &&
           parser_.status_code != 204 && parser_.status_code != 304 &&
           (!(parser_.flags & F_CONTENT_LENGTH) || content_length() > 0);
  }
  return (parser_.flags & F_CHUNKED) ||
         ((parser_.flags & F_CONTENT_LENGTH) && content_length() > 0);
}

MessageParser::Event ResponseParser::finish() {
  if (!in_message()) {
    return Event::kNeedMore;  // closed between responses: nothing lost
  }
  llhttp_errno_t err = llhttp_finish(&parser_);
  if (err == HPE_PAUSED) {
    // The close ended a body delimited by the connection: the response is complete.
    llhttp_resume(&parser_);
    flags_ &= static_cast<uint8_t>(~(kHeadEvent | kCompleteEvent));
    return Event::kMessageComplete;
  }
  fail(ErrorKind::kBadResponse, "upstream closed the connection before the response was complete");
  dead_ = true;
  return Event::kError;
}

}  // namespace ringgate
