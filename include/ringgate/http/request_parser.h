#pragma once
// HTTP/1.1 message parsers on llhttp: RequestParser for clients' requests, ResponseParser for
// upstreams' responses. Both parse in place: method, target, header names and values are
// views into the bytes fed. A head that ends inside one fed piece is never copied; only a head
// that spans pieces is moved into a scratch block (from the shard's pool) and continued there.
// Stops (returns) at the end of each head and each message, so pipelined requests are handled
// strictly one after another.

#include <llhttp.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "ringgate/config/config.h"
#include "ringgate/core/block_pool.h"
#include "ringgate/core/error.h"
#include "ringgate/http/fields.h"

namespace ringgate {

// Where a header sits inside the head; offsets are relative to the head's first byte.
struct HeaderSpan {
  uint32_t name_off;
  uint32_t name_len;
  uint32_t value_off;
  uint32_t value_len;
};

// Per-shard state shared by every parser of the shard.
struct ParserContext {
  const Limits* limits = nullptr;
  BlockPool* scratch_pool = nullptr;   // blocks of scratch_block_size(limits)
  HeaderSpan* shared_spans = nullptr;  // limits->headers entries, used while a head is in one piece
};

// Bytes of one scratch block: the head bytes followed by its header table.
size_t scratch_block_size(const Limits& limits);

// Body bytes are handed over as they are parsed (views into the fed bytes).
class BodySink {
 public:
  virtual void on_body(std::string_view data) = 0;

 protected:
  ~BodySink() = default;
};

// Why a message was refused: for a request, what the client did wrong (answered through
// error_reply); for a response, always ErrorKind::kBadResponse.
struct ParseError {
  ErrorKind kind = ErrorKind::kNone;
  const char* reason = "";
  Error error() const { return Error::client(kind, reason); }
};

// What requests and responses share: in-place head capture, limits, body delivery, framing.
class MessageParser {
 public:
  enum class Event : uint8_t { kNeedMore, kHead, kMessageComplete, kError };
  enum class Kind : uint8_t { kRequest, kResponse };

  explicit MessageParser(Kind kind);
  ~MessageParser();
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  void init(ParserContext* context);

  // Parses from `data` until an event; `consumed` says how many bytes were used. Bytes past
  // `consumed` must be fed again. After kError the parser is dead (the connection closes).
  Event feed(const char* data, size_t len, size_t& consumed);

  // True between the first byte of a request and the report of its end (a bodiless message's
  // end is reported by the feed after its head).
  bool in_message() const { return in_message_ || (flags_ & kCompleteEvent); }
  // True from the first byte of a request until its head is complete.
  bool in_head() const { return in_head_; }
  const ParseError& error() const { return error_; }
  // Between messages: another message may follow as it stands (the last one ended keep-alive as
  // llhttp judges it at its end, chunked trailers included, with no upgrade and no error), so
  // it can serve another connection without reset().
  bool reusable() const { return plain_next_ && !dead_ && error_.kind == ErrorKind::kNone; }

  // --- the current request (valid from kHead until the next request begins) ---
  int method() const { return parser_.method; }
  int parser_status() const { return parser_.status_code; }
  std::string_view target() const { return view(url_off_, url_len_); }
  std::string_view path() const { return view(url_off_, path_length()); }
  std::string_view query() const {  // without '?'; empty if none
    const uint32_t p = path_length();
    return p == url_len_ ? std::string_view() : view(url_off_ + p + 1, url_len_ - p - 1);
  }
  int http_minor() const { return parser_.http_minor; }
  int header_count() const { return header_count_; }
  std::string_view header_name(int i) const { return view(spans_[i].name_off, spans_[i].name_len); }
  std::string_view header_value(int i) const {
    return view(spans_[i].value_off, spans_[i].value_len);
  }
  // First header with this name (case-insensitive); empty view if absent.
  std::string_view header(std::string_view name) const;
  // Host without port (and without a trailing root dot: "api.example." is "api.example").
  std::string_view host() const;
  bool expect_continue() const { return flags_ & kExpectContinue; }
  bool has_body() const;  // Content-Length > 0 or chunked
  uint64_t content_length() const { return parser_.content_length; }
  bool has_content_length() const { return parser_.flags & F_CONTENT_LENGTH; }
  bool chunked() const { return parser_.flags & F_CHUNKED; }
  bool keep_alive() const { return keep_alive_; }
  bool upgrade() const { return parser_.upgrade; }
  uint64_t body_bytes() const { return body_bytes_; }
  // Bytes of the current head (for counters).
  uint32_t head_bytes() const { return head_bytes_; }
  // The current message was read by a fast path, without llhttp (tests).
  bool read_plain() const { return fast_flags_; }
  // False when header i is known to have no FieldRule (http/fields.h), so that a writer need not
  // look its name up: what a fast path learnt while reading the head. True for every field of a
  // head llhttp read, and past the 64th.
  bool field_ruled(int i) const { return i >= 64 || ((ruled_ >> i) & 1) != 0; }
  // Field i's FieldRule: as the fast path found it while reading the head, else looked up by
  // its name.
  [[gnu::always_inline]] FieldRule field_rule_of(int i) const {
    if (!field_ruled(i)) {
      return FieldRule::kOther;
    }
    return i < 64 && fast_flags_ ? rules_[i] : field_rule(header_name(i));
  }
  // False when no field of the head has that FieldRule (a fast path read it and saw none); true
  // for a head llhttp read.
  bool may_have(FieldRule rule) const {
    return ((rules_seen_ >> static_cast<unsigned>(rule)) & 1) != 0;
  }
  // The first field at or after `from` for which field_ruled() holds; header_count() if none.
  int next_ruled_field(int from) const {
    if (from >= 64) {
      return std::min<int>(from, header_count_);
    }
    const uint64_t rest = ruled_ >> from;
    return rest == 0 ? std::min<int>(64, header_count_)
                     : std::min<int>(from + __builtin_ctzll(rest), header_count_);
  }
  // A head read by a fast path that stays open: every field without a rule passes as received,
  // since Connection names nothing but keep-alive, and its field lines follow one another
  // with nothing but CRLF between them.
  bool plain_keep_alive() const { return fast_flags_ && keep_alive_; }

  void set_body_sink(BodySink* sink) { body_sink_ = sink; }
  // After kHead: copies the head's bytes and its header table into a scratch block of this
  // parser, so its views stay valid while the request waits (the input buffer and the shard's
  // shared header table go on to serve other requests). Idempotent.
  void pin_head();
  // Releases the scratch block, if any (connection close).
  void release();
  bool holds_scratch() const { return scratch_ != nullptr; }
  // Back to the state of a new parser (after a connection closed with a message half parsed),
  // so that it can serve another connection.
  void reset();
  // Off: every message through llhttp (tests compare the two ways). On by default: a message
  // whose head is whole in the bytes fed and of the common shape is read without llhttp.
  void set_plain_fast_path(bool on) { plain_fast_path_ = on; }

 protected:
  Kind kind_;
  bool skip_body_ = false;  // response to HEAD: no body whatever its headers say

  static int on_message_begin(llhttp_t*);
  static int on_url(llhttp_t*, const char*, size_t);
  static int on_status(llhttp_t*, const char*, size_t);
  static int on_header_field(llhttp_t*, const char*, size_t);
  static int on_header_field_complete(llhttp_t*);
  static int on_header_value(llhttp_t*, const char*, size_t);
  static int on_header_value_complete(llhttp_t*);
  static int on_headers_complete(llhttp_t*);
  static int on_body(llhttp_t*, const char*, size_t);
  static int on_message_complete(llhttp_t*);
  static const llhttp_settings_t kSettings;

  std::string_view view(uint32_t off, uint32_t len) const {
    return std::string_view(head_base_ + off, len);
  }
  int fail(ErrorKind kind, const char* reason);
  // A Transfer-Encoding field names a coding other than chunked (llhttp only checks the last).
  bool other_transfer_coding() const;
  uint64_t body_limit() const;
  int on_trailer_bytes(size_t n);
  bool extend(uint32_t& off, uint32_t& len, const char* p, size_t n);
  bool move_head_to_scratch(const char* end);
  void begin_message(const char* data);

  // The fast paths: the head at `data` read as llhttp (with these callbacks) would read it, when
  // it is whole in the bytes fed and of the common shape: a plain request or status line, field
  // lines llhttp takes as they are, a single plain Content-Length or no body, nothing that
  // llhttp acts on besides (Transfer-Encoding, Upgrade, Expect, Connection other than
  // keep-alive: after a close llhttp must refuse what follows). Else false, nothing changed, and
  // llhttp reads it. A body is counted off here (fast_body_); llhttp never sees the message and
  // is ready for the next one. `consumed`: the head's bytes.
  bool feed_plain_request(const char* data, size_t len, size_t& consumed);
  bool feed_plain_response(const char* data, size_t len, size_t& consumed);
  // What the field lines said that framing depends on.
  struct PlainFields {
    uint64_t ruled = 0;  // bit i: field i has a FieldRule
    uint32_t rules = 0;  // bit r: a field has FieldRule r
    int count = 0;       // fields read (in spans_)
    int host = -1;       // index of the Host field
    bool has_length = false;
    bool close = false;  // Connection: close
    uint64_t length = 0;
  };
  // Reads field lines from b[pos, n) through the blank line into spans_; when it returns true,
  // pos is past the blank line and `fields` says what was read (else both are as they were).
  // header_count_ is left as it was: a caller that declines leaves the table to llhttp.
  bool read_plain_fields(const unsigned char* b, size_t& pos, size_t n, PlainFields& fields);
  // Sets what llhttp and the callbacks would have left for a head read by a fast path.
  void finish_plain_head(const PlainFields& fields, size_t head_bytes, bool bodiless);
  Event feed_fast_body(const char* data, size_t len, size_t& consumed);
  bool plain_fast_path_ = true;
  // The next message may be read by a fast path: nothing yet, or the last one was keep-alive
  // (after a close or an upgrade, llhttp alone knows what may follow).
  bool plain_next_ = true;
  bool own_input_ = false;  // set_own_input
  bool fast_body_ = false;
  bool fast_flags_ = false;  // parser_'s flags were set by a fast path
  // llhttp's last run ended with a message it completed (paused at on_message_complete): its
  // next run begins by judging that message's keep-alive from parser_'s fields.
  bool llhttp_completed_ = false;
  bool head_in_run_ = false;  // on_headers_complete ran in the current llhttp_execute

  enum Flags : uint8_t {
    kExpectContinue = 1,
    kInField = 2,
    kHasHost = 4,
    kHeadEvent = 8,
    kCompleteEvent = 16,
  };

  llhttp_t parser_;
  ParserContext* context_ = nullptr;
  BodySink* body_sink_ = nullptr;
  const char* head_base_ = nullptr;  // first byte of the head (in the fed piece or in scratch_)
  char* scratch_ = nullptr;          // head bytes, then the header table
  HeaderSpan* spans_ = nullptr;
  uint64_t body_bytes_ = 0;
  uint64_t trailer_bytes_ = 0;  // chunked trailers: bounded with the body
  // A response's trailer fields (ResponseParser::trailers); a request's are dropped.
  static constexpr size_t kMaxTrailerBytes = 1024;
  std::string trailers_;
  bool trailers_dropped_ = false;
  void add_trailer(const char* data, size_t n);
  uint32_t scratch_len_ = 0;            // head bytes copied into scratch_
  uint64_t ruled_ = ~uint64_t{0};       // field_ruled(): bit i for field i
  uint32_t rules_seen_ = ~uint32_t{0};  // may_have(): bit r for FieldRule r
  // A fast path's head: the rule of each of the first 64 fields whose field_ruled() bit is set.
  FieldRule rules_[64];
  uint32_t url_off_ = 0;
  uint32_t url_len_ = 0;
  // The target's path length (up to '?'), found once per message (path() and query() are asked
  // for several times per request).
  static constexpr uint32_t kPathUnknown = UINT32_MAX;
  mutable uint32_t path_len_ = kPathUnknown;
  bool path_plain_ = false;  // a fast path saw that the path is already normal (normalize_path)
  // The target's path length ('?' or the target's end), found once.
  uint32_t path_length() const {
    return path_len_ != kPathUnknown ? path_len_ : find_path_length();
  }
  uint32_t find_path_length() const;
  uint32_t head_bytes_ = 0;
  uint16_t header_count_ = 0;
  int16_t host_index_ = -1;
  uint8_t flags_ = 0;
  bool in_message_ = false;
  bool in_head_ = false;
  bool keep_alive_ = false;
  bool dead_ = false;
  ParseError error_;
};

// A client's request. Errors say what the client did wrong (answered 400, 413, 414, 431, 417 or
// 505 by error_reply).
class RequestParser final : public MessageParser {
 public:
  RequestParser() : MessageParser(Kind::kRequest) {}
  explicit RequestParser(ParserContext* context) : MessageParser(Kind::kRequest) { init(context); }

  RequestParser* next_free = nullptr;  // HttpShard's pool of parsers
  // The requests fed are the gateway's own writing (an HTTP/2 stream's: one request, which says
  // Connection: close): the fast path takes a close, which it otherwise leaves to llhttp (llhttp
  // must know that nothing may follow it). Until reset().
  void set_own_input(bool own) { own_input_ = own; }
  // After kHead: normalises the target's path in place (ringgate/http/path.h), so path(),
  // target() and query() give the normalised form from here on; `flags` gets the PathFlag bits
  // a route must allow. False with the client error in `refusal`: a malformed escape, or a
  // fragment ('#'), which no origin-form target holds (RFC 9112 3.2) and which a backend that
  // splits it off would route differently from the gateway ("/admin#x" as "/admin").
  bool normalize_path(uint8_t* flags, Error* refusal) {
    if (path_plain_) {
      *flags = 0;  // the fast path's target scan found nothing to normalise, and no '#'
      return true;
    }
    return normalize_unplain_path(flags, refusal);
  }

 private:
  bool normalize_unplain_path(uint8_t* flags, Error* refusal);
  // An absolute-form target (RFC 9112 3.2.2, "http://host[:port]/path?query") becomes its
  // origin-form in place, and the Host field's view its authority. False (with the refusal) for
  // any other scheme, or an authority that is no host[:port].
  bool absolute_to_origin(Error* refusal);
};

// A Content-Length value as the parsers' fast paths take it: 1 to 18 digits and nothing else
// (anything else is llhttp's to judge). False when it is not one.
inline bool plain_content_length(std::string_view value, uint64_t& out) {
  if (value.empty() || value.size() > 18) {
    return false;
  }
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') {
      return false;
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  out = n;
  return true;
}

// A Host value as RFC 9110 7.2 has it: empty, or uri-host [":" port], where uri-host is a
// reg-name or IPv4 address (unreserved, sub-delims and '%' bytes) or an IP literal in brackets,
// and port is digits. A server must refuse any other with 400 (RFC 9112 3.2): "a b", "a/b",
// "u@a" or "a:80x" would name one host to the router and another to whatever parses it next.
bool valid_host(std::string_view host);

// An upstream's response. Every error (bad framing: CL with TE, differing CLs, a bad chunk,
// garbage; or a limit crossed) is a 502 for that upstream, and the connection is not reused.
class ResponseParser final : public MessageParser {
 public:
  ResponseParser() : MessageParser(Kind::kResponse) {}
  int status() const { return parser_status(); }
  // The request was HEAD: the response has no body, whatever its Content-Length says.
  void set_head_request(bool head) { skip_body_ = head; }
  // The upstream closed the connection. kMessageComplete when that ended a body read until
  // close, kNeedMore when no response was in progress, kError for a truncated one.
  Event finish();
  // After kMessageComplete: the chunked body's trailer fields, as "name: value\r\n" lines (as
  // received, up to kMaxTrailerBytes: a larger section is dropped whole); empty if none.
  std::string_view trailers() const { return trailers_dropped_ ? std::string_view() : trailers_; }
};

}  // namespace ringgate
