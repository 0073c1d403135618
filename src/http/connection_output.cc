// A client connection's output (OutBuffer, out_buffer.h): bytes written in place or copied into
// its block, references to bytes that stay where they are (static text, a pooled body, a
// proxied body in the upstream's receive buffer, on loan until sent), sent with one send.

#include <sys/uio.h>

#include <cstring>

#include "connection.h"
#include "out_buffer.h"
#include "ringgate/http/http_shard.h"

namespace ringgate {

char* Connection::out_space(size_t& avail) {
  if (!out_) {
    out_ = http_.acquire_out();
  }
  OutBuffer& o = *out_;
  if (o.owned || o.iov_count + 2 > OutBuffer::kMaxIov) {
    avail = 0;
    return nullptr;
  }
  avail = out_block_capacity() - o.used;
  return o.data + o.used;
}

void Connection::out_commit(size_t n) {
  if (n == 0) {
    return;
  }
  OutBuffer& o = *out_;
  char* dst = o.data + o.used;
  o.used += static_cast<uint32_t>(n);
  count_out(n);
  add_block_bytes(dst, n);
}

void Connection::add_block_bytes(char* dst, size_t n) {
  // Extend the last iovec when it ends right here and is not part of a send in flight.
  OutBuffer& o = *out_;
  if (o.iov_count > o.inflight_end && o.iov_count > 0) {
    iovec& last = o.iov[o.iov_count - 1];
    if (static_cast<char*>(last.iov_base) + last.iov_len == dst) {
      last.iov_len += n;
      return;
    }
  }
  o.iov[o.iov_count++] = iovec{dst, n};
}

bool Connection::out_lend(std::string_view data, uint16_t bid) {
  if (!out_) {
    out_ = http_.acquire_out();
  }
  OutBuffer& o = *out_;
  Reactor& reactor = http_.reactor();
  const char* buffer = reactor.buffer(bid);
  if (o.owned || o.iov_count + 2 > OutBuffer::kMaxIov || o.lent_count == OutBuffer::kMaxLent ||
      data.data() < buffer || data.data() + data.size() > buffer + reactor.buffer_size()) {
    return false;  // (the bytes must lie in that buffer: else they are copied)
  }
  if (reactor.buffers_out() > reactor.buffer_count() / 2) {
    return false;  // the ring runs low: loans would keep buffers from it, a copy does not
  }
  reactor.lend(bid);
  o.lent[o.lent_count++] = bid;
  o.iov[o.iov_count++] = iovec{const_cast<char*>(data.data()), data.size()};
  count_out(data.size());
  bump(counters().bytes_lent, data.size());
  return true;
}

bool Connection::out_pending() const {
  return out_ && out_->pending_bytes() > 0;
}

void Connection::out_discard() {
  if (!out_ || io_->sending()) {
    return;
  }
  if (x_) {
    // Never sent: not part of what the exchange answered.
    x_->log.bytes_out -= std::min<uint64_t>(x_->log.bytes_out, out_->pending_bytes());
  }
  http_.release_out(out_);
  out_ = nullptr;
}

void Connection::out_flush() {
  if (!io_->sending()) {
    flush();
  }
}

void Connection::append_copy(std::string_view bytes) {
  append_copies({bytes});
}

void Connection::append_copies(std::initializer_list<std::string_view> pieces) {
  char* dst = nullptr;
  char* at = nullptr;
  for (const std::string_view piece : pieces) {
    if (piece.empty()) {
      continue;  // an empty view may have no data pointer
    }
    if (dst == nullptr) {
      // Taken at the first byte: nothing to copy takes no output block and adds no iovec.
      if (!out_) {
        out_ = http_.acquire_out();
      }
      dst = at = out_->data + out_->used;
    }
    std::memcpy(at, piece.data(), piece.size());
    at += piece.size();
  }
  if (dst == nullptr) {
    return;
  }
  const size_t n = static_cast<size_t>(at - dst);
  out_->used += static_cast<uint32_t>(n);
  count_out(n);
  add_block_bytes(dst, n);
}

void Connection::append_ref(const char* data, size_t len) {
  if (!out_) {
    out_ = http_.acquire_out();
  }
  out_->iov[out_->iov_count++] = iovec{const_cast<char*>(data), len};
  count_out(len);
}

}  // namespace ringgate
