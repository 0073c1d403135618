#pragma once
// A TLS listener's settings (`server.listen[].tls`), as the config loader fills them in. Here and
// not in config.h so that the TLS module, below config, needs nothing above core.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ringgate {

// One certificate of a TLS listener: a PEM chain (leaf first) and its private key (ECDSA or
// RSA). Paths as opened: relative ones given in a config file are joined to its directory.
struct TlsCertificateConfig {
  std::string cert;
  std::string key;
};

// The contexts built from it (tls/server.h); made when the config is loaded, so that a bad
// certificate is a config error, and shared read-only by the shards.
class TlsServer;

// `server.listen[].tls`: HTTPS on this listener.
struct TlsListenConfig {
  // The first is the default; SNI picks another by its subjectAltNames (exact, then wildcard).
  std::vector<TlsCertificateConfig> certificates;
  uint16_t min_version = 0x0303;  // TLSv1.2 (older versions cannot be enabled)
  uint16_t max_version = 0x0304;  // TLSv1.3
  // TLS 1.2 cipher list in OpenSSL's syntax; "default": ECDHE with AEAD ciphers only. TLS 1.3's
  // suites are all AEAD.
  std::string ciphers = "default";
  // Offered in this order of preference; "h2" is accepted and skipped until HTTP/2 lands.
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  bool session_tickets = true;
  // Ticket keys are process-wide (a resumption may land on any shard) and replaced this often;
  // a ticket stays valid for two periods.
  std::chrono::milliseconds ticket_key_rotation{12 * 3600 * 1000};
  std::string client_ca;  // PEM CA bundle: clients must present a certificate it signed (mTLS)
  std::chrono::milliseconds handshake_timeout{10000};
  // Handshakes in progress per shard; a connection past it is closed at once (and counted).
  uint32_t max_handshakes = 1024;
  std::shared_ptr<TlsServer> server;
};

class TlsClient;

// `upstreams.NAME.tls`: TLS to the cluster's endpoints.
struct TlsUpstreamConfig {
  // server_name sent and, when verifying, the name the certificate must carry; empty: the
  // endpoint's host when it is a name (an address literal sends none and is checked as an IP).
  std::string sni;
  std::string ca;           // PEM CA bundle to verify against; empty: the system's trust store
  bool verify = true;       // off only for testing: the peer is then whoever answers
  std::string client_cert;  // client certificate (the upstream's mTLS), with client_key
  std::string client_key;
  bool h2 = false;                    // the cluster speaks HTTP/2: ALPN offers h2 (and only h2)
  std::shared_ptr<TlsClient> client;  // built when the config is loaded
};

}  // namespace ringgate
