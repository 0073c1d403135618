#include "ringgate/tls/client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "openssl_error.h"

namespace ringgate {

namespace {

bool is_address(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// OpenSSL calls this when the server hands us a session (in TLS 1.3, after the handshake): the
// endpoint's slot keeps the newest. Returning 1 takes the reference.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<TlsResumption*>(SSL_get_app_data(ssl));
  if (!slot) {
    return 0;
  }
  slot->keep(session);
  return 1;
}

}  // namespace

TlsResumption::~TlsResumption() {
  SSL_SESSION_free(session_);
}

void TlsResumption::keep(SSL_SESSION* s) {
  SSL_SESSION_free(session_);
  session_ = s;
}

std::shared_ptr<TlsClient> TlsClient::create(const TlsUpstreamConfig& config, std::string& error) {
  std::shared_ptr<TlsClient> client(new TlsClient());
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    error = "SSL_CTX_new: " + openssl_error();
    return nullptr;
  }
  client->ctx_ = ctx;
  client->sni_ = config.sni;
  client->verify_ = config.verify;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Sessions are kept per endpoint by the shard (TlsResumption), not in OpenSSL's locked cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  if (config.h2) {
    static const unsigned char kH2[] = {2, 'h', '2'};
    SSL_CTX_set_alpn_protos(ctx, kH2, sizeof kH2);  // 0 on success (not 1)
  }
  if (config.verify) {
    const bool loaded = config.ca.empty()
                            ? SSL_CTX_set_default_verify_paths(ctx) == 1
                            : SSL_CTX_load_verify_locations(ctx, config.ca.c_str(), nullptr) == 1;
    if (!loaded) {
      error = "ca " + (config.ca.empty() ? std::string("(the system's)") : config.ca) + ": " +
              openssl_error();
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!config.client_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, config.client_cert.c_str()) != 1) {
      error = "client_cert " + config.client_cert + ": " + openssl_error();
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, config.client_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      error = "client_key " + config.client_key + ": " + openssl_error();
      return nullptr;
    }
  }
  return client;
}

TlsClient::~TlsClient() {
  SSL_CTX_free(ctx_);
}

SSL* TlsClient::new_ssl(std::string_view host, TlsResumption* resumption) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) {
    return nullptr;
  }
  const std::string name = sni_.empty() ? std::string(host) : sni_;
  const bool address = is_address(name);
  if (!address) {
    SSL_set_tlsext_host_name(ssl, name.c_str());
  }
  if (verify_) {
    // The certificate must be for the name (or the address) we meant to reach.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (address ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1
                : SSL_set1_host(ssl, name.c_str()) != 1) {
      SSL_free(ssl);
      ERR_clear_error();
      return nullptr;
    }
  }
  SSL_set_app_data(ssl, resumption);
  if (resumption && resumption->get()) {
    SSL_set_session(ssl, resumption->get());
  }
  SSL_set_connect_state(ssl);
  return ssl;
}

}  // namespace ringgate
