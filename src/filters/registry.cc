// Which filters exist and in which order they run: one line each. A filter's factory returns
// nullptr for a route that does not use it.

#include "ringgate/filters/registry.h"

namespace ringgate {

using FilterFactory = std::unique_ptr<Filter> (*)(const RouteConfig& route, FilterServices& shard);

// Each in its own file.
std::unique_ptr<Filter> make_path_policy(const RouteConfig& route, FilterServices& shard);
std::unique_ptr<Filter> make_cors_filter(const RouteConfig& route, FilterServices& shard);
std::unique_ptr<Filter> make_api_key_filter(const RouteConfig& route, FilterServices& shard);
std::unique_ptr<Filter> make_jwt_filter(const RouteConfig& route, FilterServices& shard);
std::unique_ptr<Filter> make_rate_limit_filter(const RouteConfig& route, FilterServices& shard);
std::unique_ptr<Filter> make_cache_filter(const RouteConfig& route, FilterServices& shard);

namespace {

// In phase order (ringgate/http/filter.h).
constexpr FilterFactory kFilters[] = {
    &make_path_policy, &make_cors_filter,       &make_api_key_filter,
    &make_jwt_filter,  &make_rate_limit_filter, &make_cache_filter,
};

}  // namespace

std::vector<std::unique_ptr<Filter>> build_route_filters(const RouteConfig& route,
                                                         FilterServices& shard) {
  std::vector<std::unique_ptr<Filter>> out;
  for (FilterFactory make : kFilters) {
    shard.position = out.size();
    if (auto f = make(route, shard)) {
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace ringgate
