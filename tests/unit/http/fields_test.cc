#include "ringgate/http/fields.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "ringgate/core/ascii.h"

namespace ringgate {
namespace {

const std::vector<std::pair<std::string, FieldRule>>& ruled_names() {
  static const std::vector<std::pair<std::string, FieldRule>> names = {
      {"connection", FieldRule::kConnection},
      {"keep-alive", FieldRule::kKeepAlive},
      {"proxy-connection", FieldRule::kProxyConnection},
      {"te", FieldRule::kTe},
      {"trailer", FieldRule::kTrailer},
      {"transfer-encoding", FieldRule::kTransferEncoding},
      {"upgrade", FieldRule::kUpgrade},
      {"proxy-authorization", FieldRule::kProxyAuthorization},
      {"host", FieldRule::kHost},
      {"content-length", FieldRule::kContentLength},
      {"expect", FieldRule::kExpect},
      {"x-forwarded-for", FieldRule::kXForwardedFor},
      {"x-forwarded-proto", FieldRule::kXForwardedProto},
      {"x-forwarded-host", FieldRule::kXForwardedHost},
      {"x-request-id", FieldRule::kXRequestId},
      {"traceparent", FieldRule::kTraceparent},
      {"tracestate", FieldRule::kTracestate},
      {"date", FieldRule::kDate},
  };
  return names;
}

// Each ruled name in any case has its rule; every name one byte away from it (any byte value at
// any position, a case change aside) has none, the first byte (the one field_rule dispatches on)
// included.
TEST(Fields, EveryRuledNameAndNothingNextToIt) {
  for (const auto& [name, rule] : ruled_names()) {
    EXPECT_EQ(field_rule(name), rule) << name;
    std::string upper = name;
    for (char& c : upper) {
      c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    EXPECT_EQ(field_rule(upper), rule) << upper;
    for (size_t at = 0; at < name.size(); ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string near = name;
        near[at] = static_cast<char>(b);
        const bool same = ascii_lower(near[at]) == name[at];
        EXPECT_EQ(field_rule(near), same ? rule : FieldRule::kOther)
            << name << " with byte " << b << " at " << at;
      }
    }
    EXPECT_EQ(field_rule(name + "s"), FieldRule::kOther) << name;
    EXPECT_EQ(field_rule(name.substr(1)), FieldRule::kOther) << name;
  }
}

TEST(Fields, CommonNamesWithoutARule) {
  for (const char* name : {"", "t", "Server", "Content-Type", "Accept", "Cookie", "Last-Modified",
                           "ETag", "Accept-Ranges", "User-Agent", "X-Request", "Authorization",
                           "Cache-Control", "Vary", "Set-Cookie"}) {
    EXPECT_EQ(field_rule(name), FieldRule::kOther) << name;
  }
}

}  // namespace
}  // namespace ringgate
