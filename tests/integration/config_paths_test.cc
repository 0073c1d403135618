// Relative paths in a config file through the real binary: `ringgate -t -c /abs/dir/x.yaml` run
// from `/` (as a service manager starts it) opens the jwks_file and the API-key file next to the
// config, and the gateway started the same way uses their keys.

#include <ctime>
#include <filesystem>
#include <string>

#include "fixture.h"
#include "jwt_signer.h"
#include "sha256_hex.h"

namespace ringgate::it {
namespace {

constexpr const char* kConfig = R"(server:
  workers: 1
  pin_cpus: false
  listen: "127.0.0.1:0"
admin:
  listen: "127.0.0.1:0"
auth:
  jwt:
    main: {jwks_file: keys/jwks.json}
  api_keys:
    partners: {file: keys/partners.txt}
routes:
  - match: {path: /jwt}
    auth: {jwt: main}
    direct: {body: "token ok\n"}
  - match: {path: /key}
    auth: {api_key: partners}
    direct: {body: "key ok\n"}
)";

class ConfigPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    signer_ = test_jwt::make_signer(jwt::Alg::kES256, "ec-1");
    ASSERT_TRUE(std::filesystem::create_directory(dir_.path() + "/keys"));
    dir_.write("keys/jwks.json", "{\"keys\":[" + signer_.jwk + "]}");
    dir_.write("keys/partners.txt", sha256_hex("key-acme-1") + " acme\n");
    config_ = dir_.write("gw.yaml", kConfig);
  }

  std::string token() const {
    const std::string payload =
        "{\"sub\":\"ann\",\"exp\":" + std::to_string(static_cast<int64_t>(time(nullptr)) + 300) +
        "}";
    return signer_.sign(test_jwt::header_for(signer_.alg, ",\"kid\":\"ec-1\""), payload);
  }

  TempDir dir_;
  test_jwt::Signer signer_;
  std::string config_;
};

TEST_F(ConfigPathsTest, CheckFromRootOpensTheFilesNextToTheConfig) {
  const CommandResult r = run_binary({"-t", "-c", config_}, 10s, "/");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("configuration " + config_ + " is valid"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(ConfigPathsTest, TheGatewayStartedFromRootUsesTheirKeys) {
  GatewayProcess gw({"-c", config_}, 10s, "/");
  ASSERT_TRUE(gw.ok()) << gw.error();

  auto r = fetch(gw.port(), request("GET", "/jwt", "Authorization: Bearer " + token() + "\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->body, "token ok\n");
  r = fetch(gw.port(), request("GET", "/jwt"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << r->raw;

  r = fetch(gw.port(), request("GET", "/key", "X-API-Key: key-acme-1\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->body, "key ok\n");
  r = fetch(gw.port(), request("GET", "/key", "X-API-Key: key-acme-2\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << r->raw;
  EXPECT_EQ(gw.stop(), 0);
}

// A file named relative to the config that is not there is reported with the path opened.
TEST_F(ConfigPathsTest, AMissingFileNamesThePathOpened) {
  const std::string bad = dir_.write(
      "bad.yaml", "server: {listen: \"127.0.0.1:0\"}\nauth: {api_keys: {p: {file: absent.txt}}}\n");
  const CommandResult r = run_binary({"-t", "-c", bad}, 10s, "/");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("file \"absent.txt\" (" + dir_.path() + "/absent.txt) cannot be read"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace ringgate::it
