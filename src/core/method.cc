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

std::string_view method_name(int method) {
  if (method < 0 || method >= kMaxMethods) {
    return {};
  }
  const char* n = llhttp_method_name(static_cast<llhttp_method_t>(method));
  return n ? std::string_view(n) : std::string_view();
}

}  // namespace ringgate
