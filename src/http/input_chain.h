#pragma once
// Received bytes held until they are used: buffer-ring ids in arrival order, linked through the
// shard's chain table (Worker::chain_next/chain_len), and how much of the first buffer is used
// up. Client connections and upstream connections hold their input this way.

#include <cstddef>
#include <cstdint>

namespace ringgate {

class Worker;

class InputChain {
 public:
  static constexpr uint16_t kNone = 0xffff;

  uint16_t count() const { return count_; }
  bool empty() const { return count_ == 0; }

  // Appends a received buffer of `len` bytes.
  void push(Worker& w, uint16_t bid, uint32_t len);
  // The unused bytes of the first buffer (count() > 0).
  const char* front(Worker& w, size_t& len) const;
  // `n` more bytes of the first buffer are used.
  void consume(size_t n) { off_ += static_cast<uint32_t>(n); }
  // The first buffer is used up (callers may keep it a little longer: see Connection).
  bool front_used(Worker& w) const;
  // Recycles the first buffer.
  void pop(Worker& w);
  // Recycles every buffer.
  void release(Worker& w);

 private:
  uint32_t off_ = 0;  // bytes of the first buffer already used
  uint16_t head_ = kNone;
  uint16_t tail_ = kNone;
  uint16_t count_ = 0;
};

}  // namespace ringgate
