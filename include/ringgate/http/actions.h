#pragma once
// The route actions that need nothing beyond HTTP itself: a direct route's prebuilt response, and
// the handler of a local listener (the admin endpoints, the demo's services). Proxying and
// aggregation have theirs in their own modules (upstream/proxy_action.h,
// aggregate/aggregate_shard.h).

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ringgate/core/error.h"
#include "ringgate/http/pipeline.h"

namespace ringgate {

class HttpShard;

// What a local handler answers; built off the request path.
struct AdminResponse {
  // In: the request's query string (without '?'; valid during the handler's call).
  std::string_view query;
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string headers;  // extra header lines, each ending in CRLF (e.g. Allow on a 405)
  std::string body;
  // A refusal (no such endpoint, a method it does not take): answered through error_reply, like
  // the gateway's every other refusal; status, content type and body are then not used. Its
  // detail must be static text.
  Error error;
  // Set by a handler whose answer is decided later, off the shard (a reload is checked on the
  // main thread): called once at once with `finish`, which any thread may call once with the
  // answer. The client waits; the rest of this response is not used.
  std::function<void(std::function<void(AdminResponse)> finish)> deferred;
};
// Answers every request of a local listener (admin, or a service added with add_local_service)
// from its method and path (without the query), on shard 0.
using AdminHandler =
    std::function<void(std::string_view method, std::string_view path, AdminResponse& out)>;

// A direct route: the same prebuilt response every time.
std::unique_ptr<Action> make_direct_action(CannedResponse response);
// A local listener's handler, run per request (one allocation per request: local listeners are
// off the request path that counts).
std::unique_ptr<Action> make_local_action(HttpShard& http, const AdminHandler* handler);

}  // namespace ringgate
