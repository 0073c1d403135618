#include "ringgate/redis/link.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "ringgate/net/socket.h"

namespace ringgate {

// GCRA on the server's clock ("theoretical arrival time" per key, in µs as a decimal string).
const char* const kRedisLeaseScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if want < 0 then
  tat = tat + want * interval
  if tat <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
  end
  return {0, 0}
end
local limit = now + burst * interval
local avail = math.floor((limit - tat) / interval + 1e-9)
if avail < 1 then
  return {0, math.ceil(tat + interval - limit)}
end
if want > avail then want = avail end
tat = tat + want * interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return {want, 0}
)lua";

namespace {

constexpr size_t kRingSize = 4096;  // calls pending at once per shard
constexpr size_t kInBytes = 16 * 1024;
constexpr size_t kOutReserve = 64 * 1024;

std::string sha1_hex(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace

RedisLink::RedisLink(Reactor& reactor, TimerWheel& timers, const RedisConfig& config,
                     const uint64_t& now_ms)
    : Timer(&RedisLink::on_timer),
      reactor_(reactor),
      timers_(timers),
      config_(config),
      now_ms_(now_ms),
      sha_(sha1_hex(kRedisLeaseScript)),
      in_(kInBytes),
      ring_(kRingSize) {
  parse_socket_address(config.address, address_);  // validated by the config loader
  sending_.reserve(kOutReserve);
  queued_.reserve(kOutReserve);
}

RedisLink::~RedisLink() {
  timers_.disarm(*this);
  if (fd_ >= 0) {
    // The loop has ended (stop() was not waited for, e.g. the shard failed to start): no
    // submission would be flushed any more.
    ::close(fd_);
  }
}

void RedisLink::start() {
  if (state_ == State::kDown && fd_ < 0) {
    connect();
  }
}

bool RedisLink::usable() const {
  switch (state_) {
    case State::kUp:
    case State::kConnecting:
      return count_ < kRingSize;
    case State::kDown:
      return now_ms_ >= retry_at_ms_ && fd_ < 0;
    case State::kStopped:
      return false;
  }
  return false;
}

bool RedisLink::lease(std::string_view policy, std::string_view key, std::string_view interval_us,
                      uint64_t burst, int64_t want, LeaseHandler* handler, uint64_t tag) {
  if (!usable()) {
    return false;
  }
  if (state_ == State::kDown) {
    connect();
    if (state_ != State::kConnecting) {
      return false;
    }
  }
  char burst_text[24];
  char want_text[24];
  const auto b = std::to_chars(burst_text, burst_text + sizeof burst_text, burst);
  const auto w = std::to_chars(want_text, want_text + sizeof want_text, want);
  const resp::Arg args[] = {
      {{"EVALSHA"}},
      {{sha_}},
      {{"1"}},
      {{config_.key_prefix, policy, ":", key}},
      {{interval_us}},
      {{std::string_view(burst_text, static_cast<size_t>(b.ptr - burst_text))}},
      {{std::string_view(want_text, static_cast<size_t>(w.ptr - want_text))}},
  };
  resp::append_command(queued_, args, std::size(args));
  push(handler, tag, false);
  stats_.calls.fetch_add(1, std::memory_order_relaxed);
  if (state_ == State::kUp) {
    send_more();
  }
  return true;
}

void RedisLink::push(LeaseHandler* handler, uint64_t tag, bool setup) {
  Pending& p = ring_[(head_ + count_) % kRingSize];
  p.handler = handler;
  p.tag = tag;
  p.setup = setup;
  p.deadline_ms = now_ms_ + static_cast<uint64_t>(config_.timeout.count());
  ++count_;
  if (!armed()) {
    arm_deadline();
  }
}

void RedisLink::connect() {
  fd_ = open_stream_socket(address_.family());
  if (fd_ < 0) {
    fd_ = -1;
    retry_at_ms_ = now_ms_ + static_cast<uint64_t>(config_.retry.count());
    return;
  }
  state_ = State::kConnecting;
  in_len_ = 0;
  sent_ = 0;
  sending_.clear();
  queued_.clear();
  queue_setup();
  ++inflight_;
  reactor_.submit_connect(fd_, address_.get(), address_.length, this, kOpConnect);
}

void RedisLink::queue_setup() {
  if (!config_.password.empty()) {
    const resp::Arg auth[] = {{{"AUTH"}}, {{config_.password}}};
    resp::append_command(queued_, auth, std::size(auth));
    push(nullptr, 0, true);
  }
  if (config_.database != 0) {
    char db[12];
    const auto d = std::to_chars(db, db + sizeof db, config_.database);
    const resp::Arg select[] = {{{"SELECT"}},
                                {{std::string_view(db, static_cast<size_t>(d.ptr - db))}}};
    resp::append_command(queued_, select, std::size(select));
    push(nullptr, 0, true);
  }
  // Loaded on every connection: a restarted Redis has an empty script cache.
  const resp::Arg load[] = {{{"SCRIPT"}}, {{"LOAD"}}, {{kRedisLeaseScript}}};
  resp::append_command(queued_, load, std::size(load));
  push(nullptr, 0, true);
}

void RedisLink::send_more() {
  if (send_inflight_ || queued_.empty() || fd_ < 0) {
    return;
  }
  sending_.swap(queued_);
  queued_.clear();
  sent_ = 0;
  send_inflight_ = true;
  ++inflight_;
  reactor_.submit_send(fd_, sending_.data(), sending_.size(), this, kOpSend);
}

void RedisLink::complete(unsigned op, int res, uint32_t) {
  --inflight_;
  if (op == kOpSend) {
    send_inflight_ = false;
  } else if (op == kOpRecv) {
    recv_armed_ = false;
  }
  if (state_ != State::kConnecting && state_ != State::kUp) {
    // Failed or stopped: the socket closes once nothing is in flight.
    if (inflight_ == 0) {
      close_socket();
    }
    return;
  }
  if (res < 0) {
    fail();  // refused connect, reset
    return;
  }
  switch (op) {
    case kOpConnect:
      state_ = State::kUp;
      send_more();
      recv_armed_ = true;
      ++inflight_;
      reactor_.submit_recv(fd_, in_.data(), in_.size(), this, kOpRecv);
      break;
    case kOpSend:
      sent_ += static_cast<size_t>(res);
      if (sent_ < sending_.size()) {
        send_inflight_ = true;
        ++inflight_;
        reactor_.submit_send(fd_, sending_.data() + sent_, sending_.size() - sent_, this, kOpSend);
      } else {
        send_more();
      }
      break;
    case kOpRecv:
      if (res == 0) {
        fail();  // closed by the server
        return;
      }
      in_len_ += static_cast<size_t>(res);
      on_replies();
      if (state_ == State::kUp && !recv_armed_) {
        if (in_len_ == in_.size()) {
          fail();  // a reply larger than the receive buffer
          return;
        }
        recv_armed_ = true;
        ++inflight_;
        reactor_.submit_recv(fd_, in_.data() + in_len_, in_.size() - in_len_, this, kOpRecv);
      }
      break;
    default:
      break;
  }
}

void RedisLink::on_replies() {
  size_t at = 0;
  while (at < in_len_) {
    resp::Reply reply;
    size_t used = 0;
    const resp::Parse p = resp::parse_reply(in_.data() + at, in_len_ - at, reply, &used);
    if (p == resp::Parse::kNeedMore) {
      break;
    }
    if (p == resp::Parse::kBad || count_ == 0) {
      fail();  // not RESP, or a reply nobody asked for
      return;
    }
    at += used;
    const Pending call = ring_[head_];
    head_ = (head_ + 1) % kRingSize;
    --count_;
    if (call.setup) {
      if (reply.type == resp::Reply::Type::kError) {
        fail();  // AUTH, SELECT or SCRIPT LOAD refused
        return;
      }
      if (count_ == 0 || !ring_[head_].setup) {
        stats_.connects.fetch_add(1, std::memory_order_relaxed);  // the last set-up reply
        stats_.up.store(true, std::memory_order_relaxed);
      }
      continue;
    }
    const bool ok = reply.type == resp::Reply::Type::kArray && reply.int_count >= 2;
    if (!ok) {
      stats_.failures.fetch_add(1, std::memory_order_relaxed);
    }
    if (call.handler) {
      call.handler->lease_answer(call.tag, ok, ok ? reply.ints[0] : 0, ok ? reply.ints[1] : 0);
    }
    if (state_ != State::kUp) {
      return;  // a handler stopped us, or an error reply below failed the link
    }
    if (!ok && reply.type == resp::Reply::Type::kError) {
      // Errors that last: the script cache was flushed (the reconnect loads it again), or this
      // server cannot take writes now (a replica after a failover, loading, a busy script). The
      // link goes down for redis.retry instead of every request waiting for the same error.
      static const std::string_view kLasting[] = {"NOSCRIPT", "READONLY", "LOADING", "MASTERDOWN",
                                                  "BUSY"};
      for (std::string_view code : kLasting) {
        if (reply.text.substr(0, code.size()) == code) {
          fail();
          return;
        }
      }
    }
  }
  if (at > 0) {
    std::memmove(in_.data(), in_.data() + at, in_len_ - at);
    in_len_ -= at;
  }
  if (count_ == 0) {
    timers_.disarm(*this);
  } else {
    arm_deadline();
  }
}

void RedisLink::fail() {
  const bool stopping = state_ == State::kStopped;
  stats_.up.store(false, std::memory_order_relaxed);
  if (!stopping) {
    state_ = State::kDown;
    retry_at_ms_ = now_ms_ + static_cast<uint64_t>(config_.retry.count());
  }
  timers_.disarm(*this);
  if (fd_ >= 0) {
    if (inflight_ > 0) {
      reactor_.submit_cancel(this, kOpConnect);
      reactor_.submit_cancel(this, kOpSend);
      reactor_.submit_cancel(this, kOpRecv);
    } else {
      close_socket();
    }
  }
  queued_.clear();
  // Handlers may call lease() again: they find the link down and decide at once.
  while (count_ > 0) {
    const Pending call = ring_[head_];
    head_ = (head_ + 1) % kRingSize;
    --count_;
    if (!call.setup) {
      stats_.failures.fetch_add(1, std::memory_order_relaxed);
    }
    if (call.handler) {
      call.handler->lease_answer(call.tag, false, 0, 0);
    }
  }
}

void RedisLink::close_socket() {
  if (fd_ >= 0) {
    reactor_.submit_close(fd_);
    fd_ = -1;
  }
}

void RedisLink::stop() {
  if (state_ == State::kStopped) {
    return;
  }
  state_ = State::kStopped;
  fail();
}

void RedisLink::arm_deadline() {
  if (count_ > 0) {
    timers_.arm(*this, ring_[head_].deadline_ms);
  }
}

void RedisLink::on_timer(Timer* t) {
  auto* self = static_cast<RedisLink*>(t);
  if (self->count_ > 0 && self->ring_[self->head_].deadline_ms <= self->now_ms_) {
    self->fail();  // timed out
  } else {
    self->arm_deadline();
  }
}

}  // namespace ringgate
