#pragma once
// The TLS side of one HTTPS listener, built off the shards and shared read-only by them: one
// SSL_CTX per certificate set (SNI picks the set: exact name, then wildcard, else the default;
// a set may hold an ECDSA and an RSA certificate, and OpenSSL serves ECDSA to clients that offer
// it), ALPN, process-wide session-ticket keys, optional client certificates, and reload of the
// certificate files when they change (new handshakes use the new contexts; established
// connections keep theirs).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/tls/config.h"

struct ssl_st;

namespace ringgate {

class TlsContexts;

// The process's session-ticket secret (32 bytes; every ticket key is derived from it), made at
// first use. A process that replaces a running gateway (reload, upgrade) adopts its
// predecessor's, so that tickets issued before resume after; adopt before any shard runs.
std::string session_ticket_secret();
bool adopt_session_ticket_secret(std::string_view secret);

// A certificate as loaded, for the metrics.
struct TlsCertificateInfo {
  std::string file;
  int64_t not_after = 0;  // Unix seconds
};

class TlsServer {
 public:
  // Loads every certificate and key of `config` and builds the contexts. Null with `error`
  // saying which file and why when one is unusable.
  static std::shared_ptr<TlsServer> create(const TlsListenConfig& config, std::string& error);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // A server-side SSL for a new connection, on the current contexts (nullptr: no memory).
  ssl_st* new_ssl() const;

  // Re-reads the certificate, key and CA files if any changed since they were last read (not on
  // a shard: it parses PEM). Returns true when new contexts were published; false with `error`
  // set when a changed file is unusable (the contexts in use stay until the files change again),
  // false with `error` empty when nothing changed.
  bool reload_if_changed(std::string& error);
  // The certificates in use now.
  std::vector<TlsCertificateInfo> certificates() const;
  uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }

 private:
  explicit TlsServer(const TlsListenConfig& config);
  // The files' identity when last read: a change to any of them is a reload.
  struct FileStamp {
    std::string path;
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
  };
  std::vector<FileStamp> stamp_files() const;

  TlsListenConfig config_;  // a copy: the server may outlive the config it was built from
  std::atomic<const TlsContexts*> current_{nullptr};
  // Every set of contexts ever published: a handshake in progress on a shard may still use an
  // older one. A reload is rare and a set is small (OpenSSL's own objects are reference-counted).
  std::vector<std::unique_ptr<TlsContexts>> kept_;
  std::vector<FileStamp> stamps_;  // reload_if_changed's thread only
  std::mutex reload_mutex_;        // reloads are serialized; never taken on a shard
  std::atomic<uint64_t> reloads_{0};
};

}  // namespace ringgate
