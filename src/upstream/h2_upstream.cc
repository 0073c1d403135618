#include "h2_upstream.h"

#include <llhttp.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "pool.h"
#include "ringgate/core/ascii.h"
#include "ringgate/http/nghttp2_util.h"
#include "ringgate/http/response.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

// Frames produced ahead of the socket (as on the downstream side, h2_connection.cc); what a
// stream holds either way is StreamTransport's to bound.
constexpr size_t kOutputLimit = 64 * 1024;
// Our receive windows: per stream (SETTINGS_INITIAL_WINDOW_SIZE) and the connection's.
constexpr uint32_t kStreamWindow = 256 * 1024;
constexpr uint32_t kConnectionWindow = 4 * 1024 * 1024;
// Streams a connection takes before the endpoint's SETTINGS say how many it allows.
constexpr uint32_t kDefaultStreams = 100;

bool connection_specific(std::string_view lower) {
  return lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
         lower == "transfer-encoding" || lower == "upgrade" || lower == "host";
}

H2ClientStream* stream_of(nghttp2_session* session, int32_t id) {
  return static_cast<H2ClientStream*>(nghttp2_session_get_stream_user_data(session, id));
}

// nghttp2's client callbacks (user data: the H2Upstream).
struct ClientCallbacks {
  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) {
      return 0;
    }
    if (H2ClientStream* s = stream_of(session, frame->hd.stream_id)) {
      s->on_field({reinterpret_cast<const char*>(name), namelen},
                  {reinterpret_cast<const char*>(value), valuelen},
                  frame->headers.cat == NGHTTP2_HCAT_HEADERS);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    H2ClientStream* s = frame->hd.stream_id ? stream_of(session, frame->hd.stream_id) : nullptr;
    const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (s && (frame->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
          s->on_fields_end(end);
        }
        break;
      case NGHTTP2_DATA:
        if (s && end) {
          s->on_end();
        }
        break;
      case NGHTTP2_SETTINGS:
        static_cast<H2Upstream*>(user)->schedule();  // capacity may have changed
        break;
      case NGHTTP2_GOAWAY:
        static_cast<H2Upstream*>(user)->drain();  // no new streams; closed once these are done
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                           const uint8_t* data, size_t len, void*) {
    if (H2ClientStream* s = stream_of(session, stream_id)) {
      s->on_data({reinterpret_cast<const char*>(data), len});
    } else {
      // Nobody reads it: its window comes back now.
      nghttp2_session_consume(session, stream_id, len);
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t code,
                             void* user) {
    if (H2ClientStream* s = stream_of(session, stream_id)) {
      s->on_closed(code);
    }
    static_cast<H2Upstream*>(user)->schedule();
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto* s = static_cast<H2ClientStream*>(source->ptr);
    bool eof = false;
    const long n = s->read_body(buf, length, eof);
    if (n < 0) {
      s->body_deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    if (eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return n;
  }
};

}  // namespace

// --- H2ClientStream ---

H2ClientStream::H2ClientStream(ParserContext* request_context) : StreamTransport(/*paused=*/false) {
  request_.init(request_context);
}

H2ClientStream::~H2ClientStream() {
  request_.release();
}

void H2ClientStream::open(H2Upstream& conn) {
  reset_transport(/*paused=*/false);
  request_.reset();
  request_.set_body_sink(this);
  conn_ = &conn;
  id_ = 0;
  if (body_.capacity() > kKeptBodyCapacity) {
    std::string().swap(body_);
  }
  body_.clear();
  body_off_ = 0;
  body_end_ = false;
  body_deferred = false;
  status_ = 0;
  trailers_.clear();
  cut_error_ = 0;
  wants_ready_ = false;
  ready_due_ = false;
  ready_ = false;
  head_done_ = false;
  has_length_ = false;
  chunked_ = false;
  response_complete_ = false;
  closed_ = false;
  request_failed_ = false;
}

void H2ClientStream::recycle() {
  // Closed already (its connection closed it, or the HTTP/2 connection went first).
  conn_ = nullptr;
  request_.release();
  reset_transport(/*paused=*/false);
}

void H2ClientStream::bind(UpstreamConn& owner) {
  handler_ = &owner;
}

void H2ClientStream::schedule() {
  if (conn_) {
    conn_->schedule();
  }
}

void H2ClientStream::start_input() {
  paused_ = false;
  starved_ = false;
  if (!conn_) {
    return;
  }
  if (!wants_ready_) {
    wants_ready_ = true;  // the stream connection's connect(): on_ready() once the socket is up
    if (conn_->ready()) {
      ready_due_ = true;
    }
  }
  conn_->schedule();
}

void H2ClientStream::connection_ready() {
  if (wants_ready_ && !ready_) {
    ready_due_ = true;
  }
}

void H2ClientStream::cut(int error) {
  if (cut_error_ == 0) {
    cut_error_ = error;
  }
}

void H2ClientStream::cut_now(int error) {
  in_.clear();
  if (handler_ && conn_) {
    handler_->on_input_end(ready_ ? error : -ECONNREFUSED);
  }
  if (conn_) {
    close();  // its connection closed it already, unless it was closing by another way
  }
}

void H2ClientStream::translate(const char* data, size_t len) {
  while (len > 0 && !request_failed_) {
    size_t consumed = 0;
    const MessageParser::Event ev = request_.feed(data, len, consumed);
    data += consumed;
    len -= consumed;
    switch (ev) {
      case MessageParser::Event::kHead:
        submit_request();
        break;
      case MessageParser::Event::kMessageComplete:
        body_end_ = true;
        if (body_deferred && id_ > 0) {
          body_deferred = false;
          nghttp2_session_resume_data(conn_->session(), id_);
        }
        break;
      case MessageParser::Event::kError:
        request_failed_ = true;  // our own request: cannot happen; the call fails at pump
        break;
      case MessageParser::Event::kNeedMore:
        return;
    }
  }
}

void H2ClientStream::submit_request() {
  const std::string_view method =
      llhttp_method_name(static_cast<llhttp_method_t>(request_.method()));
  const std::string_view authority = request_.header("host");
  const int n = request_.header_count();
  size_t names = 0;
  for (int i = 0; i < n; ++i) {
    names += request_.header_name(i).size();
  }
  // The shard thread's scratch (one request is submitted at a time): no allocation per call.
  static thread_local std::string lower;
  static thread_local std::vector<nghttp2_nv> nva;
  lower.clear();
  lower.reserve(names);  // views into it stay valid: it never grows past this
  nva.clear();
  nva.push_back(nghttp2_field(":method", method));
  nva.push_back(nghttp2_field(":scheme", conn_->tls() ? "https" : "http"));
  nva.push_back(nghttp2_field(":authority", authority));
  nva.push_back(nghttp2_field(":path", request_.target()));
  for (int i = 0; i < n; ++i) {
    const std::string_view name = request_.header_name(i);
    const size_t at = lower.size();
    for (char c : name) {
      lower.push_back(ascii_lower(c));
    }
    const std::string_view low(lower.data() + at, name.size());
    const std::string_view value = request_.header_value(i);
    if (connection_specific(low) || (low == "te" && value != "trailers")) {
      continue;
    }
    nva.push_back(nghttp2_field(low, value));
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = ClientCallbacks::read_body;
  id_ = nghttp2_submit_request(conn_->session(), nullptr, nva.data(), nva.size(),
                               request_.has_body() ? &provider : nullptr, this);
  if (id_ < 0) {
    id_ = 0;
    request_failed_ = true;
  }
}

void H2ClientStream::on_body(std::string_view data) {
  if (body_off_ > 0 && body_off_ >= body_.size() / 2) {
    body_.erase(0, body_off_);
    body_off_ = 0;
  }
  body_.append(data);
  if (body_deferred && id_ > 0) {
    body_deferred = false;
    nghttp2_session_resume_data(conn_->session(), id_);
  }
}

long H2ClientStream::read_body(uint8_t* buf, size_t len, bool& eof) {
  const size_t n = std::min(len, body_.size() - body_off_);
  if (n == 0 && !body_end_) {
    return -1;
  }
  memcpy(buf, body_.data() + body_off_, n);
  body_off_ += n;
  if (body_off_ == body_.size()) {
    body_.clear();
    body_off_ = 0;
    eof = body_end_;
  }
  return static_cast<long>(n);
}

void H2ClientStream::on_field(std::string_view name, std::string_view value, bool trailer) {
  if (head_done_ && trailer) {
    trailers_.append(name).append(": ").append(value).append("\r\n");
    return;
  }
  if (name == ":status") {
    const int status = atoi(std::string(value).c_str());
    status_ = status;
    char line[48];
    const int n = snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    queue(std::string_view(line, static_cast<size_t>(n)));
    queue(reason_phrase(status));
    queue("\r\n");
    return;
  }
  if (name == "content-length") {
    has_length_ = true;
  }
  queue(name);
  queue(": ");
  queue(value);
  queue("\r\n");
}

void H2ClientStream::on_fields_end(bool end_stream) {
  if (head_done_) {
    on_end();  // the trailers
    return;
  }
  if (status_ < 200) {  // an interim response (100 Continue, 103): a final one follows
    queue("\r\n");
    has_length_ = false;
    return;
  }
  head_done_ = true;
  if (end_stream) {
    if (!has_length_) {
      queue("content-length: 0\r\n");
    }
    queue("\r\n");
    response_complete_ = true;
    return;
  }
  if (!has_length_) {
    chunked_ = true;
    queue("transfer-encoding: chunked\r\n");
  }
  queue("\r\n");
}

void H2ClientStream::on_data(std::string_view data) {
  if (data.empty()) {
    return;
  }
  if (chunked_) {
    char line[24];
    const int n = snprintf(line, sizeof line, "%zx\r\n", data.size());
    queue(std::string_view(line, static_cast<size_t>(n)));
    in_.queue_data(data);
    queue("\r\n");
  } else {
    in_.queue_data(data);
  }
}

void H2ClientStream::on_end() {
  if (response_complete_) {
    return;
  }
  response_complete_ = true;
  if (chunked_) {
    queue("0\r\n");
    queue(trailers_);
    queue("\r\n");
  }
}

void H2ClientStream::on_closed(uint32_t error_code) {
  closed_ = true;
  if (error_code == NGHTTP2_REFUSED_STREAM && !head_done_) {
    // Refused unprocessed (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last stream): as safe
    // to send elsewhere as a request that never connected, whatever its method.
    cut(-ECONNREFUSED);
  } else if (error_code != 0 || !response_complete_) {
    cut(-ECONNRESET);  // reset by the upstream, or the connection went
  }
}

bool H2ClientStream::pump() {
  if (!conn_ || !handler_) {
    return false;
  }
  TransportHandler& h = *handler_;
  if (cut_error_ != 0 && !in_.pending()) {
    const int error = cut_error_;
    cut_error_ = 0;
    h.on_input_end(ready_ ? error : -ECONNREFUSED);  // the stream connection fails and closes
    return true;
  }
  if (ready_due_) {
    ready_due_ = false;
    ready_ = true;
    h.on_ready();  // the request goes out (send)
    return true;
  }
  if (request_failed_) {
    request_failed_ = false;
    send_pending_ = false;
    h.on_sent(-EPROTO);
    return true;
  }
  bool did = false;
  if (!deliver_input(conn_->shard().reactor(), !ready_, did,
                     [this](size_t n) { nghttp2_session_consume(conn_->session(), id_, n); })) {
    return true;
  }
  return complete_send(body_.size() - body_off_) || did;
}

void H2ClientStream::detach() {
  if (!conn_) {
    return;
  }
  nghttp2_session* session = conn_->session();
  if (session && id_ > 0 && !closed_) {
    nghttp2_session_set_stream_user_data(session, id_, nullptr);
    if (!conn_->closing()) {
      // Done before the stream is (the client left, a deadline, the answer came before the
      // whole request went): the upstream stops too.
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    }
  }
  if (const size_t owed = in_.take_owed(); session && owed > 0) {
    nghttp2_session_consume(session, id_, owed);
  }
  conn_->forget(*this);
  conn_->schedule();
  conn_ = nullptr;
  send_pending_ = false;
}

// --- H2Upstream ---

H2Upstream::H2Upstream(UpstreamShard& shard, UpstreamCluster& cluster, UpstreamEndpoint& endpoint,
                       int fd)
    : Timer(&H2Upstream::on_timer),
      shard_(shard),
      cluster_(cluster),
      endpoint_(endpoint),
      fd_(fd),
      plain_(shard.reactor(), fd, *this),
      io_(&plain_) {
  ++endpoint_.connections;
  ++cluster_.connections;
  bump(cluster_.counters.connections_active);
  bump(endpoint_.counters->connections_active);
  shard_.opened();
  endpoint_.h2.push_back(this);
}

H2Upstream::~H2Upstream() {
  shard_.unschedule_h2(this);
  nghttp2_session_del(session_);
}

void H2Upstream::connect() {
  connect_inflight_ = true;
  shard_.reactor().submit_connect(fd_, endpoint_.address.get(), endpoint_.address.length, this,
                                  kOpConnect);
  shard_.timers().arm(
      *this, shard_.now_ms() + static_cast<uint64_t>(cluster_.config->connect_timeout.count()));
}

bool H2Upstream::has_capacity() const {
  if (state_ == State::kClosing || draining_) {
    return false;
  }
  uint32_t limit = kDefaultStreams;
  if (session_) {
    limit = std::min<uint32_t>(limit, nghttp2_session_get_remote_settings(
                                          session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
  }
  return streams_.size() < limit;
}

void H2Upstream::add(H2ClientStream& s) {
  streams_.push_back(&s);
  update_timer();
}

void H2Upstream::forget(H2ClientStream& s) {
  streams_.erase(std::find(streams_.begin(), streams_.end(), &s));
  update_timer();
}

void H2Upstream::schedule() {
  if (!scheduled && state_ != State::kClosing) {
    scheduled = true;
    shard_.schedule_h2(this);
  }
}

void H2Upstream::complete(unsigned op, int res, uint32_t /*flags*/) {
  if (op != kOpConnect) {
    return;
  }
  connect_inflight_ = false;
  if (state_ == State::kClosing) {
    on_quiet();
    return;
  }
  if (res < 0) {
    fail(-ECONNREFUSED);
    return;
  }
  if (const TlsUpstreamConfig* tls = cluster_.config->tls.get()) {
    tls_ = std::make_unique<TlsTransport>(shard_.reactor(), shard_.tls(), *tls->client,
                                          endpoint_host(endpoint_), &endpoint_.tls_session, fd_,
                                          *this);
    io_ = tls_.get();
    io_->start_input();  // the handshake; on_ready() goes on
    return;
  }
  ready(false);
}

void H2Upstream::ready(bool tls_done) {
  if (state_ != State::kConnecting) {
    return;
  }
  if (tls_done && tls_->session().alpn() != "h2") {
    fail(-EPROTO);  // the endpoint does not speak HTTP/2 over TLS
    return;
  }
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_option* opt = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    fail(-ENOMEM);
    return;
  }
  nghttp2_session_callbacks_set_on_header_callback(cbs, ClientCallbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, ClientCallbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, ClientCallbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, ClientCallbacks::on_stream_close);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_mem mem = pool_.mem();
  const int rc = nghttp2_session_client_new3(&session_, cbs, this, opt, &mem);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, shard_.config().server.limits.header_bytes},
  };
  if (rc != 0 ||
      nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                              sizeof settings / sizeof settings[0]) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) !=
          0) {
    fail(-ENOMEM);
    return;
  }
  shard_.timers().disarm(*this);
  state_ = State::kReady;
  io_->start_input();
  for (H2ClientStream* s : streams_) {
    s->connection_ready();
  }
  pump();
}

void H2Upstream::fail(int error) {
  if (state_ == State::kClosing) {
    return;
  }
  // (Connect failures are counted by each stream connection that waited for this one.)
  close_error_ = error;
  close();
}

void H2Upstream::drain() {
  draining_ = true;
  schedule();
}

void H2Upstream::close() {
  if (state_ == State::kClosing) {
    return;
  }
  state_ = State::kClosing;
  shard_.timers().disarm(*this);
  auto& list = endpoint_.h2;
  list.erase(std::remove(list.begin(), list.end(), this), list.end());
  --endpoint_.connections;
  --cluster_.connections;
  drop(cluster_.counters.connections_active);
  drop(endpoint_.counters->connections_active);
  // Every stream hears it now (what it had not delivered is lost with the connection): its
  // connection fails over to a retry or answers the error, and closes.
  round_ = streams_;
  for (H2ClientStream* s : round_) {
    s->cut_now(close_error_);
  }
  if (connect_inflight_) {
    shard_.reactor().submit_cancel(this, kOpConnect);
  }
  io_->close();  // on_quiet() once nothing is in flight
}

void H2Upstream::on_quiet() {
  if (state_ == State::kClosing && io_->quiet() && !connect_inflight_ && !retired_) {
    retired_ = true;
    shard_.retire_h2(this);
  }
}

void H2Upstream::on_input(uint16_t bid, uint32_t len) {
  Reactor& reactor = shard_.reactor();
  if (state_ != State::kReady) {
    reactor.recycle(bid);
    return;
  }
  const ssize_t rc = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const uint8_t*>(reactor.buffer(bid)), len);
  reactor.recycle(bid);
  if (rc < 0) {
    bump(cluster_.counters.bad_responses);
    fail(-EPROTO);
    return;
  }
  pump();
}

void H2Upstream::on_input_end(int error) {
  fail(error != 0 ? error : -ECONNRESET);
}

void H2Upstream::on_input_starved() {
  // No receive buffer free: input resumes once buffers are back (the shard's end of loop).
  if (!io_->receiving()) {
    shard_.add_starved_h2(this);
  }
}

void H2Upstream::resume_receive() {
  starved = false;
  if (state_ == State::kReady) {
    io_->start_input();
  }
}

void H2Upstream::after_input() {
  if (state_ == State::kReady && !starved && !io_->receiving()) {
    io_->start_input();
  }
}

void H2Upstream::on_sent(int res) {
  if (res < 0) {
    fail(res);
    return;
  }
  wire_sent_ += static_cast<size_t>(res);
  if (wire_sent_ < wire_.size()) {
    send_wire();
    return;
  }
  wire_.clear();
  wire_sent_ = 0;
  pump();
}

void H2Upstream::pump() {
  if (state_ != State::kReady) {
    return;
  }
  for (int round = 0; round < 16; ++round) {
    round_ = streams_;
    bool did = false;
    for (H2ClientStream* s : round_) {
      if (state_ != State::kReady) {
        return;
      }
      if (s->attached()) {
        did = s->pump() || did;
      }
    }
    if (state_ != State::kReady) {
      return;
    }
    flush();
    if (!did) {
      break;
    }
  }
  if (!starved && !io_->receiving()) {
    io_->start_input();
  }
  if (draining_ && streams_.empty() && wire_.empty() && out_.empty()) {
    close();
    return;
  }
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_) &&
      wire_.empty() && out_.empty()) {
    close();
  }
}

void H2Upstream::flush() {
  while (out_.size() < kOutputLimit) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) {
      break;
    }
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  if (io_->sending() || !wire_.empty() || out_.empty()) {
    return;
  }
  wire_.swap(out_);
  wire_sent_ = 0;
  send_wire();
}

void H2Upstream::send_wire() {
  iov_.iov_base = wire_.data() + wire_sent_;
  iov_.iov_len = wire_.size() - wire_sent_;
  msg_ = msghdr{};
  msg_.msg_iov = &iov_;
  msg_.msg_iovlen = 1;
  io_->send(&iov_, 1, &msg_);
}

void H2Upstream::update_timer() {
  if (state_ != State::kReady) {
    return;  // connecting: the connect timeout is armed
  }
  if (streams_.empty()) {
    shard_.timers().arm(
        *this, shard_.now_ms() + static_cast<uint64_t>(cluster_.config->keepalive_timeout.count()));
  } else {
    shard_.timers().disarm(*this);
  }
}

void H2Upstream::on_timer(Timer* t) {
  auto* h = static_cast<H2Upstream*>(t);
  if (h->state_ == State::kConnecting) {
    bump(h->cluster_.counters.timeouts);
    h->fail(-ETIMEDOUT);
  } else if (h->streams_.empty()) {
    h->close();  // idle past keepalive_timeout
  }
}

}  // namespace ringgate
