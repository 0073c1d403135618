// Config loading: every field read back, defaults, shorthands, the embedded default config, and
// one case per class of error with its exact file:line:column.

#include "ringgate/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "config_test_util.h"

namespace ringgate {
namespace {

using config_test::error_of;
using config_test::ErrorCase;

const DirectResponse& direct_of(const RouteConfig& route) {
  return config_test::action_of<DirectResponse>(route);
}

TEST(Config, EveryFieldRoundTrips) {
  const Config c = load_config_string(R"(server:
  workers: 8
  pin_cpus: false
  listen:
    - address: "127.0.0.1:8081"
    - address: "[::1]:8082"
  buffers: {size: 32KiB, count: 1024}
  limits:
    request_line: 4KiB
    header_bytes: 32KiB
    headers: 50
    body_bytes: 1MB
    connections: 500
    header_timeout: 5s
    idle_timeout: 2m
    request_timeout: 1500ms
  drain_timeout: 1h
  server_header: "gw/1"
  ring_entries: 256
  backlog: 128
admin:
  enabled: false
  listen: "127.0.0.1:9999"
routes:
  - name: exact
    match: {path: /a, methods: [GET, POST], host: Example.COM}
    direct:
      status: 201
      headers: {content-type: text/plain, set-cookie: [a=1, b=2]}
      body: "made\n"
  - match: {prefix: /p/}
    direct: {status: 404}
  - match: {path: "/t/{id}/x/{name}"}
    direct: {}
)",
                                      "full.yaml");
  EXPECT_EQ(c.source, "full.yaml");
  const ServerConfig& s = c.server;
  EXPECT_EQ(s.workers, 8u);
  EXPECT_FALSE(s.pin_cpus);
  ASSERT_EQ(s.listen.size(), 2u);
  EXPECT_EQ(s.listen[0].address, "127.0.0.1:8081");
  EXPECT_EQ(s.listen[0].mark.file, "full.yaml");
  EXPECT_EQ(s.listen[0].mark.line, 5);
  EXPECT_EQ(s.listen[0].mark.column, 16);
  EXPECT_EQ(s.listen[1].address, "[::1]:8082");
  EXPECT_EQ(s.listen[1].mark.line, 6);
  EXPECT_EQ(s.buffers.size, 32u * 1024);
  EXPECT_EQ(s.buffers.count, 1024u);
  EXPECT_EQ(s.limits.request_line, 4u * 1024);
  EXPECT_EQ(s.limits.header_bytes, 32u * 1024);
  EXPECT_EQ(s.limits.headers, 50u);
  EXPECT_EQ(s.limits.body_bytes, 1000000u);
  EXPECT_EQ(s.limits.connections, 500u);
  EXPECT_EQ(s.limits.header_timeout, Duration(5000));
  EXPECT_EQ(s.limits.idle_timeout, Duration(120000));
  EXPECT_EQ(s.limits.request_timeout, Duration(1500));
  EXPECT_EQ(s.drain_timeout, Duration(3600000));
  EXPECT_EQ(s.server_header, "gw/1");
  EXPECT_EQ(s.ring_entries, 256u);
  EXPECT_EQ(s.backlog, 128u);
  EXPECT_EQ(s.trusted_hops, 0u);  // not given

  EXPECT_FALSE(c.admin.enabled);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9999");
  EXPECT_EQ(c.admin.mark.line, 23);
  EXPECT_EQ(c.admin.mark.column, 11);

  ASSERT_EQ(c.routes.size(), 3u);
  const RouteConfig& r0 = c.routes[0];
  EXPECT_EQ(r0.name, "exact");
  EXPECT_EQ(r0.mark.line, 25);
  EXPECT_EQ(r0.mark.column, 5);
  EXPECT_EQ(r0.match.kind, RouteMatch::Kind::kExact);
  EXPECT_EQ(r0.match.path, "/a");
  EXPECT_EQ(r0.match.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(r0.match.host, "example.com");  // lower-cased
  const DirectResponse& d0 = direct_of(r0);
  EXPECT_EQ(d0.status, 201);
  ASSERT_EQ(d0.headers.size(), 3u);
  EXPECT_EQ(d0.headers[0].name, "content-type");
  EXPECT_EQ(d0.headers[0].value, "text/plain");
  EXPECT_EQ(d0.headers[1].name, "set-cookie");
  EXPECT_EQ(d0.headers[1].value, "a=1");
  EXPECT_EQ(d0.headers[2].name, "set-cookie");
  EXPECT_EQ(d0.headers[2].value, "b=2");
  EXPECT_EQ(d0.body, "made\n");

  const RouteConfig& r1 = c.routes[1];
  EXPECT_EQ(r1.name, "route#2");
  EXPECT_EQ(r1.match.kind, RouteMatch::Kind::kPrefix);
  EXPECT_EQ(r1.match.path, "/p/");
  EXPECT_TRUE(r1.match.methods.empty());
  EXPECT_TRUE(r1.match.host.empty());
  EXPECT_EQ(direct_of(r1).status, 404);
  EXPECT_TRUE(direct_of(r1).body.empty());

  const RouteConfig& r2 = c.routes[2];
  EXPECT_EQ(r2.name, "route#3");
  EXPECT_EQ(r2.match.kind, RouteMatch::Kind::kTemplate);
  EXPECT_EQ(r2.match.path, "/t/{id}/x/{name}");
  EXPECT_EQ(direct_of(r2).status, 200);
  EXPECT_TRUE(direct_of(r2).headers.empty());
}

TEST(Config, OmittedOptionsTakeTheStructDefaults) {
  const Config c = load_config_string("server: {listen: \"127.0.0.1:0\"}\n", "d.yaml");
  const ServerConfig defaults;
  EXPECT_EQ(c.server.workers, 0u);  // auto
  EXPECT_EQ(c.server.pin_cpus, defaults.pin_cpus);
  EXPECT_EQ(c.server.buffers.size, defaults.buffers.size);
  EXPECT_EQ(c.server.buffers.count, defaults.buffers.count);
  EXPECT_EQ(c.server.limits.request_line, defaults.limits.request_line);
  EXPECT_EQ(c.server.limits.header_bytes, defaults.limits.header_bytes);
  EXPECT_EQ(c.server.limits.headers, defaults.limits.headers);
  EXPECT_EQ(c.server.limits.body_bytes, defaults.limits.body_bytes);
  EXPECT_EQ(c.server.limits.connections, defaults.limits.connections);
  EXPECT_EQ(c.server.limits.header_timeout, defaults.limits.header_timeout);
  EXPECT_EQ(c.server.limits.idle_timeout, defaults.limits.idle_timeout);
  EXPECT_EQ(c.server.limits.request_timeout, defaults.limits.request_timeout);
  EXPECT_EQ(c.server.drain_timeout, defaults.drain_timeout);
  EXPECT_EQ(c.server.drain_grace, Duration(1000));
  EXPECT_EQ(c.server.server_header, "ringgate");
  EXPECT_EQ(c.server.ring_entries, defaults.ring_entries);
  EXPECT_EQ(c.server.backlog, defaults.backlog);
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9901");
  EXPECT_EQ(c.aggregate.max_calls_in_flight, 0u);  // auto
  EXPECT_EQ(c.aggregate.queue_timeout, Duration(1000));
  EXPECT_TRUE(c.routes.empty());
}

TEST(Config, AggregateBudget) {
  Config c = load_config_string(
      "server: {listen: \":0\"}\naggregate: {max_calls_in_flight: 300, queue_timeout: 250ms}\n",
      "s");
  EXPECT_EQ(c.aggregate.max_calls_in_flight, 300u);
  EXPECT_EQ(c.aggregate.queue_timeout, Duration(250));
  c = load_config_string("server: {listen: \":0\"}\naggregate: {max_calls_in_flight: auto}\n", "s");
  EXPECT_EQ(c.aggregate.max_calls_in_flight, 0u);
  const ErrorCase cases[] = {
      {"server: {listen: \":0\"}\naggregate: {max_calls_in_flight: 0}\n", "t.yaml:2:34",
       "aggregate.max_calls_in_flight: must be between 1 and 1048576"},
      {"server: {listen: \":0\"}\naggregate: {max_calls_in_flight: [1]}\n", "t.yaml:2:34",
       "expected a number or 'auto', got a list"},
      {"server: {listen: \":0\"}\naggregate: {queue_timeout: 2m}\n", "t.yaml:2:28",
       "aggregate.queue_timeout"},
      {"server: {listen: \":0\"}\naggregate: {max_calls: 5}\n", "t.yaml:2:13",
       "unknown key 'max_calls' in 'aggregate'"},
  };
  config_test::expect_errors(cases);
}

// buffers.count auto: a buffer per fourth connection of the shard's share, 256..4096.
TEST(Config, BufferCountAuto) {
  Config c = load_config_string("server: {listen: \":0\"}\n", "s");
  EXPECT_EQ(c.server.buffers.count, 0u);  // auto
  c = load_config_string("server: {listen: \":0\", buffers: {count: auto}}\n", "s");
  EXPECT_EQ(c.server.buffers.count, 0u);
  EXPECT_EQ(buffer_count_auto(5000), 2048u);  // 10000 connections on 2 shards
  EXPECT_EQ(buffer_count_auto(157), 256u);    // ... on 64 shards
  EXPECT_EQ(buffer_count_auto(0), 256u);
  EXPECT_EQ(buffer_count_auto(1u << 20), 4096u);
  EXPECT_EQ(buffer_count_auto(4096), 1024u);
}

TEST(Config, Overload) {
  Config c = load_config_string("server: {listen: \":0\"}\n", "s");
  EXPECT_EQ(c.overload.memory, 0u);  // auto
  EXPECT_EQ(c.overload.fds, 0u);
  c = load_config_string("server: {listen: \":0\"}\noverload: {memory: 512MiB, fds: 5000}\n", "s");
  EXPECT_EQ(c.overload.memory, 512u << 20);
  EXPECT_EQ(c.overload.fds, 5000u);
  c = load_config_string("server: {listen: \":0\"}\noverload: {memory: auto, fds: auto}\n", "s");
  EXPECT_EQ(c.overload.memory, 0u);
  const ErrorCase cases[] = {
      {"server: {listen: \":0\"}\noverload: {memory: 10KiB}\n", "t.yaml:2:20",
       "overload.memory: must be between 1MiB and"},
      {"server: {listen: \":0\"}\noverload: {fds: 8}\n", "t.yaml:2:17",
       "overload.fds: must be between 16 and"},
      {"server: {listen: \":0\"}\noverload: {fds: lots}\n", "t.yaml:2:17",
       "expected a number or 'auto', got 'lots'"},
  };
  config_test::expect_errors(cases);
  // auto: a quarter of the host's memory or of a lower cgroup limit, at least 64MiB; the
  // open-file limit less 64.
  EXPECT_EQ(overload_memory_auto(16ull << 30, 0), 4ull << 30);
  EXPECT_EQ(overload_memory_auto(16ull << 30, 2ull << 30), 512ull << 20);
  EXPECT_EQ(overload_memory_auto(128ull << 20, 0), 64ull << 20);
  EXPECT_EQ(overload_fds_auto(20000), 19936u);
  EXPECT_EQ(overload_fds_auto(100), 50u);
}

// auto: half of the descriptors the client connections leave, per shard, within 64..1024.
TEST(Config, AggregateBudgetAuto) {
  EXPECT_EQ(aggregate_calls_auto(20000, 10000, 2), 1024u);  // 2500 a shard, capped
  EXPECT_EQ(aggregate_calls_auto(20000, 10000, 8), 625u);
  EXPECT_EQ(aggregate_calls_auto(1024, 10000, 1), 64u);  // nothing left: the minimum
  EXPECT_EQ(aggregate_calls_auto(1u << 20, 10000, 64), 1024u);
}

TEST(Config, Shorthands) {
  // `listen` as one string, and as a list of strings; `workers: auto`; empty sections.
  Config c = load_config_string(
      "server: {workers: auto, listen: \"0.0.0.0:1234\", limits: , buffers: }\nroutes:\n", "s");
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].address, "0.0.0.0:1234");
  EXPECT_EQ(c.server.workers, 0u);
  c = load_config_string("server:\n  listen: [\"127.0.0.1:1\", \"[::1]:2\"]\n", "s");
  ASSERT_EQ(c.server.listen.size(), 2u);
  EXPECT_EQ(c.server.listen[1].address, "[::1]:2");
  c = load_config_string("server:\n  listen: {address: \"127.0.0.1:3\"}\n", "s");
  ASSERT_EQ(c.server.listen.size(), 1u);

  // `admin: {listen}` alone; a single method; an empty direct action.
  c = load_config_string(R"(server: {listen: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:7000"}
routes:
  - match: {path: /x, methods: DELETE}
    direct:
)",
                         "s");
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:7000");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].match.methods, std::vector<std::string>{"DELETE"});
  EXPECT_EQ(direct_of(c.routes[0]).status, 200);

  // Port 0 everywhere never clashes; a disabled admin cannot clash.
  c = load_config_string(
      "server: {listen: [\"127.0.0.1:0\", \"0.0.0.0:0\"]}\n"
      "admin: {listen: \"127.0.0.1:0\"}\n",
      "s");
  EXPECT_EQ(c.server.listen.size(), 2u);
  EXPECT_NO_THROW(
      load_config_string("server: {listen: \"127.0.0.1:9901\"}\nadmin: {enabled: false}\n", "s"));
}

TEST(Config, EmbeddedDefaultLoads) {
  const Config c = load_config_string(kEmbeddedDefaultConfig, "<embedded>");
  EXPECT_EQ(c.source, "<embedded>");
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].address, "0.0.0.0:8080");
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9901");
  EXPECT_EQ(c.server.workers, 0u);

  // The annotated file spells out every default; it must agree with the code's.
  const ServerConfig d;
  EXPECT_EQ(c.server.pin_cpus, d.pin_cpus);
  EXPECT_EQ(c.server.buffers.size, d.buffers.size);
  EXPECT_EQ(c.server.buffers.count, d.buffers.count);
  EXPECT_EQ(c.server.limits.request_line, d.limits.request_line);
  EXPECT_EQ(c.server.limits.header_bytes, d.limits.header_bytes);
  EXPECT_EQ(c.server.limits.headers, d.limits.headers);
  EXPECT_EQ(c.server.limits.body_bytes, d.limits.body_bytes);
  EXPECT_EQ(c.server.limits.connections, d.limits.connections);
  EXPECT_EQ(c.server.limits.header_timeout, d.limits.header_timeout);
  EXPECT_EQ(c.server.limits.idle_timeout, d.limits.idle_timeout);
  EXPECT_EQ(c.server.limits.request_timeout, d.limits.request_timeout);
  EXPECT_EQ(c.server.drain_timeout, d.drain_timeout);
  EXPECT_EQ(c.server.server_header, d.server_header);
  EXPECT_EQ(c.server.ring_entries, d.ring_entries);
  EXPECT_EQ(c.server.backlog, d.backlog);
  EXPECT_EQ(c.server.batch_wait_us, d.batch_wait_us);
  EXPECT_EQ(c.server.batch_wait_auto, d.batch_wait_auto);
  EXPECT_EQ(c.server.trusted_hops, d.trusted_hops);
  EXPECT_TRUE(c.upstreams.empty());  // documented, commented out

  ASSERT_EQ(c.routes.size(), 4u);
  EXPECT_EQ(c.routes[0].name, "hello");
  EXPECT_EQ(c.routes[0].match.kind, RouteMatch::Kind::kExact);
  EXPECT_EQ(c.routes[0].match.path, "/hello");
  EXPECT_EQ(c.routes[0].match.methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(direct_of(c.routes[0]).status, 200);
  EXPECT_EQ(direct_of(c.routes[0]).body, "hello from ringgate\n");
  ASSERT_FALSE(direct_of(c.routes[0]).headers.empty());
  EXPECT_EQ(direct_of(c.routes[0]).headers[0].name, "content-type");
  EXPECT_EQ(direct_of(c.routes[0]).headers[0].value.rfind("text/plain", 0), 0u);

  EXPECT_EQ(c.routes[1].name, "health");
  EXPECT_EQ(c.routes[1].match.path, "/health");
  EXPECT_EQ(direct_of(c.routes[1]).body, "{\"status\":\"ok\"}\n");

  EXPECT_EQ(c.routes[2].name, "api-ping");
  EXPECT_EQ(c.routes[2].match.kind, RouteMatch::Kind::kTemplate);
  EXPECT_EQ(c.routes[2].match.path, "/api/{version}/ping");
  EXPECT_EQ(direct_of(c.routes[2]).headers[0].value, "application/json");

  EXPECT_EQ(c.routes[3].name, "static");
  EXPECT_EQ(c.routes[3].match.kind, RouteMatch::Kind::kPrefix);
  EXPECT_EQ(c.routes[3].match.path, "/static/");
  EXPECT_FALSE(direct_of(c.routes[3]).body.empty());
}

TEST(Config, EmbeddedMatchesTheFileOnDisk) {
  std::ifstream in(std::string(RINGGATE_SOURCE_DIR) + "/conf/ringgate.yaml", std::ios::binary);
  ASSERT_TRUE(in);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, kEmbeddedDefaultConfig);
}

TEST(Config, ExamplesLoad) {
  const std::filesystem::path dir = std::filesystem::path(RINGGATE_SOURCE_DIR) / "conf/examples";
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") {
      EXPECT_NO_THROW(load_config_file(entry.path().string())) << entry.path();
      ++loaded;
    }
  }
  EXPECT_GT(loaded, 0);
}

// The first line of every route case: a valid server section.
#define SERVER "server: {listen: \"127.0.0.1:0\"}\n"

const ErrorCase kConfigErrors[] = {
    // Unknown keys, at each level.
    {"server:\n  wokers: 4\n  listen: \":0\"\n", "t.yaml:2:3",
     "unknown key 'wokers' in 'server' (expected one of: workers, pin_cpus, listen, buffers, "
     "limits, drain_timeout, drain_grace, server_header, ring_entries, backlog, batch_wait, "
     "trusted_hops, trace_context, hosts_file, http2)"},
    {SERVER "routs: []\n", "t.yaml:2:1",
     "unknown key 'routs' at the top level (expected one of: server, admin, overload, "
     "aggregate, logging, upstreams, auth, redis, rate_limits, caches, routes)"},
    {"server:\n  listen:\n    - addr: \":0\"\n", "t.yaml:3:7",
     "unknown key 'addr' in 'server.listen[0]' (expected one of: address, tls)"},
    {SERVER "routes:\n  - match: {path: /a}\n    proxy: x\n", "t.yaml:4:5",
     "unknown key 'proxy' in 'routes[0]' (expected one of: name, match, path_allow, cors, "
     "rate_limit, "
     "auth, cache, direct, upstream, aggregate)"},
    {SERVER "routes:\n  - match: {path: /a}\n    path_allow: [encoded_slash, dots]\n"
            "    direct: {}\n",
     "t.yaml:4:33",
     "unknown path_allow value 'dots' (encoded_slash, backslash, nul, overlong_utf8)"},
    {SERVER "admin: {listen: \":1\", enable: false}\n", "t.yaml:2:23", "unknown key 'enable'"},
    {"server:\n  listen: \":0\"\n  listen: \":1\"\n", "t.yaml:3:3",
     "duplicate key 'listen' in 'server' (first at line 2)"},
    {"? [a]\n: 1\n", "t.yaml:1:3", "keys must be plain names"},

    // Wrong types.
    {"- a\n- b\n", "t.yaml:1:1",
     "expected a map with keys server, admin, overload, aggregate, logging, upstreams, auth, "
     "redis, "
     "rate_limits, caches, routes at the top level, got "
     "a list"},
    {"server:\n  listen: \":0\"\n  workers: {a: 1}\n", "t.yaml:3:12",
     "server.workers: expected a number or 'auto', got a map"},
    {"server:\n  listen: \":0\"\n  workers:\n", "t.yaml:3:3",
     "server.workers: expected a number or 'auto', got an empty value"},
    {"server:\n  listen: \":0\"\n  workers: -3\n", "t.yaml:3:12",
     "server.workers: expected a number or 'auto', got '-3'"},
    {"server:\n  listen: \":0\"\n  limits: {headers: abc}\n", "t.yaml:3:21",
     "server.limits.headers: expected a whole number, got 'abc'"},
    {"server:\n  listen: \":0\"\n  limits:\n    header_bytes: lots\n", "t.yaml:4:19",
     "server.limits.header_bytes: expected a size like 16KiB, got 'lots'"},
    {"server:\n  listen: \":0\"\n  limits:\n    idle_timeout: 60\n", "t.yaml:4:19",
     "server.limits.idle_timeout: expected a duration like 300ms, 60s, 2m or 1h, got '60' (a "
     "unit is required"},
    {"server:\n  listen: \":0\"\n  drain_timeout: 2s\n  drain_grace: 3s\n", "t.yaml:4:16",
     "server.drain_grace: must not exceed drain_timeout (2000ms)"},
    {"server:\n  listen: \":0\"\n  http2: {max_streams: 10}\n", "t.yaml:3:11",
     "unknown key 'max_streams' in 'server.http2' (expected one of: max_concurrent_streams, "
     "initial_window, max_header_list, max_resets_per_second)"},
    {"server:\n  listen: \":0\"\n  http2: {max_concurrent_streams: 0}\n", "t.yaml:3:35",
     "server.http2.max_concurrent_streams: must be between 1 and 10000, got 0"},
    {"server:\n  listen: \":0\"\n  http2: {initial_window: 100}\n", "t.yaml:3:27",
     "server.http2.initial_window: must be between 1KiB and"},
    {"server:\n  listen: \":0\"\n  http2: {max_header_list: all}\n", "t.yaml:3:28",
     "server.http2.max_header_list: expected a size like 16KiB, got 'all'"},
    {"server:\n  listen: \":0\"\n  drain_timeout: [1s]\n", "t.yaml:3:18",
     "server.drain_timeout: expected a duration like 300ms, 60s, 2m or 1h, got a list"},
    {"server:\n  listen: \":0\"\n  pin_cpus: yes\n", "t.yaml:3:13",
     "server.pin_cpus: expected true or false, got 'yes'"},
    {"server:\n  listen: \":0\"\n  limits: 5\n", "t.yaml:3:11",
     "server.limits: expected a map, got '5'"},
    {SERVER "routes: {a: 1}\n", "t.yaml:2:9", "routes: expected a list of routes, got a map"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: hello\n", "t.yaml:4:13",
     "routes[0].direct: expected a map, got 'hello'"},

    // Out of bounds.
    {"server:\n  listen: \":0\"\n  workers: 0\n", "t.yaml:3:12",
     "server.workers: must be between 1 and 1024, got 0"},
    {"server:\n  listen: \":0\"\n  workers: 1025\n", "t.yaml:3:12",
     "must be between 1 and 1024, got 1025"},
    {"server:\n  listen: \":0\"\n  buffers:\n    size: 128KiB\n", "t.yaml:4:11",
     "server.buffers.size: must be between 1KiB and 64KiB, got 128KiB"},
    {"server:\n  listen: \":0\"\n  buffers:\n    size: 1000\n", "t.yaml:4:11",
     "must be between 1KiB and 64KiB, got 1000"},
    {"server:\n  listen: \":0\"\n  buffers:\n    count: 3000\n", "t.yaml:4:12",
     "server.buffers.count: must be a power of two"},
    {"server:\n  listen: \":0\"\n  buffers:\n    count: 65536\n", "t.yaml:4:12",
     "must be between 1 and 32768, got 65536"},
    {"server:\n  listen: \":0\"\n  ring_entries: 32\n", "t.yaml:3:17",
     "server.ring_entries: must be between 64 and 32768, got 32"},
    {"server:\n  listen: \":0\"\n  ring_entries: 1000\n", "t.yaml:3:17", "must be a power of two"},
    {"server:\n  listen: \":0\"\n  limits: {headers: 1001}\n", "t.yaml:3:21",
     "must be between 1 and 1000"},
    {"server:\n  listen: \":0\"\n  limits: {header_bytes: 65537}\n", "t.yaml:3:26",
     "must be between 1KiB and 64KiB, got 65537"},
    {"server:\n  listen: \":0\"\n  limits: {body_bytes: 99999999999999999999999GiB}\n",
     "t.yaml:3:24",
     "server.limits.body_bytes: '99999999999999999999999GiB' is too large; the most "
     "is 1TiB"},
    {"server:\n  listen: \":0\"\n  drain_timeout: 99999999999999999999h\n", "t.yaml:3:18",
     "server.drain_timeout: '99999999999999999999h' is too long; the most is 1h"},
    {"server:\n  listen: \":0\"\n  limits: {idle_timeout: 0ms}\n", "t.yaml:3:26",
     "must be between 1ms and 24h, got 0ms"},
    {"server:\n  listen: \":0\"\n  limits:\n    header_bytes: 2KiB\n    request_line: 4KiB\n",
     "t.yaml:5:19",
     "server.limits.request_line (4KiB) must not exceed server.limits.header_bytes (2KiB)"},
    {"server:\n  listen: \":0\"\n  limits: {header_bytes: 4KiB}\n", "t.yaml:3:26",
     "request_line (8KiB) must not exceed server.limits.header_bytes (4KiB)"},
    {"server:\n  listen: \":0\"\n  buffers: {size: 1KiB, count: 4}\n"
     "  limits: {request_line: 1KiB, header_bytes: 8KiB}\n",
     "t.yaml:4:46", "server.limits.header_bytes (8KiB) must not exceed the receive ring"},
    {"server:\n  listen: \":0\"\n  server_header: \"a\\0b\"\n", "t.yaml:3:18",
     "server.server_header: must not contain NUL"},
    {"server:\n  listen: \":0\"\n  server_header: \"a\\r\\nX-Evil: 1\"\n", "t.yaml:3:18",
     "must not contain CR or LF"},

    // Listeners.
    {"server:\n  listen: nope\n", "t.yaml:2:11",
     "server.listen: 'nope' is not a valid address: expected host:port"},
    {"server:\n  listen:\n    - address: \"1.2.3:80\"\n", "t.yaml:3:16",
     "server.listen[0].address: '1.2.3:80' is not a valid address"},
    {"server:\n  listen:\n    - {}\n", "t.yaml:3:7", "server.listen[0]: missing 'address'"},
    {"admin: {enabled: false}\n", "t.yaml:1:1", "server.listen: at least one listener is required"},
    {"", "t.yaml:1:1", "server.listen: at least one listener is required"},
    {"server:\n  workers: 2\n", "t.yaml:2:3", "at least one listener is required"},
    {"server:\n  listen: []\n", "t.yaml:2:11", "at least one listener is required"},
    {"server:\n  listen: [\"0.0.0.0:8080\", \"127.0.0.1:8080\"]\n", "t.yaml:2:28",
     "server.listen[1]: 127.0.0.1:8080 overlaps server.listen[0] (0.0.0.0:8080)"},
    {"server: {listen: \"127.0.0.1:9901\"}\n", "t.yaml:1:18",
     "server.listen[0]: 127.0.0.1:9901 overlaps admin.listen (default 127.0.0.1:9901)"},
    {SERVER "admin: {listen: bad}\n", "t.yaml:2:17", "admin.listen: 'bad' is not a valid address"},

    // Routes.
    {SERVER "routes:\n  - direct: {}\n", "t.yaml:3:5", "routes[0]: missing 'match'"},
    {SERVER "routes:\n  - match: {path: /a}\n", "t.yaml:3:5",
     "routes[0]: missing an action (expected one of: direct, upstream, aggregate)"},
    {SERVER "routes:\n  - hello\n", "t.yaml:3:5", "routes[0]: expected a route map"},
    {SERVER "routes:\n  - match: {methods: [GET]}\n    direct: {}\n", "t.yaml:3:12",
     "routes[0].match: needs 'path' (exact or template) or 'prefix'"},
    {SERVER "routes:\n  - match: {path: /a, prefix: /b}\n    direct: {}\n", "t.yaml:3:31",
     "routes[0].match.prefix: 'path' and 'prefix' are exclusive"},
    {SERVER "routes:\n  - match: {path: hello}\n    direct: {}\n", "t.yaml:3:19",
     "routes[0].match.path: must start with '/', got 'hello'"},
    {SERVER "routes:\n  - match: {prefix: \"/a b\"}\n    direct: {}\n", "t.yaml:3:21",
     "routes[0].match.prefix: must not contain spaces"},
    {SERVER "routes:\n  - match: {path: \"/a?b=1\"}\n    direct: {}\n", "t.yaml:3:19",
     "not the query string"},
    {SERVER "routes:\n  - match: {prefix: \"/a/{id}\"}\n    direct: {}\n", "t.yaml:3:21",
     "a prefix cannot hold {parameters}"},
    {SERVER "routes:\n  - match: {path: \"/a/{id\"}\n    direct: {}\n", "t.yaml:3:19",
     "a {parameter} must be a whole path segment, not '{id'"},
    {SERVER "routes:\n  - match: {path: \"/a/x{id}\"}\n    direct: {}\n", "t.yaml:3:19",
     "must be a whole path segment, not 'x{id}'"},
    {SERVER "routes:\n  - match: {path: \"/a/{}\"}\n    direct: {}\n", "t.yaml:3:19",
     "empty parameter name"},
    {SERVER "routes:\n  - match: {path: \"/{id}/{id}\"}\n    direct: {}\n", "t.yaml:3:19",
     "duplicate parameter 'id'"},
    {SERVER "routes:\n  - match: {path: /a, methods: [get]}\n    direct: {}\n", "t.yaml:3:33",
     "routes[0].match.methods[0]: unknown method 'get'; methods are case-sensitive, write 'GET'"},
    {SERVER "routes:\n  - match: {path: /a, methods: [GET, FOO]}\n    direct: {}\n", "t.yaml:3:38",
     "routes[0].match.methods[1]: unknown method 'FOO'"},
    {SERVER "routes:\n  - match: {path: /a, methods: [GET, GET]}\n    direct: {}\n", "t.yaml:3:38",
     "method 'GET' is listed twice"},
    {SERVER "routes:\n  - match: {path: /a, methods: []}\n    direct: {}\n", "t.yaml:3:32",
     "routes[0].match.methods: empty list"},
    {SERVER "routes:\n  - match: {path: /a, host: example.com:8080}\n    direct: {}\n",
     "t.yaml:3:29", "routes[0].match.host: must not include a port"},
    {SERVER "routes:\n  - match: {path: /a, host: \"ex ample\"}\n    direct: {}\n", "t.yaml:3:29",
     "not a host name"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {status: 700}\n", "t.yaml:4:22",
     "routes[0].direct.status: must be between 100 and 599, got 700"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {status: 99}\n", "t.yaml:4:22",
     "must be between 100 and 599, got 99"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {status: 101}\n", "t.yaml:4:22",
     "interim response"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {status: 204, body: x}\n", "t.yaml:4:33",
     "routes[0].direct.body: a 204 response has no body"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {headers: {\"bad header\": x}}\n",
     "t.yaml:4:24", "routes[0].direct.headers: 'bad header' is not a valid header name"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {headers: {x-a: \"a\\nb\"}}\n",
     "t.yaml:4:29", "routes[0].direct.headers.x-a: must not contain CR or LF"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {headers: {x-a: {b: c}}}\n", "t.yaml:4:29",
     "routes[0].direct.headers.x-a: expected a header value, got a map"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {headers: {Content-Length: 5}}\n",
     "t.yaml:4:24", "'Content-Length' is set by the server"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {headers: {transfer-encoding: x}}\n",
     "t.yaml:4:24", "'transfer-encoding' is set by the server"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {headers: {CONNECTION: close}}\n",
     "t.yaml:4:24", "'CONNECTION' is set by the server"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {headers: {date: x}}\n", "t.yaml:4:24",
     "'date' is set by the server"},
    {SERVER "routes:\n  - match: {path: /a}\n    direct: {headers: {a: x, A: y}}\n", "t.yaml:4:30",
     "header 'A' is given twice"},
    {SERVER "routes:\n  - {name: a, match: {path: /a}, direct: {}}\n"
            "  - {name: a, match: {path: /b}, direct: {}}\n",
     "t.yaml:4:5", "routes[1]: duplicate route name 'a' (first at line 3)"},
    {SERVER "routes:\n  - {name: \"\", match: {path: /a}, direct: {}}\n", "t.yaml:3:12",
     "routes[0].name: must be 1 to 128 characters"},

    // YAML itself.
    {"server:\n  listen: a: b\n", "t.yaml:2:12", "illegal map value"},
    // An unclosed flow list is noticed where the input ends.
    {"server:\n  listen: [\":0\"\n", "t.yaml:3:1", "end of sequence flow not found"},
    {"server: {listen: \":0\"}\nroutes: *nope\n", "t.yaml:2:9", "anchor is not defined"},
    {SERVER "---\nserver: {}\n", "t.yaml:3:1", "more than one YAML document"},
};

TEST(ServerConfig, Http2LimitsHaveDefaultsAndTheHeaderListFollowsHeaderBytes) {
  const Config d = load_config_string(
      "server:\n  listen: \"127.0.0.1:0\"\n  limits: {header_bytes: 32KiB}\nroutes: []\n",
      "h.yaml");
  EXPECT_EQ(d.server.http2.max_concurrent_streams, 100u);
  EXPECT_EQ(d.server.http2.initial_window, 64u * 1024);
  EXPECT_EQ(d.server.http2.max_header_list, 32u * 1024);  // limits.header_bytes
  EXPECT_EQ(d.server.http2.max_resets_per_second, 200u);
  const Config c = load_config_string(
      "server:\n  listen: \"127.0.0.1:0\"\n  http2: {max_concurrent_streams: 250, "
      "initial_window: 1MiB, max_header_list: 8KiB, max_resets_per_second: 50}\nroutes: []\n",
      "h.yaml");
  EXPECT_EQ(c.server.http2.max_concurrent_streams, 250u);
  EXPECT_EQ(c.server.http2.initial_window, 1024u * 1024);
  EXPECT_EQ(c.server.http2.max_header_list, 8u * 1024);
  EXPECT_EQ(c.server.http2.max_resets_per_second, 50u);
  const Config k = load_config_string(
      "server:\n  listen: \"127.0.0.1:0\"\n  http2: {max_header_list: header_bytes}\nroutes: []\n",
      "h.yaml");
  EXPECT_EQ(k.server.http2.max_header_list, k.server.limits.header_bytes);
}

TEST(ServerConfig, DefaultDrainGraceIsCutToAShorterDrainTimeout) {
  const Config c = load_config_string(
      "server:\n  listen: \"127.0.0.1:0\"\n  drain_timeout: 300ms\nroutes: []\n", "g.yaml");
  EXPECT_EQ(c.server.drain_grace, Duration(300));
}

TEST(ConfigErrors, ExactPositionAndReason) {
  config_test::expect_errors(kConfigErrors);
}

TEST(ConfigErrors, DeepNestingIsAnErrorNotACrash) {
  const std::string message = error_of("server: " + std::string(100000, '['));
  EXPECT_EQ(message.rfind("t.yaml:1:", 0), 0u) << message;
}

// Every prefix of the default config must either load or fail with a ConfigError: no other
// exception, no crash. The default is mostly comments (53 KB, 1.7 KB without them), and loading
// all 53,000 prefixes of it took a minute (several under ASan), so the prefixes are: every one of
// the config with its comment lines dropped (every parser state of its structure), every one of
// the first 4 KiB (the states inside and between comments), and, across the whole file, the
// three around each line break (a line cut before its break, after it, one byte into the next).
TEST(ConfigErrors, EveryTruncationOfTheDefaultIsHandled) {
  const std::string text = kEmbeddedDefaultConfig;
  int failed = 0;
  const auto load_prefix = [&](const std::string& of, size_t n) {
    try {
      load_config_string(of.substr(0, n), "cut");
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("cut", 0), 0u) << e.what();
      ++failed;
    } catch (...) {
      ADD_FAILURE() << "non-ConfigError exception at length " << n;
    }
  };

  std::string structure;
  size_t lines = 0;
  for (size_t start = 0; start < text.size(); ++lines) {
    size_t end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    const std::string_view line(text.data() + start, end - start);
    const size_t first = line.find_first_not_of(" \n");
    if (first != std::string_view::npos && line[first] != '#')
      structure.append(line);
    for (const size_t n : {end - 1, end, end + 1}) {
      if (n <= text.size())
        load_prefix(text, n);
    }
    start = end;
  }
  EXPECT_GT(lines, 100u);
  // Without its comments the default is still a whole, valid config.
  EXPECT_NO_THROW(load_config_string(structure, "structure"));
  EXPECT_LT(structure.size(), text.size() / 4);
  for (size_t n = 0; n <= structure.size(); ++n)
    load_prefix(structure, n);
  for (size_t n = 0; n <= std::min<size_t>(text.size(), 4096); ++n)
    load_prefix(text, n);
  EXPECT_GT(failed, 0);
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/ringgate_config_test_XXXXXX";
    const int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = name;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void write(const std::string& text) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::string path_;
};

TEST_F(ConfigFile, LoadsAndNamesTheFile) {
  write(SERVER "routes:\n  - {match: {path: /a}, direct: {body: hi}}\n");
  const Config c = load_config_file(path_);
  EXPECT_EQ(c.source, path_);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].mark.file, path_);
  EXPECT_EQ(direct_of(c.routes[0]).body, "hi");
}

TEST_F(ConfigFile, ErrorsCarryThePath) {
  write("server:\n  listen: \":0\"\n  backlog: 0\n");
  try {
    load_config_file(path_);
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              path_ + ":3:12: server.backlog: must be between 1 and 65535, got 0");
  }
}

TEST(ConfigFileErrors, MissingFile) {
  try {
    load_config_file("/nonexistent/ringgate.yaml");
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/ringgate.yaml: cannot open: No such file or directory");
  }
}

TEST(ConfigFileErrors, Directory) {
  try {
    load_config_file("/tmp");
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/tmp: cannot read: Is a directory");
  }
}

#undef SERVER

}  // namespace
}  // namespace ringgate
