#pragma once
// Request filters and the phases they run in. Every request goes through the same fixed phases;
// a route lists the filters that take part, and each filter acts in the phases it cares about:
//
//   accept ─► (TLS) ─► parse the head ─► normalise the path ─► route ─┐      400 bad escape,
//                                                                      │      404, 405 here
//   on_request, in route order:                                        ▼
//     path_policy ─► cors ─► api_key ─► auth_jwt ─► rate_limit ─► (cache lookup)
//     each returns kContinue (the next one) | kReply (answered: Exchange::error or ::reply)
//                | kWait (Exchange::resume later; the head stays pinned meanwhile)
//                                                                      ▼
//   the route's action: proxy (endpoint pick, pooled connection, stream through)
//                     | aggregate (fan out, splice) | direct (prebuilt response)
//                                                                      ▼
//   on_response, in reverse order: add header lines, drop upstream ones, before the response
//     head goes out; also for the gateway's own answers (errors, replies) once routed
//                                                                      ▼
//   the response's last byte reaches the connection's output (or the client is gone)
//                                                                      ▼
//   on_log, in route order, exactly once per exchange that reached a route
//
// A filter object belongs to one shard and one route, and is built from the immutable shared
// config (filters/registry.cc); what it needs per request goes into the exchange's arena
// (Exchange::filter_state). Adding a filter: its config section, its class, one registry line,
// its test.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ringgate/http/exchange.h"

namespace ringgate {

// The head of the response about to go to the client, as on_response filters may edit it:
// header lines to add, and (for a proxied response) upstream header names to leave out.
class ResponseHead {
 public:
  static constexpr size_t kMaxDrops = 8;

  ResponseHead(int status, char* buffer, size_t capacity)
      : status_(status), buffer_(buffer), capacity_(capacity) {}

  int status() const { return status_; }
  // Adds "name: value\r\n"; false (nothing added) when the head's room for additions is full.
  bool add(std::string_view name, std::string_view value);
  // Leaves out the upstream's `lower_name` headers; false when too many are dropped already.
  bool drop(std::string_view lower_name);

  std::string_view added() const { return std::string_view(buffer_, used_); }
  const std::string_view* drops() const { return drops_; }
  size_t drop_count() const { return drop_count_; }

 private:
  int status_;
  char* buffer_;
  size_t capacity_;
  size_t used_ = 0;
  std::string_view drops_[kMaxDrops];
  size_t drop_count_ = 0;
};

// The phases a filter takes part in (Filter::phases), so the pipeline calls no filter in a
// phase it does not care about.
enum FilterPhase : uint8_t { kOnRequest = 1, kOnResponse = 2, kOnLog = 4 };

class Filter {
 public:
  virtual ~Filter() = default;

  // Its name in the registry (and in logs).
  virtual std::string_view name() const = 0;
  // FilterPhase bits: the phases whose functions below it overrides.
  virtual uint8_t phases() const { return kOnRequest; }
  // The request phase. kReply: Exchange::error or ::reply is the answer. kWait: the filter calls
  // Exchange::resume() once it has decided, unless on_cancel() comes first.
  virtual FilterStatus on_request(Exchange& x) {
    (void)x;
    return FilterStatus::kContinue;
  }
  // The response phase: `head` is about to go out.
  virtual void on_response(Exchange& x, ResponseHead& head) {
    (void)x;
    (void)head;
  }
  // The log phase: the exchange is over (answered, or abandoned by the client).
  virtual void on_log(const Exchange& x) { (void)x; }
  // The exchange ends while this filter has it waiting (client gone, request timeout): forget
  // it; resume() must not be called any more.
  virtual void on_cancel(Exchange& x) { (void)x; }
  // What the client is told when this filter kept the request waiting past its timeout.
  virtual std::string_view wait_timeout_detail() const {
    return "a request filter did not decide in time";
  }
};

// Requests of the gateway's own to a route's upstream, off any client's exchange (a cache's
// background refresh). Each response goes to its recorder: on_head, on_body, then exactly one of
// on_complete or on_abandon, after which the recorder is not called again (it may delete
// itself there). Requests still out when the fetcher goes end with on_abandon.
class BackgroundFetcher {
 public:
  virtual ~BackgroundFetcher() = default;
  // GET `path`?`query` to `route`'s cluster (its path rewriting and Host policy applied),
  // `host` as the client's Host, `header_lines` ("Name: value\r\n"...) after it. False when it
  // could not start (the recorder is not called then).
  virtual bool fetch(const RouteConfig& route, std::string_view host, std::string_view path,
                     std::string_view query, std::string_view header_lines,
                     ResponseRecorder& recorder) = 0;
};

}  // namespace ringgate
