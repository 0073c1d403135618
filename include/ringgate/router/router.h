#pragma once
// The route table: compiled once from config, matched per request without allocation, in as many
// steps as the path has segments whatever the number of routes (a trie; first match in config
// order).

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"

namespace ringgate {

// A captured `{name}` path segment; both views point into the route table / the request.
struct PathParam {
  std::string_view name;
  std::string_view value;
};

constexpr int kMaxPathParams = 16;

struct RouteMatchResult {
  // params is left unset: only [0, param_count) are ever written or read, and a request's
  // context is made per request, so zeroing 16 unused pairs would be paid every time.
  RouteMatchResult() {}

  enum class Status { kMatched, kNotFound, kMethodNotAllowed };
  Status status = Status::kNotFound;
  const RouteConfig* route = nullptr;  // kMatched
  uint32_t route_index = 0;            // index into Config::routes
  uint64_t allowed_methods = 0;        // kMethodNotAllowed: bits (method_bit) of methods that match
  int param_count = 0;
  union {
    PathParam params[kMaxPathParams];  // [0, param_count)
  };
};

class Router {
 public:
  // `config` must outlive the router. Throws ConfigError for templates it cannot compile
  // (bad braces, duplicate parameter names, more than kMaxPathParams).
  explicit Router(const Config& config);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // host: Host header without port, any case (may be empty); method: llhttp method number;
  // path: request path without query. Routes are tried in config order; the first match wins.
  // A route whose path and host match but whose methods do not contributes to allowed_methods;
  // if no route matches fully and some matched all but the method → kMethodNotAllowed.
  // A route that allows GET also matches HEAD (and reports HEAD in allowed_methods). Paths are
  // compared byte for byte: no percent-decoding, no case folding, `/a` and `/a/` are distinct.
  void match(std::string_view host, int method, std::string_view path,
             RouteMatchResult& result) const;
  // Some route names a host: without one, match() needs no host (an empty one does).
  bool uses_hosts() const { return uses_hosts_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool uses_hosts_ = false;
};

}  // namespace ringgate
