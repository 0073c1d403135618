// api_key: a route with `auth: {api_key: SET}` needs a key of that set, read from a header or a
// query parameter; the key's consumer becomes the exchange's identity (and goes upstream in the
// set's consumer header). 401 with an ApiKey challenge otherwise.

#include <cstdio>

#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/registry.h"

namespace ringgate {

namespace {

class ApiKeyFilter final : public Filter {
 public:
  ApiKeyFilter(const RouteConfig& route, const ApiKeyConfig& set, size_t index,
               FilterServices& shard)
      : route_(route),
        set_(set),
        table_(*shard.api_key_tables[index]),
        counters_(shard.api_key_counters[index]) {}

  std::string_view name() const override { return "api_key"; }

  FilterStatus on_request(Exchange& x) override {
    const RequestParser& r = x.request();
    const std::string_view key = set_.from == ApiKeyConfig::From::kHeader
                                     ? r.header(set_.from_name)
                                     : auth_detail::pair_value(r.query(), set_.from_name, '&');
    const std::string* consumer = table_.load(std::memory_order_acquire)->find(key);
    if (!consumer) {
      (key.empty() ? counters_.missing : counters_.invalid).fetch_add(1, std::memory_order_relaxed);
      refuse(x, key.empty());
      return FilterStatus::kReply;
    }
    counters_.accepted.fetch_add(1, std::memory_order_relaxed);
    x.identity.consumer = x.arena().copy(*consumer);
    x.identity.drop_headers = &route_.auth.drop_headers;
    if (!set_.consumer_header.empty()) {
      x.add_upstream_header(set_.consumer_header, x.identity.consumer);
    }
    return FilterStatus::kContinue;
  }

 private:
  void refuse(Exchange& x, bool missing) {
    // No registered scheme for API keys: the challenge names ours and the key set.
    char line[200];
    const int n =
        snprintf(line, sizeof line, "WWW-Authenticate: ApiKey realm=\"%s\"\r\n", set_.name.c_str());
    if (n > 0 && static_cast<size_t>(n) < sizeof line) {
      x.error_headers = x.arena().copy(std::string_view(line, static_cast<size_t>(n)));
    }
    x.error = Error::client(ErrorKind::kUnauthorized,
                            missing ? "an API key is required" : "the API key is not valid");
  }

  const RouteConfig& route_;
  const ApiKeyConfig& set_;
  const std::atomic<const ApiKeyTable*>& table_;
  ApiKeyCounters& counters_;
};

}  // namespace

std::unique_ptr<Filter> make_api_key_filter(const RouteConfig& route, FilterServices& shard) {
  if (route.auth.api_key < 0) {
    return nullptr;
  }
  const size_t set = static_cast<size_t>(route.auth.api_key);
  return std::make_unique<ApiKeyFilter>(route, shard.config->api_keys[set], set, shard);
}

}  // namespace ringgate
