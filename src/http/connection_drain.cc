// A client connection's end when the shard drains (SIGTERM, a reload): an idle one goes to the
// gateway that took the listening sockets over, when there is one and it can take it (its TLS
// session too, in the same process), or gets server.drain_grace for a request already on the
// wire; a busy one finishes its response with Connection: close.

#include "connection.h"
#include "h2_connection.h"
#include "ringgate/http/http_shard.h"

namespace ringgate {

void Connection::begin_drain() {
  if (state_ != State::kOpen) {
    return;
  }
  if (h2_) {
    h2_->begin_drain();  // GOAWAY: the streams open finish, no new ones start
    return;
  }
  if (!in_message() && !x_ && !out_pending() && in_.empty()) {
    if (!local() && http_.successor() && (!tls_ || http_.successor()->takes_tls())) {
      // A successor serves the same listening sockets (a reload): the connection goes to it
      // once the receive is cancelled, and its next request is answered there, on the new
      // config, without a reconnect. A TLS session goes along to a successor in this process
      // (it cannot move to another one).
      handing_over_ = true;
      io_->pause_input();
      if (io_->quiet()) {
        finish_handover();
      }
      return;
    }
    start_drain_grace();
  }
  // Otherwise the response in progress goes out with Connection: close (draining() is checked).
}

void Connection::start_drain_grace() {
  // A request may be on the wire already: it is still answered, with Connection: close, if it
  // arrives within server.drain_grace; then the connection closes.
  const Duration grace = http_.config().server.drain_grace;
  if (grace.count() == 0 || local()) {
    close_now();
  } else {
    arm_deadline(Deadline::kDrainGrace, static_cast<uint64_t>(grace.count()));
  }
}

void Connection::finish_handover() {
  handing_over_ = false;
  std::unique_ptr<TlsSession> session;
  if (tls_) {
    session = tls_->release_session();  // null while anything is held or in flight
  }
  const bool session_out = session != nullptr;
  if ((!tls_ || session_out) && http_.hand_over(io_->fd(), std::move(session))) {
    close_now();  // this gateway's descriptor only
    return;
  }
  if (session_out) {
    close_now();  // the session went with a hand-over that failed: nothing can speak TLS here
    return;
  }
  // The successor is gone: the drain goes on as without one.
  after_input();
  start_drain_grace();
}

}  // namespace ringgate
