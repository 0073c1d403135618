// The client side of a proxied call: the upstream's response, re-framed for the client and
// edited by the route's response filters, written into the client's output as it arrives.

#include <cstring>

#include "ringgate/upstream/call.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

// Room kept for chunk framing around the pieces of one feed: a chunk-size line and CRLF at each
// end of what was fed, beyond what the input itself carried.
constexpr size_t kFramingSlack = 64;
// ... and, for a chunked body, for the trailer section that may end it (ResponseParser keeps at
// most 1 KiB of it).
constexpr size_t kTrailerRoom = 1024 + 8;
// Less room than this is treated as none: wait for the output to drain.
constexpr size_t kMinRoom = 256;

}  // namespace

void ClientResponse::start(const Exchange& x, Downstream& client, int client_minor,
                           bool keep_alive) {
  x_ = &x;
  client_ = &client;
  recorder_ = x.recorder;
  replacing_ = false;
  client_minor_ = client_minor;
  keep_alive_ = keep_alive;
  request_complete_ = false;
  trailers_written_ = false;
  framing_ = BodyFraming::kLength;
  head_ = Head::kNone;
  status_ = 0;
}

size_t ClientResponse::room() const {
  if (replacing_) {
    return SIZE_MAX;  // read and dropped
  }
  if (head_ == Head::kNone) {
    // The head is written into an empty output, so it always fits the block.
    return client_->out_pending() ? 0 : SIZE_MAX;
  }
  size_t avail = 0;
  client_->out_space(avail);
  const size_t slack =
      framing_ == BodyFraming::kChunked ? kFramingSlack + kTrailerRoom : kFramingSlack;
  return avail < slack + kMinRoom ? 0 : avail - slack;
}

bool ClientResponse::on_head(const ResponseParser& p) {
  if (!p.has_body()) {
    framing_ = BodyFraming::kNone;
  } else if (p.has_content_length()) {
    framing_ = BodyFraming::kLength;
  } else if (client_minor_ >= 1) {
    framing_ = BodyFraming::kChunked;
  } else {
    framing_ = BodyFraming::kUntilClose;
  }
  keep_alive_ = keep_alive_ && request_complete_ && !shard_.draining() && !client_->closing() &&
                framing_ != BodyFraming::kUntilClose;
  ForwardResponse f;
  f.keep_alive = keep_alive_;
  f.client_minor = client_minor_;
  f.framing = framing_;
  status_ = p.status();
  if (recorder_ && recorder_->on_head(p) == ResponseRecorder::Verdict::kReplace) {
    replacing_ = true;
    return true;
  }
  return write_head(p, f);
}

bool ClientResponse::on_switch(const ResponseParser& p) {
  framing_ = BodyFraming::kUntilClose;  // raw bytes from here, both ways
  keep_alive_ = false;
  ForwardResponse f;
  f.keep_alive = false;
  f.upgrade = true;
  f.client_minor = client_minor_;
  f.framing = BodyFraming::kNone;
  status_ = 101;
  return write_head(p, f);
}

void ClientResponse::begin_tunnel() {
  client_->tunnel();
}

bool ClientResponse::write_head(const ResponseParser& p, ForwardResponse& f) {
  // The response phase: what the route's filters add to the head and drop from it (asked only
  // when one of them takes part).
  if (Pipeline::edits_response(*x_)) {
    const ResponseHead& edits = client_->response_head(p.status());
    f.extra = edits.added();
    f.drop = edits.drops();
    f.drop_count = edits.drop_count();
  }
  f.date = client_->date_line();
  size_t avail = 0;
  char* out = client_->out_space(avail);
  const size_t n = out ? write_forward_response_head(p, f, out, avail) : 0;
  if (n == 0) {
    return false;
  }
  client_->out_commit(n);
  head_ = Head::kStaged;
  return true;
}

void ClientResponse::on_body(std::string_view data) {
  if (replacing_) {
    return;
  }
  if (recorder_) {
    recorder_->on_body(data);
  }
  size_t avail = 0;
  char* out = client_->out_space(avail);
  if (framing_ == BodyFraming::kChunked) {
    if (data.empty()) {
      return;
    }
    size_t n = write_chunk_size_line(out, data.size());
    std::memcpy(out + n, data.data(), data.size());
    n += data.size();
    out[n++] = '\r';
    out[n++] = '\n';
    client_->out_commit(n);
  } else if (data.size() < kLendMin || !client_->out_lend(data, input_bid_)) {
    std::memcpy(out, data.data(), data.size());
    client_->out_commit(data.size());
  }
}

void ClientResponse::flush() {
  if (head_ == Head::kNone || replacing_) {
    return;
  }
  if (head_ == Head::kStaged) {
    // Until now a failure could still take the head back and answer 502 instead.
    head_ = Head::kSent;
    client_->count_status(status_);
  }
  client_->out_flush();
}

bool ClientResponse::retract() {
  if (replacing_) {
    replacing_ = false;  // nothing went out: another try may answer
    recorder_->on_abandon();
    return true;
  }
  if (head_ != Head::kStaged) {
    return false;
  }
  // The head (and perhaps some body) is still in the output: take it back, so the client gets
  // a clean error or a retried response instead of a cut one.
  client_->out_discard();
  if (recorder_) {
    recorder_->on_abandon();
  }
  head_ = Head::kNone;
  framing_ = BodyFraming::kLength;
  return true;
}

void ClientResponse::on_trailers(std::string_view lines) {
  if (replacing_) {
    return;
  }
  // Relayed in the chunked body's end (gRPC's status travels there). A client that cannot take
  // them (a Content-Length body, HTTP/1.0) does without; room() keeps space for them.
  if (framing_ != BodyFraming::kChunked || trailers_written_) {
    return;
  }
  size_t avail = 0;
  char* out = client_->out_space(avail);
  if (!out || avail < lines.size() + 3) {
    return;
  }
  std::memcpy(out, "0\r\n", 3);
  std::memcpy(out + 3, lines.data(), lines.size());
  client_->out_commit(lines.size() + 3);
  trailers_written_ = true;
}

void ClientResponse::on_complete(int) {
  if (replacing_) {
    recorder_->on_complete();
    if (const Reply* stored = recorder_->replacement(nullptr)) {
      client_->respond_stored(*stored, keep_alive_);
    } else {
      client_->response_cut();  // (a recorder that replaces keeps what it replaces with)
    }
    return;
  }
  if (framing_ == BodyFraming::kChunked) {
    size_t avail = 0;
    char* out = client_->out_space(avail);
    if (trailers_written_) {
      std::memcpy(out, "\r\n", 2);  // the last-chunk line went out with the trailers
      client_->out_commit(2);
    } else {
      std::memcpy(out, "0\r\n\r\n", 5);
      client_->out_commit(5);
    }
  }
  flush();
  if (recorder_) {
    recorder_->on_complete();
  }
  // The call this belongs to is back in its pool: the client may start the next one on it.
  Downstream* client = client_;
  const bool keep_alive = keep_alive_;
  client->response_done(keep_alive);
}

void ClientResponse::on_failed(const Error& error) {
  if (recorder_) {
    recorder_->on_abandon();
  }
  Downstream* client = client_;
  if (head_ == Head::kNone && recorder_) {
    if (const Reply* stored = recorder_->replacement(&error)) {
      client->respond_stored(*stored, keep_alive_);
      return;
    }
  }
  if (head_ == Head::kNone) {
    client->response_failed(error, keep_alive_);
  } else {
    client->response_cut();
  }
}

}  // namespace ringgate
