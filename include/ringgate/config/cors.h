#pragma once
// A route's `cors:` section: which browser origins may call it, with what, and what they may
// read (the Fetch standard's CORS protocol). Checked and answered by the cors filter.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ringgate {

struct CorsConfig {
  // Origins allowed ("https://app.example", scheme and host lower-case, no path); "*" allows
  // any origin (the response names the request's origin when credentials are allowed).
  std::vector<std::string> allow_origins;
  bool any_origin = false;  // "*" is among allow_origins
  // Methods a preflight may ask for (upper-case); GET, HEAD and POST are always allowed.
  std::vector<std::string> allow_methods = {"GET", "HEAD", "POST"};
  // Request headers a preflight may ask for (lower-case); the CORS-safelisted ones always are.
  std::vector<std::string> allow_headers;
  // Response headers the browser may show the page (lower-case); none beyond the safelisted.
  std::vector<std::string> expose_headers;
  bool allow_credentials = false;  // cookies and Authorization may be sent and read
  // How long a browser may cache a preflight's answer; 0: no Access-Control-Max-Age sent.
  std::chrono::milliseconds max_age{0};
  // The route's methods did not include OPTIONS: the loader added it so preflights reach the
  // route, and any other OPTIONS request is refused 405.
  bool options_added = false;
  // The header values, joined once at load: "GET, POST", "authorization, x-id", ...
  std::string methods_value;
  std::string headers_value;
  std::string expose_value;
  std::string max_age_value;  // whole seconds
};

}  // namespace ringgate
