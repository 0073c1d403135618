#pragma once
// The transport of a connection object that sits on an HTTP/2 stream instead of a socket (a
// client's request stream, h2_connection.h; a call on an upstream connection, h2_upstream.h).
//
// StreamInput: bytes queued for it are handed to its TransportHandler in the reactor's receive
// buffers, as a socket's would be, while it receives; the stream's DATA bytes are given back to
// the peer's flow-control window only once they are delivered and little is left held, so a slow
// reader holds the peer back.
//
// StreamTransport: what both streams do as a Transport: what the connection sends is parsed
// (HTTP/1.1) by the stream as it comes, and the send completes once little of it waits to be
// framed, so a slow peer holds the connection's writer back; closing detaches the stream, and
// nothing of a stream is ever in flight.

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "ringgate/core/reactor.h"
#include "ringgate/core/transport.h"

namespace ringgate {

class StreamInput {
 public:
  // Bytes the stream made up (a head, chunk framing): not flow-controlled.
  void queue(std::string_view bytes) { in_.append(bytes); }
  // DATA payload: given back to the window once delivered (release_window).
  void queue_data(std::string_view bytes) {
    in_.append(bytes);
    owed_ += bytes.size();
  }
  // DATA payload the stream consumed without queueing (an empty frame's padding, say).
  void owe(size_t n) { owed_ += n; }
  bool pending() const { return off_ < in_.size(); }
  bool owes() const { return owed_ > 0; }
  size_t held() const { return in_.size() - off_; }
  // Drops what is held (the stream is gone): its window is still owed.
  void clear() {
    in_.clear();
    off_ = 0;
  }
  // Empty for another stream (a recycled one): the buffer's capacity is kept unless large.
  void reset() {
    if (in_.capacity() > kKeptCapacity) {
      std::string().swap(in_);
    }
    clear();
    owed_ = 0;
  }

  // Hands what is queued to `h`, one taken receive buffer at a time, while `attached()` (the
  // handler has not closed the stream) and not `paused`; when no buffer is free, `starved` is
  // set and h told (it starts input again once buffers are back). after_input() follows when
  // anything went. True when anything went.
  template <typename Attached>
  bool deliver(Reactor& reactor, TransportHandler& h, const bool& paused, bool& starved,
               Attached attached) {
    bool delivered = false;
    while (off_ < in_.size() && !paused && attached()) {
      uint16_t bid = 0;
      if (!reactor.take_buffer(bid)) {
        starved = true;
        h.on_input_starved();
        break;
      }
      const size_t n = std::min<size_t>(reactor.buffer_size(), in_.size() - off_);
      memcpy(reactor.buffer(bid), in_.data() + off_, n);
      off_ += n;
      delivered = true;
      h.on_input(bid, static_cast<uint32_t>(n));
    }
    if (off_ == in_.size()) {
      clear();
    }
    if (delivered && attached()) {
      h.after_input();
    }
    return delivered;
  }

  // The DATA bytes to give back now: all owed, once no more than `bound` is held; else 0.
  size_t release_window(size_t bound) {
    if (owed_ == 0 || in_.size() - off_ >= bound) {
      return 0;
    }
    const size_t n = owed_;
    owed_ = 0;
    return n;
  }
  // Everything owed, whatever is held (the stream is going).
  size_t take_owed() {
    const size_t n = owed_;
    owed_ = 0;
    return n;
  }

 private:
  static constexpr size_t kKeptCapacity = 4096;
  std::string in_;
  size_t off_ = 0;
  size_t owed_ = 0;
};

class StreamTransport : public Transport {
 public:
  // Request or response bytes a stream may hold undelivered before the peer's window stops
  // coming back (the window then bounds what more can come).
  static constexpr size_t kInputBound = 64 * 1024;
  // A send completes once no more than this of what it carried waits to be framed.
  static constexpr size_t kOutputBound = 16 * 1024;

  // The stream is still its connection's (not closed).
  virtual bool attached() const = 0;

  // The shard's (CompanionPool): where the connection object on this stream is built. Stream
  // objects outlive their streams and are opened again for the next.
  void* companion_memory = nullptr;

  // Transport
  void pause_input() final { paused_ = true; }
  void send(iovec* iov, int count, msghdr* /*msg*/) final {
    if (!attached()) {
      return;
    }
    size_t total = 0;
    for (int i = 0; i < count; ++i) {
      translate(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      total += iov[i].iov_len;
    }
    send_bytes_ = static_cast<int>(total);
    send_pending_ = true;
    schedule();
  }
  bool sending() const final { return send_pending_; }
  void close() final {
    detach();
    if (!lingering_) {
      end_linger();
    }
  }
  // Nothing of a stream is in flight, unless detach() found that what its connection sent is
  // still borrowed by the socket's send (lingering: end_linger() follows once that is over).
  bool quiet() const final { return !lingering_; }
  // Its connection hears on_quiet() (once closed).
  void end_linger() {
    lingering_ = false;
    if (handler_) {
      TransportHandler* h = handler_;
      handler_ = nullptr;
      h->on_quiet();
    }
  }

 protected:
  explicit StreamTransport(bool paused) : paused_(paused) {}
  // A new stream's state, for an object used again.
  void reset_transport(bool paused) {
    handler_ = nullptr;
    in_.reset();
    send_bytes_ = 0;
    send_pending_ = false;
    paused_ = paused;
    starved_ = false;
    lingering_ = false;
  }

  // The bytes the connection sends, in order (a stream parses them as they come).
  virtual void translate(const char* data, size_t len) = 0;
  // The stream's connection runs its pump soon (after the current callback).
  virtual void schedule() = 0;
  // Off its connection: what it owes the peer is settled; attached() is false from here.
  virtual void detach() = 0;

  // Hands queued input to the handler (unless `hold`) and then gives the delivered DATA back
  // through `consume(n)`; sets `did` when anything moved. False when the handler closed the
  // stream meanwhile (nothing more is to be done with it).
  template <typename Consume>
  bool deliver_input(Reactor& reactor, bool hold, bool& did, Consume consume) {
    if (!hold && !starved_) {
      did =
          in_.deliver(reactor, *handler_, paused_, starved_, [this] { return attached(); }) || did;
    }
    if (!attached()) {
      return false;
    }
    if (const size_t n = in_.release_window(kInputBound); n > 0) {
      consume(n);
      did = true;
    }
    return true;
  }
  // The send in flight completes once `unframed` (what waits of it) is small; true when it did.
  bool complete_send(size_t unframed) {
    if (!send_pending_ || unframed > kOutputBound) {
      return false;
    }
    send_pending_ = false;
    handler_->on_sent(send_bytes_);
    return true;
  }

  TransportHandler* handler_ = nullptr;  // the connection on this stream
  StreamInput in_;
  int send_bytes_ = 0;
  bool send_pending_ = false;
  bool paused_;
  bool starved_ = false;
  bool lingering_ = false;
};

}  // namespace ringgate
