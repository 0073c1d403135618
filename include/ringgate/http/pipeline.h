#pragma once
// The pipeline: routes an exchange, runs its route's filters phase by phase (the phases are drawn
// in filter.h) and starts the route's action. The connection (or, later, an HTTP/2 stream) owns
// the exchange and drives the pipeline; the action answers through the Downstream interface and
// the connection drives it through the Responder interface, so neither side knows the other's
// class.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/core/error.h"
#include "ringgate/http/exchange.h"
#include "ringgate/http/filter.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/router/router.h"

namespace ringgate {

// What answers an exchange after its filters: a proxied call, an aggregation, a local handler.
// The connection feeds it the request body and end, and tells it when the client is gone.
class Responder {
 public:
  // Where the request body goes (nullptr: it is read and dropped).
  virtual BodySink* body_sink() { return nullptr; }
  // Body bytes it can take now; 0 holds the client's input until Downstream::request_room().
  virtual size_t request_room() const { return SIZE_MAX; }
  // After the client's input was processed: pass on what was buffered.
  virtual void flush_request() {}
  // The whole request has arrived; `keep_alive`: what the client asked for.
  virtual void on_request_complete(bool keep_alive) = 0;
  // The client's output has been sent: there is room for more of the response. True when the
  // responder streams its response and carries on from here.
  virtual bool on_client_drained() { return false; }
  // The client is gone (closed, reset, timed out): stop, let go, never call the Downstream again.
  virtual void on_client_gone() = 0;
  // After a 101: raw bytes both ways.
  virtual bool tunnelling() const { return false; }
  virtual void on_tunnel_input(const char* data, size_t n) {
    (void)data;
    (void)n;
  }
  virtual void on_client_eof() {}

 protected:
  ~Responder() = default;
};

// The client side of an exchange, as a Responder sees it: an output to write the response into
// and the ways a response can end. Every ending ends the exchange (its log phase runs).
class Downstream {
 public:
  // --- output ---
  // Free space for writing in place (nullptr when full until the next send completes).
  virtual char* out_space(size_t& avail) = 0;
  virtual void out_commit(size_t n) = 0;
  // `data` lies in receive buffer `bid` and goes out from there, not copied: the buffer is on
  // loan (Reactor::lend) until the send that carries it is over. False when the output cannot
  // take it that way (copy it then).
  virtual bool out_lend(std::string_view /*data*/, uint16_t /*bid*/) { return false; }
  virtual bool out_pending() const = 0;
  // Drops output not yet handed to a send (a response head that turned out bad).
  virtual void out_discard() = 0;
  virtual void out_flush() = 0;
  // The connection closes after this response anyway (the client half-closed, draining).
  virtual bool closing() const = 0;
  // Counts a response status in the client's metrics (once it can no longer be taken back).
  virtual void count_status(int status) = 0;
  // The response phase for a response head with `status` about to be written: what the route's
  // filters add and drop (valid until the exchange ends).
  virtual const ResponseHead& response_head(int status) = 0;
  // The shard's current "Date: ...\r\n" line, for a response that came without one.
  virtual std::string_view date_line() const = 0;

  // --- endings ---
  // The response is complete in the output.
  virtual void response_done(bool keep_alive) = 0;
  // The response did not start: the gateway answers `error` instead.
  virtual void response_failed(const Error& error, bool keep_alive) = 0;
  // The response started but cannot be completed: the client connection is cut.
  virtual void response_cut() = 0;
  // A whole response built by the responder; `body` (from the shard's body pool) is handed over.
  virtual void respond(int status, std::string_view headers, std::string_view content_type,
                       std::string* body, bool keep_alive) = 0;
  // A stored response (Reply::stored_head and body) in place of the upstream's.
  virtual void respond_stored(const Reply& reply, bool keep_alive) = 0;

  // --- flow ---
  // The responder took the buffered request bytes: feed it more.
  virtual void request_room() = 0;
  // The upstream switched protocols (101): from here the input goes to the responder unparsed.
  virtual void tunnel() = 0;

 protected:
  ~Downstream() = default;
};

// A route's action as a shard runs it.
class Action {
 public:
  virtual ~Action() = default;
  // Starts answering `x`, whose filters all let it through. The Responder in charge, or nullptr
  // when the answer is known now (x.error or x.reply is set).
  virtual Responder* start(Exchange& x, Downstream& client) = 0;
};

// A direct route's response, serialised once at start-up: the connection sends these bytes with
// the Date and Connection lines it adds (Reply::canned points here).
struct CannedResponse {
  int status = 200;
  std::string
      head;  // status line, Server, configured headers, Content-Length (no Date, no CRLF end)
  std::string body;
  // The common answer (HTTP/1.1 keep-alive, no response filter) as one run of bytes: head, a
  // placeholder Date line at `date_at` (the shard's current line is written over it), the
  // blank line, body. Without the body's bytes at its end it answers a HEAD request. Built when
  // it is at most kWholeMax bytes (a larger body goes out by reference); empty otherwise.
  static constexpr size_t kWholeMax = 2048;
  std::string whole;
  size_t date_at = 0;
};

// A route as a shard runs it: its filters in phase order and its action.
struct RoutePlan {
  RoutePlan(const RouteConfig* route, std::vector<Filter*> filters, Action* action);

  const RouteConfig* route;  // nullptr: a local listener's plan (admin, services)
  std::vector<Filter*> filters;
  Action* action;
  // Bit i: filters[i] takes part in the response phase / the log phase.
  uint32_t response_mask = 0;
  uint32_t log_mask = 0;
};

// One per shard.
class Pipeline {
 public:
  // `plans`: by route index (Config::routes order).
  Pipeline(const Router& router, std::vector<RoutePlan> plans);

  // Routes `x` (a fixed plan, for local listeners, or the router's match) and runs its filters
  // from the first. kReply for 404 and 405 (x.error set).
  FilterStatus start(Exchange& x, const RoutePlan* fixed);
  // Runs the request phase on from the filter after the one that answered last (a resumed
  // exchange).
  static FilterStatus run_filters(Exchange& x);
  // The action, once every filter has let `x` through.
  static Responder* act(Exchange& x, Downstream& client);
  // Whether a filter that ran for `x` takes part in the response phase (inline: asked before
  // every response head).
  static bool edits_response(const Exchange& x) {
    return x.plan && (x.plan->response_mask & entered_mask(x.entered_)) != 0;
  }
  // The response phase, in reverse order.
  static void respond(Exchange& x, ResponseHead& head);
  // The exchange waited for a filter past the request timeout: the filter lets go of it
  // (on_cancel) and x.error says why it is answered 503.
  static void time_out(Exchange& x);
  // The exchange is over: a waiting filter is told (on_cancel), then the log phase runs. Once.
  static void finish(Exchange& x);

 private:
  static uint32_t entered_mask(uint8_t entered) {
    return entered >= 32 ? ~0u : (1u << entered) - 1;
  }

  const Router& router_;
  std::vector<RoutePlan> plans_;
};

}  // namespace ringgate
