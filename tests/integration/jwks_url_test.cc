// Keys from a jwks_url, fetched by the gateway through its own upstream client from a real HTTP
// server: fetched before it reports ready (or it does not start), rotated keys picked up when a
// token names an unknown kid, and the last good keys kept while the server is down.

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "jwt_signer.h"
#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

using jwt::Alg;
using test_jwt::header_for;
using test_jwt::make_signer;
using test_jwt::Signer;

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

  ConfigSpec spec_for(uint16_t jwks_port, const std::string& extra = "") {
    ConfigSpec spec;
    spec.sections = "auth:\n  jwt:\n    main:\n      jwks_url: \"http://127.0.0.1:" +
                    std::to_string(jwks_port) +
                    "/files/jwks.json\"\n"
                    "      jwks_refresh: 1h\n      jwks_min_refresh: 1s\n"
                    "      jwks_timeout: 500ms\n" +
                    extra;
    spec.routes = "  - match: {prefix: /x}\n    auth: {jwt: main}\n    direct: {body: ok}\n" +
                  default_routes();
    return spec;
  }

  std::string token(const Signer& s, const std::string& kid) const {
    return s.sign(header_for(s.alg, ",\"kid\":\"" + kid + "\""),
                  "{\"sub\":\"ann\",\"exp\":" +
                      std::to_string(static_cast<long long>(time(nullptr)) + 300) + "}");
  }

  int status(GatewayProcess& gw, const std::string& t) {
    auto r = fetch(gw.port(), request("GET", "/x", "Authorization: Bearer " + t + "\r\n"));
    return r ? r->status : -1;
  }

  Signer a_;
  Signer b_;
  std::string jwks_dir_;
};

TEST_F(JwksUrlTest, FetchedBeforeReadyRotatedOnAnUnknownKidKeptWhileDown) {
  auto jwks = std::make_unique<Upstream>(std::vector<std::string>{"--files", jwks_dir_});
  auto& gw = start(spec_for(jwks->port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  // Ready means fetched: the very first request is checked against the URL's key.
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
  // The issuer rotates in a new key; the first token of it finds no key and asks for a refetch.
  publish({&a_, &b_});
  const std::string tb = token(b_, "b");
  EXPECT_EQ(status(gw, tb), 401);
  int s = 0;
  for (int i = 0; i < 60 && s != 200; ++i) {
    std::this_thread::sleep_for(100ms);
    s = status(gw, tb);
  }
  EXPECT_EQ(s, 200) << gw.log();
  // No refetch storm: many unknown kids within min_refresh make at most a couple of fetches.
  const double before = metric(gw.admin_port(), "ringgate_jwt_jwks_fetches_total{issuer=\"main\"}");
  Signer c = make_signer(Alg::kES256, "c");
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(status(gw, token(c, "c")), 401);
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_LE(metric(gw.admin_port(), "ringgate_jwt_jwks_fetches_total{issuer=\"main\"}") - before,
            1);
  // The server goes away: refetches fail, the keys in use stay.
  jwks.reset();
  for (int i = 0; i < 15; ++i) {
    status(gw, token(c, "c"));  // keeps asking for refetches
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(metric(gw.admin_port(), "ringgate_jwt_jwks_failures_total{issuer=\"main\"}"), 1)
      << gw.log();
  EXPECT_EQ(status(gw, token(a_, "a")), 200);
  EXPECT_EQ(status(gw, tb), 200);
  EXPECT_NE(gw.log().find("the keys in use stay"), std::string::npos) << gw.log();
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
  EXPECT_EQ(status(gw, token(a_, "a")), 401);
}

TEST_F(JwksUrlTest, HttpsAndBadUrlsAreConfigErrors) {
  for (const char* url : {"https://id.example/jwks", "ftp://id.example/jwks", "http://a b/x"}) {
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
