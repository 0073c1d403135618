#pragma once
// The HTTP/2 server side of one connection (RFC 9113) over nghttp2, with no I/O of its own: bytes
// from the client go in (feed), requests come out to the handler one stream at a time, responses
// go in (respond), and the frames to send come out (output) — as TlsSession does for TLS, so the
// transport moves the bytes and a unit test or a fuzzer can drive it directly.
//
// Limits (server.http2): concurrent streams, the initial flow-control window, the header list
// size (a request over it is answered 431 on its stream), and floods: the library's own
// rapid-reset limiter where it has one (detected by symbol), and ours on top of it: resets,
// protocol errors, SETTINGS and PINGs the client sends are counted per second, and over the
// budget the connection ends with GOAWAY ENHANCE_YOUR_CALM. Acknowledgements queued and
// CONTINUATION frames are also bounded by the library's options.

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringgate/config/config.h"

struct nghttp2_session;

namespace ringgate {

class Nghttp2Pool;

struct H2Limits {
  uint32_t max_concurrent_streams = 100;
  uint32_t initial_window = 64 * 1024;
  uint32_t max_header_list = 16 * 1024;  // bytes of names and values (+32 each, as HPACK counts)
  // Stream resets and protocol errors the client may cause per second before GOAWAY.
  uint32_t max_resets_per_second = 200;

  // As server.http2 says (its max_header_list resolved by the loader).
  static H2Limits from(const Http2Config& c) {
    return {c.max_concurrent_streams, c.initial_window, c.max_header_list, c.max_resets_per_second};
  }
};

// A request's head, as the handler sees it: views into the session's copy, valid until the
// stream closes.
struct H2Request {
  int32_t stream_id = 0;
  std::string_view method;
  std::string_view scheme;
  std::string_view authority;
  std::string_view path;
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // lower-case names
  bool end_stream = false;                                             // no body follows
};

class H2Handler {
 public:
  // A request head is complete (a stream the handler answers with H2Session::respond).
  virtual void on_request(const H2Request& request) = 0;
  // Body bytes of a request (`last`: the end of its body; `data` may then be empty).
  virtual void on_body(int32_t stream_id, std::string_view data, bool last) = 0;
  // The stream is over (answered, reset by either side, or the connection ended): 0 or the
  // HTTP/2 error code.
  virtual void on_stream_closed(int32_t stream_id, uint32_t error_code) = 0;

 protected:
  ~H2Handler() = default;
};

// What a connection's session counted, for the shard's metrics.
struct H2Counts {
  uint64_t streams = 0;          // requests received
  uint64_t resets_received = 0;  // RST_STREAM frames from the client
  uint64_t header_list_too_large = 0;
  uint64_t goaways_calm = 0;  // connections ended with ENHANCE_YOUR_CALM
};

// Header fields of a response or trailers: lower-case names, no pseudo-headers.
using H2Fields = std::vector<std::pair<std::string_view, std::string_view>>;

// Frames ready for the socket, in order: bytes of the session's own and, for DATA whose body the
// session borrowed (append_body_ref), pieces that point into the borrowed memory. Without
// borrowed bytes `pieces` is empty and `bytes` is the whole of it.
struct H2Output {
  struct Piece {
    const char* borrowed;  // null: bytes[off, off + len)
    size_t off;
    size_t len;
  };
  std::string bytes;
  std::vector<Piece> pieces;

  size_t size() const { return pieces.empty() ? bytes.size() : size_; }
  bool empty() const { return size() == 0; }
  bool borrows() const { return !pieces.empty(); }
  void clear() {
    bytes.clear();
    pieces.clear();
    size_ = 0;
  }
  void swap(H2Output& other) {
    bytes.swap(other.bytes);
    pieces.swap(other.pieces);
    std::swap(size_, other.size_);
  }
  void append(const char* data, size_t len);
  void append_borrowed(const char* data, size_t len);
  // Copies the borrowed pieces into `bytes`: nothing points outside any more.
  void pin();
  // At most `max` iovecs for the bytes from `from` on; how many.
  int iovecs(size_t from, iovec* iov, int max);

 private:
  size_t size_ = 0;  // with pieces: the bytes of them all
};

class H2Session {
 public:
  H2Session(const H2Limits& limits, H2Handler& handler);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // The server's connection preface (its SETTINGS) into output(); false when out of memory.
  // `manual_window`: request bodies count against the client's window until consume() gives
  // them back (the owner does once they have been passed on), so a slow reader upstream holds
  // the client back instead of the gateway buffering a whole body. Without it the library gives
  // the window back as bytes arrive. `connection_window`: the receive window of the whole
  // connection (0: the protocol's 65,535).
  bool start(bool manual_window = false, uint32_t connection_window = 0);
  // Bytes from the client (the connection preface first). False once the connection is over:
  // a protocol error or a flood (the GOAWAY is in output()), or the session failed.
  bool feed(const char* data, size_t len);
  // Answers `stream_id`: its status, header fields (lower-case names, no pseudo-headers, no
  // connection-specific ones) and body (copied). False when the stream is gone.
  bool respond(int32_t stream_id, int status,
               const std::vector<std::pair<std::string, std::string>>& headers, std::string body);

  // --- a response produced as it comes (the connection's streams) ---
  // The head: `body` says whether DATA follows (append_body, then end_body); without one the
  // head ends the stream. False when the stream is gone.
  bool submit_head(int32_t stream_id, int status, const H2Fields& fields, bool body);
  // Body bytes (copied), sent as the client's window allows. False when the stream is gone.
  bool append_body(int32_t stream_id, std::string_view data);
  // Body bytes borrowed, not copied: they go into the output as they are, so they must stay
  // as they are while body_held() says so (or until pin_stream() and pin_output()).
  bool append_body_ref(int32_t stream_id, std::string_view data);
  // The stream's borrowed body bytes are not all in output the owner has sent (output_sent).
  bool body_held(int32_t stream_id) const;
  // Copies what is borrowed and not yet framed of the stream's body (the lender goes).
  void pin_stream(int32_t stream_id);
  // Copies what output() borrows (the lender goes before the output is taken).
  void pin_output() { out_.pin(); }
  // The owner sent `n` bytes taken from frames(), all of them: what they borrowed is free.
  void output_sent(size_t n);
  // The body is complete; `trailers` (may be empty) end the stream after it.
  bool end_body(int32_t stream_id, const H2Fields& trailers);
  // Bytes the session holds for its streams (heads, bodies waiting for the client's window).
  size_t buffered_bytes() const;
  // Gives `n` bytes of a request body back to the client's windows (manual_window).
  void consume(int32_t stream_id, size_t n);
  // Ends a stream with RST_STREAM `code` (an HTTP/2 error code).
  void reset(int32_t stream_id, uint32_t code);
  // Graceful end: GOAWAY NO_ERROR naming the last stream taken; those go on, no new ones start.
  void shutdown();
  // Streams open (requests received and not yet closed).
  size_t open_streams() const { return streams_.size(); }
  // Streams whose request head has begun and is not complete yet (HEADERS without END_HEADERS
  // and its CONTINUATION frames still to come).
  size_t partial_heads() const { return streams_.size() - delivered_; }

  // Frames into output() now, no more than the output limit holds (called by feed() and
  // respond(); the owner calls it for the rest, e.g. once its last write is out).
  void produce();
  // produce() stops once output() holds this many bytes (the owner's send buffer).
  void set_output_limit(size_t bytes) { out_limit_ = bytes; }
  // Frames to send, in order: the owner swaps them out to send them (output_sent once sent).
  H2Output& frames() { return out_; }
  // The same when nothing is borrowed (the session's own answers): the bytes.
  std::string& output() { return out_.bytes; }
  // Frames are waiting to be produced (a window opened, a response was submitted).
  bool wants_write() const;
  // Nothing more will be read or written but what output() holds: the connection may close
  // once that is sent.
  bool done() const;
  // The GOAWAY error code the session sent, or -1 when it sent none.
  int64_t goaway_code() const { return goaway_code_; }
  const H2Counts& counts() const { return counts_; }
  // Blocks the library's allocator had to take from the heap (its pool had none of that size):
  // flat once the session is warm.
  uint64_t heap_allocations() const;

 private:
  struct Stream {
    std::string storage;                            // the head's names and values, back to back
    std::vector<std::pair<size_t, size_t>> fields;  // offsets into storage: name, value pairs
    size_t header_bytes = 0;
    bool too_large = false;
    bool delivered = false;  // the handler saw its request
    std::string body;        // the response body being sent
    size_t body_sent = 0;
    // Borrowed body (append_body_ref), in order, from refs[ref_next] (ref_off of it framed).
    std::vector<std::string_view> refs;
    size_t ref_next = 0;
    size_t ref_off = 0;
    size_t ref_bytes = 0;   // not yet framed
    uint64_t ref_end = 0;   // the output position after its last borrowed byte
    bool body_end = false;  // no more body will be appended
    bool deferred = false;  // the library waits for body bytes (resume_data when they come)
    std::string trailers;   // name, value, ... each NUL-terminated, sent after the body
  };

  // A reset or protocol error the client caused: over the per-second budget, GOAWAY.
  void count_offence();
  void answer_too_large(int32_t stream_id);
  void deliver_request(int32_t stream_id, bool end_stream);
  void resume(Stream& st, int32_t stream_id);

  friend struct H2Callbacks;

  // Bytes of the session's own into the output.
  void put(const char* data, size_t len);
  // The stream's borrowed body, copied (its owned body then holds all of it).
  void pin(Stream& st);
  // A stream's entry for a new request: a kept one when there is (its buffers' capacity too).
  Stream& open_stream(int32_t stream_id);
  // A stream's entry, or null; the last one found is remembered (a head's fields, a response's
  // frames come in runs for one stream).
  Stream* find(int32_t stream_id);
  const Stream* find(int32_t stream_id) const;
  void close_stream(std::map<int32_t, Stream>::iterator it);

  H2Limits limits_;
  H2Handler& handler_;
  // The library's memory (nghttp2_util.h): declared before the session, which is freed into it.
  std::unique_ptr<Nghttp2Pool> pool_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, Stream> streams_;
  Stream* found_ = nullptr;  // find()'s last, until its stream closes
  int32_t found_id_ = 0;
  // Entries of closed streams kept for the next ones (bounded), and scratch reused by every
  // request and response: no allocation per stream once warm.
  std::vector<std::map<int32_t, Stream>::node_type> spare_;
  H2Request request_;
  H2Output out_;
  uint64_t produced_ = 0;  // bytes ever put into out_
  uint64_t sent_ = 0;      // of those, sent (output_sent)
  // Closed streams whose borrowed bytes are in output not yet sent: id, position after them.
  std::vector<std::pair<int32_t, uint64_t>> closed_held_;
  size_t out_limit_ = SIZE_MAX;
  H2Counts counts_;
  int64_t goaway_code_ = -1;
  bool failed_ = false;
  bool in_callback_ = false;  // inside feed(): frames are produced once it returns
  bool shut_down_ = false;
  bool manual_window_ = false;
  size_t delivered_ = 0;         // streams whose head went to the handler (or was answered 431)
  uint64_t offence_window_ = 0;  // the second the offences are counted in (steady clock)
  uint32_t offences_ = 0;
};

}  // namespace ringgate
