// error_reply: the one mapping from an Error to a status and a problem document.

#include "ringgate/http/error_reply.h"

#include <gtest/gtest.h>

#include <string>

namespace ringgate {
namespace {

struct KindStatus {
  ErrorKind kind;
  int status;
};

TEST(ErrorReplyTest, EveryKindHasItsStatus) {
  const KindStatus table[] = {
      {ErrorKind::kMalformed, 400},        {ErrorKind::kUriTooLong, 414},
      {ErrorKind::kHeadTooLarge, 431},     {ErrorKind::kBodyTooLarge, 413},
      {ErrorKind::kExpectation, 417},      {ErrorKind::kNotImplemented, 501},
      {ErrorKind::kVersion, 505},          {ErrorKind::kBadEscape, 400},
      {ErrorKind::kPathNotAllowed, 400},   {ErrorKind::kNoRoute, 404},
      {ErrorKind::kMethodNotAllowed, 405}, {ErrorKind::kHeadTimeout, 408},
      {ErrorKind::kBodyTimeout, 408},      {ErrorKind::kUnauthorized, 401},
      {ErrorKind::kForbidden, 403},        {ErrorKind::kLimited, 429},
      {ErrorKind::kCorsRefused, 403},      {ErrorKind::kConnect, 502},
      {ErrorKind::kConnectTimeout, 504},   {ErrorKind::kReset, 502},
      {ErrorKind::kBadResponse, 502},      {ErrorKind::kTimeout, 504},
      {ErrorKind::kNoEndpoint, 503},       {ErrorKind::kAtLimit, 503},
      {ErrorKind::kCircuitOpen, 503},      {ErrorKind::kDependencyTimeout, 503},
      {ErrorKind::kInternal, 502},
  };
  for (const KindStatus& k : table) {
    EXPECT_EQ(error_status(Error::of(k.kind)), k.status) << error_text(k.kind);
    EXPECT_FALSE(error_text(k.kind).empty());
  }
}

TEST(ErrorReplyTest, UpstreamStatusPassesOnlyWhereAsked) {
  Error e = Error::of(ErrorKind::kUpstreamStatus);
  e.status = 404;
  EXPECT_EQ(error_status(e), 502);
  EXPECT_EQ(error_reported_status(e), 404);  // the errors member says what the backend said
  e.pass_status = true;
  EXPECT_EQ(error_status(e), 404);
  e.pass_status = false;
  e.status = 503;  // says what the gateway would say
  EXPECT_EQ(error_status(e), 503);
}

TEST(ErrorReplyTest, DetailNamesTheSourceNeverAnAddress) {
  std::string detail;
  append_error_detail(Error::upstream(ErrorKind::kConnect, "api"), detail);
  EXPECT_EQ(detail, "upstream \"api\" could not be reached");

  Error backend = Error::of(ErrorKind::kUpstreamStatus);
  backend.source = ErrorSource::kBackend;
  backend.name = "stock";
  backend.status = 503;
  detail.clear();
  append_error_detail(backend, detail);
  EXPECT_EQ(detail, "backend \"stock\" answered 503");

  Error limited = Error::client(ErrorKind::kLimited);
  limited.name = "per_client";
  detail.clear();
  append_error_detail(limited, detail);
  EXPECT_EQ(detail, "too many requests: over the rate limit \"per_client\"");

  detail.clear();
  append_error_detail(Error::client(ErrorKind::kMalformed, "missing Host header"), detail);
  EXPECT_EQ(detail, "missing Host header");
}

TEST(ErrorReplyTest, BodyIsAnRfc9457DocumentWithTheDetailEscaped) {
  std::string body = "left over from the last answer, longer than this one will be";
  error_body(Error::client(ErrorKind::kUnauthorized, "bad \"kid\"\\\n"), body);
  EXPECT_EQ(body,
            "{\"type\":\"about:blank\",\"title\":\"Unauthorized\",\"status\":401,"
            "\"detail\":\"bad \\\"kid\\\"\\\\\\u000a\"}");
  error_body(Error::upstream(ErrorKind::kTimeout, "api"), body);
  EXPECT_EQ(body,
            "{\"type\":\"about:blank\",\"title\":\"Gateway Timeout\",\"status\":504,"
            "\"detail\":\"upstream \\\"api\\\" did not answer in time\"}");
}

TEST(ErrorReplyTest, UpstreamErrorsThatAnotherTryMaySurviveAreRetryable) {
  EXPECT_TRUE(Error::upstream(ErrorKind::kConnect, "a").retryable);
  EXPECT_TRUE(Error::upstream(ErrorKind::kConnect, "a").before_connection());
  EXPECT_TRUE(Error::upstream(ErrorKind::kTimeout, "a").retryable);
  EXPECT_FALSE(Error::upstream(ErrorKind::kTimeout, "a").before_connection());
  EXPECT_FALSE(Error::upstream(ErrorKind::kCircuitOpen, "a").retryable);
  EXPECT_FALSE(Error::client(ErrorKind::kMalformed).retryable);
}

}  // namespace
}  // namespace ringgate
