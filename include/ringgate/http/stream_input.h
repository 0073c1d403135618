#pragma once
// Input for a connection object that reads from an HTTP/2 stream instead of a socket (a client's
// request stream, h2_connection.h; an upstream's response stream, h2_upstream.h): bytes queued
// here are handed to its TransportHandler in the reactor's receive buffers, as a socket's would
// be, while it receives; the stream's DATA bytes are given back to the peer's flow-control window
// only once they are delivered and little is left held, so a slow reader holds the peer back.

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
  size_t held() const { return in_.size() - off_; }
  // Drops what is held (the stream is gone): its window is still owed.
  void clear() {
    in_.clear();
    off_ = 0;
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
  std::string in_;
  size_t off_ = 0;
  size_t owed_ = 0;
};

}  // namespace ringgate
