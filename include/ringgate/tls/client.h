#pragma once
// The client side of TLS to upstreams: one SSL_CTX per cluster, built when the config is loaded
// and shared read-only by the shards (verification on by default, against `ca` or the system's
// store; SNI and the name checked per endpoint), and the per-endpoint resumption slot a shard
// keeps so that each new pooled connection resumes the last session.

#include <memory>
#include <string>
#include <string_view>

#include "ringgate/tls/config.h"

struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;

namespace ringgate {

// The latest session an endpoint gave this shard (TLS 1.3 tickets arrive after the handshake:
// kept when they do). One per endpoint per shard; no locking.
class TlsResumption {
 public:
  TlsResumption() = default;
  ~TlsResumption();
  TlsResumption(const TlsResumption&) = delete;
  TlsResumption& operator=(const TlsResumption&) = delete;
  TlsResumption(TlsResumption&& other) noexcept : session_(other.session_) {
    other.session_ = nullptr;
  }

  ssl_session_st* get() const { return session_; }
  // Takes ownership of `s` (replacing the one kept).
  void keep(ssl_session_st* s);

 private:
  ssl_session_st* session_ = nullptr;
};

class TlsClient {
 public:
  static std::shared_ptr<TlsClient> create(const TlsUpstreamConfig& config, std::string& error);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // A client SSL for a connection to `host` (the endpoint's host: a name or an address
  // literal), offering `resumption`'s session and keeping the new ones there.
  ssl_st* new_ssl(std::string_view host, TlsResumption* resumption) const;

 private:
  TlsClient() = default;
  ssl_ctx_st* ctx_ = nullptr;
  std::string sni_;
  bool verify_ = true;
};

}  // namespace ringgate
