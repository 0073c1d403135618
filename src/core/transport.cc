#include "ringgate/core/transport.h"

#include <cerrno>

namespace ringgate {

void PlainTransport::start_input() {
  if (recv_armed_ || closed_) {
    return;
  }
  reactor_.submit_recv_multishot(fd_, this, kOpRecv);
  recv_armed_ = true;
}

void PlainTransport::pause_input() {
  if (recv_armed_ && !recv_cancelling_) {
    reactor_.submit_cancel(this, kOpRecv);
    recv_cancelling_ = true;
  }
}

void PlainTransport::send(iovec* iov, int count, msghdr* msg) {
  send_inflight_ = true;
  if (count == 1) {
    reactor_.submit_send(fd_, iov->iov_base, iov->iov_len, this, kOpSend);
    return;
  }
  *msg = msghdr{};
  msg->msg_iov = iov;
  msg->msg_iovlen = static_cast<size_t>(count);
  reactor_.submit_sendmsg(fd_, msg, this, kOpSend);
}

void PlainTransport::shutdown_write() {
  // Tracked like any other operation: io_uring may run SHUTDOWN later in a worker thread that
  // looks the fd number up then. Closing first would let accept reuse the number, and the stale
  // shutdown would cut the new connection.
  reactor_.submit_shutdown(fd_, SHUT_WR, this, kOpShutdown);
  shutdown_inflight_ = true;
}

void PlainTransport::close() {
  closed_ = true;
  if (recv_armed_) {
    reactor_.submit_cancel(this, kOpRecv);
  }
  if (send_inflight_) {
    // A client that stopped reading leaves the send waiting for buffer space forever.
    reactor_.submit_cancel(this, kOpSend);
  }
  if (quiet()) {
    handler_.on_quiet();
  }
}

void PlainTransport::complete(unsigned op, int res, uint32_t flags) {
  switch (op) {
    case kOpRecv:
      on_recv(res, flags);
      break;
    case kOpSend:
      send_inflight_ = false;
      if (!closed_) {
        handler_.on_sent(res);
      }
      break;
    case kOpShutdown:
      shutdown_inflight_ = false;
      break;
    default:
      break;
  }
  if (closed_ && quiet()) {
    handler_.on_quiet();
  }
}

void PlainTransport::on_recv(int res, uint32_t flags) {
  if (!cqe_more(flags)) {
    recv_armed_ = false;
    recv_cancelling_ = false;
  }
  if (res > 0 && cqe_has_buffer(flags)) {
    reactor_.note_buffer_taken();
    const uint16_t bid = cqe_buffer_id(flags);
    if (closed_) {
      reactor_.recycle(bid);
    } else {
      handler_.on_input(bid, static_cast<uint32_t>(res));
    }
  } else if (res == -ENOBUFS) {
    // The ring ran dry: the data stays in the socket.
    if (!closed_) {
      handler_.on_input_starved();
    }
  } else if (res != -ECANCELED && !closed_) {
    handler_.on_input_end(res);  // 0: EOF
  }
  if (!closed_) {
    handler_.after_input();
  }
}

}  // namespace ringgate
