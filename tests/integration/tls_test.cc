// HTTPS listeners, with the clients a user would use (curl, openssl s_client) and with a test
// client that controls every ciphertext byte (tls_client.h): SNI and ALPN, refused versions,
// resumption across shards, mTLS, certificates replaced on disk, and the limits (handshake
// timeout, handshakes in flight, garbage and plain HTTP on the TLS port).

#include <openssl/ssl.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"
#include "proxy_fixture.h"
#include "successors.h"
#include "tls_client.h"

namespace ringgate::it {
namespace {

// The value of one labelled sample in /metrics (`series` as printed, labels included), or -1.
double series(uint16_t admin_port, const std::string& name) {
  auto r = fetch(admin_port, request("GET", "/metrics"));
  if (!r) {
    return -1;
  }
  const std::string key = "\n" + name + " ";
  const size_t at = ("\n" + r->body).find(key);
  if (at == std::string::npos) {
    return -1;
  }
  return std::strtod(r->body.c_str() + at + key.size() - 1, nullptr);
}

template <typename Pred>
double wait_series(uint16_t admin_port, const std::string& name, Pred pred, Millis timeout = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  double v = series(admin_port, name);
  while (!pred(v) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    v = series(admin_port, name);
  }
  return v;
}

std::string failures(const std::string& reason) {
  return "ringgate_tls_handshake_failures_total{reason=\"" + reason + "\"}";
}

class TlsTest : public GatewayTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(make_certificate(dir_.path(), {"api", {"api.test", "localhost"}}), "");
  }
  std::string file(const std::string& name) const { return dir_.path() + "/" + name; }
  // `tls:` with these certificates (names of pairs made by make_certificate) and more keys.
  std::string tls(const std::vector<std::string>& certs, const std::string& more = "") const {
    std::string out = "{certificates: [";
    for (size_t i = 0; i < certs.size(); ++i) {
      out += (i ? ", " : "") + std::string("{cert: ") + file(certs[i] + ".pem") +
             ", key: " + file(certs[i] + ".key") + "}";
    }
    return out + "]" + (more.empty() ? "" : ", " + more) + "}";
  }
  GatewayProcess& start_tls(const std::string& tls_value, unsigned workers = 1,
                            const std::string& upstreams = "", const std::string& routes = "") {
    ConfigSpec spec;
    spec.workers = workers;
    spec.listen_tls = tls_value;
    spec.upstreams = upstreams;
    spec.routes = routes;
    return start(spec);
  }
  CommandResult curl(uint16_t port, std::vector<std::string> args) const {
    std::vector<std::string> argv = {
        "curl",          "-sS",       "--cacert",
        file("api.pem"), "--resolve", "api.test:" + std::to_string(port) + ":127.0.0.1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, 20s);
  }
  // `openssl s_client` with `args`, sending GET /hello with Connection: close once connected:
  // it exits when the gateway closes, after the session tickets have arrived.
  CommandResult s_client(uint16_t port, std::vector<std::string> args) const {
    std::vector<std::string> argv = {"openssl", "s_client", "-connect",
                                     "127.0.0.1:" + std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("-ign_eof");
    std::vector<std::string> sh = {
        "sh", "-c",
        "printf 'GET /hello HTTP/1.1\\r\\nHost: api.test\\r\\nConnection: close\\r\\n\\r\\n' | "};
    for (const std::string& a : argv) {
      sh[2] += "'" + a + "' ";
    }
    sh[2] += "2>&1";
    return run_command(sh, 20s);
  }
  std::string url(uint16_t port, const std::string& path) const {
    return "https://api.test:" + std::to_string(port) + path;
  }

  TempDir dir_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(TlsTest, CurlGetsResponsesOverOneKeepAliveConnection) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  // Two requests on one connection: curl reports one connect for the first, none for the next;
  // HTTP/2 when it may choose (ALPN h2), HTTP/1.1 keep-alive when asked for.
  const CommandResult r = curl(gw.port(), {"-w", " connects=%{num_connects} %{http_version}\n",
                                           url(gw.port(), "/hello"), url(gw.port(), "/hello")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello connects=1 2\nhello connects=0 2\n");
  const CommandResult h1 =
      curl(gw.port(), {"--http1.1", "-w", " connects=%{num_connects} %{http_version}\n",
                       url(gw.port(), "/hello"), url(gw.port(), "/hello")});
  ASSERT_EQ(h1.exit_code, 0) << h1.err;
  EXPECT_EQ(h1.out, "hello connects=1 1.1\nhello connects=0 1.1\n");
  // One full handshake per connection (curl keeps no session between runs).
  EXPECT_EQ(wait_series(gw.admin_port(),
                        "ringgate_tls_handshakes_total{version=\"TLSv1.3\",result=\"full\"}",
                        [](double v) { return v >= 2; }),
            2);
  // A body both ways: 300 KiB uploaded (many records, many receive buffers).
  const std::string body_file = dir_.write("body.bin", std::string(300 * 1024, 'b'));
  const CommandResult up = curl(gw.port(), {"-w", "%{http_code} %{size_upload}", "--data-binary",
                                            "@" + body_file, url(gw.port(), "/upload")});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(up.out, "stored201 307200");
}

TEST_F(TlsTest, ProxiedRequestsSayHttpsUpstreamAndCarryLargeBodies) {
  const std::string record = file("upstream.log");
  Upstream up({"--record", record});
  ASSERT_NE(up.port(), 0);
  auto& gw = start_tls(tls({"api"}), 1, "  api:\n    endpoints: [" + endpoint(up.port()) + "]\n",
                       "  - match: {prefix: /}\n    upstream: api\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  // A 1 MiB response comes back whole through the TLS transport (64 records and more).
  const CommandResult big =
      curl(gw.port(), {"-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                       url(gw.port(), "/big?body_size=1048576")});
  ASSERT_EQ(big.exit_code, 0) << big.err;
  EXPECT_EQ(big.out, "200 1048576");
  const CommandResult r =
      curl(gw.port(), {"-H", "X-Forwarded-Proto: http", url(gw.port(), "/echo")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Recorded rec = read_record(record);
  ASSERT_FALSE(rec.requests.empty());
  const std::string& last = rec.requests.back();
  EXPECT_TRUE(contains(last, "X-Forwarded-Proto: https\r\n")) << last;
  EXPECT_FALSE(contains(last, "X-Forwarded-Proto: http\r\n")) << last;  // the client's is gone
}

TEST_F(TlsTest, AWebSocketUpgradeTunnelsOverTls) {
  Upstream up;
  ASSERT_NE(up.port(), 0);
  auto& gw = start_tls(tls({"api"}), 1, "  api:\n    endpoints: [" + endpoint(up.port()) + "]\n",
                       "  - match: {prefix: /}\n    upstream: api\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  TlsClient c(gw.port(), {.sni = "api.test"});
  std::string why;
  ASSERT_TRUE(c.handshake(&why)) << why;
  ASSERT_TRUE(
      c.send(request("GET", "/ws?upgrade=1", "Connection: Upgrade\r\nUpgrade: websocket\r\n")));
  ReadOptions interim;
  interim.skip_interim = false;
  auto r = read_response(c.conn(), interim, &why);
  ASSERT_TRUE(r) << why;
  ASSERT_EQ(r->status, 101) << r->raw;
  // Both ways through the tunnel: 1 MiB in 64 KiB rounds, each echoed back before the next
  // (one thread drives the client's SSL object).
  std::string piece(64 * 1024, '\0');
  for (int round = 0; round < 16; ++round) {
    for (size_t i = 0; i < piece.size(); ++i) {
      piece[i] = static_cast<char>('a' + (i * 7 + static_cast<size_t>(round)) % 26);
    }
    ASSERT_TRUE(c.send(piece));
    ASSERT_EQ(c.read_exact(piece.size(), 10s), piece) << "round " << round;
  }
}

TEST_F(TlsTest, PipelinedRequestsAreAnsweredInOrder) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  TlsClient c(gw.port(), {.ca_file = file("api.pem"), .sni = "api.test"});
  std::string why;
  ASSERT_TRUE(c.handshake(&why)) << why;
  ASSERT_TRUE(c.send(request("GET", "/hello") + request("GET", "/p/x") + request("GET", "/t/7")));
  const char* expected[] = {"hello", "prefix", "template"};
  for (const char* body : expected) {
    auto r = read_response(c.conn(), {}, &why);
    ASSERT_TRUE(r) << why;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, body);
  }
}

TEST_F(TlsTest, SniPicksTheCertificateByNameExactThenWildcardElseTheDefault) {
  ASSERT_EQ(make_certificate(dir_.path(), {"legacy", {"*.legacy.test"}, "rsa"}), "");
  ASSERT_EQ(make_certificate(dir_.path(), {"shop", {"shop.legacy.test"}}), "");
  auto& gw = start_tls(tls({"api", "legacy", "shop"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto served = [&](const std::string& sni) {
    TlsClient c(gw.port(), {.sni = sni});
    std::string why;
    EXPECT_TRUE(c.handshake(&why)) << sni << ": " << why;
    return c.peer_fingerprint();
  };
  const std::string api = pem_fingerprint(file("api.pem"));
  const std::string legacy = pem_fingerprint(file("legacy.pem"));
  const std::string shop = pem_fingerprint(file("shop.pem"));
  EXPECT_EQ(served("api.test"), api);
  EXPECT_EQ(served("API.Test"), api);  // names are case-insensitive
  EXPECT_EQ(served("www.legacy.test"), legacy);
  EXPECT_EQ(served("shop.legacy.test"), shop);  // exact before wildcard
  EXPECT_EQ(served("a.b.legacy.test"), api);    // a wildcard covers one label only
  EXPECT_EQ(served("unknown.example"), api);
  EXPECT_EQ(served(""), api);  // no SNI at all
}

TEST_F(TlsTest, EcdsaAndRsaForOneNameServeEcdsaToClientsThatOfferIt) {
  ASSERT_EQ(make_certificate(dir_.path(), {"api-rsa", {"api.test", "localhost"}, "rsa"}), "");
  auto& gw = start_tls(tls({"api-rsa", "api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const CommandResult any = s_client(gw.port(), {"-servername", "api.test"});
  EXPECT_TRUE(contains(any.out, "Peer signature type: ECDSA")) << any.out;
  const CommandResult rsa_only = s_client(
      gw.port(), {"-servername", "api.test", "-sigalgs", "rsa_pss_rsae_sha256:RSA+SHA256"});
  EXPECT_TRUE(contains(rsa_only.out, "Peer signature type: RSA")) << rsa_only.out;
  EXPECT_TRUE(contains(rsa_only.out, "Server public key is 2048 bit")) << rsa_only.out;
}

TEST_F(TlsTest, AlpnPrefersH2ThenHttp11AndRefusesOnlyUnknownProtocols) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const CommandResult both = s_client(gw.port(), {"-alpn", "h2,http/1.1"});
  EXPECT_TRUE(contains(both.out, "ALPN protocol: h2")) << both.out;
  const CommandResult http11 = s_client(gw.port(), {"-alpn", "http/1.1"});
  EXPECT_TRUE(contains(http11.out, "ALPN protocol: http/1.1")) << http11.out;
  const CommandResult unknown = s_client(gw.port(), {"-alpn", "spdy/3"});
  EXPECT_TRUE(contains(unknown.out, "no application protocol")) << unknown.out;
  EXPECT_EQ(wait_series(gw.admin_port(), failures("alpn"), [](double v) { return v >= 1; }), 1);
  const CommandResult none = s_client(gw.port(), {});
  EXPECT_TRUE(contains(none.out, "No ALPN negotiated")) << none.out;
}

TEST_F(TlsTest, AListenerThatOffersOnlyHttp11RefusesAnH2OnlyClient) {
  auto& gw = start_tls(tls({"api"}, "alpn: [http/1.1]"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const CommandResult both = s_client(gw.port(), {"-alpn", "h2,http/1.1"});
  EXPECT_TRUE(contains(both.out, "ALPN protocol: http/1.1")) << both.out;
  const CommandResult h2 = s_client(gw.port(), {"-alpn", "h2"});
  EXPECT_TRUE(contains(h2.out, "no application protocol")) << h2.out;
}

TEST_F(TlsTest, OldProtocolVersionsAreRefused) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* flag : {"-tls1", "-tls1_1"}) {
    const CommandResult r = s_client(gw.port(), {flag, "-cipher", "DEFAULT:@SECLEVEL=0"});
    EXPECT_TRUE(contains(r.out, "alert protocol version")) << flag << ": " << r.out;
  }
  EXPECT_EQ(
      wait_series(gw.admin_port(), failures("protocol_version"), [](double v) { return v >= 2; }),
      2);
  const CommandResult v12 = s_client(gw.port(), {"-tls1_2"});
  EXPECT_TRUE(contains(v12.out, "Protocol  : TLSv1.2")) << v12.out;
}

TEST_F(TlsTest, TwentyReconnectsOnATwoShardGatewayAllResume) {
  auto& gw = start_tls(tls({"api"}), 2);
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* version : {"-tls1_3", "-tls1_2"}) {
    const std::string sess = file(std::string("session") + version);
    const CommandResult first = s_client(gw.port(), {version, "-sess_out", sess});
    ASSERT_TRUE(contains(first.out, "\nNew, ")) << first.out;
    int resumed = 0;
    for (int i = 0; i < 20; ++i) {
      const CommandResult again = s_client(gw.port(), {version, "-sess_in", sess});
      resumed += contains(again.out, "\nReused, ");
    }
    EXPECT_EQ(resumed, 20) << version;
  }
  EXPECT_EQ(wait_series(gw.admin_port(), "ringgate_tls_resumptions_total",
                        [](double v) { return v >= 40; }),
            40);
}

// A reload (in the same process) moves an idle TLS keep-alive connection, with its session, to
// the new generation: its next request is answered there, on the new config, on the same
// connection, with no new handshake and no Connection: close. TLS 1.3 and 1.2 alike.
TEST_F(TlsTest, AReloadMovesAnIdleTlsConnectionInPlace) {
  ConfigSpec spec;
  spec.workers = 2;
  spec.listen_tls = tls({"api"});
  auto routes = [](const std::string& body) {
    return "  - match: {path: /v}\n    direct: {status: 200, body: \"" + body + "\"}\n" +
           default_routes();
  };
  spec.routes = routes("before");
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<std::unique_ptr<TlsClient>> clients;
  for (int max_version : {0, TLS1_2_VERSION}) {
    clients.push_back(std::make_unique<TlsClient>(
        gw.port(), TlsClientOptions{.sni = "api.test", .max_version = max_version}));
    std::string why;
    ASSERT_TRUE(clients.back()->handshake(&why)) << why;
    ASSERT_TRUE(clients.back()->send(request("GET", "/v")));
    auto r = read_response(clients.back()->conn(), {}, &why);
    ASSERT_TRUE(r) << why;
    EXPECT_EQ(r->body, "before");
  }
  spec.routes = routes("after");
  std::ofstream(gw.config_path(), std::ios::trunc) << make_config(spec);
  Successors successors;
  ASSERT_GT(successors.take_over(gw), 0) << gw.log();
  // The first generation is gone: only the new one can answer.
  ASSERT_TRUE(successors.wait_drained(gw, 1)) << gw.log();
  for (auto& c : clients) {
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(c->send(request("GET", "/v")));
      std::string why;
      auto r = read_response(c->conn(), {}, &why);
      ASSERT_TRUE(r) << why << "\n" << gw.log();
      EXPECT_EQ(r->body, "after");
      EXPECT_FALSE(r->connection_has("close")) << r->raw;
    }
  }
  EXPECT_EQ(series(gw.admin_port(), "ringgate_connections_adopted_total"), 2);
  for (const char* version : {"TLSv1.2", "TLSv1.3"}) {
    for (const char* result : {"full", "resumed"}) {
      EXPECT_EQ(series(gw.admin_port(), std::string("ringgate_tls_handshakes_total{version=\"") +
                                            version + "\",result=\"" + result + "\"}"),
                0)
          << version << " " << result;
    }
  }
}

// A new generation keeps the session-ticket secret (an upgrade hands it to the new process):
// sessions from before resume after (a reload at an edge must not cost every client a full
// handshake).
class TlsReloadTest : public TlsTest, public ::testing::WithParamInterface<Takeover> {};
INSTANTIATE_TEST_SUITE_P(, TlsReloadTest, ::testing::Values(Takeover::kReload, Takeover::kUpgrade),
                         takeover_name);

TEST_P(TlsReloadTest, SessionsFromBeforeANewGenerationResumeAfterIt) {
  auto& gw = start_tls(tls({"api"}), 2);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Successors successors(GetParam());
  std::vector<std::string> versions = {"-tls1_3", "-tls1_2"};
  for (const std::string& version : versions) {
    const CommandResult first = s_client(gw.port(), {version, "-sess_out", file("s" + version)});
    ASSERT_TRUE(contains(first.out, "\nNew, ")) << first.out;
  }
  ASSERT_GT(successors.take_over(gw), 0) << gw.log();
  ASSERT_TRUE(successors.wait_drained(gw, 1)) << gw.log();  // only the new one answers now
  for (const std::string& version : versions) {
    const CommandResult again = s_client(gw.port(), {version, "-sess_in", file("s" + version)});
    EXPECT_TRUE(contains(again.out, "\nReused, ")) << version << ": " << again.out;
  }
}

// Certificates reload with the config: a reload that points the listener at another certificate
// serves it to new handshakes.
TEST_F(TlsTest, AReloadServesTheCertificateTheNewConfigNames) {
  ASSERT_EQ(make_certificate(dir_.path(), {"next", {"api.test", "localhost"}}), "");
  ConfigSpec spec;
  spec.listen_tls = tls({"api"});
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto served = [&gw] {
    TlsClient c(gw.port(), {.sni = "api.test"});
    std::string why;
    EXPECT_TRUE(c.handshake(&why)) << why;
    return c.peer_fingerprint();
  };
  EXPECT_EQ(served(), pem_fingerprint(file("api.pem")));
  spec.listen_tls = tls({"next"});
  std::ofstream(gw.config_path(), std::ios::trunc) << make_config(spec);
  Successors successors;
  ASSERT_GT(successors.take_over(gw), 0) << gw.log();
  ASSERT_TRUE(successors.wait_drained(gw, 1)) << gw.log();
  EXPECT_EQ(served(), pem_fingerprint(file("next.pem")));
}

TEST_F(TlsTest, ClientCertificatesAreRequiredWithClientCa) {
  ASSERT_EQ(make_certificate(dir_.path(), {"ca", {"Test CA"}, "ec", true}), "");
  ASSERT_EQ(make_certificate(dir_.path(), {"alice", {"alice"}, "ec", false, "ca", true}), "");
  ASSERT_EQ(make_certificate(dir_.path(), {"mallory", {"mallory"}}), "");  // self-signed
  auto& gw = start_tls(tls({"api"}, "client_ca: " + file("ca.pem")));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const CommandResult ok = curl(gw.port(), {"--cert", file("alice.pem"), "--key", file("alice.key"),
                                            url(gw.port(), "/hello")});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "hello");
  const CommandResult none = curl(gw.port(), {url(gw.port(), "/hello")});
  EXPECT_NE(none.exit_code, 0) << none.out;
  const CommandResult bad = curl(gw.port(), {"--cert", file("mallory.pem"), "--key",
                                             file("mallory.key"), url(gw.port(), "/hello")});
  EXPECT_NE(bad.exit_code, 0) << bad.out;
  EXPECT_EQ(
      wait_series(gw.admin_port(), failures("client_certificate"), [](double v) { return v >= 2; }),
      2);
}

TEST_F(TlsTest, TheVerifiedClientCertificateKeysARateLimit) {
  ASSERT_EQ(make_certificate(dir_.path(), {"ca", {"Test CA"}, "ec", true}), "");
  ASSERT_EQ(make_certificate(dir_.path(), {"alice", {"alice"}, "ec", false, "ca", true}), "");
  ASSERT_EQ(make_certificate(dir_.path(), {"bob", {"bob"}, "ec", false, "ca", true}), "");
  ConfigSpec spec;
  spec.listen_tls = tls({"api"}, "client_ca: " + file("ca.pem"));
  spec.sections = "rate_limits:\n  per_cert: {key: client_cert, rate: 2/m, burst: 2}\n";
  spec.routes =
      "  - match: {path: /hello}\n    rate_limit: per_cert\n"
      "    direct: {status: 200, body: \"hello\"}\n";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto get = [&](const std::string& who) {
    return curl(gw.port(), {"-o", "/dev/null", "-w", "%{http_code}", "--cert", file(who + ".pem"),
                            "--key", file(who + ".key"), url(gw.port(), "/hello")})
        .out;
  };
  EXPECT_EQ(get("alice"), "200");
  EXPECT_EQ(get("alice"), "200");
  EXPECT_EQ(get("alice"), "429");  // alice's bucket is empty
  EXPECT_EQ(get("bob"), "200");    // bob's is his own
}

TEST_F(TlsTest, ACertificateReplacedOnDiskServesNewHandshakesWhileOpenConnectionsStay) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string before = pem_fingerprint(file("api.pem"));
  TlsClient open(gw.port(), {.sni = "api.test"});
  std::string why;
  ASSERT_TRUE(open.handshake(&why)) << why;
  EXPECT_EQ(open.peer_fingerprint(), before);
  // A first request now: an idle keep-alive connection waits idle_timeout, while one that never
  // sent a request is cut at header_timeout (counted from accept).
  ASSERT_TRUE(open.send(request("GET", "/hello")));
  ASSERT_TRUE(read_response(open.conn(), {}, &why)) << why;

  // A renewal: new key and certificate written in place (the key first, as a renewal tool does).
  TempDir renewal;
  ASSERT_EQ(make_certificate(renewal.path(), {"api", {"api.test", "localhost"}}), "");
  ASSERT_EQ(rename((renewal.path() + "/api.key").c_str(), file("api.key").c_str()), 0);
  ASSERT_EQ(rename((renewal.path() + "/api.pem").c_str(), file("api.pem").c_str()), 0);
  const std::string after = pem_fingerprint(file("api.pem"));
  ASSERT_NE(after, before);
  EXPECT_EQ(wait_metric(
                gw.admin_port(), "ringgate_tls_certificate_reloads_total",
                [](double v) { return v >= 1; }, 10s),
            1);
  TlsClient fresh(gw.port(), {.sni = "api.test"});
  ASSERT_TRUE(fresh.handshake(&why)) << why;
  EXPECT_EQ(fresh.peer_fingerprint(), after);
  // The connection opened before still works, on its own certificate.
  ASSERT_TRUE(open.send(request("GET", "/hello")));
  auto r = read_response(open.conn(), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->body, "hello");

  // A broken file is reported, and the certificate in use stays.
  dir_.write("api.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  EXPECT_TRUE(gw.wait_output("the certificates in use stay", 10s)) << gw.log();
  TlsClient third(gw.port(), {.sni = "api.test"});
  ASSERT_TRUE(third.handshake(&why)) << why;
  EXPECT_EQ(third.peer_fingerprint(), after);
}

TEST_F(TlsTest, AClientHelloSentOneByteAtATimeCompletesTheHandshake) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  TlsClient c(gw.port(),
              {.ca_file = file("api.pem"), .sni = "api.test", .chunk = 1, .chunk_pause = 1ms});
  std::string why;
  ASSERT_TRUE(c.handshake(&why, 20s)) << why;
  ASSERT_TRUE(c.send(request("GET", "/hello")));
  auto r = read_response(c.conn(), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->body, "hello");
}

TEST_F(TlsTest, ARecordSplitAcrossManyReadsIsReassembled) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  TlsClient c(gw.port(), {.sni = "api.test"});
  std::string why;
  ASSERT_TRUE(c.handshake(&why)) << why;
  // A 16 KiB body in one full-size record, sent in 1,000-byte pieces with pauses: the gateway
  // receives the record over many reads (and its first bytes with the request head's record).
  const std::string body(16384, 'x');
  c.set_chunking(1000, 5ms);  // only now: the handshake went at once
  ASSERT_TRUE(
      c.send("POST /upload HTTP/1.1\r\nHost: api.test\r\nContent-Length: 16384\r\n\r\n" + body));
  auto r = read_response(c.conn(), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "stored");
}

TEST_F(TlsTest, RecordsLargerThanAReceiveBufferAreDecryptedIntoSeveral) {
  // 4 KiB buffers, 16 of them: a 16 KiB record's plaintext takes four; the ring keeps some
  // buffers off the kernel's hands for that, and a connection that finds none waits for one.
  ConfigSpec spec;
  spec.listen_tls = tls({"api"});
  spec.buffers = "{size: 4KiB, count: 16}";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string body_file = dir_.write("body.bin", std::string(256 * 1024, 'z'));
  for (int i = 0; i < 3; ++i) {
    const CommandResult up = curl(gw.port(), {"-w", " %{http_code} %{size_upload}", "--data-binary",
                                              "@" + body_file, url(gw.port(), "/upload")});
    ASSERT_EQ(up.exit_code, 0) << up.err;
    EXPECT_EQ(up.out, "stored 201 262144");
  }
  // Several clients at once share the 16 buffers.
  std::vector<std::thread> clients;
  std::vector<std::string> outs(4);
  for (size_t i = 0; i < outs.size(); ++i) {
    clients.emplace_back([&, i] {
      outs[i] = curl(gw.port(), {"-w", " %{http_code}", "--data-binary", "@" + body_file,
                                 url(gw.port(), "/upload")})
                    .out;
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  for (const std::string& out : outs) {
    EXPECT_EQ(out, "stored 201");
  }
}

TEST_F(TlsTest, HandshakeTimeoutClosesASilentConnection) {
  auto& gw = start_tls(tls({"api"}, "handshake_timeout: 300ms"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn silent = connect_to(gw.port());
  ASSERT_TRUE(silent.valid());
  // Half a ClientHello: a handshake that started and stopped.
  Conn half = connect_to(gw.port());
  ASSERT_TRUE(send_all(half, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_closed(silent, 3s));
  EXPECT_TRUE(wait_closed(half, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(wait_series(gw.admin_port(), failures("timeout"), [](double v) { return v >= 2; }), 2);
  EXPECT_EQ(series(gw.admin_port(), "ringgate_tls_handshakes_in_progress"), 0);
}

TEST_F(TlsTest, AHeaderTimeoutShorterThanTheHandshakeTimeoutClosesAHandshakeInProgress) {
  ConfigSpec spec;
  spec.listen_tls = tls({"api"});  // handshake_timeout: the default 10s
  spec.limits = {{"header_timeout", "300ms"}};
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn half = connect_to(gw.port());
  ASSERT_TRUE(send_all(half, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_closed(half, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(wait_series(gw.admin_port(), "ringgate_tls_handshakes_in_progress",
                        [](double v) { return v == 0; }),
            0);
  const double closed = series(gw.admin_port(), failures("closed"));
  const double timeout = series(gw.admin_port(), failures("timeout"));
  EXPECT_EQ(closed + timeout, 1) << "closed " << closed << ", timeout " << timeout;
}

TEST_F(TlsTest, GarbageAndPlainHttpOnTheTlsPortAreClosedAndCounted) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn garbage = connect_to(gw.port());
  ASSERT_TRUE(
      send_all(garbage, std::string("\x16\x03\x01\x00\x08garbage!\x17\x03\x03\xff\xff", 18)));
  std::string got;
  EXPECT_TRUE(wait_closed(garbage, 3s, &got));
  // An alert record (content type 21) may come first.
  EXPECT_TRUE(got.empty() || got[0] == '\x15') << visible(got);
  EXPECT_EQ(wait_series(gw.admin_port(), failures("bad_record"), [](double v) { return v >= 1; }),
            1);

  // Plain HTTP: a 400 in plain text says what went wrong, then the connection closes.
  Conn plain = connect_to(gw.port());
  ASSERT_TRUE(send_all(plain, request("GET", "/hello")));
  std::string answer;
  EXPECT_TRUE(read_until_eof(plain, answer, 3s));
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << answer;
  EXPECT_TRUE(contains(answer, "https://")) << answer;
  EXPECT_EQ(wait_series(gw.admin_port(), failures("http_request"), [](double v) { return v >= 1; }),
            1);
}

TEST_F(TlsTest, ABadRecordAfterTheHandshakeClosesWithAnAlertAndIsCounted) {
  auto& gw = start_tls(tls({"api"}));
  ASSERT_TRUE(gw.ok()) << gw.error();
  TlsClient c(gw.port(), {.sni = "api.test"});
  std::string why;
  ASSERT_TRUE(c.handshake(&why)) << why;
  ASSERT_TRUE(c.send(request("GET", "/hello")));
  ASSERT_TRUE(read_response(c.conn(), {}, &why)) << why;
  // An application-data record whose authentication tag cannot verify, written under the TLS
  // layer straight onto the socket.
  std::string forged("\x17\x03\x03\x00\x30", 5);
  forged += std::string(0x30, '\x5a');
  ASSERT_TRUE(send_all(c.conn(), forged));
  Conn& raw = c.conn();
  raw.source = nullptr;  // read the ciphertext as is: an alert record, then the close
  std::string got;
  EXPECT_TRUE(wait_closed(raw, 3s, &got));
  EXPECT_FALSE(got.empty());
  EXPECT_EQ(got.empty() ? 0 : got[0], 0x17) << "the alert goes under the session's keys";
  EXPECT_EQ(wait_series(gw.admin_port(), "ringgate_tls_bad_records_total",
                        [](double v) { return v >= 1; }),
            1);
}

TEST_F(TlsTest, HandshakesPastMaxHandshakesAreRefusedAtOnce) {
  auto& gw = start_tls(tls({"api"}, "max_handshakes: 2"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn a = connect_to(gw.port());
  Conn b = connect_to(gw.port());
  ASSERT_TRUE(wait_series(gw.admin_port(), "ringgate_tls_handshakes_in_progress",
                          [](double v) { return v >= 2; }) >= 2);
  Conn c = connect_to(gw.port());
  EXPECT_TRUE(wait_closed(c, 2s));
  EXPECT_TRUE(stays_silent(a, 200ms));
  EXPECT_EQ(wait_series(gw.admin_port(), failures("overload"), [](double v) { return v >= 1; }), 1);
  // A finished handshake frees its place.
  a.close();
  b.close();
  EXPECT_EQ(wait_series(gw.admin_port(), "ringgate_tls_handshakes_in_progress",
                        [](double v) { return v == 0; }),
            0);
  const CommandResult r = curl(gw.port(), {url(gw.port(), "/hello")});
  EXPECT_EQ(r.out, "hello") << r.err;
}

// TLS to upstreams: a second gateway with an HTTPS listener is the upstream.
class UpstreamTlsTest : public TlsTest {
 protected:
  // The upstream: HTTPS with the "api" certificate (api.test, localhost), the default routes.
  GatewayProcess& start_upstream() { return start_tls(tls({"api"})); }
  // The front gateway: plain HTTP, everything to cluster "secure" with this `tls:` value.
  GatewayProcess& start_front(uint16_t upstream_port, const std::string& tls_value,
                              const std::string& more = "") {
    ConfigSpec spec;
    spec.upstreams = "  secure:\n    endpoints: [\"127.0.0.1:" + std::to_string(upstream_port) +
                     "\"]\n    tls: " + tls_value + "\n" + more;
    spec.routes = "  - match: {prefix: /}\n    upstream: secure\n";
    return start(spec);
  }
};

TEST_F(UpstreamTlsTest, RequestsGoOverVerifiedTlsAndNewConnectionsResume) {
  auto& up = start_upstream();
  ASSERT_TRUE(up.ok()) << up.error();
  // One request per connection: every request after the first opens a connection that offers
  // the session the last one received.
  auto& front = start_front(up.port(), "{sni: api.test, ca: " + file("api.pem") + "}",
                            "    max_requests_per_connection: 1\n");
  ASSERT_TRUE(front.ok()) << front.error();
  for (int i = 0; i < 6; ++i) {
    std::string why;
    auto r = fetch(front.port(), request("GET", "/hello"), {}, &why);
    ASSERT_TRUE(r) << why;
    EXPECT_EQ(r->status, 200) << r->raw;
    EXPECT_EQ(r->body, "hello");
  }
  EXPECT_EQ(
      series(up.admin_port(), "ringgate_tls_handshakes_total{version=\"TLSv1.3\",result=\"full\"}"),
      1);
  EXPECT_EQ(wait_series(up.admin_port(), "ringgate_tls_resumptions_total",
                        [](double v) { return v >= 5; }),
            5);
}

TEST_F(UpstreamTlsTest, AnUpstreamThatFailsVerificationIsA502NamingTheCluster) {
  ASSERT_EQ(make_certificate(dir_.path(), {"other", {"other.test"}}), "");
  auto& up = start_upstream();
  ASSERT_TRUE(up.ok()) << up.error();
  struct Case {
    std::string tls;
    int status;
  } cases[] = {
      {"{sni: api.test, ca: " + file("other.pem") + "}", 502},  // not our CA
      {"{sni: wrong.test, ca: " + file("api.pem") + "}", 502},  // not the name we asked for
      {"{ca: " + file("api.pem") + "}", 502},                   // 127.0.0.1: not in the cert
      {"{sni: api.test, verify: false}", 200},                  // told not to check
  };
  for (const Case& c : cases) {
    auto& front = start_front(up.port(), c.tls);
    ASSERT_TRUE(front.ok()) << front.error();
    std::string why;
    auto r = fetch(front.port(), request("GET", "/hello"), {}, &why);
    ASSERT_TRUE(r) << why;
    EXPECT_EQ(r->status, c.status) << c.tls << "\n" << r->raw;
    if (c.status == 502) {
      EXPECT_TRUE(contains(r->body, "secure")) << r->body;
    }
  }
}

// A reload (in the same process) hands idle pooled TLS connections to the new generation with
// their sessions: its requests go over them (pool hits, no new handshake at the upstream) when
// the cluster's TLS settings are unchanged; with other settings they are not kept.
TEST_F(UpstreamTlsTest, AReloadKeepsPooledTlsConnectionsOfUnchangedClusters) {
  auto& up = start_upstream();
  ASSERT_TRUE(up.ok()) << up.error();
  const std::string verified = "{sni: api.test, ca: " + file("api.pem") + "}";
  auto& front = start_front(up.port(), verified);
  ASSERT_TRUE(front.ok()) << front.error();
  auto three_requests = [&front] {
    Conn c = connect_to(front.port());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(send_all(c, request("GET", "/hello")));
      std::string why;
      auto r = read_response(c, {}, &why);
      ASSERT_TRUE(r) << why;
      EXPECT_EQ(r->body, "hello") << r->raw;
    }
  };
  const std::string full = "ringgate_tls_handshakes_total{version=\"TLSv1.3\",result=\"full\"}";
  const std::string pool = "{upstream=\"secure\"}";
  three_requests();
  EXPECT_EQ(series(up.admin_port(), full), 1);
  Successors successors;
  ASSERT_GT(successors.take_over(front), 0) << front.log();
  ASSERT_TRUE(successors.wait_drained(front, 1)) << front.log();
  three_requests();
  EXPECT_EQ(series(front.admin_port(), "ringgate_upstream_pool_hits_total" + pool), 3);
  EXPECT_EQ(series(front.admin_port(), "ringgate_upstream_pool_misses_total" + pool), 0);
  EXPECT_EQ(series(up.admin_port(), full), 1);  // the same connection: no handshake since
  EXPECT_EQ(series(up.admin_port(), "ringgate_tls_resumptions_total"), 0);

  // Other settings (no verification now): the session is not taken, a new connection is made.
  ConfigSpec spec;
  spec.upstreams = "  secure:\n    endpoints: [\"127.0.0.1:" + std::to_string(up.port()) +
                   "\"]\n    tls: {sni: api.test, verify: false}\n";
  spec.routes = "  - match: {prefix: /}\n    upstream: secure\n";
  std::ofstream(front.config_path(), std::ios::trunc) << make_config(spec);
  ASSERT_GT(successors.take_over(front), 0) << front.log();
  ASSERT_TRUE(successors.wait_drained(front, 2)) << front.log();
  three_requests();
  EXPECT_EQ(series(front.admin_port(), "ringgate_upstream_pool_misses_total" + pool), 1);
  EXPECT_EQ(series(front.admin_port(), "ringgate_upstream_pool_hits_total" + pool), 2);
}

// Active health checks on a tls cluster: a new connection each interval, verified like the
// cluster's own, resuming the session the last one received.
TEST_F(UpstreamTlsTest, HealthChecksGoOverVerifiedTlsAndResume) {
  auto& up = start_upstream();
  ASSERT_TRUE(up.ok()) << up.error();
  auto& front = start_front(up.port(), "{sni: api.test, ca: " + file("api.pem") + "}",
                            "    health: {path: /hello, interval: 200ms, timeout: 200ms, "
                            "healthy_threshold: 1, unhealthy_threshold: 1}\n");
  ASSERT_TRUE(front.ok()) << front.error();
  const std::string ep =
      "{upstream=\"secure\",endpoint=\"127.0.0.1:" + std::to_string(up.port()) + "\"}";
  EXPECT_GE(wait_series(front.admin_port(), "ringgate_upstream_endpoint_health_checks_total" + ep,
                        [](double v) { return v >= 6; }),
            6);
  EXPECT_EQ(
      series(front.admin_port(), "ringgate_upstream_endpoint_health_checks_failed_total" + ep), 0);
  EXPECT_EQ(series(front.admin_port(), "ringgate_upstream_endpoint_healthy" + ep), 1);
  // The upstream saw them: one full handshake, every later check resumed.
  EXPECT_EQ(
      series(up.admin_port(), "ringgate_tls_handshakes_total{version=\"TLSv1.3\",result=\"full\"}"),
      1);
  EXPECT_GE(series(up.admin_port(), "ringgate_tls_resumptions_total"), 5);
  std::string why;
  auto r = fetch(front.port(), request("GET", "/hello"), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200) << r->raw;
}

// A check fails when the upstream cannot be verified, and when it answers anything but 2xx over
// a verified connection: either way the endpoint turns unhealthy.
TEST_F(UpstreamTlsTest, HealthChecksThatFailVerificationOrGetNo2xxMarkTheEndpointUnhealthy) {
  ASSERT_EQ(make_certificate(dir_.path(), {"other", {"other.test"}}), "");
  auto& up = start_upstream();
  ASSERT_TRUE(up.ok()) << up.error();
  const std::string ep =
      "{upstream=\"secure\",endpoint=\"127.0.0.1:" + std::to_string(up.port()) + "\"}";
  struct Case {
    std::string tls;
    std::string path;
  } cases[] = {
      {"{sni: api.test, ca: " + file("other.pem") + "}", "/hello"},       // not our CA
      {"{sni: api.test, ca: " + file("api.pem") + "}", "/no-such-page"},  // verified, 404
  };
  for (const Case& c : cases) {
    auto& front = start_front(up.port(), c.tls,
                              "    health: {path: " + c.path +
                                  ", interval: 200ms, timeout: 200ms, healthy_threshold: 1, "
                                  "unhealthy_threshold: 2}\n");
    ASSERT_TRUE(front.ok()) << front.error();
    EXPECT_GE(wait_series(front.admin_port(),
                          "ringgate_upstream_endpoint_health_checks_failed_total" + ep,
                          [](double v) { return v >= 2; }),
              2)
        << c.tls << " " << c.path;
    EXPECT_EQ(wait_series(front.admin_port(), "ringgate_upstream_endpoint_healthy" + ep,
                          [](double v) { return v == 0; }),
              0)
        << c.tls << " " << c.path;
  }
}

TEST(TlsConfig, UpstreamTlsProblemsAreRefusedWithTheirLine) {
  TempDir dir;
  ASSERT_EQ(make_certificate(dir.path(), {"a", {"a.test"}}), "");
  struct Case {
    std::string cluster;
    std::string says;
  } cases[] = {
      {"tls: {ca: /nonexistent.pem}", "cannot be read"},
      {"tls: {ca: " + dir.path() + "/a.key}", "ca "},
      {"tls: {client_cert: " + dir.path() + "/a.pem}", "client_cert and client_key go together"},
  };
  for (const Case& c : cases) {
    ConfigSpec spec;
    spec.upstreams = "  secure:\n    endpoints: [\"127.0.0.1:9\"]\n    " + c.cluster + "\n";
    spec.routes = "  - match: {prefix: /}\n    upstream: secure\n";
    const std::string file = dir.write("gw.yaml", make_config(spec));
    const CommandResult t = run_binary({"-t", "-c", file});
    EXPECT_EQ(t.exit_code, 1) << c.cluster;
    EXPECT_TRUE(contains(t.err, file + ":")) << t.err;
    EXPECT_TRUE(contains(t.err, c.says)) << c.cluster << "\n" << t.err;
  }
}

// Config problems point at the line that caused them, and the gateway does not start.
TEST(TlsConfig, BadCertificatesAndSettingsAreRefusedWithTheirLine) {
  TempDir dir;
  ASSERT_EQ(make_certificate(dir.path(), {"a", {"a.test"}}), "");
  ASSERT_EQ(make_certificate(dir.path(), {"b", {"b.test"}}), "");
  const std::string a_pem = dir.path() + "/a.pem";
  const std::string a_key = dir.path() + "/a.key";
  const std::string b_key = dir.path() + "/b.key";
  struct Case {
    std::string tls;
    std::string says;
  } cases[] = {
      {"{certificates: [{cert: " + a_pem + ", key: " + b_key + "}]}", "mismatch"},
      {"{certificates: [{cert: " + a_pem + ", key: /nonexistent.key}]}", "cannot be read"},
      {"{certificates: [{cert: " + a_key + ", key: " + a_key + "}]}", "no PEM certificate"},
      {"{certificates: [{cert: " + a_pem + ", key: " + a_key + "}], protocols: [TLSv1.1]}",
       "TLSv1.1 cannot be enabled"},
      {"{certificates: [{cert: " + a_pem + ", key: " + a_key + "}], alpn: [spdy/3]}",
       "unknown application protocol"},
      {"{certificates: [{cert: " + a_pem + ", key: " + a_key + "}], ciphers: NOPE}", "ciphers"},
      {"{certificates: []}", "at least one"},
  };
  for (const Case& c : cases) {
    ConfigSpec spec;
    spec.listen_tls = c.tls;
    const std::string file = dir.write("gw.yaml", make_config(spec));
    const CommandResult t = run_binary({"-t", "-c", file});
    EXPECT_EQ(t.exit_code, 1) << c.tls;
    EXPECT_TRUE(contains(t.err, file + ":6:")) << c.tls << "\n" << t.err;
    EXPECT_TRUE(contains(t.err, c.says)) << c.tls << "\n" << t.err;
  }
}

}  // namespace
}  // namespace ringgate::it
