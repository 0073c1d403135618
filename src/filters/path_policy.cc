// path_policy: what the path normaliser kept in a request path (an encoded slash, a backslash,
// an encoded NUL, overlong UTF-8) is refused with a 400 unless the route allows it
// (`path_allow:`). On every route, first: nothing else sees a path the route did not accept.

#include "ringgate/filters/registry.h"

namespace ringgate {

namespace {

class PathPolicy final : public Filter {
 public:
  explicit PathPolicy(uint8_t allow) : allow_(allow) {}

  std::string_view name() const override { return "path_policy"; }

  FilterStatus on_request(Exchange& x) override {
    if ((x.path_flags & ~allow_) == 0) {
      return FilterStatus::kContinue;
    }
    bump(x.counters().parse_bad_path);
    x.error = Error::client(ErrorKind::kPathNotAllowed);
    return FilterStatus::kReply;
  }

 private:
  uint8_t allow_;  // PathFlag bits
};

}  // namespace

std::unique_ptr<Filter> make_path_policy(const RouteConfig& route, FilterServices&) {
  return std::make_unique<PathPolicy>(route.path_allow);
}

std::unique_ptr<Filter> make_local_path_policy() {
  return std::make_unique<PathPolicy>(0);
}

}  // namespace ringgate
