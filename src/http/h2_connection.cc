#include "h2_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "connection.h"
#include "ringgate/core/ascii.h"
#include "ringgate/http/http_shard.h"

namespace ringgate {

namespace {

// Frames produced ahead of the socket: one send's worth while another is in flight.
constexpr size_t kOutputLimit = 64 * 1024;
// The connection's receive window: several streams can upload at full speed at once.
constexpr uint32_t kConnectionWindow = 1024 * 1024;
// After GOAWAY, how long the client has to read it before the connection closes anyway.
constexpr uint64_t kGoawayLingerMs = 2000;

// Connection-specific fields (RFC 9113 8.2.2): HTTP/1.1 framing and hop-by-hop, never relayed.
bool connection_specific(std::string_view lower) {
  return lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
         lower == "transfer-encoding" || lower == "upgrade";
}

// A gRPC call's answer that is not gRPC's: its grpc-status, from the HTTP status (gRPC's HTTP
// mapping, with the gateway's own reasons made precise: 429 is a quota, 504 a deadline).
int grpc_status_for(int http) {
  switch (http) {
    case 400:
      return 13;  // INTERNAL
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 12;  // UNIMPLEMENTED
    case 413:
    case 429:
    case 431:
      return 8;  // RESOURCE_EXHAUSTED
    case 502:
    case 503:
      return 14;  // UNAVAILABLE
    case 504:
    case 408:
      return 4;  // DEADLINE_EXCEEDED
    default:
      return 2;  // UNKNOWN
  }
}

// The problem document's "detail" (else "title"), percent-encoded as grpc-message wants (RFC
// 3986 unreserved and printable ASCII but '%' kept; the rest %XX).
constexpr size_t kMaxGrpcDocument = 1024;
std::string grpc_message(std::string_view document) {
  std::string_view text;
  for (std::string_view key : {"\"detail\":\"", "\"title\":\""}) {
    const size_t at = document.find(key);
    if (at != std::string_view::npos) {
      const size_t start = at + key.size();
      size_t end = start;
      while (end < document.size() && document[end] != '"') {
        end += document[end] == '\\' ? 2 : 1;
      }
      text = document.substr(start, std::min(end, document.size()) - start);
      break;
    }
  }
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace

// --- H2Stream ---

H2Stream::H2Stream(ParserContext* response_context) : StreamTransport(/*paused=*/true) {
  response_.init(response_context);
}

H2Stream::~H2Stream() {
  response_.release();
}

void H2Stream::open(H2Connection& conn, int32_t id, bool head_request, bool chunked_request,
                    bool grpc) {
  reset_transport(/*paused=*/true);
  response_.reset();
  response_.set_head_request(head_request);
  response_.set_body_sink(this);
  conn_ = &conn;
  id_ = id;
  head_request_ = head_request;
  chunked_request_ = chunked_request;
  grpc_ = grpc;
  grpc_error_ = false;
  grpc_status_ = 0;
  grpc_message_.clear();
  cut_ = false;
  eof_due_ = false;
  peer_closed_ = false;
  head_sent_ = false;
  body_follows_ = false;
  response_complete_ = false;
  response_failed_ = false;
  reading_ = Reading::kHead;
  body_left_ = 0;
}

void H2Stream::recycle() {
  // Closed already (its connection closed it, or the HTTP/2 connection went first).
  conn_ = nullptr;
  response_.release();
  reset_transport(/*paused=*/true);
}

void H2Stream::bind(Connection& owner) {
  handler_ = &owner;
}

Connection* H2Stream::owner() const {
  return static_cast<Connection*>(handler_);
}

void H2Stream::schedule() {
  if (conn_) {
    conn_->schedule();
  }
}

int H2Stream::fd() const {
  return conn_ ? conn_->fd() : -1;
}

void H2Stream::start_input() {
  paused_ = false;
  starved_ = false;
  if (conn_ && in_.pending()) {
    conn_->schedule();
  }
}

void H2Stream::queue_input(std::string_view bytes, bool data) {
  if (data) {
    in_.queue_data(bytes);
  } else {
    in_.queue(bytes);
  }
  if (!paused_) {
    conn_->schedule();
  }
}

void H2Stream::cut() {
  peer_closed_ = true;
  cut_ = true;
  if (conn_) {
    conn_->schedule();
  }
}

bool H2Stream::pump() {
  if (!conn_ || !handler_) {
    return false;
  }
  TransportHandler& h = *handler_;
  if (cut_) {
    cut_ = false;
    h.on_input_end(-ECONNRESET);  // the stream connection closes: close() detaches this stream
    return true;
  }
  bool did = false;
  if (!deliver_input(conn_->reactor(), false, did,
                     [this](size_t n) { conn_->session().consume(id_, n); })) {
    return true;
  }
  if (eof_due_ && !in_.pending()) {
    eof_due_ = false;
    h.on_input_end(0);
    return true;
  }
  // The send completes once its body is out of the socket's send (the frames borrow it).
  return (send_pending_ && complete_send(conn_->session().body_held(id_) ? SIZE_MAX : 0)) || did;
}

void H2Stream::translate(const char* data, size_t len) {
  while (len > 0 && !response_complete_ && !response_failed_) {
    if (reading_ == Reading::kHead) {
      size_t used = 0;
      if (translate_head(data, len, used)) {
        data += used;
        len -= used;
      } else {
        reading_ = Reading::kParser;  // the same bytes, through the parser
      }
      continue;
    }
    if (reading_ == Reading::kLength) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(len, body_left_));
      on_body(std::string_view(data, n));
      data += n;
      len -= n;
      body_left_ -= n;
      if (body_left_ == 0) {
        complete_response();
      }
      continue;
    }
    size_t consumed = 0;
    const MessageParser::Event ev = response_.feed(data, len, consumed);
    data += consumed;
    len -= consumed;
    switch (ev) {
      case MessageParser::Event::kHead:
        if (response_.status() >= 200) {
          submit_response_head();
        }
        break;  // an interim response (100 Continue) is not relayed
      case MessageParser::Event::kMessageComplete:
        if (head_sent_) {
          complete_response();
        }
        break;
      case MessageParser::Event::kError:
        response_failed_ = true;  // our own output: cannot happen; the stream is reset at close
        break;
      case MessageParser::Event::kNeedMore:
        return;
    }
  }
}

bool H2Stream::translate_head(const char* data, size_t len, size_t& used) {
  const std::string_view bytes(data, len);
  const size_t end = bytes.find("\r\n\r\n");
  constexpr std::string_view kVersion = "HTTP/1.1 ";
  if (end == std::string_view::npos || !bytes.starts_with(kVersion) || end < kVersion.size() + 3) {
    return false;
  }
  int status = 0;
  for (size_t i = kVersion.size(); i < kVersion.size() + 3; ++i) {
    if (bytes[i] < '0' || bytes[i] > '9') {
      return false;
    }
    status = status * 10 + (bytes[i] - '0');
  }
  used = end + 4;
  if (status < 200) {
    return true;  // an interim response (100 Continue) is not relayed; the final head follows
  }
  // The lines after the status line, each with its CRLF; names lower-cased into the scratch
  // (sized once: views into it stay valid).
  const char* const stop = data + end + 2;
  const char* p = static_cast<const char*>(memchr(data, '\n', end + 2)) + 1;  // found: end + 1
  std::string& lower = conn_->lower_scratch();
  if (lower.size() < end) {
    lower.resize(end);
  }
  char* low = lower.data();
  H2Fields& fields = conn_->fields_scratch();
  fields.clear();
  bool has_length = false;
  uint64_t length = 0;
  while (p < stop) {
    const char* eol = static_cast<const char*>(memchr(p, '\r', static_cast<size_t>(stop - p)));
    if (!eol || eol + 1 >= stop || eol[1] != '\n') {
      return false;  // a CR inside a line: not a head as the connection writes them
    }
    const char* colon = static_cast<const char*>(memchr(p, ':', static_cast<size_t>(eol - p)));
    if (!colon || colon == p) {
      return false;
    }
    const size_t name_len = static_cast<size_t>(colon - p);
    for (size_t i = 0; i < name_len; ++i) {
      low[i] = ascii_lower(p[i]);
    }
    const std::string_view name(low, name_len);
    low += name_len;
    std::string_view value(colon + 1, static_cast<size_t>(eol - colon - 1));
    p = eol + 2;
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);  // as the parser trims a value
    }
    if (name == "transfer-encoding") {
      return false;  // a chunked body (its trailers too): the parser's
    }
    if (name == "content-length") {
      if (has_length || !plain_content_length(value, length)) {
        return false;
      }
      has_length = true;
    }
    if (!connection_specific(name)) {
      fields.emplace_back(name, value);
    }
  }
  const bool bodiless = head_request_ || status == 204 || status == 304;
  if (!has_length && !bodiless) {
    return false;  // read until the connection's end: the parser's
  }
  submit_head(status, !bodiless && length > 0);
  if (body_follows_ || grpc_error_) {
    reading_ = Reading::kLength;
    body_left_ = bodiless ? 0 : length;
  }
  if (body_left_ == 0) {
    complete_response();
  }
  return true;
}

void H2Stream::submit_head(int status, bool body) {
  head_sent_ = true;
  const H2Fields& fields = conn_->fields_scratch();
  std::string_view content_type;
  for (const auto& [name, value] : fields) {
    if (name == "content-type") {
      content_type = value;
    }
  }
  if (grpc_ && (status != 200 || !content_type.starts_with("application/grpc"))) {
    // Not a gRPC answer (the gateway's own error, or an upstream's HTTP one): a gRPC client
    // must see a gRPC status, so it goes out as Trailers-Only once its body (the problem
    // document, for its message) is read.
    grpc_error_ = true;
    grpc_status_ = grpc_status_for(status);
    body_follows_ = false;
    return;
  }
  body_follows_ = body;
  if (!conn_->session().submit_head(id_, status, fields, body_follows_)) {
    response_failed_ = true;  // the stream is gone
  }
}

void H2Stream::submit_response_head() {
  const int n = response_.header_count();
  size_t names = 0;
  for (int i = 0; i < n; ++i) {
    names += response_.header_name(i).size();
  }
  std::string& lower = conn_->lower_scratch();
  lower.clear();
  lower.reserve(names);  // views into it stay valid: it never grows past this
  H2Fields& fields = conn_->fields_scratch();
  fields.clear();
  for (int i = 0; i < n; ++i) {
    const std::string_view name = response_.header_name(i);
    const size_t at = lower.size();
    for (char c : name) {
      lower.push_back(ascii_lower(c));
    }
    const std::string_view low(lower.data() + at, name.size());
    if (connection_specific(low)) {
      continue;
    }
    fields.emplace_back(low, response_.header_value(i));
  }
  const int status = response_.status();
  submit_head(status, !head_request_ && status != 204 && status != 304 && response_.has_body());
}

void H2Stream::on_body(std::string_view data) {
  if (grpc_error_) {
    if (grpc_message_.size() < kMaxGrpcDocument) {
      grpc_message_.append(data.substr(0, kMaxGrpcDocument - grpc_message_.size()));
    }
    return;
  }
  if (conn_ && !data.empty()) {
    // Framed from where the connection wrote it: the send it came in completes once it is out.
    conn_->session().append_body_ref(id_, data);
  }
}

void H2Stream::complete_response() {
  response_complete_ = true;
  H2Session& session = conn_->session();
  if (grpc_error_) {
    char code[12];
    const int n = snprintf(code, sizeof code, "%d", grpc_status_);
    const std::string message = grpc_message(grpc_message_);
    H2Fields fields = {{"content-type", "application/grpc"},
                       {"grpc-status", std::string_view(code, static_cast<size_t>(n))}};
    if (!message.empty()) {
      fields.emplace_back("grpc-message", message);
    }
    session.submit_head(id_, 200, fields, false);  // Trailers-Only: one HEADERS, END_STREAM
    return;
  }
  if (!body_follows_) {
    return;
  }
  if (reading_ == Reading::kLength) {
    session.end_body(id_, {});
    return;
  }
  // Trailer fields (a chunked body's end; gRPC's status): lower-case, nothing
  // connection-specific, no pseudo-header.
  const std::string_view lines = response_.trailers();
  std::string lower(lines.size(), '\0');
  H2Fields trailers;
  size_t pos = 0;
  while (pos < lines.size()) {
    const size_t eol = lines.find("\r\n", pos);
    const size_t end = eol == std::string_view::npos ? lines.size() : eol;
    const std::string_view line = lines.substr(pos, end - pos);
    pos = end + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      continue;
    }
    const size_t at = static_cast<size_t>(line.data() - lines.data());
    for (size_t i = 0; i < colon; ++i) {
      lower[at + i] = ascii_lower(line[i]);
    }
    const std::string_view name(lower.data() + at, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);
    }
    if (!connection_specific(name) && name != "content-length" && name[0] != ':') {
      trailers.emplace_back(name, value);
    }
  }
  session.end_body(id_, trailers);
}

void H2Stream::shutdown_write() {
  // The stream connection answered with Connection: close and lingers for the client's end,
  // which on a stream is now: the response's end is the stream's.
  eof_due_ = true;
  if (conn_) {
    conn_->schedule();
  }
}

void H2Stream::detach() {
  if (!conn_) {
    return;
  }
  H2Session& session = conn_->session();
  if (!conn_->closing()) {
    if (session.body_held(id_)) {
      // Borrowed body bytes not yet framed, or framed and not yet taken for the socket, are
      // copied: the connection that wrote them is going (a stream cut short; one whose
      // response went out whole holds nothing).
      session.pin_stream(id_);
      session.pin_output();
    }
    if ((!response_complete_ || response_failed_) && !peer_closed_) {
      // The response cannot be completed (the upstream failed mid-body, a deadline): the client
      // learns it from the reset, never from a short body that looks whole.
      session.reset(id_, NGHTTP2_INTERNAL_ERROR);
      bump(conn_->http().counters().h2_streams_reset);
    }
    session.consume(id_, in_.take_owed());  // what it sent and nobody will read
    conn_->schedule();
  }
  in_.clear();
  conn_->forget(*this);
  if (conn_->wire_borrows() && session.body_held(id_)) {
    // The socket's send in flight points into what this stream's connection wrote: that stays
    // until the send is over.
    lingering_ = true;
    conn_->linger(*this);
  }
  conn_ = nullptr;
  send_pending_ = false;
}

// --- H2Connection ---

H2Connection::H2Connection(HttpShard& http, Connection& outer, Transport& io)
    : Timer(&H2Connection::on_timer),
      http_(http),
      outer_(outer),
      io_(io),
      session_(H2Limits::from(http.config().server.http2), *this) {
  session_.set_output_limit(kOutputLimit);
}

H2Connection::~H2Connection() {
  http_.unschedule_h2(this);
  // The socket's sends are over (the outer connection is quiet): lingering streams go too.
  for (H2Stream* s : lingering_) {
    Connection* owner = s->owner();
    s->end_linger();
    http_.discard_stream(owner);
  }
  // Streams still attached (the shard is being destroyed): their connections go with this one.
  while (!streams_.empty()) {
    H2Stream* s = streams_.front();
    Connection* owner = s->owner();
    s->close();
    http_.discard_stream(owner);
  }
}

Reactor& H2Connection::reactor() {
  return http_.reactor();
}

bool H2Connection::start() {
  const bool ok = session_.start(true, kConnectionWindow);
  update_timer();
  return ok;
}

void H2Connection::schedule() {
  if (!scheduled && !closing_) {
    scheduled = true;
    http_.schedule_h2(this);
  }
}

void H2Connection::on_input(const char* data, size_t len) {
  if (closing_) {
    return;
  }
  session_.feed(data, len);
  sync_counts();
  pump();
}

void H2Connection::on_input_end(int /*error*/) {
  // The client closed the connection (or it broke): every stream on it is over.
  outer_.close_now();
}

void H2Connection::on_sent(int res) {
  if (res < 0) {
    outer_.close_now();
    return;
  }
  wire_sent_ += static_cast<size_t>(res);
  if (wire_sent_ < wire_.size()) {
    send_wire();  // partial send
    return;
  }
  session_.output_sent(wire_.size());
  wire_.clear();
  wire_sent_ = 0;
  release_lingering();
  pump();
}

void H2Connection::begin_drain() {
  if (closing_) {
    return;
  }
  draining_ = true;
  session_.shutdown();
  pump();
}

void H2Connection::close_streams() {
  closing_ = true;
  account();  // back to 0
  http_.shard().timers().disarm(*this);
  while (!streams_.empty()) {
    H2Stream* s = streams_.front();
    Connection* owner = s->owner();
    s->cut();
    // The stream connection hears its input end now and closes: its close() forgets it.
    if (owner) {
      static_cast<TransportHandler*>(owner)->on_input_end(-ECONNRESET);
    }
    if (s->attached()) {
      s->close();  // already closing by another way: detach it anyway
    }
  }
}

void H2Connection::pump() {
  if (closing_) {
    return;
  }
  for (int round = 0; round < 16; ++round) {
    round_ = streams_;
    bool did = false;
    for (H2Stream* s : round_) {
      if (closing_) {
        return;
      }
      if (s->attached() && s->due()) {
        did = s->pump() || did;
      }
    }
    if (closing_) {
      return;
    }
    flush();
    if (!did) {
      break;
    }
  }
  account();
  const bool quiet = wire_.empty() && session_.frames().empty();
  if (quiet &&
      (session_.done() || (draining_ && streams_.empty() && session_.open_streams() == 0))) {
    finish();
    return;
  }
  update_timer();
}

void H2Connection::flush() {
  session_.produce();
  if (io_.sending() || !wire_.empty() || session_.frames().empty()) {
    return;
  }
  wire_.swap(session_.frames());
  wire_sent_ = 0;
  send_wire();
  session_.produce();  // the next frames, while these go out
}

void H2Connection::send_wire() {
  const int n = wire_.iovecs(wire_sent_, iov_, kMaxIovecs);
  msg_ = msghdr{};
  msg_.msg_iov = iov_;
  msg_.msg_iovlen = static_cast<size_t>(n);
  io_.send(iov_, n, &msg_);
}

void H2Connection::release_lingering() {
  if (lingering_.empty()) {
    return;
  }
  lingering_round_.swap(lingering_);
  for (H2Stream* s : lingering_round_) {
    s->end_linger();  // its connection is retired now
  }
  lingering_round_.clear();
}

void H2Connection::sync_counts() {
  const H2Counts& c = session_.counts();
  ShardCounters& counters = http_.counters();
  if (c.streams != seen_.streams) {
    bump(counters.h2_streams, c.streams - seen_.streams);
  }
  if (c.resets_received != seen_.resets_received) {
    bump(counters.h2_resets_received, c.resets_received - seen_.resets_received);
  }
  if (c.header_list_too_large != seen_.header_list_too_large) {
    bump(counters.h2_header_list_too_large, c.header_list_too_large - seen_.header_list_too_large);
  }
  if (c.goaways_calm != seen_.goaways_calm) {
    bump(counters.h2_goaway_calm, c.goaways_calm - seen_.goaways_calm);
  }
  seen_ = c;
}

void H2Connection::account() {
  uint64_t bytes = 0;
  if (!closing_) {
    bytes = wire_.bytes.capacity() + session_.frames().bytes.capacity() + session_.buffered_bytes();
    for (const H2Stream* s : streams_) {
      bytes += s->input_held();
    }
  }
  http_.add_h2_memory(static_cast<int64_t>(bytes) - static_cast<int64_t>(accounted_));
  accounted_ = bytes;
}

void H2Connection::finish() {
  sync_counts();
  const int64_t code = session_.goaway_code();
  if (code > 0 && code != NGHTTP2_ENHANCE_YOUR_CALM) {
    bump(http_.counters().h2_protocol_errors);
  }
  close_streams();
  outer_.start_linger();  // the client reads the GOAWAY before the connection goes
}

void H2Connection::update_timer() {
  if (closing_) {
    return;
  }
  TimerWheel& timers = http_.shard().timers();
  if (draining_) {
    // GOAWAY is out: the streams it let through finish, within the drain's own deadline and
    // theirs; a client that stops reading is not waited for past the linger.
    if (deadline_ != Deadline::kGoaway && streams_.empty()) {
      deadline_ = Deadline::kGoaway;
      timers.arm(*this, http_.shard().now_ms() + kGoawayLingerMs);
    }
    return;
  }
  if (session_.partial_heads() > 0) {
    // A request head begun and not finished (CONTINUATION frames that do not come): as long as
    // an HTTP/1.1 head may take.
    if (deadline_ != Deadline::kHeader) {
      deadline_ = Deadline::kHeader;
      const Duration d = http_.limits().header_timeout;
      timers.arm(*this, http_.shard().now_ms() + static_cast<uint64_t>(d.count()));
    }
  } else if (streams_.empty() && session_.open_streams() == 0) {
    if (deadline_ != Deadline::kIdle) {
      deadline_ = Deadline::kIdle;
      const Duration idle = http_.limits().idle_timeout;
      timers.arm(*this, http_.shard().now_ms() + static_cast<uint64_t>(idle.count()));
    }
  } else if (deadline_ != Deadline::kNone) {
    deadline_ = Deadline::kNone;
    timers.disarm(*this);
  }
}

void H2Connection::on_timer(Timer* t) {
  auto* c = static_cast<H2Connection*>(t);
  const Deadline d = c->deadline_;
  c->deadline_ = Deadline::kNone;
  if (d == Deadline::kIdle) {
    bump(c->http_.counters().idle_timeouts);
    c->begin_drain();  // GOAWAY NO_ERROR, then closed
  } else if (d == Deadline::kHeader) {
    bump(c->http_.counters().header_timeouts);
    c->begin_drain();  // GOAWAY: the streams it holds finish, the unfinished head is not waited for
  } else if (d == Deadline::kGoaway) {
    c->close_streams();
    c->outer_.close_now();
  }
}

H2Stream* H2Connection::find(int32_t id) const {
  for (H2Stream* s : streams_) {
    if (s->id() == id) {
      return s;
    }
  }
  return nullptr;
}

void H2Connection::on_request(const H2Request& r) {
  bool has_length = false;
  for (const auto& [name, value] : r.headers) {
    if (name == "content-length") {
      has_length = true;
    }
  }
  const bool chunked = !r.end_stream && !has_length;
  // The request as HTTP/1.1: the stream connection parses it with the same parser, limits and
  // normalisation as any other. The library has checked the fields (lower-case names, no
  // CR, LF or NUL, no connection-specific fields, the pseudo-headers a request needs).
  std::string& head = head_;
  head.clear();
  head.append(r.method).push_back(' ');
  head.append(r.method == "CONNECT" ? r.authority : r.path);
  head.append(" HTTP/1.1\r\n");
  if (!r.authority.empty()) {
    head.append("host: ").append(r.authority).append("\r\n");
  }
  bool cookie = false;
  for (const auto& [name, value] : r.headers) {
    if (name == "host" && !r.authority.empty()) {
      continue;  // :authority is the request's authority (RFC 9113 8.3.1)
    }
    if (name == "cookie") {
      continue;  // joined into one line below (RFC 9113 8.2.3)
    }
    head.append(name).append(": ").append(value).append("\r\n");
  }
  for (const auto& [name, value] : r.headers) {
    if (name == "cookie") {
      head.append(cookie ? "; " : "cookie: ").append(value);
      cookie = true;
    }
  }
  if (cookie) {
    head.append("\r\n");
  }
  if (chunked) {
    head.append("transfer-encoding: chunked\r\n");
  }
  head.append("connection: close\r\n\r\n");

  bool grpc = false;
  for (const auto& [name, value] : r.headers) {
    if (name == "content-type" && value.starts_with("application/grpc")) {
      grpc = true;
    }
  }
  H2Stream& s = http_.new_stream();
  s.open(*this, r.stream_id, r.method == "HEAD", chunked, grpc);
  s.queue_input(head, false);
  streams_.push_back(&s);
  http_.open_stream(s, outer_);
  update_timer();
}

void H2Connection::on_body(int32_t stream_id, std::string_view data, bool last) {
  H2Stream* found = find(stream_id);
  if (!found) {
    session_.consume(stream_id, data.size());  // nobody reads it: the window comes back now
    return;
  }
  H2Stream& s = *found;
  if (!s.chunked_request()) {
    if (!data.empty()) {
      s.queue_input(data, true);
    }
    return;
  }
  if (!data.empty()) {
    char line[24];
    const int n = snprintf(line, sizeof line, "%zx\r\n", data.size());
    s.queue_input(std::string_view(line, static_cast<size_t>(n)), false);
    s.queue_input(data, true);
    s.queue_input("\r\n", false);
  }
  if (last) {
    s.queue_input("0\r\n\r\n", false);
  }
}

void H2Connection::on_stream_closed(int32_t stream_id, uint32_t error_code) {
  H2Stream* found = find(stream_id);
  if (!found) {
    return;
  }
  H2Stream& s = *found;
  if (error_code != 0 || !s.response_complete()) {
    s.cut();  // reset by the client (or by the library): the request is abandoned
  }
}

}  // namespace ringgate
