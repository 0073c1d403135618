// Keys from a jwks_url, fetched by the gateway through its own upstream client from a real HTTP
// server: fetched before it reports ready (or it does not start); a token signed with a key the
// issuer rotated in waits for the refetch and passes on its first request (concurrent ones share
// the fetch); unknown kids cannot hold requests or trigger fetches more than once per
// jwks_min_refresh; a slow or failing JWKS answers waiting requests 503 in time; the last good
// keys are kept while the server is down.

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "jwt_signer.h"
#include "proxy_fixture.h"
#include "tls_client.h"

namespace ringgate::it {
namespace {

using jwt::Alg;
using test_jwt::header_for;
using test_jwt::make_signer;
using test_jwt::Signer;

// jwks_min_refresh in these tests (its minimum): no refetch within it of the last fetch.
constexpr auto kMinRefresh = 1000ms;

class JwksUrlTest : public ProxyTest {
 protected:
  void SetUp() override {
    a_ = make_signer(Alg::kES256, "a");
    b_ = make_signer(Alg::kEdDSA, "b");
    jwks_dir_ = dir_.path() + "/jwks";
    std::filesystem::create_directories(jwks_dir_);
    publish({&a_});
  }

  void publish(std::vector<const Signer*> signers) {
    std::string text = "{\"keys\":[";
    for (size_t i = 0; i < signers.size(); ++i) {
      text += (i ? "," : "") + signers[i]->jwk;
    }
    std::ofstream(jwks_dir_ + "/jwks.json.tmp") << text << "]}";
    std::filesystem::rename(jwks_dir_ + "/jwks.json.tmp", jwks_dir_ + "/jwks.json");
  }

  // `query`: appended to the URL (test_upstream's delay=...); `timeout`: jwks_timeout.
  ConfigSpec spec_for(uint16_t jwks_port, const std::string& extra = "",
                      const std::string& query = "", const std::string& timeout = "500ms") {
    return spec_for_url(
        "http://127.0.0.1:" + std::to_string(jwks_port) + "/files/jwks.json" + query, extra,
        timeout);
  }
  ConfigSpec spec_for_url(const std::string& url, const std::string& extra = "",
                          const std::string& timeout = "500ms") {
    ConfigSpec spec;
    spec.sections = "auth:\n  jwt:\n    main:\n      jwks_url: \"" + url +
                    "\"\n"
                    "      jwks_refresh: 1h\n      jwks_min_refresh: 1s\n"
                    "      jwks_timeout: " +
                    timeout + "\n" + extra;
    spec.routes = "  - match: {prefix: /x}\n    auth: {jwt: main}\n    direct: {body: ok}\n" +
                  default_routes();
    return spec;
  }

  // A JWKS server that records every request it gets.
  std::unique_ptr<Upstream> jwks_server() {
    return std::make_unique<Upstream>(
        std::vector<std::string>{"--files", jwks_dir_, "--record", record_file()});
  }

  // The fetches of the JWKS the server has answered (or is answering: entries are written first).
  size_t jwks_fetches() {
    size_t n = 0;
    for (const std::string& r : read_record(record_file()).requests) {
      n += r.rfind("GET /files/jwks.json", 0) == 0;
    }
    return n;
  }

  // Past jwks_min_refresh of the fetch the gateway made before it reported ready.
  static void past_min_refresh() { std::this_thread::sleep_for(kMinRefresh + 150ms); }

  static double gauge(GatewayProcess& gw, const std::string& name) {
    return metric(gw.admin_port(), "ringgate_jwt_" + name + "{issuer=\"main\"}");
  }

  std::string token(const Signer& s, const std::string& kid) const {
    return s.sign(header_for(s.alg, ",\"kid\":\"" + kid + "\""),
                  "{\"sub\":\"ann\",\"exp\":" +
                      std::to_string(static_cast<long long>(time(nullptr)) + 300) + "}");
  }

  std::optional<Response> get(GatewayProcess& gw, const std::string& t) {
    return fetch(gw.port(), request("GET", "/x", "Authorization: Bearer " + t + "\r\n"));
  }

  int status(GatewayProcess& gw, const std::string& t) {
    auto r = get(gw, t);
    return r ? r->status : -1;
  }

  // The status of one request, and how long it took.
  std::pair<int, std::chrono::milliseconds> timed_status(GatewayProcess& gw, const std::string& t) {
    const auto t0 = std::chrono::steady_clock::now();
    const int s = status(gw, t);
    return {s, std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)};
  }

  Signer a_;
  Signer b_;
  std::string jwks_dir_;
};

TEST_F(JwksUrlTest, FetchedBeforeReadyAndKeptWhileDown) {
  auto jwks = jwks_server();
  auto& gw = start(spec_for(jwks->port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  // Ready means fetched: the very first request is checked against the URL's key.
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
  EXPECT_EQ(jwks_fetches(), 1u);
  past_min_refresh();
  publish({&a_, &b_});
  const std::string tb = token(b_, "b");
  EXPECT_EQ(status(gw, tb), 200);
  // The server goes away: refetches fail, the keys in use stay.
  jwks.reset();
  past_min_refresh();
  Signer c = make_signer(Alg::kES256, "c");
  EXPECT_EQ(status(gw, token(c, "c")), 503);  // waited for a fetch that failed
  EXPECT_GE(gauge(gw, "jwks_failures_total"), 1) << gw.log();
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
  EXPECT_EQ(status(gw, tb), 200);
  // The log reaches the test through a pipe: it may lag behind the answers.
  for (int i = 0; i < 40 && gw.log().find("the keys in use stay") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(gw.log().find("the keys in use stay"), std::string::npos) << gw.log();
}

// An https jwks_url: fetched over TLS, verified against jwks_tls's CA for its SNI name; the
// JWKS server sits behind a TLS listener of another gateway.
TEST_F(JwksUrlTest, AnHttpsUrlIsFetchedOverVerifiedTls) {
  ASSERT_EQ(make_certificate(dir_.path(), {"jwks", {"jwks.test"}}), "");
  const std::string pem = dir_.path() + "/jwks.pem";
  auto jwks = jwks_server();
  ConfigSpec front;
  front.listen_tls = "{certificates: [{cert: " + pem + ", key: " + dir_.path() + "/jwks.key}]}";
  front.upstreams =
      "  files:\n    endpoints: [\"127.0.0.1:" + std::to_string(jwks->port()) + "\"]\n";
  front.routes = "  - match: {prefix: /files}\n    upstream: files\n";
  auto& https = start(front);
  ASSERT_TRUE(https.ok()) << https.error();
  const std::string url = "https://127.0.0.1:" + std::to_string(https.port()) + "/files/jwks.json";

  auto& gw = start(spec_for_url(url, "      jwks_tls: {sni: jwks.test, ca: " + pem + "}\n"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
  EXPECT_EQ(status(gw, token(b_, "b")), 401);  // not in the JWKS
  EXPECT_EQ(jwks_fetches(), 1u);
  EXPECT_EQ(metric(https.admin_port(),
                   "ringgate_tls_handshakes_total{version=\"TLSv1.3\",result=\"full\"}"),
            1);

  // Not verifiable: the system's store does not know the test CA, and the certificate does not
  // name 127.0.0.1. Without keys the gateway does not start, and says why.
  for (const std::string& tls :
       {std::string("      jwks_tls: {sni: jwks.test}\n"), "      jwks_tls: {ca: " + pem + "}\n"}) {
    const std::string conf = dir_.write("bad.yaml", make_config(spec_for_url(url, tls)));
    const CommandResult r = run_binary({"-c", conf}, 10s);
    EXPECT_EQ(r.exit_code, 1) << tls << r.err;
    EXPECT_NE(r.err.find("auth.jwt.main: jwks_url " + url), std::string::npos) << r.err;
  }
  // Told not to verify, it fetches from whoever answers.
  auto& unverified = start(spec_for_url(url, "      jwks_tls: {verify: false}\n"));
  ASSERT_TRUE(unverified.ok()) << unverified.error();
  EXPECT_EQ(status(unverified, token(a_, "a")), 200);
}

TEST_F(JwksUrlTest, ARotatedKeyPassesOnItsFirstRequest) {
  auto jwks = jwks_server();
  auto& gw = start(spec_for(jwks->port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
  past_min_refresh();
  // The issuer rotates in a new key: the first token of it waits for the refetch and passes.
  publish({&a_, &b_});
  const size_t before = jwks_fetches();
  EXPECT_EQ(status(gw, token(b_, "b")), 200) << gw.log();
  EXPECT_EQ(jwks_fetches(), before + 1);
  EXPECT_EQ(gauge(gw, "key_waits_total"), 1);
  EXPECT_EQ(gauge(gw, "invalid_total"), 0);
}

TEST_F(JwksUrlTest, ConcurrentRequestsWithANewKidShareOneFetch) {
  auto jwks = jwks_server();
  // The server takes 300 ms per answer: every request below arrives while the fetch is out.
  ConfigSpec spec = spec_for(jwks->port(), "", "?delay=300ms", "2s");
  spec.workers = 3;
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  past_min_refresh();
  publish({&a_, &b_});
  const size_t before = jwks_fetches();
  constexpr int kRequests = 12;
  std::vector<int> statuses(kRequests, 0);
  std::vector<std::thread> clients;
  std::atomic<int> ready{0};
  for (int i = 0; i < kRequests; ++i) {
    clients.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kRequests) {
        std::this_thread::yield();
      }
      statuses[static_cast<size_t>(i)] = status(gw, token(b_, "b"));
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(statuses[static_cast<size_t>(i)], 200) << "request " << i;
  }
  EXPECT_EQ(jwks_fetches(), before + 1);
  // Nothing asked for is left over to make another fetch once jwks_min_refresh allows one.
  past_min_refresh();
  EXPECT_EQ(jwks_fetches(), before + 1);
}

TEST_F(JwksUrlTest, UnknownKidsMakeOneFetchPerMinRefreshAndAreRefusedAtOnce) {
  auto jwks = jwks_server();
  auto& gw = start(spec_for(jwks->port(), "", "", "3s"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  past_min_refresh();
  const size_t before = jwks_fetches();
  // A kid the refetched JWKS does not have either: 401, after the one fetch.
  Signer c = make_signer(Alg::kES256, "c");
  auto r = get(gw, token(c, "c"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->header("WWW-Authenticate").value_or("").find("no key matches the token"),
            std::string::npos);
  EXPECT_EQ(jwks_fetches(), before + 1);
  EXPECT_EQ(gauge(gw, "key_waits_total"), 1);
  // Within jwks_min_refresh of that fetch, unknown kids (an attacker's random ones) are refused
  // at once: no request is held, no fetch is made, none is asked for later.
  for (int i = 0; i < 10; ++i) {
    const auto [s, took] = timed_status(gw, token(c, "random-" + std::to_string(i)));
    EXPECT_EQ(s, 401);
    EXPECT_LT(took, 250ms);
  }
  EXPECT_EQ(gauge(gw, "key_waits_total"), 1);
  past_min_refresh();
  EXPECT_EQ(jwks_fetches(), before + 1);
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
}

TEST_F(JwksUrlTest, AJwksSlowerThanTheFetchTimeoutAnswersTheWaitingRequestInTime) {
  // The file's key lets the gateway start although the URL never answers within jwks_timeout.
  auto jwks = jwks_server();
  const std::string file = dir_.write("file.json", "{\"keys\":[" + a_.jwk + "]}");
  auto& gw = start(spec_for(jwks->port(), "      jwks_file: \"" + file + "\"\n", "?delay=5s"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
  past_min_refresh();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = get(gw, token(b_, "b"));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r);
  // 503, not 401: the gateway could not get the keys to tell, the token may be good.
  EXPECT_EQ(r->status, 503) << r->raw;
  EXPECT_NE(r->body.find("could not be fetched from its jwks_url http://127.0.0.1:"),
            std::string::npos)
      << r->body;
  EXPECT_EQ(r->header("Retry-After").value_or(""), "1");
  // It waited for a fetch (the one it asked for, or the retry after a failure, already out),
  // and no longer than jwks_timeout (500ms) allows.
  EXPECT_EQ(gauge(gw, "key_waits_total"), 1);
  EXPECT_LT(took, 1500ms);
  EXPECT_EQ(gauge(gw, "keys_unavailable_total"), 1);
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
}

TEST_F(JwksUrlTest, AnUnreachableUrlWithoutAFileStopsTheStart) {
  const std::string conf = dir_.write("c.yaml", make_config(spec_for(dead_port())));
  CommandResult r = run_binary({"-c", conf}, 10s);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("auth.jwt.main: jwks_url http://127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("could not be reached"), std::string::npos) << r.err;
}

TEST_F(JwksUrlTest, AnUnreachableUrlWithAFileStartsOnTheFile) {
  const std::string file = dir_.write("file.json", "{\"keys\":[" + b_.jwk + "]}");
  auto& gw = start(spec_for(dead_port(), "      jwks_file: \"" + file + "\"\n"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_NE(gw.log().find("using jwks_file's keys until a fetch succeeds"), std::string::npos)
      << gw.log();
  EXPECT_EQ(status(gw, token(b_, "b")), 200);
  // No key matches while the URL cannot be fetched: the gateway cannot tell, 503.
  EXPECT_EQ(status(gw, token(a_, "a")), 503);
}

TEST_F(JwksUrlTest, BadUrlsAreConfigErrors) {
  for (const char* url : {"ftp://id.example/jwks", "http://a b/x", "https://a b/x", "https:/x"}) {
    const std::string conf = dir_.write(
        "u.yaml", std::string("server: {listen: \"127.0.0.1:0\"}\nauth:\n  jwt:\n    main: "
                              "{jwks_url: \"") +
                      url + "\"}\n");
    CommandResult r = run_binary({"-t", "-c", conf});
    EXPECT_EQ(r.exit_code, 1) << url << r.err;
    EXPECT_NE(r.err.find(conf + ":4:"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace ringgate::it
