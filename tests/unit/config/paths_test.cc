// Paths in a config (jwks_file, an API-key set's file, hosts_file): a relative one is joined to
// the config file's directory, so the same file loads the same way from any working directory
// (`ringgate -t` in a shell, the service manager starting the gateway in `/`). A config loaded
// from a string has no directory and keeps them relative to the working directory.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ringgate/config/config.h"

namespace ringgate {
namespace {

// A JWKS with one HS256 key (32 bytes, base64url).
constexpr const char* kJwks =
    R"({"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]})";
constexpr const char* kApiKeys =
    "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3 acme\n";

constexpr const char* kConfig = R"(server:
  listen: "127.0.0.1:0"
  hosts_file: hosts
auth:
  jwt:
    main: {jwks_file: jwks.json}
  api_keys:
    partners: {file: keys/api-keys.txt}
)";

// Changes the working directory for the scope.
class InDirectory {
 public:
  explicit InDirectory(const std::string& dir) : saved_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~InDirectory() { std::filesystem::current_path(saved_); }
  InDirectory(const InDirectory&) = delete;
  InDirectory& operator=(const InDirectory&) = delete;

 private:
  std::filesystem::path saved_;
};

class ConfigPaths : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/ringgate_paths_test_XXXXXX";
    ASSERT_NE(mkdtemp(name), nullptr);
    dir_ = name;
    write("jwks.json", kJwks);
    ASSERT_EQ(mkdir((dir_ + "/keys").c_str(), 0700), 0);
    write("keys/api-keys.txt", kApiKeys);
    write("hosts", "127.0.0.1 catalog.internal\n");
    config_ = write("gw.yaml", kConfig);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }

  // Every path of the config, as the gateway will open it.
  void expect_joined_to_the_directory(const Config& c) const {
    EXPECT_EQ(c.server.hosts_file, dir_ + "/hosts");
    ASSERT_EQ(c.jwt_issuers.size(), 1u);
    EXPECT_EQ(c.jwt_issuers[0].jwks_file, dir_ + "/jwks.json");
    ASSERT_TRUE(c.jwt_issuers[0].keys);
    EXPECT_EQ(c.jwt_issuers[0].keys->size(), 1u);
    ASSERT_EQ(c.api_keys.size(), 1u);
    EXPECT_EQ(c.api_keys[0].file, dir_ + "/keys/api-keys.txt");
    ASSERT_TRUE(c.api_keys[0].table);
    EXPECT_EQ(c.api_keys[0].table->size(), 1u);
  }

  std::string dir_;
  std::string config_;
};

TEST_F(ConfigPaths, RelativePathsAreJoinedToTheConfigFilesDirectory) {
  for (const char* cwd : {"/", "/tmp"}) {
    SCOPED_TRACE(cwd);
    InDirectory in(cwd);
    expect_joined_to_the_directory(load_config_file(config_));
  }
}

// A config named by a relative path still gives absolute paths: an API-key file is re-read
// while the gateway runs, whatever the working directory is by then.
TEST_F(ConfigPaths, ARelativeConfigPathGivesAbsolutePaths) {
  const std::filesystem::path dir(dir_);
  InDirectory in(dir.parent_path().string());
  const std::string name = dir.filename().string();
  for (const std::string& path : {name + "/gw.yaml", "./" + name + "/gw.yaml"}) {
    SCOPED_TRACE(path);
    expect_joined_to_the_directory(load_config_file(path));
  }
  InDirectory deeper(dir_);
  expect_joined_to_the_directory(load_config_file("gw.yaml"));
}

TEST_F(ConfigPaths, AbsolutePathsAreKept) {
  const std::string text = std::string("server: {listen: \"127.0.0.1:0\", hosts_file: \"") + dir_ +
                           "/hosts\"}\nauth: {jwt: {main: {jwks_file: \"" + dir_ +
                           "/jwks.json\"}}}\n";
  const std::string other = write("elsewhere.yaml", text);
  InDirectory in("/");
  const Config c = load_config_file(other);
  EXPECT_EQ(c.server.hosts_file, dir_ + "/hosts");
  EXPECT_EQ(c.jwt_issuers.at(0).jwks_file, dir_ + "/jwks.json");
}

// The message gives the path as written and the path opened.
TEST_F(ConfigPaths, AMissingFileNamesThePathItOpened) {
  write("bad.yaml",
        "server: {listen: \"127.0.0.1:0\"}\nauth: {jwt: {main: {jwks_file: nope.json}}}\n");
  InDirectory in("/");
  try {
    load_config_file(dir_ + "/bad.yaml");
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir_ + "/bad.yaml:2:32: auth.jwt.main.jwks_file: jwks_file \"nope.json\" (" + dir_ +
                  "/nope.json) cannot be read: No such file or directory");
  }
}

// A config from a string (the embedded default, tests) has no directory of its own.
TEST_F(ConfigPaths, AStringConfigKeepsThemRelativeToTheWorkingDirectory) {
  {
    InDirectory in(dir_);
    const Config c = load_config_string(kConfig, "<string>");
    EXPECT_EQ(c.server.hosts_file, "hosts");
    EXPECT_EQ(c.jwt_issuers.at(0).jwks_file, "jwks.json");
    EXPECT_EQ(c.api_keys.at(0).file, "keys/api-keys.txt");
  }
  InDirectory in("/");
  EXPECT_THROW(load_config_string(kConfig, "<string>"), ConfigError);
}

}  // namespace
}  // namespace ringgate
