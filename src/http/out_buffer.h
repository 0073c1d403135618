#pragma once
// A client connection's output: copies of small pieces plus references to static bytes, sent with
// one send/sendmsg. Lives in a pooled block and only while there is output.

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "ringgate/core/out_hold.h"

namespace ringgate {

struct OutBuffer {
  static constexpr int kMaxIov = 64;
  static constexpr int kMaxLent = 16;
  static constexpr int kMaxHolds = 8;
  msghdr msg;
  std::string* owned;  // a body owned by this buffer (HttpShard::acquire_body), released on reset
  // Receive buffers whose bytes iovecs point into (Connection::out_lend): on loan until this
  // buffer is released (all of it sent, or its connection gone quiet).
  uint16_t lent[kMaxLent];
  uint8_t lent_count;
  // Memory iovecs point into that stays alive until this buffer is released (cached responses:
  // a reference each).
  const OutHold* holds[kMaxHolds];
  uint8_t hold_count;
  uint32_t used;  // bytes of data[] in use
  uint16_t iov_count;
  uint16_t iov_sent;      // first iovec not yet fully sent
  uint16_t inflight_end;  // iovecs [iov_sent, inflight_end) are in a send now
  iovec iov[kMaxIov];
  char data[1];

  void reset() {
    used = 0;
    iov_count = iov_sent = inflight_end = 0;
    owned = nullptr;
    lent_count = 0;
    hold_count = 0;
  }
  size_t pending_bytes() const;
};

constexpr size_t kOutBlockSize = 16 * 1024;

// Bytes of data[] in a block.
inline size_t out_block_capacity() {
  return kOutBlockSize - offsetof(OutBuffer, data);
}

}  // namespace ringgate
