#include "ringgate/core/method.h"

#include <llhttp.h>

namespace ringgate {

int method_from_name(std::string_view name) {
#define RINGGATE_METHOD_CASE(num, upper, string) \
  if (name == #string)                           \
    return num;
  HTTP_METHOD_MAP(RINGGATE_METHOD_CASE)
#undef RINGGATE_METHOD_CASE
  return -1;
}

namespace {

// llhttp's method names by number, looked up once per forwarded request.
struct MethodNames {
  std::string_view names[kMaxMethods] = {};
  constexpr MethodNames() {
#define RINGGATE_METHOD_NAME(num, upper, string) \
  if ((num) < kMaxMethods)                       \
    names[num] = #string;
    HTTP_ALL_METHOD_MAP(RINGGATE_METHOD_NAME)
#undef RINGGATE_METHOD_NAME
  }
};
constexpr MethodNames kMethodNames;

}  // namespace

std::string_view method_name(int method) {
  if (method < 0 || method >= kMaxMethods) {
    return {};
  }
  return kMethodNames.names[method];
}

}  // namespace ringgate
