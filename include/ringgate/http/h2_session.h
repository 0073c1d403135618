#pragma once
// The HTTP/2 server side of one connection (RFC 9113) over nghttp2, with no I/O of its own: bytes
// from the client go in (feed), requests come out to the handler one stream at a time, responses
// go in (respond), and the frames to send come out (output) — as TlsSession does for TLS, so the
// transport moves the bytes and a unit test or a fuzzer can drive it directly.
//
// Limits (server.http2): concurrent streams, the initial flow-control window, the header list
// size (a request over it is answered 431 on its stream), and floods: the library's own
// rapid-reset limiter where it has one (detected by symbol), and ours on top of it: resets and
// protocol errors the client causes are counted per second, and over the budget the connection
// ends with GOAWAY ENHANCE_YOUR_CALM. SETTINGS and PING floods and CONTINUATION floods are
// bounded by the library's options.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringgate/config/config.h"

struct nghttp2_session;

namespace ringgate {

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

class H2Session {
 public:
  H2Session(const H2Limits& limits, H2Handler& handler);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // The server's connection preface (its SETTINGS) into output(); false when out of memory.
  bool start();
  // Bytes from the client (the connection preface first). False once the connection is over:
  // a protocol error or a flood (the GOAWAY is in output()), or the session failed.
  bool feed(const char* data, size_t len);
  // Answers `stream_id`: its status, header fields (lower-case names, no pseudo-headers, no
  // connection-specific ones) and body (copied). False when the stream is gone.
  bool respond(int32_t stream_id, int status,
               const std::vector<std::pair<std::string, std::string>>& headers, std::string body);
  // Frames to send, in order: the owner swaps the string out to send it.
  std::string& output() { return out_; }
  // Nothing more will be read or written but what output() holds: the connection may close
  // once that is sent.
  bool done() const;
  // The GOAWAY error code the session sent, or -1 when it sent none.
  int64_t goaway_code() const { return goaway_code_; }
  const H2Counts& counts() const { return counts_; }

 private:
  struct Stream {
    std::string storage;                            // the head's names and values, back to back
    std::vector<std::pair<size_t, size_t>> fields;  // offsets into storage: name, value pairs
    size_t header_bytes = 0;
    bool too_large = false;
    bool delivered = false;  // the handler saw its request
    std::string body;        // the response body being sent
    size_t body_sent = 0;
  };

  void flush();
  // A reset or protocol error the client caused: over the per-second budget, GOAWAY.
  void count_offence();
  void answer_too_large(int32_t stream_id);
  void deliver_request(int32_t stream_id, bool end_stream);

  friend struct H2Callbacks;

  H2Limits limits_;
  H2Handler& handler_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, Stream> streams_;
  std::string out_;
  H2Counts counts_;
  int64_t goaway_code_ = -1;
  bool failed_ = false;
  uint64_t offence_window_ = 0;  // the second the offences are counted in (steady clock)
  uint32_t offences_ = 0;
};

}  // namespace ringgate
