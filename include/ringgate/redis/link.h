#pragma once
// The shard's connection to the Redis server of `backend: redis` rate limits.
//
// One TCP connection per shard, driven by the shard's reactor like any other socket: commands are
// pipelined (RESP2), replies come back in order and are matched to a fixed ring of pending calls.
// The only call on the request path is a token lease: one EVALSHA of a small Lua script doing
// GCRA on the server's clock, so Redis sees one call per batch of tokens, whatever the number of
// gateway nodes. A call that is not answered within `redis.timeout`, a refused connect, an error
// reply or a closed connection fail every pending call (their callers apply the policy's
// on_error) and keep the link down for `redis.retry` before the next connect.

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/net/address.h"
#include "ringgate/redis/resp.h"

namespace ringgate {

// The Lua script of a lease: KEYS[1] the bucket, ARGV interval (µs per token, may be
// fractional), burst, want. want > 0 takes up to `want` tokens: {granted, 0}, or {0, µs until the
// next token} when the bucket is empty. want < 0 gives -want unused tokens back: {0, 0}. The key
// expires when its bucket is full again, so Redis holds only keys in use.
extern const char* const kRedisLeaseScript;

class RedisLink final : public Completion, public Timer, public LeaseBackend {
 public:
  // Read by /metrics on another thread.
  struct Stats {
    std::atomic<uint64_t> calls{0};     // lease calls sent (give-backs included)
    std::atomic<uint64_t> failures{0};  // calls that got no answer
    std::atomic<uint64_t> connects{0};  // connections made (the set-up answered)
    std::atomic<bool> up{false};        // connected and set up
  };

  // `now_ms` is the shard's clock (read at each call).
  RedisLink(Reactor& reactor, TimerWheel& timers, const RedisConfig& config,
            const uint64_t& now_ms);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Connects now (at shard start), so the first requests do not wait for the connect.
  void start();
  // Whether a call now would be sent (up, connecting, or the retry pause is over).
  bool usable() const override;
  // Queues a lease of `want` tokens (negative: a give-back) of bucket PREFIX+policy:key.
  // `handler` (null for give-backs) is called later with `tag`, never from inside this call.
  // False when not usable or too many calls are pending: the caller decides now.
  // The handler's answer (ok false: down, timeout, error reply) comes later.
  bool lease(std::string_view policy, std::string_view key, std::string_view interval_us,
             uint64_t burst, int64_t want, LeaseHandler* handler, uint64_t tag) override;
  // Shutting down: pending calls fail, the connection closes.
  void stop();
  // No operation in flight and no socket open.
  bool idle() const { return fd_ < 0; }
  const Stats& stats() const { return stats_; }

  void complete(unsigned op, int res, uint32_t flags) override;

 private:
  enum Op : unsigned { kOpConnect = 1, kOpSend = 2, kOpRecv = 3 };
  enum class State : uint8_t { kDown, kConnecting, kUp, kStopped };
  struct Pending {
    LeaseHandler* handler = nullptr;  // null: set-up command or give-back
    uint64_t tag = 0;
    uint64_t deadline_ms = 0;
    bool setup = false;  // AUTH, SELECT, SCRIPT LOAD: an error reply fails the link
  };

  void connect();
  void queue_setup();
  void push(LeaseHandler* handler, uint64_t tag, bool setup);
  void send_more();
  void on_replies();
  // Every pending call fails; the link goes down for redis.retry (or stays stopped).
  void fail();
  void close_socket();
  void arm_deadline();
  static void on_timer(Timer* t);

  Reactor& reactor_;
  TimerWheel& timers_;
  const RedisConfig& config_;
  const uint64_t& now_ms_;
  SocketAddress address_;
  std::string sha_;  // of kRedisLeaseScript, hex
  State state_ = State::kDown;
  uint64_t retry_at_ms_ = 0;
  int fd_ = -1;
  unsigned inflight_ = 0;  // operations in flight on fd_
  bool recv_armed_ = false;
  bool send_inflight_ = false;
  std::string sending_;  // the bytes of the send in flight
  size_t sent_ = 0;      // of sending_
  std::string queued_;   // commands written since, sent when the send in flight completes
  std::vector<char> in_;
  size_t in_len_ = 0;
  std::vector<Pending> ring_;  // pending calls in send order
  size_t head_ = 0;
  size_t count_ = 0;
  Stats stats_;
};

}  // namespace ringgate
