#include "ringgate/http/http_shard.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <new>

#include "connection.h"
#include "h2_connection.h"
#include "out_buffer.h"
#include "ringgate/core/hash.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/net/socket.h"

namespace ringgate {

namespace {

// A request arena's block: the Exchange (about 1 KiB) and what filters keep per request.
constexpr size_t kArenaBlockSize = 4 * 1024;

}  // namespace

size_t OutBuffer::pending_bytes() const {
  size_t n = 0;
  for (uint16_t i = iov_sent; i < iov_count; ++i) {
    n += iov[i].iov_len;
  }
  return n;
}

HttpShard::HttpShard(Shard& shard, const Config& config, BufferChains& chains,
                     ShardCounters& counters, uint32_t connection_limit)
    : shard_(shard),
      config_(config),
      chains_(chains),
      counters_(counters),
      arena_pool_(kArenaBlockSize, 1024),
      scratch_pool_(scratch_block_size(config.server.limits), 256),
      out_pool_(kOutBlockSize, 1024),
      connection_limit_(connection_limit),
      // Not the X-Request-Id sequence: a trace id must not give a request id away, or the reverse.
      trace_ids_(mix64(process_seed() ^ 0x7472616365ull), RequestIdGenerator::new_stream()) {
  shared_spans_.resize(config.server.limits.headers);
  route_counters_ = std::make_unique<RouteCounters[]>(config.routes.size());
  tls_.timers = &shard.timers();
  tls_.now_ms = &shard.now_ms_ref();
  parser_context_.limits = &config.server.limits;
  parser_context_.scratch_pool = &scratch_pool_;
  parser_context_.shared_spans = shared_spans_.data();
  stream_response_spans_.resize(config.server.limits.headers);
  stream_response_context_.limits = &config.server.limits;
  stream_response_context_.scratch_pool = &scratch_pool_;
  stream_response_context_.shared_spans = stream_response_spans_.data();
  if (!config.server.server_header.empty()) {
    server_line_ = "Server: " + config.server.server_header + "\r\n";
  }
}

HttpShard::~HttpShard() {
  while (connections_) {
    Connection* c = connections_;
    connections_ = c->next;
    destroy(c);
  }
  // By index: a connection destroyed may retire its HTTP/2 streams' connections into dead_.
  for (size_t i = 0; i < dead_.size(); ++i) {
    destroy(dead_[i]);
  }
  dead_.clear();
  for (std::string* body : free_bodies_) {
    delete body;
  }
}

bool HttpShard::accept(int fd, const RoutePlan* local, const TlsListenConfig* tls,
                       std::unique_ptr<TlsSession> established) {
  if (!local && connection_count_ >= connection_limit_) {
    return false;  // refuse() counts it
  }
  shard_.reactor().register_fd(fd);
  auto* c = new Connection(*this, fd, local, tls, std::move(established));
  c->next = connections_;
  if (connections_) {
    connections_->prev = c;
  }
  connections_ = c;
  if (!local) {
    ++connection_count_;
  }
  ShardCounters& counters = local ? admin_counters_ : counters_;
  bump(counters.connections_total);
  bump(counters.connections_active);
  c->start();
  if (draining_ && !local) {
    // Accepted or adopted after the drain began: handed on to the successor when idle, or
    // given the drain grace for its request.
    c->begin_drain();
  }
  return true;
}

RequestParser* HttpShard::acquire_parser() {
  return parsers_.acquire(&parser_context_);
}

void HttpShard::release_parser(RequestParser* p, bool clean) {
  if (!clean) {
    p->reset();
  } else if (p->holds_scratch()) {
    p->release();  // a pinned head's scratch block
  }
  parsers_.release(p);
}

uint64_t HttpShard::memory_held() const {
  return arena_pool_.bytes_in_use() + scratch_pool_.bytes_in_use() + out_pool_.bytes_in_use() +
         h2_memory_;
}

void HttpShard::refuse(int fd, bool plain) {
  bump(counters_.connections_rejected);
  if (!plain) {
    close(fd);
    return;
  }
  if (refusal_.empty()) {
    Error error;
    error.kind = ErrorKind::kOverloaded;
    std::string body;
    error_body(error, body);
    refusal_ = "HTTP/1.1 503 " + std::string(reason_phrase(503)) +
               "\r\nContent-Type: " + std::string(kProblemContentType) +
               "\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nRetry-After: 1\r\nConnection: close\r\n" + server_line_ + "\r\n" + body;
  }
  // What the client sent already is read first: closing with unread bytes would answer with a
  // reset that can destroy the 503 before the client reads it.
  char discard[4096];
  while (recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0) {
  }
  send(fd, refusal_.data(), refusal_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  close(fd);
}

void HttpShard::retire(Connection* c) {
  if (c->stream_) {
    // A stream connection: in no list and not counted; freed with the others.
    if (c->starved) {
      for (Connection*& s : starved_) {
        if (s == c) {
          s = nullptr;
        }
      }
    }
    dead_.push_back(c);
    return;
  }
  if (c->prev) {
    c->prev->next = c->next;
  } else {
    connections_ = c->next;
  }
  if (c->next) {
    c->next->prev = c->prev;
  }
  c->prev = c->next = nullptr;
  if (!c->local()) {
    --connection_count_;
  }
  drop((c->local() ? admin_counters_ : counters_).connections_active);
  if (c->starved) {
    for (Connection*& s : starved_) {
      if (s == c) {
        s = nullptr;
      }
    }
  }
  dead_.push_back(c);
}

void HttpShard::add_starved(Connection* c) {
  if (!c->starved) {
    c->starved = true;
    starved_.push_back(c);
  }
}

void HttpShard::end_of_iteration() {
  if (shard_.now_ms() >= busy_window_end_ms_) {
    // After a quiet spell longer than a window (the loop slept), the last window's count is
    // stale: a lone request after it must not be batched as if the burst were still on.
    const bool consecutive = shard_.now_ms() < busy_window_end_ms_ + kBusyWindowMs;
    busy_before_ = consecutive ? busy_now_ : 0;
    busy_now_ = 0;
    ++busy_window_;
    busy_window_end_ms_ = shard_.now_ms() + kBusyWindowMs;
  }
  Reactor& reactor = shard_.reactor();
  resume_starved(reactor, starved_);
  // HTTP/2 work that callbacks left for now (a stream's send, input for a stream connection):
  // rounds until none is left, bounded; what remains has a timer to come back with.
  for (int round = 0; round < 8 && !h2_pending_.empty(); ++round) {
    h2_round_.swap(h2_pending_);
    for (H2Connection*& h2 : h2_round_) {
      if (h2) {
        h2->scheduled = false;
        h2->pump();
      }
    }
    h2_round_.clear();
  }
  // By index: a connection destroyed may retire its HTTP/2 streams' connections into dead_.
  for (size_t i = 0; i < dead_.size(); ++i) {
    Connection* c = dead_[i];
    if (!c) {
      continue;  // a stream connection discarded with its HTTP/2 connection
    }
    if (!c->stream_) {
      reactor.submit_close(c->io_->fd());
    }
    destroy(c);
  }
  dead_.clear();
}

size_t HttpShard::trim_pools() {
  return arena_pool_.trim() + scratch_pool_.trim() + out_pool_.trim() + streams_.trim();
}

H2Stream& HttpShard::new_stream() {
  return streams_.acquire([this] { return new H2Stream(&stream_response_context_); });
}

void HttpShard::open_stream(H2Stream& stream, Connection& parent) {
  auto* c = new (stream.companion_memory) Connection(*this, stream, parent);
  stream.bind(*c);
  c->start();
}

void HttpShard::destroy(Connection* c) {
  if (!c) {
    return;
  }
  if (c->out_) {
    // Whatever way the connection went (retired, or discarded with its HTTP/2 connection): its
    // output block goes back, and the receive buffers its output had on loan.
    release_out(c->out_);
    c->out_ = nullptr;
  }
  if (!c->stream_) {
    delete c;
    return;
  }
  auto* s = static_cast<H2Stream*>(c->io_);
  c->~Connection();
  s->recycle();
  streams_.release(s);
}

void HttpShard::discard_stream(Connection* c) {
  if (!c) {
    return;
  }
  for (auto* list : {&dead_, &starved_}) {
    std::replace(list->begin(), list->end(), c, static_cast<Connection*>(nullptr));
  }
  destroy(c);
}

void HttpShard::unschedule_h2(H2Connection* h2) {
  for (H2Connection*& p : h2_pending_) {
    if (p == h2) {
      p = nullptr;
    }
  }
  for (H2Connection*& p : h2_round_) {
    if (p == h2) {
      p = nullptr;
    }
  }
}

void HttpShard::begin_drain() {
  draining_ = true;
  for (Connection* c = connections_; c;) {
    Connection* next = c->next;
    c->begin_drain();
    c = next;
  }
}

bool HttpShard::hand_over(int fd, std::unique_ptr<TlsSession> tls) {
  if (!successor_ || !successor_->take_connection(fd, std::move(tls))) {
    return false;
  }
  bump(counters_.connections_handed_over);
  return true;
}

void HttpShard::abort_all() {
  for (Connection* c = connections_; c;) {
    Connection* next = c->next;
    c->abort();
    c = next;
  }
}

OutBuffer* HttpShard::acquire_out() {
  auto* o = static_cast<OutBuffer*>(out_pool_.acquire());
  o->reset();
  return o;
}

void HttpShard::release_out(OutBuffer* out) {
  if (out->owned) {
    release_body(out->owned);
    out->owned = nullptr;
  }
  for (int i = 0; i < out->lent_count; ++i) {
    shard_.reactor().give_back(out->lent[i]);
  }
  out->lent_count = 0;
  for (int i = 0; i < out->hold_count; ++i) {
    out->holds[i]->release();
  }
  out->hold_count = 0;
  out_pool_.release(out);
}

std::string* HttpShard::acquire_body() {
  if (free_bodies_.empty()) {
    return new std::string();
  }
  std::string* body = free_bodies_.back();
  free_bodies_.pop_back();
  return body;
}

void HttpShard::release_body(std::string* body) {
  if (free_bodies_.size() >= kMaxFreeBodies || body->capacity() > kMaxKeptBodyCapacity) {
    delete body;
    return;
  }
  body->clear();
  free_bodies_.push_back(body);
}

}  // namespace ringgate
