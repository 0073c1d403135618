#include "ringgate/server/admin.h"

#include <string>

#include "ringgate/cache/store.h"
#include "ringgate/http/response.h"

namespace ringgate {

std::string render_metrics(const Gateway& gateway) {
  std::string out;
  out.reserve(4096);
  const unsigned shards = gateway.workers();
#define RINGGATE_RENDER_COUNTER(field, name, type, help)                    \
  {                                                                         \
    uint64_t sum = 0;                                                       \
    for (unsigned i = 0; i < shards; ++i) {                                 \
      sum += gateway.counters(i).field.load(std::memory_order_relaxed);     \
    }                                                                       \
    out += "# HELP " name " " help "\n# TYPE " name " " type "\n" name " "; \
    out += std::to_string(sum);                                             \
    out += '\n';                                                            \
  }
  RINGGATE_SHARD_COUNTERS(RINGGATE_RENDER_COUNTER)
#undef RINGGATE_RENDER_COUNTER
  out += "# HELP ringgate_workers Shards running\n# TYPE ringgate_workers gauge\nringgate_workers ";
  out += std::to_string(shards);
  out += '\n';
  out +=
      "# HELP ringgate_config_generation The running config's generation: 1 at start, one more "
      "at each reload or upgrade\n# TYPE ringgate_config_generation gauge\n"
      "ringgate_config_generation ";
  out += std::to_string(gateway.generation());
  out +=
      "\n# HELP ringgate_config_snapshots Config generations serving these sockets: this one, "
      "and those before it that still drain after a reload\n"
      "# TYPE ringgate_config_snapshots gauge\nringgate_config_snapshots ";
  out += std::to_string(gateway.config_snapshots());
  out +=
      "\n# HELP ringgate_config_reloads_total Reloads and upgrades this generation did not hand "
      "over: the config was invalid, or the new generation failed to start\n"
      "# TYPE ringgate_config_reloads_total counter\n"
      "ringgate_config_reloads_total{result=\"invalid\"} ";
  out += std::to_string(gateway.reloads(Gateway::Reload::kInvalid));
  out += "\nringgate_config_reloads_total{result=\"failed\"} ";
  out += std::to_string(gateway.reloads(Gateway::Reload::kFailed));
  out += '\n';
  gateway.render_upstream_metrics(out);
  gateway.render_rate_limit_metrics(out);
  gateway.render_cache_metrics(out);
  gateway.render_jwt_metrics(out);
  gateway.render_api_key_metrics(out);
  gateway.render_tls_metrics(out);
  gateway.render_route_metrics(out);
  gateway.render_aggregate_backend_metrics(out);
  gateway.render_log_metrics(out);
  return out;
}

namespace {

void method_not_allowed(AdminResponse& r) {
  r.error = Error::client(ErrorKind::kMethodNotAllowed, "the admin endpoints take GET or HEAD");
  r.headers = "Allow: GET, HEAD\r\n";
}

}  // namespace

AdminResponse reload_answer(int status, std::string_view state, uint64_t generation,
                            const std::vector<std::string>& problems, std::string_view detail,
                            pid_t pid) {
  AdminResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = "{\"status\":\"";
  r.body.append(state);
  r.body += "\",\"generation\":" + std::to_string(generation);
  if (pid > 0) {
    r.body += ",\"pid\":" + std::to_string(pid);
  }
  if (!detail.empty()) {
    r.body += ",\"detail\":\"";
    const size_t from = r.body.size();
    r.body.append(detail);
    json_escape_tail(r.body, from);
    r.body += '"';
  }
  if (!problems.empty()) {
    r.body += ",\"problems\":[";
    for (size_t i = 0; i < problems.size(); ++i) {
      r.body += i ? ",\"" : "\"";
      const size_t from = r.body.size();
      r.body += problems[i];
      json_escape_tail(r.body, from);
      r.body += '"';
    }
    r.body += ']';
  }
  r.body += "}\n";
  return r;
}

namespace {

// "%2F" → "/"; '+' stays (a path and a tag are not form-encoded). False on a bad escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const auto hex = [](char c) {
      return c >= '0' && c <= '9'   ? c - '0'
             : c >= 'a' && c <= 'f' ? c - 'a' + 10
             : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                    : -1;
    };
    if (i + 2 >= in.size() || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) {
      return false;
    }
    out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
    i += 2;
  }
  return true;
}

// POST /cache/NAME/purge?prefix=/path/ | ?tag=NAME: removes what matches from the cache NAME.
void purge_cache(const Gateway& gateway, std::string_view method, std::string_view path,
                 AdminResponse& r) {
  constexpr std::string_view kHead = "/cache/";
  constexpr std::string_view kTail = "/purge";
  const std::string_view name =
      path.substr(kHead.size(), path.size() - kHead.size() - kTail.size());
  if (method != "POST") {
    r.error = Error::client(ErrorKind::kMethodNotAllowed,
                            "POST /cache/NAME/purge?prefix=PATH or ?tag=TAG purges a cache");
    r.headers = "Allow: POST\r\n";
    return;
  }
  CacheStore* store = gateway.cache_named(name);
  if (!store) {
    r.error = Error::client(ErrorKind::kNoRoute, "no cache by that name (caches:)");
    return;
  }
  std::string_view query = r.query;
  std::string prefix;
  std::string tag;
  bool by_prefix = false;
  bool by_tag = false;
  bool bad = false;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (item.substr(0, 7) == "prefix=") {
      by_prefix = true;
      bad = bad || !percent_decode(item.substr(7), prefix) || prefix.empty() || prefix[0] != '/';
    } else if (item.substr(0, 4) == "tag=") {
      by_tag = true;
      bad = bad || !percent_decode(item.substr(4), tag) || tag.empty();
    }
  }
  if (bad || by_prefix == by_tag) {
    r.status = 400;
    r.content_type = "application/json";
    r.body =
        "{\"error\":\"give one of prefix=/PATH (paths under it) or tag=TAG "
        "(Cache-Tag, Surrogate-Key)\"}\n";
    return;
  }
  const size_t purged = by_prefix ? store->purge_prefix(prefix) : store->purge_tag(tag);
  r.content_type = "application/json";
  r.body = "{\"cache\":\"" + std::string(name) + "\",\"purged\":" + std::to_string(purged) + "}\n";
}

}  // namespace

AdminHandler make_admin_handler(const Gateway& gateway) {
  return [&gateway](std::string_view method, std::string_view path, AdminResponse& r) {
    const bool read = method == "GET" || method == "HEAD";
    if (path == "/healthz") {
      if (!read) {
        method_not_allowed(r);
        return;
      }
      const bool stopping = gateway.stopping();
      r.status = stopping ? 503 : 200;
      r.content_type = "application/json";
      r.body = stopping ? "{\"status\":\"draining\"}\n" : "{\"status\":\"ok\"}\n";
    } else if (path == "/config") {
      if (!read) {
        method_not_allowed(r);
        return;
      }
      // Which config runs: the file and the hash of the text it was loaded from, and when.
      const Config& c = gateway.config();
      r.content_type = "application/json";
      r.body = "{\"source\":\"" + c.source;
      json_escape_tail(r.body, 11);
      r.body += "\",\"sha256\":\"" + c.sha256 + "\",\"loaded_at\":\"" + gateway.started_at() +
                "\",\"generation\":" + std::to_string(gateway.generation()) +
                ",\"workers\":" + std::to_string(gateway.workers()) +
                ",\"routes\":" + std::to_string(c.routes.size()) +
                ",\"upstreams\":" + std::to_string(c.upstreams.size()) + "}\n";
    } else if (path == "/metrics") {
      if (!read) {
        method_not_allowed(r);
        return;
      }
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = render_metrics(gateway);
    } else if (path == "/reload") {
      if (method != "POST") {
        r.error =
            Error::client(ErrorKind::kMethodNotAllowed, "POST /reload reloads the configuration");
        r.headers = "Allow: POST\r\n";
        return;
      }
      // Checked and started on the main thread (never on this shard); answered when the new
      // process serves, or with why it does not.
      r.deferred = [&gateway](std::function<void(AdminResponse)> finish) {
        if (!gateway.request_reload(finish)) {
          finish(reload_answer(409, "busy", gateway.generation(), {}, "a reload is already running",
                               0));
        }
      };
    } else if (path.size() > 13 && path.substr(0, 7) == "/cache/" &&
               path.substr(path.size() - 6) == "/purge") {
      purge_cache(gateway, method, path, r);
    } else {
      r.error = Error::client(ErrorKind::kNoRoute,
                              "admin endpoints: /healthz /metrics /config /reload "
                              "/cache/NAME/purge");
    }
  };
}

}  // namespace ringgate
