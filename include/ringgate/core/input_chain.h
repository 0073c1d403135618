#pragma once
// Received bytes held until they are used: buffer-ring ids in arrival order, linked through the
// shard's chain table (BufferChains), and how much of the first buffer is used up. Client
// connections and upstream connections hold their input this way: a connection stores only the
// ends of its chain, not a buffer of its own.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringgate/core/reactor.h"

namespace ringgate {

// Per shard: for each buffer of the reactor's ring, the next buffer of the chain it is in and how
// many bytes it holds.
class BufferChains {
 public:
  BufferChains(Reactor& reactor, uint32_t buffers)
      : reactor_(reactor), next_(buffers, 0xffff), len_(buffers, 0) {}

  Reactor& reactor() { return reactor_; }
  uint16_t& next(uint16_t bid) { return next_[bid]; }
  uint32_t& len(uint16_t bid) { return len_[bid]; }

 private:
  Reactor& reactor_;
  std::vector<uint16_t> next_;
  std::vector<uint32_t> len_;
};

class InputChain {
 public:
  static constexpr uint16_t kNone = 0xffff;

  uint16_t count() const { return count_; }
  bool empty() const { return count_ == 0; }

  // Appends a received buffer of `len` bytes.
  void push(BufferChains& chains, uint16_t bid, uint32_t len);
  // The unused bytes of the first buffer (count() > 0).
  const char* front(BufferChains& chains, size_t& len) const;
  uint16_t front_bid() const { return head_; }
  // `n` more bytes of the first buffer are used.
  void consume(size_t n) { off_ += static_cast<uint32_t>(n); }
  // The first buffer is used up (callers may keep it a little longer: see Connection).
  bool front_used(BufferChains& chains) const;
  // Recycles the first buffer.
  void pop(BufferChains& chains);
  // Recycles every buffer.
  void release(BufferChains& chains);

 private:
  uint32_t off_ = 0;  // bytes of the first buffer already used
  uint16_t head_ = kNone;
  uint16_t tail_ = kNone;
  uint16_t count_ = 0;
};

inline void InputChain::push(BufferChains& chains, uint16_t bid, uint32_t len) {
  chains.next(bid) = kNone;
  chains.len(bid) = len;
  if (tail_ == kNone) {
    head_ = tail_ = bid;
    off_ = 0;
  } else {
    chains.next(tail_) = bid;
    tail_ = bid;
  }
  ++count_;
}

inline const char* InputChain::front(BufferChains& chains, size_t& len) const {
  len = chains.len(head_) - off_;
  return chains.reactor().buffer(head_) + off_;
}

inline bool InputChain::front_used(BufferChains& chains) const {
  return off_ >= chains.len(head_);
}

inline void InputChain::pop(BufferChains& chains) {
  const uint16_t bid = head_;
  head_ = chains.next(bid);
  if (head_ == kNone) {
    tail_ = kNone;
  }
  --count_;
  off_ = 0;
  chains.reactor().recycle(bid);
}

inline void InputChain::release(BufferChains& chains) {
  while (head_ != kNone) {
    pop(chains);
  }
}

// Connections that found the buffer ring empty (retired ones nulled out) receive again once a
// buffer is free: each gets resume_receive().
template <typename Conn>
void resume_starved(Reactor& reactor, std::vector<Conn*>& starved) {
  if (starved.empty() || reactor.buffers_out() >= reactor.buffer_count()) {
    return;
  }
  std::vector<Conn*> now;
  now.swap(starved);
  for (Conn* c : now) {
    if (c) {
      c->resume_receive();
    }
  }
}

}  // namespace ringgate
