// API keys through the real gateway: a file of SHA-256 digests with consumer names, keys read
// from a header or a query parameter, the consumer sent upstream (the client's copy dropped),
// 401s, the file re-read when it changes (a bad edit keeps the keys in use), and rate limits
// per consumer and per JWT claim.

#include <chrono>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "jwt_signer.h"
#include "proxy_fixture.h"
#include "sha256_hex.h"

namespace ringgate::it {
namespace {

class ApiKeyTest : public ProxyTest {
 protected:
  std::string write_keys(const std::vector<std::pair<std::string, std::string>>& keys) {
    std::string text = "# digest consumer\n";
    for (const auto& [key, consumer] : keys) {
      text += sha256_hex(key) + " " + consumer + "\n";
    }
    return dir_.write("keys.txt", text);
  }

  GatewayProcess& start_keys(uint16_t upstream, const std::string& keys_extra = "",
                             const std::string& sections_extra = "",
                             const std::string& route_extra = "") {
    ConfigSpec spec;
    spec.sections = "auth:\n  api_keys:\n    partners:\n      file: \"" + dir_.path() +
                    "/keys.txt\"\n" + keys_extra + sections_extra;
    return start_proxy(endpoint(upstream), "",
                       "  - match: {prefix: /partner}\n"
                       "    auth: {api_key: partners}\n" +
                           route_extra + "    upstream: api\n",
                       spec);
  }
};

TEST_F(ApiKeyTest, AKnownKeyPassesWithItsConsumerAndOthersAre401) {
  write_keys({{"key-acme-1", "acme"}, {"key-globex-7", "globex"}});
  Upstream up({"--record", record_file()});
  auto& gw = start_keys(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(),
                 request("GET", "/partner/x", "X-API-Key: key-acme-1\r\nX-Consumer: globex\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 1u);
  EXPECT_EQ(values(rec.requests[0], "x-consumer"), std::vector<std::string>{"acme"});
  for (const char* extra : {"", "X-API-Key: key-acme-2\r\n", "X-API-Key: \r\n"}) {
    auto bad = fetch(gw.port(), request("GET", "/partner/x", extra));
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 401) << extra << bad->raw;
    EXPECT_EQ(bad->header("www-authenticate").value_or(""), "ApiKey realm=\"partners\"");
    EXPECT_EQ(bad->header("content-type").value_or(""), "application/problem+json");
  }
  EXPECT_EQ(read_record(record_file()).requests.size(), 1u);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_api_key_accepted_total{set=\"partners\"}"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_api_key_invalid_total{set=\"partners\"}"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_api_key_missing_total{set=\"partners\"}"), 2);
}

TEST_F(ApiKeyTest, KeysFromAQueryParameter) {
  write_keys({{"q-key", "acme"}});
  Upstream up;
  auto& gw = start_keys(up.port(), "      query: api_key\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto ok = fetch(gw.port(), request("GET", "/partner/x?a=1&api_key=q-key"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->raw;
  auto header = fetch(gw.port(), request("GET", "/partner/x", "X-API-Key: q-key\r\n"));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->status, 401);  // this set reads the query only
}

TEST_F(ApiKeyTest, TheFileIsReReadWhenItChanges) {
  write_keys({{"old-key", "acme"}});
  Upstream up;
  auto& gw = start_keys(up.port(), "      reload_interval: 1s\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(fetch(gw.port(), request("GET", "/partner", "X-API-Key: old-key\r\n"))->status, 200);
  write_keys({{"new-key", "acme"}});
  int status = 0;
  for (int i = 0; i < 40 && status != 200; ++i) {
    std::this_thread::sleep_for(100ms);
    status = fetch(gw.port(), request("GET", "/partner", "X-API-Key: new-key\r\n"))->status;
  }
  EXPECT_EQ(status, 200) << gw.log();
  EXPECT_EQ(fetch(gw.port(), request("GET", "/partner", "X-API-Key: old-key\r\n"))->status, 401);
  // A broken file is reported and the keys in use stay.
  dir_.write("keys.txt", "not a digest line\n");
  for (int i = 0; i < 40 && gw.log().find("the keys in use stay") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_NE(gw.log().find("line 1: expected the key's SHA-256"), std::string::npos) << gw.log();
  EXPECT_EQ(fetch(gw.port(), request("GET", "/partner", "X-API-Key: new-key\r\n"))->status, 200);
}

TEST_F(ApiKeyTest, RateLimitsPerConsumer) {
  write_keys({{"a1", "acme"}, {"a2", "acme"}, {"g1", "globex"}});
  Upstream up;
  auto& gw = start_keys(up.port(), "", "rate_limits:\n  per_consumer: {key: consumer, rate: 1/m}\n",
                        "    rate_limit: per_consumer\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(fetch(gw.port(), request("GET", "/partner", "X-API-Key: a1\r\n"))->status, 200);
  // acme's second key is the same consumer: the same bucket.
  EXPECT_EQ(fetch(gw.port(), request("GET", "/partner", "X-API-Key: a2\r\n"))->status, 429);
  EXPECT_EQ(fetch(gw.port(), request("GET", "/partner", "X-API-Key: g1\r\n"))->status, 200);
}

TEST_F(ApiKeyTest, RateLimitsPerJwtClaim) {
  Upstream up;
  test_jwt::Signer s = test_jwt::make_signer(jwt::Alg::kES256, "k");
  const std::string jwks = dir_.write("jwks.json", "{\"keys\":[" + s.jwk + "]}");
  ConfigSpec spec;
  spec.sections = "auth:\n  jwt:\n    main: {jwks_file: \"" + jwks +
                  "\"}\n"
                  "rate_limits:\n  per_user: {key: \"claim:sub\", rate: 1/m}\n";
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {prefix: /u}\n    auth: {jwt: main}\n"
                         "    rate_limit: per_user\n    upstream: api\n",
                         spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto token = [&](const std::string& sub, int n) {
    return s.sign(test_jwt::header_for(jwt::Alg::kES256),
                  "{\"sub\":\"" + sub + "\",\"n\":" + std::to_string(n) + ",\"exp\":" +
                      std::to_string(static_cast<long long>(time(nullptr)) + 300) + "}");
  };
  auto status = [&](const std::string& t) {
    return fetch(gw.port(), request("GET", "/u", "Authorization: Bearer " + t + "\r\n"))->status;
  };
  EXPECT_EQ(status(token("ann", 1)), 200);
  EXPECT_EQ(status(token("ann", 2)), 429);  // another token, the same subject
  EXPECT_EQ(status(token("ann", 1)), 429);  // the first one again, from the cache
  EXPECT_EQ(status(token("bob", 1)), 200);
}

TEST_F(ApiKeyTest, ABadKeyFileIsAConfigError) {
  dir_.write("keys.txt", sha256_hex("x") + " acme\nzz acme\n");
  const std::string conf = dir_.write(
      "c.yaml", "server: {listen: \"127.0.0.1:0\"}\nauth:\n  api_keys:\n    p: {file: \"" +
                    dir_.path() +
                    "/keys.txt\"}\nroutes:\n  - match: {path: /x}\n"
                    "    auth: {api_key: p}\n    direct: {}\n");
  CommandResult r = run_binary({"-t", "-c", conf});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(conf + ":4:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 2: expected the key's SHA-256"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ringgate::it
