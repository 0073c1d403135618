// conf/ringgate.yaml documents every option in commented-out example blocks, written so that
// removing the first two characters ("# ") of each of their lines gives working YAML in place
// (the convention is spelled out at the top of the file). Here every block is uncommented, all
// together, and the result must load: a prose line slipped into a block, or a block that no
// longer fits the others, fails this test.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "ringgate/config/config.h"

namespace ringgate {
namespace {

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// "# KEY:" for a top-level key, or "#   - " (a route under `routes:`): the first line of a block.
bool starts_block(const std::string& line) {
  static const char* const kTopLevel[] = {
      "server:",      "admin:", "logging:", "upstreams:", "auth:",
      "rate_limits:", "redis:", "caches:",  "routes:"};
  for (const char* key : kTopLevel) {
    if (starts_with(line, std::string("# ") + key)) {
      return true;
    }
  }
  return starts_with(line, "#   - ");
}

// "  # key: value" inside a section in use: an option shown commented out.
bool is_commented_option(const std::string& line, std::string* uncommented) {
  const size_t indent = line.find_first_not_of(' ');
  if (indent == 0 || indent == std::string::npos || line.compare(indent, 2, "# ") != 0) {
    return false;
  }
  const size_t key = indent + 2;
  size_t end = key;
  while (end < line.size() && ((line[end] >= 'a' && line[end] <= 'z') || line[end] == '_')) {
    ++end;
  }
  if (end == key || end >= line.size() || line[end] != ':') {
    return false;
  }
  *uncommented = line.substr(0, indent) + line.substr(key);
  return true;
}

struct Uncommented {
  std::string yaml;
  std::vector<std::string> blocks;   // the first line of each block and route, uncommented
  std::vector<std::string> options;  // each option uncommented in a section in use
  std::vector<std::string> bad;      // lines of a block that do not start with "# "
};

Uncommented uncomment(const std::string& text) {
  Uncommented out;
  std::istringstream in(text);
  bool in_block = false;
  for (std::string line; std::getline(in, line);) {
    if (in_block && (line.empty() || line == "#" || line[0] != '#')) {
      in_block = false;
    }
    std::string option;
    if (in_block) {
      if (!starts_with(line, "# ")) {
        out.bad.push_back(line);
      }
      if (starts_with(line, "#   - ")) {
        out.blocks.push_back(line.substr(2));  // the next route of a routes block
      }
      out.yaml += line.substr(std::min<size_t>(2, line.size())) + "\n";
    } else if (starts_block(line)) {
      in_block = true;
      out.blocks.push_back(line.substr(2));
      out.yaml += line.substr(2) + "\n";
    } else if (is_commented_option(line, &option)) {
      out.options.push_back(option);
      out.yaml += option + "\n";
    } else {
      out.yaml += line + "\n";
    }
  }
  return out;
}

class DocumentedExamples : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/ringgate_examples_test_XXXXXX";
    ASSERT_NE(mkdtemp(name), nullptr);
    dir_ = name;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(DocumentedExamples, EveryBlockUncommentedLoads) {
  const Uncommented u = uncomment(kEmbeddedDefaultConfig);
  EXPECT_TRUE(u.bad.empty()) << "block lines not starting with \"# \":\n"
                             << ::testing::PrintToString(u.bad);
  // The blocks the file has today; a new one is welcome, a lost one is a mistake.
  std::vector<std::string> heads;
  for (const std::string& b : u.blocks) {
    heads.push_back(b.substr(0, b.find(':') + 1));
  }
  EXPECT_EQ(heads,
            (std::vector<std::string>{"logging:", "upstreams:", "auth:", "rate_limits:", "redis:",
                                      "caches:", "  - name:", "  - name:", "  - name:"}))
      << ::testing::PrintToString(u.blocks);
  EXPECT_EQ(u.options, std::vector<std::string>{"  hosts_file: hosts"});

  // The files the blocks name, next to the config as relative paths are.
  write("hosts", "10.0.0.9 orders.svc\n");
  write(
      "jwks.json",
      R"({"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]})");
  write("api-keys.txt", "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3 acme\n");
  const std::string file = write("ringgate.yaml", u.yaml);

  Config c;
  try {
    c = load_config_file(file);
  } catch (const ConfigError& e) {
    FAIL() << e.what() << "\n--- uncommented:\n" << u.yaml;
  }
  EXPECT_EQ(c.server.hosts_file, dir_ + "/hosts");
  std::vector<std::string> clusters;
  for (const UpstreamConfig& up : c.upstreams) {
    clusters.push_back(up.name);
  }
  EXPECT_EQ(clusters,
            (std::vector<std::string>{"orders", "catalog", "inventory", "pricing", "jwks.main"}));
  ASSERT_EQ(c.jwt_issuers.size(), 1u);
  EXPECT_EQ(c.jwt_issuers[0].jwks_file, dir_ + "/jwks.json");
  ASSERT_EQ(c.api_keys.size(), 1u);
  EXPECT_EQ(c.api_keys[0].file, dir_ + "/api-keys.txt");
  ASSERT_EQ(c.rate_limits.size(), 1u);
  EXPECT_TRUE(c.redis.enabled);
  ASSERT_EQ(c.routes.size(), 7u);
  EXPECT_TRUE(std::holds_alternative<DirectResponse>(c.routes[0].action));
  EXPECT_TRUE(std::holds_alternative<UpstreamAction>(c.routes[1].action));
  EXPECT_TRUE(std::holds_alternative<AggregateAction>(c.routes[2].action));
  EXPECT_EQ(c.routes[3].name, "hello");
  EXPECT_TRUE(c.warnings.empty()) << ::testing::PrintToString(c.warnings);
}

}  // namespace
}  // namespace ringgate
