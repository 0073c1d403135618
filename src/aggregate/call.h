#pragma once
// One aggregated request: the backends of an `aggregate:` route called through ProxyCalls in
// backend mode, stage by stage (a backend starts once the backends it reads are done), under one
// deadline, and their JSON bodies spliced into one response object.
//
//   Connection ──head──► AggregateCall::start ── copy what templates read (params, query,
//        │                   │                   headers), launch the backends that read no other
//        │                   ▼
//        │              Backend ──ProxyCall (backend mode)──► upstream
//        │                   │ body into a padded buffer, validated when complete
//        │                   ▼
//        │              all done, or a required one failed, or the deadline:
//        ◄──answer──── json::Writer over the raw bodies (projections, merge, defaults, errors)

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ringgate/aggregate/aggregate_shard.h"
#include "ringgate/aggregate/json.h"
#include "ringgate/aggregate/render.h"
#include "ringgate/cache/policy.h"
#include "ringgate/cache/store.h"
#include "ringgate/config/config.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/http/pipeline.h"
#include "ringgate/router/router.h"
#include "ringgate/upstream/call.h"

namespace ringgate {

class AggregateShard;

// An aggregate route as a shard runs it: templates and projections compiled, clusters resolved.
struct AggregateRoute {
  struct Backend {
    const AggregateBackend* config = nullptr;
    std::string escaped_key;  // config->key as JSON string content: the answer's member name
    UpstreamCluster* cluster = nullptr;
    UpstreamAction upstream;  // timeout and retries of its calls
    aggregate::CompiledTemplate path;
    std::vector<aggregate::CompiledTemplate> query;    // as config->query
    std::vector<aggregate::CompiledTemplate> headers;  // as config->headers
    std::optional<aggregate::CompiledTemplate> body;
    json::Projection projection;
    json::Path for_each;  // for_each: the array's `[*]` and the element path, as one Path
    bool idempotent = true;
    AggregateBackendCounters* counters = nullptr;  // the shard's (AggregateShard::make_action)
    CacheStore* cache = nullptr;                   // `cache:`: where its responses are kept
    CacheRules cache_rules;
  };
  const RouteConfig* route = nullptr;
  const AggregateAction* action = nullptr;
  std::vector<Backend> backends;
  std::vector<std::string> header_names;  // request headers the templates read (lower-case)
  json::Limits limits;
  // Profiles (BFF): per profile, per backend, whether it is skipped and its projection.
  struct ProfileBackend {
    bool skip = false;
    json::Projection projection;
  };
  std::vector<std::vector<ProfileBackend>> profiles;
};

// Builds the shard's view of an aggregate route; false with `why` for a path or projection
// json::Path rejects.
bool build_aggregate_route(const RouteConfig& route, const AggregateAction& action,
                           const std::vector<std::unique_ptr<UpstreamCluster>>& clusters,
                           AggregateRoute* out, std::string* why);

class AggregateCall final : public Timer,
                            public Responder,
                            public BudgetWaiter,
                            private aggregate::TemplateValues {
 public:
  explicit AggregateCall(AggregateShard& shard);
  ~AggregateCall();

  // Once the route's filters let `x` through: copies what the templates read and starts the
  // first stage.
  void start(Exchange& x, Downstream& client, const AggregateRoute& route);
  // The client's request is complete: the answer may go out once it is ready.
  void on_request_complete(bool keep_alive) override;
  // The client connection is closing: cancel what is out and let go.
  void on_client_gone() override;
  // The fan-out budget (AggregateShard::wake): a slot is free for this started request / this
  // queued request may start.
  void resume() { settle(); }
  void admitted();

  AggregateCall* next_free = nullptr;

 private:
  struct Backend;
  // One call of a for_each backend: its element's request and response.
  // What a response said of itself that the answer may pass on: its Cache-Control (every
  // field of it, joined), whether its body is encoded, and for status_from its Content-Type.
  struct Described {
    bool has_cache_control = false;
    bool encoded = false;  // a Content-Encoding other than identity: the body is not passed on
    std::string cache_control;
    std::string content_type;

    void read(const ResponseParser& p, bool keep_type);
  };

  // The values of the action's listed `headers` in a response, by position ("" where absent).
  static void read_listed(const ResponseParser& p, const AggregateAction& action,
                          std::vector<std::string>& listed);

  struct Item final : ResponseSink {
    Backend* backend = nullptr;
    uint32_t index = 0;
    ProxyCall* proxy = nullptr;
    bool too_big = false;
    uint64_t started_us = 0;
    std::string body;
    Described described;
    std::vector<std::string> listed;  // as Backend::listed, kept for a status_from backend only

    bool on_head(const ResponseParser& p) override;
    void on_body(std::string_view data) override;
    void on_complete(int status) override;
    void on_failed(const Error& error) override;
  };

  struct Backend final : ResponseSink {
    enum class State : uint8_t { kWaiting, kRunning, kDone, kFailed, kSkipped };
    AggregateCall* call = nullptr;
    uint32_t index = 0;
    State state = State::kWaiting;
    ProxyCall* proxy = nullptr;
    uint64_t started_us = 0;  // the call in flight (not for_each)
    Error error;              // why it failed (source kBackend, named by its key; detail: reason)
    bool too_big = false;
    // The body once done (a failed optional backend: its default). Capacity for json::kPadding
    // more bytes is kept: the reader's padding, so opening it never moves it.
    std::string body;
    // `body` is the response accept_body() validated, untouched since: a projection that takes
    // it whole writes it without a second look (the reader holds one body at a time, so any
    // other use opens it again).
    bool accepted = false;
    // A projection other than the whole body (pick, allow, renames), made when the body was
    // accepted and the reader held it, so that writing the response does not validate the body
    // again (AggregateCall::projected() makes it then for a body never accepted). Valid while
    // `accepted` and `projected_ready`. Not merged: the value as written,
    // empty when it selected nothing. Merged: the members, each a key, its raw key and its
    // value at offsets into `projected`; merged_status is what Reader::members() returned.
    struct MemberAt {
      uint32_t key_at, key_len, raw_key_at, raw_key_len, value_at, value_len;
    };
    std::string projected;
    std::vector<MemberAt> members;
    json::Status merged_status = json::Status::kAbsent;
    bool projected_ready = false;
    std::string reason;  // why it failed, when more than error.kind says
    Described described;
    std::vector<std::string> listed;  // values of the action's `headers`, by position ("" absent)
    // `cache:`: the response's key, what its head said of caching ("name: value\r\n" lines),
    // and a stale stored response that may stand in if the call fails (held).
    bool caching = false;
    std::string cache_key;
    uint64_t cache_hash = 0;
    std::string cache_facts;
    const CacheEntry* stale = nullptr;
    // for_each: the elements (raw JSON), their calls, and how far they are.
    std::vector<std::string> elements;
    std::vector<Item> items;
    uint32_t next_item = 0;
    uint32_t items_done = 0;
    uint32_t items_out = 0;  // calls in flight

    bool on_head(const ResponseParser& p) override;
    void on_body(std::string_view data) override;
    void on_complete(int status) override;
    void on_failed(const Error& error) override;
  };

  // Starts backend `b` (ready to go). False when no slot of the budget was free: b still waits.
  bool launch(Backend& b);
  // A backend with `cache:`, its request rendered: true when a fresh stored response answered
  // it (b is done); else b records its response, and keeps a stale one for its failure.
  bool answer_from_cache(Backend& b, const AggregateRoute::Backend& rb);
  // `e` (a stored response) is b's answer.
  bool use_stored(Backend& b, const CacheEntry& e, uint64_t fresh_left_s);
  // b's call answered: its response goes into the cache when it may.
  void store_response(Backend& b, const AggregateRoute::Backend& rb, int status);
  void drop_stale(Backend& b);
  void launch_for_each(Backend& b);
  // Starts more elements of a running for_each backend, up to its concurrency. False when no
  // slot of the budget was free.
  bool fill_items(Backend& b);
  // Starts element `i` of a for_each backend in a slot taken for it; false when it failed at
  // once (the slot is given back and b is failed then).
  bool launch_item(Backend& b, uint32_t i);
  // An element's call ended: `error` is empty when it succeeded.
  void item_finished(Item& item, const Error& error, std::string reason);
  // `b.body` was just accepted (accept_body() returned true, so the reader holds it): marks it
  // so and makes its projection now (Backend::projected).
  void mark_accepted(Backend& b);
  // b's projection in Backend::projected: the one made when it was accepted, or made now (the
  // body opened again: a default, a joined fan-out). False when the body cannot be opened.
  bool projected(Backend& b);
  // Backend::projected (and members, merged_status) from b's body, which the reader holds.
  void project_open(Backend& b);
  // A complete response of a backend or element: 2xx, within the limits, not `encoded` (a
  // Content-Encoding other than identity), valid JSON. Otherwise false with the error and reason
  // it fails with.
  bool accept_body(std::string& body, bool too_big, bool encoded, int upstream_status, Error* error,
                   std::string* reason);
  // Why a call that the proxy gave up on failed: a body over the limit, or what the proxy says.
  std::string failure_reason(bool too_big, const Error& error) const;
  // Renders backend `rb`'s request into request_ (element `item` for {item}).
  bool render_request(const AggregateRoute::Backend& rb, std::string* why);
  // Cancels whatever of `b` is still out.
  void cancel(Backend& b);
  // `b` failed with `error` (any source: relabelled as the backend's), and `reason` when more is
  // known than error's kind says.
  void fail(Backend& b, const Error& error, std::string reason = {});
  void fail(Backend& b, ErrorKind kind, std::string reason) { fail(b, Error::of(kind), reason); }
  // A call of `b` that started at `started_us` is over (its backend's latency histogram).
  void record_latency(const Backend& b, uint64_t started_us);
  void log_partial() const;
  void settle();  // after a backend ends: answer, or launch what can go now
  void answer();
  // Queued past aggregate.queue_timeout without starting: 503 with Retry-After.
  void refuse();
  // Lets go of what a large fan-out left behind (element lists, item bodies), so memory returns
  // once the burst is over.
  void trim();
  void deliver();
  void release();
  // Body bytes received: counted against the overload budget until the call is released.
  void hold(size_t n) {
    held_ += n;
    shard_.hold_bytes(n);
  }
  bool write_response(std::string* why);
  const json::Projection& projection(uint32_t backend) const;
  // Cache-Control and the listed headers for a 200 answer, as header lines.
  void response_headers(std::string& out) const;
  // The answer to a failed required backend: with status_from, its own status passes, and with
  // it the body it sent (within the body limit) and that body's Content-Type.
  void answer_failure(Backend& cause);
  // Opens a backend's body (or a failed optional one's default) in the shard's reader.
  bool open(Backend& b);
  // Validates `text` in the shard's reader (its spare capacity the padding) and leaves it open
  // there.
  bool open_text(std::string& text, std::string_view* why);
  static void on_timer(Timer* t);

  // aggregate::TemplateValues
  std::string_view path_param(uint32_t index) override;
  std::optional<std::string_view> query(std::string_view name) override;
  std::optional<std::string_view> header(std::string_view lower_name) override;
  std::optional<std::string_view> item(const json::Path& path) override;
  std::optional<std::string_view> backend(uint32_t index, const json::Path& path) override;
  std::string_view claim(uint32_t index) override;

  AggregateShard& shard_;
  Downstream* client_ = nullptr;
  Exchange* x_ = nullptr;  // until the answer goes (or the client does): for its log facts
  const AggregateRoute* route_ = nullptr;
  std::vector<Backend> backends_;
  // Copies of what templates read from the request (its bytes may be recycled before the last
  // stage runs).
  std::vector<std::string> params_;
  std::string query_;  // without '?'
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string host_;
  std::string auth_forward_;         // headers from authentication (forwarded claims, consumer)
  std::vector<std::string> claims_;  // the verified JWT's extracted claims
  int profile_ = -1;                 // the request's profile, or -1: the backends' own projections
  std::string peer_;
  std::string request_id_;
  TraceContext trace_;                    // the request's (W3C), copied at start
  std::string tracestate_;                // the client's, when its trace is continued
  std::string request_;                   // one backend's request, rendered
  std::string body_;                      // one backend's request body, rendered
  std::string scratch_;                   // an element, padded for the reader
  const std::string* element_ = nullptr;  // the element {item} stands for while rendering
  std::string out_;                       // the response body
  std::string response_head_;             // its extra header lines (Cache-Control, ...)
  // Top-level member names of the response being written, and whether each is kept.
  struct Name {
    std::string key;
    bool keep = true;
  };
  std::vector<Name> names_;
  std::string partial_;  // keys of failed optional backends, comma-separated
  // Of the answer: application/json, problem+json, or a status_from backend's (in its Described).
  std::string_view content_type_ = "application/json";
  std::string passed_type_;  // a status_from backend's Content-Type, when its body is the answer
  // The listed headers of a backend whose status is the answer's (WWW-Authenticate with its 401,
  // Retry-After with its 429 or 503), as header lines.
  std::string passed_headers_;
  int answer_status_ = 0;
  std::string reason_;  // scratch: one failed backend's reason, for the "errors" member
  uint32_t running_ = 0;
  uint64_t held_ = 0;         // body bytes counted by hold()
  uint64_t deadline_ms_ = 0;  // the route's timeout, from the request's start
  bool admitted_ = false;     // started (not waiting in the budget's queue)
  bool refused_ = false;      // answered 503 by the budget
  bool answered_ = false;     // the answer is built (out_, answer_status_, answer_headers_)
  bool request_complete_ = false;
  bool keep_alive_ = true;
};

}  // namespace ringgate
