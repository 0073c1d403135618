#include "ringgate/http/h2_session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "ringgate/http/nghttp2_util.h"

namespace ringgate {

namespace {

// The fields of a head or trailers being submitted: the shard thread's scratch (one submits at
// a time; the library copies them), so a response allocates nothing.
thread_local std::vector<nghttp2_nv> submitted_fields;

// A client's SETTINGS frames and the PING/SETTINGS acknowledgements it makes us queue, at most
// (floods: the library answers over them with GOAWAY ENHANCE_YOUR_CALM).
constexpr size_t kMaxSettingsEntries = 32;
constexpr size_t kMaxOutboundAcks = 1000;
// CONTINUATION frames after a HEADERS frame, at most.
constexpr size_t kMaxContinuations = 8;

uint64_t steady_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec);
}

}  // namespace

// nghttp2's callbacks, with the session as user data.
struct H2Callbacks {
  static H2Session& self(void* user) { return *static_cast<H2Session*>(user); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      self(user).open_stream(frame->hd.stream_id);
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    H2Session& s = self(user);
    H2Session::Stream* found = s.find(frame->hd.stream_id);
    if (!found || frame->hd.type != NGHTTP2_HEADERS) {
      return 0;  // trailers and other heads are not kept
    }
    H2Session::Stream& st = *found;
    // As SETTINGS_MAX_HEADER_LIST_SIZE counts: each field's name and value plus 32.
    st.header_bytes += namelen + valuelen + 32;
    if (st.header_bytes > s.limits_.max_header_list) {
      st.too_large = true;  // answered 431 once the head is complete; nothing more is kept
    }
    if (st.too_large) {
      return 0;
    }
    const size_t at = st.storage.size();
    st.storage.append(reinterpret_cast<const char*>(name), namelen);
    st.storage.append(reinterpret_cast<const char*>(value), valuelen);
    st.fields.emplace_back(at, namelen);
    st.fields.emplace_back(at + namelen, valuelen);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    H2Session& s = self(user);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
            (frame->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
          s.deliver_request(frame->hd.stream_id, frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
        } else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
          s.handler_.on_body(frame->hd.stream_id, {}, true);  // trailers end the body
        }
        break;
      case NGHTTP2_DATA:
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
          const H2Session::Stream* st = s.find(frame->hd.stream_id);
          if (st && !st->too_large) {
            s.handler_.on_body(frame->hd.stream_id, {}, true);
          }
        }
        break;
      case NGHTTP2_RST_STREAM:
        ++s.counts_.resets_received;
        s.count_offence();
        break;
      case NGHTTP2_SETTINGS:
      case NGHTTP2_PING:
        // Each makes us queue an acknowledgement: a flood of them counts like resets do.
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
          s.count_offence();
        }
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void* user) {
    self(user).count_offence();
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                           size_t len, void* user) {
    H2Session& s = self(user);
    const H2Session::Stream* st = s.find(stream_id);
    if (st && !st->too_large) {
      s.handler_.on_body(stream_id, {reinterpret_cast<const char*>(data), len}, false);
    } else if (s.manual_window_) {
      s.consume(stream_id, len);  // nobody passes these bytes on: their window comes back now
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
    H2Session& s = self(user);
    const auto it = s.streams_.find(stream_id);
    if (it == s.streams_.end()) {
      return 0;
    }
    const bool delivered = it->second.delivered;
    if (delivered || it->second.too_large) {
      --s.delivered_;
    }
    s.close_stream(it);
    if (delivered) {
      s.handler_.on_stream_closed(stream_id, error_code);  // the handler saw its request
    }
    return 0;
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      H2Session& s = self(user);
      s.goaway_code_ = frame->goaway.error_code;
      if (frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM) {
        ++s.counts_.goaways_calm;
      }
    }
    return 0;
  }

  static ssize_t read_body(nghttp2_session* session, int32_t stream_id, uint8_t* /*buf*/,
                           size_t length, uint32_t* flags, nghttp2_data_source*, void* user) {
    H2Session& s = self(user);
    H2Session::Stream* found = s.find(stream_id);
    if (!found) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    H2Session::Stream& st = *found;
    const size_t pending = st.body.size() - st.body_sent + st.ref_bytes;
    const size_t n = std::min(length, pending);
    if (n == 0 && !st.body_end) {
      st.deferred = true;  // resumed by append_body() or end_body()
      return NGHTTP2_ERR_DEFERRED;
    }
    // The bytes go straight from the stream's body into the output, after the frame header
    // (send_data): not copied into the library's frame buffer first.
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == pending) {
      if (st.body_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!st.trailers.empty()) {
          std::vector<nghttp2_nv>& nva = submitted_fields;
          nva.clear();
          const char* p = st.trailers.data();
          const char* end = p + st.trailers.size();
          while (p < end) {
            const std::string_view name(p);
            p += name.size() + 1;
            const std::string_view value(p);
            p += value.size() + 1;
            nva.push_back(nghttp2_field(name, value));
          }
          if (nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size()) == 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          }
        }
      }
    }
    return static_cast<ssize_t>(n);
  }

  // A DATA frame read_body() left uncopied: its header, then its bytes from the stream's body.
  static int send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                       size_t length, nghttp2_data_source*, void* user) {
    H2Session& s = self(user);
    H2Session::Stream* found = s.find(frame->hd.stream_id);
    if (!found || frame->data.padlen > 0) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;  // neither happens: no padding, the stream is there
    }
    H2Session::Stream& st = *found;
    s.put(reinterpret_cast<const char*>(framehd), 9);
    // Owned bytes first (a stream borrows only once it has none left), then borrowed ones.
    const size_t owned = std::min(length, st.body.size() - st.body_sent);
    if (owned > 0) {
      s.put(st.body.data() + st.body_sent, owned);
      st.body_sent += owned;
      if (st.body_sent == st.body.size()) {
        st.body.clear();
        st.body_sent = 0;
      }
    }
    for (size_t left = length - owned; left > 0;) {
      const std::string_view ref = st.refs[st.ref_next];
      const size_t n = std::min(left, ref.size() - st.ref_off);
      s.out_.append_borrowed(ref.data() + st.ref_off, n);
      s.produced_ += n;
      left -= n;
      st.ref_bytes -= n;
      st.ref_off += n;
      if (st.ref_off == ref.size()) {
        st.ref_off = 0;
        if (++st.ref_next == st.refs.size()) {
          st.refs.clear();
          st.ref_next = 0;
        }
      }
      st.ref_end = s.produced_;
    }
    return 0;
  }
};

H2Session::H2Session(const H2Limits& limits, H2Handler& handler)
    : limits_(limits), handler_(handler), pool_(std::make_unique<Nghttp2Pool>()) {}

uint64_t H2Session::heap_allocations() const {
  return pool_->heap_allocations();
}

H2Session::Stream* H2Session::find(int32_t stream_id) {
  if (stream_id != found_id_ || !found_) {
    const auto it = streams_.find(stream_id);
    if (it == streams_.end()) {
      return nullptr;
    }
    found_ = &it->second;
    found_id_ = stream_id;
  }
  return found_;
}

const H2Session::Stream* H2Session::find(int32_t stream_id) const {
  if (stream_id == found_id_ && found_) {
    return found_;
  }
  const auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : &it->second;
}

H2Session::Stream& H2Session::open_stream(int32_t stream_id) {
  if (spare_.empty()) {
    return streams_[stream_id];
  }
  auto node = std::move(spare_.back());
  spare_.pop_back();
  node.key() = stream_id;
  return streams_.insert(std::move(node)).position->second;
}

void H2Session::close_stream(std::map<int32_t, Stream>::iterator it) {
  constexpr size_t kMaxSpare = 128;
  constexpr size_t kMaxKeptBytes = 16 * 1024;
  if (&it->second == found_) {
    found_ = nullptr;
    found_id_ = 0;
  }
  if (it->second.ref_end > sent_) {
    closed_held_.emplace_back(it->first, it->second.ref_end);
  }
  auto node = streams_.extract(it);
  Stream& st = node.mapped();
  if (spare_.size() >= kMaxSpare || st.storage.capacity() + st.body.capacity() > kMaxKeptBytes) {
    return;  // freed here
  }
  st.storage.clear();
  st.fields.clear();
  st.header_bytes = 0;
  st.too_large = false;
  st.delivered = false;
  st.body.clear();
  st.body_sent = 0;
  st.refs.clear();
  st.ref_next = st.ref_off = st.ref_bytes = 0;
  st.ref_end = 0;
  st.body_end = false;
  st.deferred = false;
  st.trailers.clear();
  spare_.push_back(std::move(node));
}

H2Session::~H2Session() {
  nghttp2_session_del(session_);
}

bool H2Session::start(bool manual_window, uint32_t connection_window) {
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) {
    return false;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, H2Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, H2Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, H2Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, H2Callbacks::on_invalid_frame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, H2Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, H2Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, H2Callbacks::on_frame_send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, H2Callbacks::send_data);
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cbs);
    return false;
  }
  nghttp2_option_set_max_settings(opt, kMaxSettingsEntries);
  nghttp2_option_set_max_outbound_ack(opt, kMaxOutboundAcks);
  manual_window_ = manual_window;
  if (manual_window) {
    nghttp2_option_set_no_auto_window_update(opt, 1);
  }
#ifdef RINGGATE_NGHTTP2_RESET_LIMIT
  nghttp2_option_set_stream_reset_rate_limit(opt, limits_.max_resets_per_second,
                                             limits_.max_resets_per_second);
#endif
#ifdef RINGGATE_NGHTTP2_MAX_CONTINUATIONS
  nghttp2_option_set_max_continuations(opt, kMaxContinuations);
#endif
  nghttp2_mem mem = pool_->mem();
  const int rc = nghttp2_session_server_new3(&session_, cbs, this, opt, &mem);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rc != 0) {
    session_ = nullptr;
    return false;
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                              sizeof settings / sizeof settings[0]) != 0) {
    return false;
  }
  if (connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE &&
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                            static_cast<int32_t>(connection_window)) != 0) {
    return false;
  }
  produce();
  return !failed_;
}

bool H2Session::feed(const char* data, size_t len) {
  if (!session_ || failed_) {
    return false;
  }
  in_callback_ = true;
  const ssize_t rc =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  in_callback_ = false;
  if (rc < 0) {
    // A connection error the library decided (bad preface, a flood): it queued the GOAWAY.
    failed_ = true;
    if (goaway_code_ < 0) {
      nghttp2_session_terminate_session(
          session_, rc == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
    }
  }
  produce();
  return !failed_ && !done();
}

bool H2Session::respond(int32_t stream_id, int status,
                        const std::vector<std::pair<std::string, std::string>>& headers,
                        std::string body) {
  H2Fields fields;
  fields.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    fields.emplace_back(name, value);
  }
  if (!submit_head(stream_id, status, fields, !body.empty())) {
    return false;
  }
  if (!body.empty()) {
    append_body(stream_id, body);
    end_body(stream_id, {});
  }
  if (!in_callback_) {
    produce();
  }
  return true;
}

bool H2Session::submit_head(int32_t stream_id, int status, const H2Fields& fields, bool body) {
  Stream* found = find(stream_id);
  if (!session_ || !found) {
    return false;
  }
  Stream& st = *found;
  st.body.clear();
  st.body_sent = 0;
  st.body_end = false;
  char code[8];
  const char* code_end = std::to_chars(code, code + sizeof code, status).ptr;
  std::vector<nghttp2_nv>& nva = submitted_fields;
  nva.clear();
  nva.push_back(nghttp2_field(":status", std::string_view(code, code_end)));
  for (const auto& [name, value] : fields) {
    nva.push_back(nghttp2_field(name, value));
  }
  nghttp2_data_provider provider{};
  provider.read_callback = H2Callbacks::read_body;
  return nghttp2_submit_response(session_, stream_id, nva.data(), nva.size(),
                                 body ? &provider : nullptr) == 0;
}

void H2Session::resume(Stream& st, int32_t stream_id) {
  if (st.deferred) {
    st.deferred = false;
    nghttp2_session_resume_data(session_, stream_id);
  }
}

bool H2Session::append_body(int32_t stream_id, std::string_view data) {
  Stream* found = find(stream_id);
  if (!session_ || !found) {
    return false;
  }
  Stream& st = *found;
  if (st.ref_bytes > 0) {
    pin(st);  // in order after what it borrowed
  }
  if (st.body_sent > 0 && st.body_sent >= st.body.size() / 2) {
    st.body.erase(0, st.body_sent);  // what was framed goes before the buffer grows
    st.body_sent = 0;
  }
  st.body.append(data);
  resume(st, stream_id);
  return true;
}

bool H2Session::append_body_ref(int32_t stream_id, std::string_view data) {
  Stream* found = find(stream_id);
  if (!session_ || !found) {
    return false;
  }
  Stream& st = *found;
  if (st.body_sent < st.body.size()) {
    return append_body(stream_id, data);  // in order after what it owns
  }
  st.refs.push_back(data);
  st.ref_bytes += data.size();
  resume(st, stream_id);
  return true;
}

bool H2Session::body_held(int32_t stream_id) const {
  const Stream* st = find(stream_id);
  if (!st) {
    // Closed: its last frames may not be out yet.
    return std::any_of(closed_held_.begin(), closed_held_.end(),
                       [stream_id](const auto& held) { return held.first == stream_id; });
  }
  return st->ref_bytes > 0 || sent_ < st->ref_end;
}

void H2Session::output_sent(size_t n) {
  sent_ += n;
  std::erase_if(closed_held_, [this](const auto& held) { return held.second <= sent_; });
}

void H2Session::pin_stream(int32_t stream_id) {
  if (Stream* st = find(stream_id); st && st->ref_bytes > 0) {
    pin(*st);
  }
}

void H2Session::pin(Stream& st) {
  st.body.erase(0, st.body_sent);
  st.body_sent = 0;
  for (size_t i = st.ref_next; i < st.refs.size(); ++i) {
    st.body.append(st.refs[i].substr(i == st.ref_next ? st.ref_off : 0));
  }
  st.refs.clear();
  st.ref_next = st.ref_off = st.ref_bytes = 0;
}

bool H2Session::end_body(int32_t stream_id, const H2Fields& trailers) {
  Stream* found = find(stream_id);
  if (!session_ || !found) {
    return false;
  }
  Stream& st = *found;
  st.body_end = true;
  for (const auto& [name, value] : trailers) {
    st.trailers.append(name).push_back('\0');
    st.trailers.append(value).push_back('\0');
  }
  resume(st, stream_id);
  return true;
}

size_t H2Session::buffered_bytes() const {
  size_t n = 0;
  for (const auto& [id, st] : streams_) {
    n += st.storage.capacity() + st.body.capacity();
  }
  return n;
}

void H2Session::consume(int32_t stream_id, size_t n) {
  if (session_ && n > 0) {
    nghttp2_session_consume_connection(session_, n);
    nghttp2_session_consume_stream(session_, stream_id, n);  // 0 for a stream already closed
  }
}

void H2Session::reset(int32_t stream_id, uint32_t code) {
  if (session_) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, code);
  }
}

void H2Session::shutdown() {
  if (session_ && !shut_down_) {
    shut_down_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
}

bool H2Session::wants_write() const {
  return session_ && nghttp2_session_want_write(session_);
}

bool H2Session::done() const {
  return !session_ ||
         (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_));
}

void H2Session::produce() {
  while (session_ && out_.size() < out_limit_) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      failed_ = true;
      return;
    }
    if (n == 0) {
      return;
    }
    put(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
}

void H2Session::put(const char* data, size_t len) {
  out_.append(data, len);
  produced_ += len;
}

void H2Session::count_offence() {
  const uint64_t now = steady_seconds();
  if (now != offence_window_) {
    offence_window_ = now;
    offences_ = 0;
  }
  if (++offences_ > limits_.max_resets_per_second && goaway_code_ < 0) {
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

void H2Session::deliver_request(int32_t stream_id, bool end_stream) {
  Stream* found = find(stream_id);
  if (!found) {
    return;
  }
  Stream& st = *found;
  ++counts_.streams;
  ++delivered_;
  if (st.too_large) {
    answer_too_large(stream_id);
    return;
  }
  H2Request& r = request_;
  r.method = r.scheme = r.authority = r.path = {};
  r.headers.clear();
  r.stream_id = stream_id;
  r.end_stream = end_stream;
  for (size_t i = 0; i + 1 < st.fields.size(); i += 2) {
    const std::string_view name(st.storage.data() + st.fields[i].first, st.fields[i].second);
    const std::string_view value(st.storage.data() + st.fields[i + 1].first,
                                 st.fields[i + 1].second);
    if (name == ":method") {
      r.method = value;
    } else if (name == ":scheme") {
      r.scheme = value;
    } else if (name == ":authority") {
      r.authority = value;
    } else if (name == ":path") {
      r.path = value;
    } else {
      r.headers.emplace_back(name, value);
    }
  }
  st.delivered = true;
  handler_.on_request(r);
}

void H2Session::answer_too_large(int32_t stream_id) {
  ++counts_.header_list_too_large;
  respond(stream_id, 431, {{"content-type", "application/problem+json"}},
          "{\"type\":\"about:blank\",\"title\":\"Request Header Fields Too Large\","
          "\"status\":431,\"detail\":\"the request's header list is over "
          "server.http2.max_header_list\"}");
}

// --- H2Output ---

void H2Output::append(const char* data, size_t len) {
  const size_t at = bytes.size();
  bytes.append(data, len);
  if (pieces.empty()) {
    return;
  }
  size_ += len;
  Piece& last = pieces.back();
  if (!last.borrowed && last.off + last.len == at) {
    last.len += len;
  } else {
    pieces.push_back({nullptr, at, len});
  }
}

void H2Output::append_borrowed(const char* data, size_t len) {
  if (pieces.empty()) {
    size_ = bytes.size();
    if (!bytes.empty()) {
      pieces.push_back({nullptr, 0, bytes.size()});
    }
  }
  pieces.push_back({data, 0, len});
  size_ += len;
}

void H2Output::pin() {
  if (pieces.empty()) {
    return;
  }
  std::string whole;
  whole.reserve(size_);
  for (const Piece& p : pieces) {
    whole.append(p.borrowed ? p.borrowed : bytes.data() + p.off, p.len);
  }
  bytes.swap(whole);
  pieces.clear();
  size_ = 0;
}

int H2Output::iovecs(size_t from, iovec* iov, int max) {
  if (pieces.empty()) {
    if (from >= bytes.size() || max < 1) {
      return 0;
    }
    iov[0] = {bytes.data() + from, bytes.size() - from};
    return 1;
  }
  int n = 0;
  for (const Piece& p : pieces) {
    if (n == max) {
      break;
    }
    if (from >= p.len) {
      from -= p.len;
      continue;
    }
    const char* base = p.borrowed ? p.borrowed : bytes.data() + p.off;
    iov[n++] = {const_cast<char*>(base + from), p.len - from};
    from = 0;
  }
  return n;
}

}  // namespace ringgate
